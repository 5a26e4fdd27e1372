"""Score any synthetic Parquet file against real rows: ours, or one made by another tool.

The synthetic file must have the real file's feature and label columns; extra columns
(earlier scores, ids) are carried through untouched and scores already present are replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import DataSpec
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.sources import load_real
from pipeline.errors import DataError
from pipeline.io import head_per_class, iter_row_groups, write_frames
from pipeline.quality.fidelity import LabelJudge, SampleScorer, score_frames
from pipeline.quality.report import QualityAccumulator, build_report, write_report

SCORE_COLUMNS = ("label_fidelity", "follows_label", "realism", "authenticity", "quality_score", "accepted")


def score_file(real_path: str, synthetic_path: str, label: str, out_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """Write <out>/scored.parquet and the quality report; return the report."""
    real = load_real(DataSpec(source=real_path, label=label), seed=seed)
    out = Path(out_dir)
    codec = fit_codec(real.frame[real.features], real.image_column)
    classes = ClassIndex.fit(real.frame[label])
    real_x, real_y = codec.encode(real.frame[real.features]).x, classes.encode(real.frame[label])
    scorer = SampleScorer(LabelJudge.fit(real_x, real_y, classes.names, seed=seed), real_x, real_y)
    accumulator = QualityAccumulator(classes.names)
    known = set(classes.names)

    def frames():
        for frame in iter_row_groups(synthetic_path):
            missing = [c for c in real.features + [label] if c not in frame.columns]
            if missing:
                raise DataError(
                    f"synthetic file lacks columns {missing}",
                    "give a file with the real file's feature and label columns",
                )
            unknown = set(frame[label].astype(str)) - known
            if unknown:
                raise DataError(
                    f"synthetic rows have classes the real rows lack: {sorted(unknown)[:5]}",
                    "score only classes present in the real data",
                )
            frame = frame.drop(columns=[c for c in SCORE_COLUMNS if c in frame.columns])
            frame[label] = frame[label].astype(real.frame[label].dtype)
            yield frame

    thresholds = {
        "realism": scorer.thresholds.realism,
        "authenticity": scorer.thresholds.authenticity,
        "baseline_quantiles": scorer.quantiles,
    }
    image_columns = [real.image_column] if real.image_column else []
    path = out / "scored.parquet"
    write_frames(
        path,
        score_frames(frames(), codec, classes, label, scorer, accumulator),
        {
            "scored_file": str(synthetic_path),
            "real_file": str(real_path),
            "label": label,
            "seed": seed,
            "thresholds": thresholds,
        },
        image_columns,
    )
    synth_head = None if image_columns else head_per_class(path, label, 2000)
    report = build_report(
        accumulator,
        scorer.refs,
        thresholds,
        scorer.judge.real_accuracy,
        bool(image_columns),
        real.frame,
        synth_head,
        real.features,
    )
    write_report(report, out, title=f"Quality report: {Path(synthetic_path).name}")
    return {"scored": str(path), "report": report}
