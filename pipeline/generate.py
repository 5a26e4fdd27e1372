"""Sampling: how many rows of which class, drawn in batches and decoded to the user's schema.

Generation is a stream of frames (one per batch) so a million rows never sit in memory;
one CPU generator seeds everything, so the same seed gives the same rows.

Four modes (SampleConfig.mode): `prior` draws z from the class prior; `variations` draws z
near the stored posterior of a real row of the class, the rows taken round-robin in a
seeded order so every real row gets the same number of variations; `interpolate` draws z
between the posteriors of that row and another random row of the same class; `warp`
(images) bends that row's real pixels along the warp from its decoded picture to a prior
sample of the class. (`pseudo_label` labels a run's unlabelled rows instead of generating;
it lives in pipeline/quality/pseudo_labels.py, since a model alone holds no such rows.)
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import torch

from pipeline.bundle import GeneratorBundle
from pipeline.config import SampleConfig
from pipeline.errors import ConfigError

MODES = ("prior", "variations", "interpolate", "warp")


def check_mode_fits_data(mode: str, images: bool, name: str, unlabelled_rows: int = 0) -> None:
    """Refuse a mode the data cannot serve up front, before any training is spent on it."""
    if mode == "warp" and not images:
        raise ConfigError(
            f"sampling mode 'warp' bends real images, and {name!r} is a table",
            "use --mode prior, variations or interpolate for tables",
        )
    if mode == "pseudo_label" and not unlabelled_rows:
        raise ConfigError(
            f"sampling mode 'pseudo_label' labels unlabelled rows, and {name!r} has none in this run",
            "pass --unlabelled use (rows with an empty label, or those --real-per-class leaves out)",
        )


def plan_counts(bundle: GeneratorBundle, cfg: SampleConfig) -> dict[str, int]:
    """Synthetic rows per class name: --per-class N, or --balance-to N minus the real rows."""
    names = bundle.classes.names
    chosen = names if cfg.classes is None else [names[bundle.classes.index_of(c)] for c in cfg.classes]
    if cfg.per_class is not None:
        return {c: cfg.per_class for c in chosen}
    return {c: max(0, cfg.balance_to - bundle.real_counts.get(c, 0)) for c in chosen}


class _Anchors:
    """Which stored real rows each synthetic row starts from.

    Per class, the stored rows in a seeded random order; synthetic row i of the class starts
    from row i mod n of that order, so every real row gets the same number of variations."""

    def __init__(self, bundle: GeneratorBundle, counts: dict[str, int], gen: torch.Generator) -> None:
        post_y = bundle.model.post_y.cpu()
        pools, pool_ids, positions = [], [], []
        for i, (name, n) in enumerate(counts.items()):
            rows = torch.nonzero(post_y == bundle.classes.index_of(name)).flatten()
            if not len(rows):
                raise ConfigError(
                    f"the generator holds no real rows of class {name!r} to start from",
                    "retrain the model with this version, or sample with mode 'prior'",
                )
            pools.append(rows[torch.randperm(len(rows), generator=gen)])
            pool_ids.append(torch.full((n,), i, dtype=torch.long))
            positions.append(torch.arange(n) % len(rows))
        self.sizes = torch.tensor([len(p) for p in pools], dtype=torch.long)
        self.starts = torch.cumsum(self.sizes, 0) - self.sizes
        self.flat = torch.cat(pools) if pools else torch.zeros(0, dtype=torch.long)
        self.pool = torch.cat(pool_ids) if pool_ids else torch.zeros(0, dtype=torch.long)
        self.position = torch.cat(positions) if positions else torch.zeros(0, dtype=torch.long)

    def source(self, rows: slice) -> torch.Tensor:
        return self.flat[self.starts[self.pool[rows]] + self.position[rows]]

    def partner(self, rows: slice, gen: torch.Generator) -> torch.Tensor:
        """Another stored row of the same class, uniformly (the row itself in a one-row class)."""
        pool, pos = self.pool[rows], self.position[rows]
        size = self.sizes[pool]
        offset = 1 + (torch.rand(len(pool), generator=gen) * (size - 1)).long().clamp(max=(size - 2).clamp(min=0))
        return self.flat[self.starts[pool] + (pos + offset) % size]


@torch.no_grad()
def generate_frames(
    bundle: GeneratorBundle,
    counts: dict[str, int],
    seed: int,
    temperature: float = 1.0,
    batch_rows: int = 4096,
    mode: str = "prior",
) -> Iterator[pd.DataFrame]:
    """Yield frames of at most batch_rows rows: features + label column, class by class."""
    if batch_rows < 1:
        raise ConfigError("batch_rows must be at least 1", "pass a positive batch size")
    if mode == "pseudo_label":
        raise ConfigError(
            "sampling mode 'pseudo_label' labels the unlabelled rows of a run, and a model holds none",
            "run `augment run --unlabelled use --mode pseudo_label`, or sample with another mode",
        )
    if mode not in MODES:
        raise ConfigError(f"unknown sampling mode {mode!r}", f"use one of {', '.join(MODES)}")
    gen = torch.Generator().manual_seed(seed)
    active = {c: n for c, n in counts.items() if n > 0}
    labels = torch.cat(
        [torch.full((n,), bundle.classes.index_of(c), dtype=torch.long) for c, n in active.items()]
        or [torch.zeros(0, dtype=torch.long)]
    )
    model = bundle.model
    device = model.prior_mu.device
    if mode == "warp" and active and not len(model.post_x):
        images = len(model.shape.input_shape) == 3
        raise ConfigError(
            "sampling mode 'warp' bends real images, and this generator holds none"
            + ("" if images else " (it was trained on a table)"),
            "retrain the model with this version" if images else "use mode prior, variations or interpolate for tables",
        )
    anchors = _Anchors(bundle, active, gen) if mode != "prior" else None
    for start in range(0, len(labels), batch_rows):
        rows = slice(start, start + batch_rows)
        y = labels[rows]
        if anchors is None:
            raw = model.sample(y.to(device), temperature=temperature, generator=gen)
        elif mode == "warp":
            pixels = model.sample_warp(anchors.source(rows).to(device), temperature, gen)
        else:
            partner = mix = None
            if mode == "interpolate":
                partner = anchors.partner(rows, gen).to(device)
                mix = torch.rand(len(y), generator=gen)
            raw = model.sample_posterior(anchors.source(rows).to(device), temperature, gen, partner, mix)
        frame = bundle.codec.decode_means(pixels) if mode == "warp" else bundle.codec.decode(raw, generator=gen)
        frame[bundle.label] = bundle.classes.decode(y.numpy()).array
        if bundle.columns:
            frame = frame[bundle.columns]
        yield frame
