"""Training loop: preloaded tensors, batches by index, KL warm-up, early stopping, resume.

No per-row Python in the hot path: the whole data set sits on the device as tensors and a
batch is one index_select. Metrics are accumulated on the device and read once an epoch.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from pipeline.config import ModelConfig, TrainConfig
from pipeline.data.codec import Codec, Encoded
from pipeline.model import CVAE, ModelShape, resolve_arch
from pipeline.runtime import configure_threads, pick_device, seed_everything
from pipeline.transforms import random_affine

EpochCallback = Callable[[int, dict[str, float]], None]
ACTIVE_UNIT_VARIANCE = 0.01  # Burda et al. 2016: a unit is active if Var_x E[z|x] > 0.01
SEMI_SUPERVISED_CLASSIFIER_WEIGHT = 50.0  # ModelConfig.classifier_weight's default with unlabelled rows


@dataclass
class TrainResult:
    model: CVAE
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    samples_per_s: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"
    resumed_from_epoch: int = 0


def stratified_split(y: torch.Tensor, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out `fraction` of each class with at least 4 rows (at least one row each)."""
    train, val = [], []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_val = max(1, int(len(idx) * fraction)) if fraction > 0 and len(idx) >= 4 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def plan_epochs(cfg: TrainConfig, n_train: int) -> tuple[int, int]:
    """(epochs, patience): tiny data sets get more epochs so the step count stays sensible."""
    steps_per_epoch = max(1, math.ceil(n_train / cfg.batch_size))
    epochs = cfg.epochs or min(cfg.max_epochs, max(cfg.min_epochs, math.ceil(cfg.target_steps / steps_per_epoch)))
    patience = cfg.patience or max(10, epochs // 5)
    return epochs, patience


def build_model(codec: Codec, n_classes: int, cfg: ModelConfig) -> CVAE:
    shape = ModelShape(tuple(codec.input_shape), n_classes, resolve_arch(cfg.arch, tuple(codec.input_shape)))
    return CVAE(shape, cfg, codec.layout)


@torch.no_grad()
def evaluate(
    model: CVAE, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, beta: float, batch: int = 1024
) -> dict[str, float]:
    """Validation ELBO terms (beta at its full value) and the number of active latent units."""
    model.eval()
    recon = kl = 0.0
    mus = []
    for s in range(0, len(x), batch):
        xb, yb = x[s : s + batch], y[s : s + batch]
        mb = None if mask is None else mask[s : s + batch]
        raw, mu, logvar = model(xb, yb)
        recon += model.recon_nll(raw, xb, mb).sum().item()
        kl += model.kl(mu, logvar, yb).sum().item() * len(xb)
        mus.append(mu - model.prior_mu[yb])  # spread around the class's own prior mean
    model.train()
    n = max(len(x), 1)
    mu_all = torch.cat(mus)
    active = int((mu_all.var(0) > ACTIVE_UNIT_VARIANCE).sum()) if len(mu_all) > 1 else 0
    return {
        "val_loss": (recon + beta * kl) / n,
        "val_recon": recon / n,
        "val_kl": kl / n,
        "active_units": float(active),
    }


def train_cvae(
    encoded: Encoded,
    y: torch.Tensor,
    codec: Codec,
    n_classes: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = False,
    on_checkpoint: Callable[[Path, int], None] | None = None,
    unlabelled: Encoded | None = None,
) -> TrainResult:
    """Fit a CVAE; keeps the weights of the epoch with the best validation loss.

    With checkpoint_path, the full training state is saved every checkpoint_every epochs
    (default: train_cfg.checkpoint_every) and on_checkpoint(path, epoch) is told, so the
    caller can ship it elsewhere; an existing file there is resumed from exactly.

    With unlabelled rows (same codec, no label), every step also takes a batch of them
    through M2's bound (CVAE.unlabelled_loss); steps and epochs still count labelled rows.
    """
    checkpoint_every = checkpoint_every or train_cfg.checkpoint_every
    configure_threads(train_cfg.threads)
    seed_everything(seed)
    device = pick_device(train_cfg.device)
    gen = torch.Generator().manual_seed(seed)
    train_idx, val_idx = stratified_split(y, train_cfg.val_fraction, gen)
    x_all, y_all = encoded.x.to(device), y.to(device)
    m_all = None if encoded.mask is None else encoded.mask.to(device)
    x_tr, y_tr = x_all[train_idx.to(device)], y_all[train_idx.to(device)]
    m_tr = None if m_all is None else m_all[train_idx.to(device)]
    has_val = len(val_idx) > 0
    eval_idx = val_idx if has_val else train_idx
    x_ev, y_ev = x_all[eval_idx.to(device)], y_all[eval_idx.to(device)]
    m_ev = None if m_all is None else m_all[eval_idx.to(device)]

    x_un = None if unlabelled is None or len(unlabelled.x) == 0 else unlabelled.x.to(device)
    m_un = None if x_un is None or unlabelled.mask is None else unlabelled.mask.to(device)
    if model_cfg.classifier_weight is None:
        model_cfg = model_cfg.model_copy(
            update={"classifier_weight": SEMI_SUPERVISED_CLASSIFIER_WEIGHT if x_un is not None else 1.0}
        )
    model = build_model(codec, n_classes, model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    epochs, patience = plan_epochs(train_cfg, len(train_idx))
    steps_per_epoch = max(1, math.ceil(len(train_idx) / train_cfg.batch_size))
    warmup_steps = max(1, int(train_cfg.kl_warmup_fraction * epochs * steps_per_epoch))
    augment_images = train_cfg.classic_augment and x_tr.dim() == 4

    result = TrainResult(model=model, device=str(device))
    best_loss, best_state, since_best, start_epoch = math.inf, None, 0, 0
    if checkpoint_path and Path(checkpoint_path).exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        best_loss, best_state, since_best = state["best_loss"], state["best_state"], state["since_best"]
        result.history, result.best_epoch = state["history"], state["best_epoch"]
        start_epoch = result.resumed_from_epoch = state["epoch"] + 1

    bar = _progress_bar(progress, epochs, start_epoch)
    t0, seen = time.perf_counter(), 0
    step = start_epoch * steps_per_epoch
    for epoch in range(start_epoch, epochs):
        sums: dict[str, torch.Tensor] = {}
        perm = torch.randperm(len(x_tr), generator=gen).to(device)
        if x_un is not None:  # drawn at the epoch's start, so a resumed run draws the same rows
            un_idx = torch.randint(len(x_un), (steps_per_epoch, train_cfg.batch_size), generator=gen).to(device)
        for s in range(0, len(perm), train_cfg.batch_size):
            idx = perm[s : s + train_cfg.batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            if augment_images:
                xb = random_affine(xb, gen)
            beta = model_cfg.beta * min(1.0, step / warmup_steps)
            terms = model.loss(xb, yb, None if m_tr is None else m_tr[idx], beta, train_classifier=x_un is not None)
            if x_un is not None:
                ui = un_idx[s // train_cfg.batch_size]
                xu = random_affine(x_un[ui], gen) if augment_images else x_un[ui]
                terms |= model.unlabelled_loss(xu, None if m_un is None else m_un[ui], beta)
                terms["loss"] = terms["loss"] + terms["unlabelled"]
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0) + v.detach() * len(idx)
            step += 1
            seen += len(idx)
        metrics = {k: float(v) / len(perm) for k, v in sums.items()}
        metrics |= evaluate(model, x_ev, y_ev, m_ev, model_cfg.beta)
        metrics["beta"] = beta
        result.history.append(metrics)
        warm = step >= warmup_steps  # before the KL weight is full, val losses are not comparable
        if warm and (best_state is None or metrics["val_loss"] < best_loss - 1e-4 * abs(best_loss)):
            best_loss, best_state, since_best = metrics["val_loss"], copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        elif warm:
            since_best += 1
        if on_epoch:
            on_epoch(epoch, metrics)
        if bar:
            bar[0].update(
                bar[1],
                advance=1,
                description=f"epoch {epoch + 1}/{epochs} loss {metrics['loss']:.2f} val {metrics['val_loss']:.2f}",
            )
        result.epochs_run = epoch + 1
        # early stopping only once the KL weight is at full strength, and only on a real val split
        if has_val and warm and since_best >= patience:
            result.stopped_early = True
            break
        if checkpoint_path and (epoch + 1) % checkpoint_every == 0:
            save_checkpoint(checkpoint_path, model, opt, gen, epoch, best_loss, best_state, since_best, result)
            if on_checkpoint:
                on_checkpoint(Path(checkpoint_path), epoch + 1)
    if bar:
        bar[0].stop()
    result.seconds = time.perf_counter() - t0
    result.samples_per_s = seen / result.seconds if result.seconds > 0 else 0.0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.remember_posteriors(x_all, y_all)  # every real row, validation rows included
    return result


def save_checkpoint(path, model, opt, gen, epoch, best_loss, best_state, since_best, result: TrainResult) -> None:
    """Everything needed to resume mid-training exactly, written atomically."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "best_loss": best_loss,
            "best_state": best_state,
            "since_best": since_best,
            "history": result.history,
            "best_epoch": result.best_epoch,
        },
        tmp,
    )
    os.replace(tmp, path)


def _progress_bar(enabled: bool, epochs: int, start: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=False,
    )
    task = bar.add_task("training", total=epochs, completed=start)
    bar.start()
    return bar, task
