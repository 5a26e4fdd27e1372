"""Sampling: how many rows of which class, drawn in batches and decoded to the user's schema.

Generation is a stream of frames (one per batch) so a million rows never sit in memory;
one CPU generator seeds everything, so the same seed gives the same rows.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import torch

from pipeline.bundle import GeneratorBundle
from pipeline.config import SampleConfig
from pipeline.errors import ConfigError


def plan_counts(bundle: GeneratorBundle, cfg: SampleConfig) -> dict[str, int]:
    """Synthetic rows per class name: --per-class N, or --balance-to N minus the real rows."""
    names = bundle.classes.names
    chosen = names if cfg.classes is None else [names[bundle.classes.index_of(c)] for c in cfg.classes]
    if cfg.per_class is not None:
        return {c: cfg.per_class for c in chosen}
    return {c: max(0, cfg.balance_to - bundle.real_counts.get(c, 0)) for c in chosen}


@torch.no_grad()
def generate_frames(
    bundle: GeneratorBundle, counts: dict[str, int], seed: int, temperature: float = 1.0, batch_rows: int = 4096
) -> Iterator[pd.DataFrame]:
    """Yield frames of at most batch_rows rows: features + label column, class by class."""
    if batch_rows < 1:
        raise ConfigError("batch_rows must be at least 1", "pass a positive batch size")
    gen = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), bundle.classes.index_of(c), dtype=torch.long) for c, n in counts.items() if n > 0] or [torch.zeros(0, dtype=torch.long)])
    device = bundle.model.prior_mu.device
    for start in range(0, len(labels), batch_rows):
        y = labels[start : start + batch_rows]
        raw = bundle.model.sample(y.to(device), temperature=temperature, generator=gen)
        frame = bundle.codec.decode(raw, generator=gen)
        frame[bundle.label] = bundle.classes.decode(y.numpy()).array
        if bundle.columns:
            frame = frame[bundle.columns]
        yield frame
