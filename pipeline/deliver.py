"""Rows as asked: generate, score, keep the accepted ones, until each class has its count.

A class whose rows often fail the quality check gets more rounds, each sized by its
acceptance rate so far; after `max_rounds` it gets what passed, and the shortfall is
reported per class. `accepted` on a row means it ships in augmented.parquet: rows that pass
beyond a class's count are scored and written to synthetic.parquet but not accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from pipeline.data.codec import ClassIndex, Codec
from pipeline.quality.fidelity import SampleScorer
from pipeline.quality.report import QualityAccumulator
from pipeline.synthesizers.base import Synthesizer

MIN_RATE = 0.05  # a class that has accepted nothing yet is asked for at most 1/MIN_RATE times its need
ROUND_SEED_STRIDE = 1_000_003


@dataclass
class Delivery:
    """Per class: rows asked for, generated and delivered (accepted), filled while streaming."""

    requested: dict[str, int]
    generated: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    rounds: int = 0

    def short(self) -> dict[str, int]:
        return {c: n - self.delivered.get(c, 0) for c, n in self.requested.items() if self.delivered.get(c, 0) < n}

    def merge(self, other: "Delivery") -> None:
        """Add another source's counts (an option of the gate's menu with two generators)."""
        for c, n in other.generated.items():
            self.generated[c] = self.generated.get(c, 0) + n
        for c, n in other.delivered.items():
            self.delivered[c] = self.delivered.get(c, 0) + n
        self.rounds = max(self.rounds, other.rounds)

    def per_class(self) -> dict[str, dict[str, int]]:
        return {
            c: {"requested": n, "generated": self.generated.get(c, 0), "delivered": self.delivered.get(c, 0)}
            for c, n in self.requested.items()
        }


def deliver(
    gen: Synthesizer,
    counts: dict[str, int],
    scorer: SampleScorer,
    seed: int,
    max_rounds: int = 5,
    batch_rows: int = 4096,
    accumulator: QualityAccumulator | None = None,
    delivery: Delivery | None = None,
    codec: Codec | None = None,
) -> Iterator[pd.DataFrame]:
    """Scored frames (score columns and `accepted` added) until every class is delivered.
    `codec` encodes rows for the scorer: the one its real rows were encoded with (default:
    the generator's own)."""
    delivery = delivery if delivery is not None else Delivery(dict(counts))
    rounds = 1 if gen.finite else max_rounds  # a pool of real rows yields nothing new when asked again
    for r in range(rounds):
        ask = _round_sizes(delivery, r)
        if not ask:
            break
        delivery.rounds = r + 1
        for frame, written in gen.sample_written(ask, seed + r * ROUND_SEED_STRIDE, batch_rows):
            yield _score(frame, written, gen, codec or gen.codec, scorer, delivery, accumulator)


def _round_sizes(delivery: Delivery, round_index: int) -> dict[str, int]:
    """What to ask for: the first round exactly the request, later ones the shortfall divided
    by the acceptance rate so far (with 10 % to spare)."""
    if round_index == 0:
        return {c: n for c, n in delivery.requested.items() if n > 0}
    sizes = {}
    for c, missing in delivery.short().items():
        made, kept = delivery.generated.get(c, 0), delivery.delivered.get(c, 0)
        rate = max(kept / made if made else 0.0, MIN_RATE)
        sizes[c] = math.ceil(missing / rate * 1.1)
    return sizes


def _score(
    frame: pd.DataFrame,
    written: torch.Tensor | None,
    gen: Synthesizer,
    codec: Codec,
    scorer: SampleScorer,
    delivery: Delivery,
    accumulator: QualityAccumulator | None,
) -> pd.DataFrame:
    """The scorer sees the rows as written: re-encoded from the frame, or (images) the pixels
    the generator wrote, which are what re-encoding reads back (a quarter of the streaming
    time of images was PNG decoding, BENCHMARKS.md)."""
    y = gen.classes.encode(frame[gen.label])
    if written is not None and codec.modality == "image" and tuple(written.shape[1:]) == codec.input_shape:
        x = written
    else:
        x = codec.encode(frame[gen.features]).x
    scores, feats = scorer.score_with_features(x, y)
    accepted = np.asarray(scores["accepted"]).copy()
    names = frame[gen.label].astype(str).to_numpy()
    for c in np.unique(names):
        rows = np.flatnonzero(names == c)
        room = delivery.requested.get(c, 0) - delivery.delivered.get(c, 0)
        passing = rows[accepted[rows]]
        accepted[passing[max(room, 0) :]] = False  # past the count: written, not shipped
        delivery.generated[c] = delivery.generated.get(c, 0) + len(rows)
        delivery.delivered[c] = delivery.delivered.get(c, 0) + min(len(passing), max(room, 0))
    scores["accepted"] = accepted
    if accumulator is not None:
        accumulator.add(feats, y, scores)
    for name, values in scores.items():
        frame[name] = values.astype("float32") if values.dtype.kind == "f" else values
    return frame


def accepted_rows(
    frames: Iterator[pd.DataFrame], codec: Codec, classes: ClassIndex, features: list[str], label: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoded (x, y) of the accepted rows of scored frames, without writing anything."""
    xs, ys = [], []
    for frame in frames:
        kept = frame[frame["accepted"]]
        if len(kept):
            xs.append(codec.encode(kept[features]).x)
            ys.append(classes.encode(kept[label]))
    if not xs:
        return torch.zeros(0, *codec.input_shape), torch.zeros(0, dtype=torch.long)
    return torch.cat(xs), torch.cat(ys)
