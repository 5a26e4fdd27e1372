"""Process-wide torch settings: threads, seeds, device. Called once per stage entry."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEFAULT_THREADS = 1  # predictable on a shared machine; more with --threads or AUGMENT_THREADS


def configure_threads(threads: int | None = None) -> int:
    """Torch CPU threads: explicit > $AUGMENT_THREADS > 1."""
    n = threads or int(os.environ.get("AUGMENT_THREADS", DEFAULT_THREADS))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(choice: str = "auto") -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        from pipeline.errors import ConfigError

        raise ConfigError("device 'cuda' asked for but no CUDA GPU is visible", "use --device auto or cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)
