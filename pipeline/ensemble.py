"""Several CVAEs of one shape trained at once, as one batched model (the gate's fold generators).

On small data a training step is mostly per-operation overhead, not arithmetic, so ten
models cost nearly ten times one. Stacking their weights and running the loss under
torch.func.vmap makes one call per operation for all of them (BENCHMARKS.md, "Speed":
the gate's cost per data set before and after). Each member keeps its own rows, validation
split, initialisation, noise, Adam state (Adam is elementwise, so stacking changes nothing)
and early stopping; only the schedule (epoch length, KL warm-up) is shared, set by the
smallest member.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.func import stack_module_state, vmap
from torch.nn.utils.stateless import _reparametrize_module

from pipeline.config import ModelConfig, TrainConfig
from pipeline.data.codec import Codec, Encoded
from pipeline.model import CVAE, resolve_arch
from pipeline.runtime import configure_threads, seed_everything
from pipeline.train import (
    build_model,
    evaluate,
    improves,
    make_optimizer,
    passes_per_validation,
    plan_epochs,
    steps_per_pass,
    stratified_split,
)


@dataclass
class Member:
    """One model's rows: the encoded training rows, their labels, the seed of its fit."""

    x: Encoded
    y: torch.Tensor
    seed: int


def can_stack(members: list[Member], codecs: list[Codec], model_cfg: ModelConfig) -> bool:
    """Tables (an MLP on one row of numbers) of one shape and layout, without missing values.
    Images are not stacked: on digits the stack took 35 s where one-by-one fits, each
    stopping early on its own, took 31 s (their steps are arithmetic, not overhead)."""
    first = codecs[0]
    layout = [(b.kind, b.start, b.stop) for b in first.layout]
    return (
        len(members) > 1
        and len(first.input_shape) == 1
        and resolve_arch(model_cfg.arch, tuple(first.input_shape)) == "mlp"
        and all(m.x.mask is None for m in members)
        and all(tuple(c.input_shape) == tuple(first.input_shape) for c in codecs)
        and all([(b.kind, b.start, b.stop) for b in c.layout] == layout for c in codecs)
    )


class _Rows:
    """A member's training rows served in shuffled passes, `size` rows per draw."""

    def __init__(self, idx: torch.Tensor, gen: torch.Generator) -> None:
        self.idx, self.gen, self.queue = idx, gen, idx[:0]

    def draw(self, size: int) -> torch.Tensor:
        while len(self.queue) < size:
            self.queue = torch.cat([self.queue, self.idx[torch.randperm(len(self.idx), generator=self.gen)]])
        out, self.queue = self.queue[:size], self.queue[size:]
        return out


def train_many(
    members: list[Member], codecs: list[Codec], n_classes: int, model_cfg: ModelConfig, train_cfg: TrainConfig
) -> list[CVAE]:
    """Fit one CVAE per member (see the module docstring); each keeps its best-validation weights."""
    configure_threads(train_cfg.threads)
    models, splits, rows, stops = [], [], [], []
    for m, codec in zip(members, codecs):
        seed_everything(m.seed)  # each member is initialised as its own fit would be
        gen = torch.Generator().manual_seed(m.seed)
        train_idx, val_idx = stratified_split(m.y, train_cfg.val_fraction, gen)
        splits.append(val_idx if len(val_idx) else train_idx)
        stops.append(len(val_idx) > 0)  # early stopping needs a real validation split
        rows.append(_Rows(train_idx, gen))
        models.append(build_model(codec, n_classes, model_cfg))
    n_min = min(len(r.idx) for r in rows)
    batch = min(train_cfg.batch_size, n_min)
    epochs, patience = plan_epochs(train_cfg.model_copy(update={"batch_size": batch}), n_min)
    per_pass, every = steps_per_pass(n_min, batch), passes_per_validation(n_min, batch)
    params = stack_module_state(models)[0]
    base = models[0]
    warmup = max(1, int(train_cfg.kl_warmup_for(base.modality) * epochs * per_pass))
    buffers = dict(base.named_buffers())  # the same in every member (layout, fixed prior, no posteriors yet)
    opt = make_optimizer(list(params.values()), train_cfg)

    def loss_of_one(p, b, x, y, beta):
        with _reparametrize_module(base, {**p, **b}):
            return base.loss(x, y, None, beta)["loss"]

    batched_loss = vmap(loss_of_one, in_dims=(0, None, 0, 0, None), randomness="different")
    best = [_Best() for _ in members]
    seed_everything(members[0].seed)
    epoch = 0
    while epoch < epochs:
        passes = min(every, epochs - epoch)
        for step in range(epoch * per_pass, (epoch + passes) * per_pass):
            picks = [r.draw(batch) for r in rows]
            x = torch.stack([m.x.x[i] for m, i in zip(members, picks)])
            y = torch.stack([m.y[i] for m, i in zip(members, picks)])
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=train_cfg.mixed_precision):
                loss = batched_loss(params, buffers, x, y, model_cfg.beta * min(1.0, step / warmup)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epoch += passes
        if epoch * per_pass < warmup:  # before the KL weight is full, losses differ
            continue
        for i, (m, val) in enumerate(zip(members, splits)):
            if best[i].since < patience or not stops[i]:
                best[i].update(_val_loss(base, params, buffers, i, m.x.x[val], m.y[val], model_cfg.beta), passes)
                best[i].keep(params, i)
        if all(s and b.since >= patience for s, b in zip(stops, best)):
            break
    return [_finish(model, b, m) for model, b, m in zip(models, best, members)]


def _val_loss(base: CVAE, params, buffers, i: int, x: torch.Tensor, y: torch.Tensor, beta: float) -> float:
    """Member i's validation loss, as train.evaluate measures a single model's."""
    with _reparametrize_module(base, {k: v[i] for k, v in params.items()} | buffers):
        return evaluate(base, x, y, None, beta)["val_loss"]


@dataclass
class _Best:
    loss: float = math.inf
    since: int = 0
    weights: dict[str, torch.Tensor] | None = None
    improved: bool = False

    def update(self, loss: float, passes: int) -> None:
        self.improved = self.weights is None or improves(loss, self.loss)
        if self.improved:
            self.loss, self.since = loss, 0
        else:
            self.since += passes

    def keep(self, params, i: int) -> None:
        if self.improved:
            self.weights = {k: v[i].detach().clone() for k, v in params.items()}


def _finish(model: CVAE, best: _Best, member: Member) -> CVAE:
    if best.weights is not None:  # the parameters; the buffers are the same in every member
        model.load_state_dict(model.state_dict() | best.weights)
    model.eval()
    model.remember_posteriors(member.x.x, member.y)
    return model
