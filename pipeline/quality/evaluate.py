"""The downstream check end to end: hold out real rows, train an evaluation generator
without them, keep its accepted samples, and measure the gain on the held-out rows."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import torch

from pipeline.bundle import GeneratorBundle
from pipeline.config import ModelConfig, QualityConfig, TrainConfig
from pipeline.data.codec import ClassIndex, Codec
from pipeline.generate import generate_frames
from pipeline.quality.downstream import GainResult, downstream_gain
from pipeline.quality.fidelity import LabelJudge, SampleScorer
from pipeline.quality.pseudo_labels import CONFIDENCE, pseudo_label_frames
from pipeline.train import stratified_split, train_cvae


def accepted_rows(
    frames: Iterable[pd.DataFrame], codec: Codec, classes: ClassIndex, label: str, scorer: SampleScorer | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Encoded accepted rows (x, y) of the frames and how many there were, without writing
    anything; with no scorer, every row (what the filter is measured against)."""
    xs, ys, seen = [], [], 0
    for frame in frames:
        fx, fy = codec.encode(frame).x, classes.encode(frame[label])
        keep = (
            torch.ones(len(fx), dtype=torch.bool)
            if scorer is None
            else torch.from_numpy(scorer.score(fx, fy)["accepted"])
        )
        seen += len(fx)
        xs.append(fx[keep])
        ys.append(fy[keep])
    if not xs:
        return torch.zeros(0, *codec.input_shape), torch.zeros(0, dtype=torch.long), 0
    return torch.cat(xs), torch.cat(ys), seen


def accepted_samples(
    bundle: GeneratorBundle,
    scorer: SampleScorer | None,
    counts: dict[str, int],
    seed: int,
    temperature: float = 1.0,
    batch_rows: int = 4096,
    mode: str = "prior",
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """accepted_rows of the bundle's generated rows."""
    frames = generate_frames(bundle, counts, seed, temperature, batch_rows, mode)
    return accepted_rows(frames, bundle.codec, bundle.classes, bundle.label, scorer)


def holdout_gain(
    bundle: GeneratorBundle,
    real: pd.DataFrame,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    quality: QualityConfig,
    seed: int,
    temperature: float = 1.0,
    mode: str = "prior",
    unlabelled: pd.DataFrame | None = None,
    pseudo_label_confidence: float = CONFIDENCE,
) -> GainResult | str:
    """The gain of real + synthetic over real-only on held-out real rows, or why it cannot be measured.

    Unlabelled rows (feature columns only) train the evaluation generator as they train the
    production one; the held-out rows are labelled rows, so they stay unseen. In mode
    pseudo_label the added rows are unlabelled rows labelled by a judge fit without the
    held-out rows, and no evaluation generator is needed."""
    features = [c for c in real.columns if c != bundle.label]
    codec, classes = bundle.codec, bundle.classes
    x, y = codec.encode(real[features]).x, classes.encode(real[bundle.label])
    fit_idx, eval_idx = stratified_split(y, quality.eval_fraction, torch.Generator().manual_seed(seed))
    lacking = [classes.names[c] for c in range(len(classes)) if not (y[eval_idx] == c).any()]
    if lacking:
        return f"class(es) {', '.join(lacking[:5])} have fewer than 4 real rows, none can be held out"
    judge = LabelJudge.fit(x[fit_idx], y[fit_idx], classes.names, seed=seed)
    scorer = SampleScorer(judge, x[fit_idx], y[fit_idx], quality.realism_quantile, quality.copy_quantile)
    want = {
        name: int(round(max(quality.ratios) * int((y[fit_idx] == c).sum()))) for c, name in enumerate(classes.names)
    }
    if mode == "pseudo_label":
        if unlabelled is None or not len(unlabelled):
            return "mode pseudo_label needs unlabelled rows, and this run has none"
        frames = pseudo_label_frames(
            unlabelled, features, bundle.label, codec, classes, judge, want, seed + 1, pseudo_label_confidence
        )
        syn_x, syn_y, _ = accepted_rows(frames, codec, classes, bundle.label, scorer)
    else:
        fit_rows = real.iloc[fit_idx.numpy()]
        result = train_cvae(
            codec.encode(fit_rows[features]),
            y[fit_idx],
            codec,
            len(classes),
            model_cfg,
            train_cfg,
            seed=seed,
            unlabelled=None if unlabelled is None else codec.encode(unlabelled[features]),
        )
        evaluator = GeneratorBundle(result.model, codec, classes, bundle.label, {}, {}, bundle.columns)
        syn_x, syn_y, _ = accepted_samples(evaluator, scorer, want, seed + 1, temperature, mode=mode)
    return downstream_gain(
        x[fit_idx], y[fit_idx], syn_x, syn_y, x[eval_idx], y[eval_idx], classes.names, quality, seed=seed
    )
