"""Score any synthetic Parquet file against real rows: ours, or one made by another tool.

The synthetic file must have the real file's feature and label columns; extra columns
(earlier scores, ids) are carried through untouched and scores already present are replaced.
Rows are checked as they stream past (columns, classes, empty rows); the output folder is
staged and moved into place whole, so a refused file leaves the previous results as they were.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DataSpec
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.sources import RealData, load_real
from pipeline.errors import DataError, cut
from pipeline.io import head_per_class, iter_row_groups, write_frames
from pipeline.outputs import claim_out, publish, staging_folder
from pipeline.quality.fidelity import LabelJudge, SampleScorer, score_frames
from pipeline.quality.report import QualityAccumulator, build_report, write_report

SCORE_COLUMNS = ("label_fidelity", "follows_label", "realism", "authenticity", "quality_score", "accepted")


def score_file(
    real_path: str, synthetic_path: str, label: str, out_dir: str | Path, seed: int = 0, home: Path | None = None
) -> dict[str, Any]:
    """Write <out>/scored.parquet and the quality report; return the report. `out_dir` is
    checked and claimed first (pipeline/outputs.py): never an input's folder, nor a user's."""
    inputs = [p for p in (real_path, synthetic_path) if Path(p).expanduser().exists()]
    with claim_out(out_dir, inputs, home) as out:
        return _score_into(real_path, synthetic_path, label, out, seed)


def _score_into(real_path: str, synthetic_path: str, label: str, out: Path, seed: int) -> dict[str, Any]:
    _check_readable(Path(synthetic_path))
    real = load_real(DataSpec(source=real_path, label=label), seed=seed)
    _check_schema(Path(synthetic_path), real)
    codec = fit_codec(real.frame[real.features], real.image_column)
    classes = ClassIndex.fit(real.frame[label])
    real_x, real_y = codec.encode(real.frame[real.features]).x, classes.encode(real.frame[label])
    scorer = SampleScorer(LabelJudge.fit(real_x, real_y, classes.names, seed=seed), real_x, real_y)
    accumulator = QualityAccumulator(classes.names)
    thresholds = {
        "realism": scorer.thresholds.realism,
        "authenticity": scorer.thresholds.authenticity,
        "baseline_quantiles": scorer.quantiles,
    }
    image_columns = [real.image_column] if real.image_column else []
    stage = staging_folder(out)
    try:
        path = stage / "scored.parquet"
        provenance = {
            "scored_file": str(synthetic_path),
            "real_file": str(real_path),
            "label": label,
            "seed": seed,
            "thresholds": thresholds,
        }
        rows = _checked_rows(synthetic_path, real, classes)
        write_frames(path, score_frames(rows, codec, classes, label, scorer, accumulator), provenance, image_columns)
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
        write_report(report, stage, title=f"Quality report: {Path(synthetic_path).name}")
        publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {"scored": str(out / "scored.parquet"), "report": report}


def _check_readable(path: Path) -> None:
    try:
        pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(
            f"cannot read the synthetic file {str(path)!r} as Parquet ({exc})",
            "pass --synthetic with an existing Parquet file",
        ) from None


def _check_schema(path: Path, real: RealData) -> None:
    """Refused before any scoring: a file without rows, without the real columns, or with text
    (or anything but numbers) in a column that holds numbers in the real rows."""
    shown = cut(str(path), 160)
    if pq.read_metadata(path).num_rows == 0:
        raise DataError(f"the synthetic file {shown!r} has no rows", "pass a file with at least one synthetic row")
    schema = pq.read_schema(path)
    missing = [c for c in real.features + [real.label] if c not in schema.names]
    if missing:
        raise DataError(
            f"synthetic file lacks columns {cut(missing, 200)}",
            "give a file with the real file's feature and label columns",
        )
    for column in real.features:
        dtype = real.frame[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            continue
        kind = schema.field(column).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            words = "text" if pa.types.is_string(kind) or pa.types.is_large_string(kind) else f"{kind} values"
            raise DataError(
                f"synthetic column {cut(column, 60)!r} holds {words} where the real rows have numbers",
                "write numbers in that column (e.g. pandas: pd.to_numeric(df[column]))",
            )


def _checked_rows(synthetic_path: str, real: RealData, classes: ClassIndex) -> Iterator[pd.DataFrame]:
    """The synthetic rows, row group by row group, refused with a clear error where they do
    not fit the real rows: missing columns, unknown or empty labels, rows with no values."""
    label, known, seen = real.label, set(classes.names), 0
    for frame in iter_row_groups(synthetic_path):
        missing = [c for c in real.features + [label] if c not in frame.columns]
        if missing:
            raise DataError(
                f"synthetic file lacks columns {missing}", "give a file with the real file's feature and label columns"
            )
        no_label = frame[label].isna().to_numpy()
        if no_label.any():
            raise DataError(
                f"synthetic row {seen + int(no_label.argmax())} has no label", "give every synthetic row a label"
            )
        unknown = set(frame[label].astype(str)) - known
        if unknown:
            raise DataError(
                f"synthetic rows have classes the real rows lack: {sorted(unknown)[:5]}",
                "score only classes present in the real data",
            )
        empty = frame[real.features].isna().all(axis=1).to_numpy()
        if empty.any():
            raise DataError(
                f"synthetic row {seen + int(empty.argmax())} has no feature values at all "
                f"({int(empty.sum())} such rows in this part of the file)",
                "drop the empty rows",
            )
        frame = frame.drop(columns=[c for c in SCORE_COLUMNS if c in frame.columns])
        frame[label] = frame[label].astype(real.frame[label].dtype)
        seen += len(frame)
        yield frame
