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
from pipeline.processes import raise_if_interrupted
from pipeline.progress import Bars
from pipeline.runtime import configure_threads, pick_device, seed_everything
from pipeline.transforms import random_affine

EpochCallback = Callable[[int, dict[str, float]], None]
ACTIVE_UNIT_VARIANCE = 0.01  # Burda et al. 2016: a unit is active if Var_x E[z|x] > 0.01
# training steps between validation passes, at least (several epochs apart on tiny data)
MIN_STEPS_PER_VALIDATION = 16
CHECKPOINT_STEPS = 1000


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


def steps_per_pass(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))


def passes_per_validation(n_train: int, batch_size: int) -> int:
    """Epochs (passes over the training rows) between validation passes: on tiny data one
    per pass would cost as much as the training step itself."""
    return max(1, math.ceil(MIN_STEPS_PER_VALIDATION / steps_per_pass(n_train, batch_size)))


def checkpoint_epochs(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Epochs between checkpoints: as configured, else about every CHECKPOINT_STEPS steps
    (a checkpoint per 25 one-step epochs made a 30-row table ship 120 of them to MLflow)."""
    return cfg.checkpoint_every or max(1, round(CHECKPOINT_STEPS / steps_per_epoch))


def plan_epochs(cfg: TrainConfig, n_train: int) -> tuple[int, int]:
    """(epochs, patience): tiny data sets get more epochs so the step count stays sensible."""
    per_pass = steps_per_pass(n_train, cfg.batch_size)
    epochs = cfg.epochs or min(cfg.max_epochs, max(cfg.min_epochs, math.ceil(cfg.target_steps / per_pass)))
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


@dataclass
class TrainHooks:
    """What the caller wants told or kept while training runs (all optional)."""

    on_epoch: EpochCallback | None = None  # (epoch, metrics), e.g. to log to MLflow
    checkpoint_path: str | Path | None = None  # resumable state, saved every checkpoint_every epochs
    on_checkpoint: Callable[[Path, int], None] | None = None  # (path, epochs done), e.g. to ship it
    progress: bool = False  # a progress bar on the terminal


@dataclass
class _Data:
    """The rows on the device, split once into training and validation rows."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None
    train: torch.Tensor  # row indices
    val: torch.Tensor  # validation rows, or the training rows when there are too few

    def rows(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return self.x[idx], self.y[idx], None if self.mask is None else self.mask[idx]


def _place(encoded: Encoded, y: torch.Tensor, cfg: TrainConfig, gen: torch.Generator, device) -> tuple[_Data, bool]:
    train_idx, val_idx = stratified_split(y, cfg.val_fraction, gen)
    mask = None if encoded.mask is None else encoded.mask.to(device)
    has_val = len(val_idx) > 0
    data = _Data(
        encoded.x.to(device), y.to(device), mask, train_idx.to(device), (val_idx if has_val else train_idx).to(device)
    )
    return data, has_val


def train_cvae(
    encoded: Encoded,
    y: torch.Tensor,
    codec: Codec,
    n_classes: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    seed: int = 0,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Fit a CVAE; keeps the weights of the epoch with the best validation loss.

    With hooks.checkpoint_path, the full training state is saved every
    train_cfg.checkpoint_every epochs and hooks.on_checkpoint(path, epoch) is told, so the
    caller can ship it elsewhere; an existing file there is resumed from exactly.
    """
    hooks = hooks or TrainHooks()
    configure_threads(train_cfg.threads)
    seed_everything(seed)
    device = pick_device(train_cfg.device)
    gen = torch.Generator().manual_seed(seed)
    data, has_val = _place(encoded, y, train_cfg, gen, device)
    model = build_model(codec, n_classes, model_cfg).to(device)
    opt = make_optimizer(list(model.parameters()), train_cfg)
    epochs, patience = plan_epochs(train_cfg, len(data.train))
    steps_per_epoch = steps_per_pass(len(data.train), train_cfg.batch_size)
    every = passes_per_validation(len(data.train), train_cfg.batch_size)
    ckpt = checkpoint_epochs(train_cfg, steps_per_epoch)  # saved at the first validation at or after each multiple
    warmup_steps = max(1, int(train_cfg.kl_warmup_for(model.modality) * epochs * steps_per_epoch))
    result = TrainResult(model=model, device=str(device))
    state = _Best()
    epoch = _resume(hooks.checkpoint_path, model, opt, gen, state, result, device)
    bars = Bars(hooks.progress)
    bars.start()
    bar = bars.add("training, epoch", epochs, epoch)
    t0, seen = time.perf_counter(), 0
    while epoch < epochs:
        raise_if_interrupted()
        # validation on a fixed grid (multiples of `every`), so a run resumed from a checkpoint
        # validates, and so draws its random numbers, exactly as an unbroken one
        passes = min(every - epoch % every, epochs - epoch)
        metrics, rows = _epoch(
            model, opt, data, train_cfg, model_cfg.beta, epoch * steps_per_epoch, warmup_steps, gen, passes
        )
        seen, epoch = seen + rows, epoch + passes
        metrics |= evaluate(model, *data.rows(data.val), model_cfg.beta)
        result.history.append(metrics | {"epoch": epoch})  # validations are several epochs apart on tiny data
        warm = epoch * steps_per_epoch >= warmup_steps  # before the KL weight is full, losses differ
        state.update(metrics["val_loss"], model, epoch - 1, warm, result, passes)
        if hooks.on_epoch:
            hooks.on_epoch(epoch - 1, metrics)
        bar.advance(passes, f"loss {metrics['loss']:.2f} val {metrics['val_loss']:.2f}")
        result.epochs_run = epoch
        if has_val and warm and state.since_best >= patience:  # early stopping on a real validation split
            result.stopped_early = True
            break
        if hooks.checkpoint_path and epoch // ckpt > (epoch - passes) // ckpt:
            save_checkpoint(hooks.checkpoint_path, model, opt, gen, epoch - 1, state, result)
            if hooks.on_checkpoint:
                hooks.on_checkpoint(Path(hooks.checkpoint_path), epoch)
    bar.close(_trained_words(result, epochs))  # the bar ends where training ended
    bars.stop()
    result.seconds = time.perf_counter() - t0
    result.samples_per_s = seen / result.seconds if result.seconds > 0 else 0.0
    if state.weights is not None:
        model.load_state_dict(state.weights)
    model.eval()
    model.remember_posteriors(data.x, data.y)  # every real row, validation rows included
    return result


@dataclass
class _Best:
    """The best validation loss so far, its weights, and epochs since it."""

    loss: float = math.inf
    weights: dict | None = None
    since_best: int = 0

    def update(self, loss: float, model: CVAE, epoch: int, warm: bool, result: TrainResult, passes: int = 1) -> None:
        if not warm:
            return
        if self.weights is None or improves(loss, self.loss):
            self.loss, self.weights, self.since_best = loss, copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            self.since_best += passes


def make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Adam:
    """Adam; the fused kernel where torch has one for the device (one call per step for all
    parameters instead of one per parameter)."""
    fused = params[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def improves(loss: float, best: float) -> bool:
    """A validation loss better than the best so far by more than a relative 1e-4."""
    return loss < best - 1e-4 * abs(best)


def _epoch(
    model: CVAE,
    opt,
    data: _Data,
    cfg: TrainConfig,
    beta_max: float,
    step: int,
    warmup: int,
    gen: torch.Generator,
    passes: int = 1,
) -> tuple[dict[str, float], int]:
    """`passes` epochs (passes over the training rows in shuffled batches); mean metrics and rows seen."""
    total, names = None, []
    n = len(data.train)
    batches = [
        data.train[perm[s : s + cfg.batch_size]]
        for perm in (torch.randperm(n, generator=gen).to(data.train.device) for _ in range(passes))
        for s in range(0, n, cfg.batch_size)
    ]
    augment_images = cfg.classic_augment and data.x.dim() == 4
    beta = beta_max
    for idx in batches:
        xb, yb, mb = data.rows(idx)
        if augment_images:
            xb = random_affine(xb, gen)
        beta = beta_max * min(1.0, step / warmup)
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision):
            terms = model.loss(xb, yb, mb, beta)
        names = list(terms)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        values = torch.stack(list(terms.values())).detach() * len(xb)  # one op, not one per term
        total = values if total is None else total + values
        step += 1
    seen = n * passes
    metrics = {k: float(v) / seen for k, v in zip(names, total.tolist())}
    return metrics | {"beta": beta}, seen


def _resume(path, model: CVAE, opt, gen: torch.Generator, state: _Best, result: TrainResult, device) -> int:
    """Load a checkpoint if there is one (tensors and plain values only); the epoch to start at."""
    if not path or not Path(path).exists():
        return 0
    saved = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    gen.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    state.loss, state.weights, state.since_best = saved["best_loss"], saved["best_state"], saved["since_best"]
    result.history, result.best_epoch = saved["history"], saved["best_epoch"]
    result.resumed_from_epoch = saved["epoch"] + 1
    return result.resumed_from_epoch


def save_checkpoint(
    path, model: CVAE, opt, gen: torch.Generator, epoch: int, state: _Best, result: TrainResult
) -> None:
    """Everything needed to resume mid-training exactly, written atomically; tensors and plain
    values only, so it loads with weights_only=True."""
    path = Path(path)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    payload = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epoch": epoch,
        "best_loss": state.loss,
        "best_state": state.weights,
        "since_best": state.since_best,
        "history": result.history,
        "best_epoch": result.best_epoch,
    }
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _trained_words(result: TrainResult, planned: int) -> str:
    """The training bar's last words: the last losses, and why it stopped before the plan if it did."""
    last = result.history[-1] if result.history else {}
    losses = f"loss {last['loss']:.2f} val {last['val_loss']:.2f}" if "val_loss" in last else ""
    early = f"; stopped early of {planned} (best {result.best_epoch + 1})" if result.stopped_early else ""
    return f"{losses}{early}"
