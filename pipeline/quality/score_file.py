"""Score any synthetic Parquet or CSV file (or frame, score_rows) against real rows: ours, or one made by another tool.

The synthetic file must have the real file's feature and label columns; extra columns
(earlier scores, ids) are carried through untouched and scores already present are replaced.
Rows are checked as they stream past (columns, classes, empty rows); the output folder is
staged and moved into place whole, so a refused file leaves the previous results as they were.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import DataSpec
from pipeline.data.codec import ClassIndex, fit_codec
from pipeline.data.csv_files import is_csv, read_csv
from pipeline.data.sources import RealData, load_real, prepare_rows
from pipeline.data.text_numbers import numbers_in_text
from pipeline.errors import DataError, cut
from pipeline.io import head_per_class, iter_row_groups, write_frames
from pipeline.outputs import claim_out, publish, staging_folder
from pipeline.quality.fidelity import LabelScorer, SampleScorer, score_frames
from pipeline.quality.report import QualityAccumulator, build_report, write_report

SCORE_COLUMNS = ("label_fidelity", "follows_label", "realism", "authenticity", "quality_score", "accepted")


def score_file(
    real_path: str, synthetic_path: str, label: str, out_dir: str | Path, seed: int = 0, home: Path | None = None
) -> dict[str, Any]:
    """Write <out>/scored.parquet and the quality report; return the report. `out_dir` is
    checked and claimed first (pipeline/outputs.py): never an input's folder, nor a user's.
    Both inputs may be Parquet or CSV (read by pipeline/data's readers, as `--data` is)."""
    inputs = [p for p in (real_path, synthetic_path) if Path(p).expanduser().exists()]
    with claim_out(out_dir, inputs, home) as out:
        return _score_into(real_path, synthetic_path, label, out, seed)


@dataclass
class ScoredRows:
    """score_rows' answer: the synthetic rows with their scores and `accepted`, and the quality
    report (quality_report.json's keys, without a gate)."""

    rows: pd.DataFrame
    report: dict[str, Any] = field(repr=False)


def score_rows(
    real: pd.DataFrame, synthetic: pd.DataFrame, label: str, columns: list[str] | None = None, seed: int = 0
) -> ScoredRows:
    """Score every synthetic row (any tool's) against the real rows, in memory: the checks and
    scores of `augment score`, without files."""
    for name, frame in (("real", real), ("synthetic", synthetic)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"score_rows: {name} is a {type(frame).__name__}", "pass pandas DataFrames")
    data = prepare_rows(real, label, columns, where="real rows")
    _check_schema(pa.Schema.from_pandas(synthetic, preserve_index=False), len(synthetic), "synthetic rows", data)
    scoring = _Scoring(data, seed)
    frames = _checked_frames([synthetic.reset_index(drop=True).copy()], data, scoring.classes)
    parts = list(score_frames(frames, scoring.codec, scoring.classes, label, scoring.scorer, scoring.accumulator))
    scored = pd.concat(parts, ignore_index=True)
    head = None if data.image_column else scored.groupby(scored[label].astype(str), sort=False).head(2000)
    return ScoredRows(scored, scoring.report(data, head))


class _Scoring:
    """The label scorer, the row scorer and the tallies fit on the real rows: what scoring a
    file and scoring a frame share."""

    def __init__(self, real: RealData, seed: int) -> None:
        self.codec = fit_codec(real.frame[real.features], real.image_column)
        self.classes = ClassIndex.fit(real.frame[real.label])
        real_x = self.codec.encode(real.frame[real.features]).x
        real_y = self.classes.encode(real.frame[real.label])
        self.scorer = SampleScorer(LabelScorer.fit(real_x, real_y, self.classes.names, seed=seed), real_x, real_y)
        self.accumulator = QualityAccumulator(self.classes.names)
        self.thresholds = {
            "realism": self.scorer.thresholds.realism,
            "authenticity": self.scorer.thresholds.authenticity,
            "baseline_quantiles": self.scorer.quantiles,
        }

    def report(self, real: RealData, head: pd.DataFrame | None) -> dict[str, Any]:
        s = self.scorer
        image = bool(real.image_column)
        accuracy = s.label_scorer.real_accuracy
        return build_report(self.accumulator, s.refs, self.thresholds, accuracy, image, real.frame, head, real.features)


def _score_into(real_path: str, synthetic_path: str, label: str, out: Path, seed: int) -> dict[str, Any]:
    path = Path(synthetic_path)
    csv = path.exists() and is_csv(path)
    if not csv:
        _check_readable(path)
    real = load_real(DataSpec(source=real_path, label=label), seed=seed)
    if csv:
        frame = _read_synthetic_csv(path, real)
        _check_schema(pa.Schema.from_pandas(frame, preserve_index=False), len(frame), str(path), real)
    else:
        schema = pq.read_schema(path)
        _check_schema(schema, pq.read_metadata(path).num_rows, str(path), real)
    scoring = _Scoring(real, seed)
    image_columns = [real.image_column] if real.image_column else []
    stage = staging_folder(out)
    try:
        target = stage / "scored.parquet"
        provenance = {
            "scored_file": str(synthetic_path),
            "real_file": str(real_path),
            "label": label,
            "seed": seed,
            "thresholds": scoring.thresholds,
        }
        rows = _checked_frames([frame] if csv else iter_row_groups(synthetic_path), real, scoring.classes)
        c = scoring
        write_frames(
            target, score_frames(rows, c.codec, c.classes, label, c.scorer, c.accumulator), provenance, image_columns
        )
        report = scoring.report(real, None if image_columns else head_per_class(target, label, 2000))
        write_report(report, stage, title=f"Quality report: {path.name}")
        publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {"scored": str(out / "scored.parquet"), "report": report}


def _read_synthetic_csv(path: Path, real: RealData) -> pd.DataFrame:
    """A CSV file of synthetic rows, read as `--data` reads one (numbers written as text too)."""
    # the label as written where the real labels are text; typed like the real ones where they are numbers
    text_label = not pd.api.types.is_numeric_dtype(real.frame[real.label])
    table = read_csv(path, real.label if text_label else None)
    # a ';'-separated file with no number that shows its decimal mark: Europe's comma, as for --data
    decimal = table.decimal or ("," if table.delimiter == ";" else None)
    numeric = [c for c in real.features if c in table.frame.columns and pd.api.types.is_numeric_dtype(real.frame[c])]
    frame, _ = numbers_in_text(table.frame, numeric, where=cut(str(path), 160), decimal=decimal)
    return frame


def _check_readable(path: Path) -> None:
    try:
        pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(
            f"cannot read the synthetic file {str(path)!r} as Parquet ({exc})",
            "pass --synthetic with an existing Parquet or CSV file (.csv, .tsv, .csv.gz)",
        ) from None


def _check_schema(schema: pa.Schema, num_rows: int, where: str, real: RealData) -> None:
    """Refused before any scoring: rows without rows, without the real columns, or with text
    (or anything but numbers) in a column that holds numbers in the real rows."""
    shown = cut(where, 160)
    if num_rows == 0:
        raise DataError(f"the synthetic file {shown!r} has no rows", "pass a file with at least one synthetic row")
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


def _checked_frames(frames: Iterable[pd.DataFrame], real: RealData, classes: ClassIndex) -> Iterator[pd.DataFrame]:
    """The synthetic rows, part by part (a Parquet file's row groups), refused with a clear error
    where they do not fit the real rows: missing columns, unknown or empty labels, empty rows."""
    label, known, seen = real.label, set(classes.names), 0
    for frame in frames:
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
