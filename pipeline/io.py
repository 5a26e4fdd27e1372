"""Parquet out: streamed in row groups, written atomically, provenance in the schema.

A writer opens a hidden temp file beside the target and renames it over the target only
when every row group is written, so a crash or a bad batch never leaves a half file and a
rerun simply replaces the old output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PROVENANCE_KEY = b"augment"
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # Hugging Face's Image layout
HF_KEY = b"huggingface"


class ParquetStreamWriter:
    """Write frames one row group at a time; commit with an atomic rename on clean exit."""

    def __init__(self, path: str | Path, provenance: dict[str, Any], image_columns: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.provenance = provenance
        self.image_columns = list(image_columns)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.rows = 0

    def __enter__(self) -> "ParquetStreamWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.schema = self._with_metadata(table.schema)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self.writer.write_table(table.cast(self.schema), row_group_size=max(len(frame), 1))
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.writer is not None:
            self.writer.close()
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        if self.writer is None:
            raise ValueError(f"nothing to write to {self.path}: no rows were produced")
        os.replace(self.tmp, self.path)

    def _with_metadata(self, schema: pa.Schema) -> pa.Schema:
        for name in self.image_columns:  # all-None paths would otherwise be typed null
            schema = schema.set(schema.get_field_index(name), pa.field(name, IMAGE_TYPE))
        meta = dict(schema.metadata or {})
        meta[PROVENANCE_KEY] = json.dumps(self.provenance, default=str).encode()
        features = hf_features(schema, self.image_columns)
        if features is not None:
            meta[HF_KEY] = json.dumps({"info": {"features": features}}).encode()
        return schema.with_metadata(meta)


def write_frames(
    path: str | Path,
    frames: Iterable[pd.DataFrame],
    provenance: dict[str, Any],
    image_columns: Iterable[str] = (),
    empty: pd.DataFrame | None = None,
) -> int:
    """Stream frames into one Parquet file; returns the number of rows written. With no frames,
    `empty` (a frame of no rows) gives the file its columns; without it, no rows is an error."""
    with ParquetStreamWriter(path, provenance, image_columns) as writer:
        for frame in frames:
            writer.write(frame)
        if writer.writer is None and empty is not None:
            writer.write(empty)
    return writer.rows


def update_provenance(path: str | Path, updates: dict[str, Any]) -> None:
    """Add `updates` to a written file's provenance: the file is copied row group by row group
    (never whole in memory) into a temp file that replaces it. What only the end of a run
    knows (the registered model version) goes in this way."""
    path = Path(path)
    source = pq.ParquetFile(path)
    meta = dict(source.schema_arrow.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(read_provenance(path) | updates, default=str).encode()
    schema = source.schema_arrow.with_metadata(meta)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for i in range(source.num_row_groups):
                group = source.read_row_group(i)
                writer.write_table(group.replace_schema_metadata(meta), row_group_size=max(group.num_rows, 1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_provenance(path: str | Path) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(PROVENANCE_KEY, b"{}"))


def iter_row_groups(path: str | Path, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Read a Parquet file back one row group at a time (pandas dtypes restored)."""
    file = pq.ParquetFile(path)
    for i in range(file.num_row_groups):
        yield file.read_row_group(i, columns=columns).to_pandas()


_HF_VALUE_TYPES = {
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.bool_(): "bool",
    pa.string(): "string",
    pa.large_string(): "large_string",
}


def hf_features(schema: pa.Schema, image_columns: list[str]) -> dict[str, Any] | None:
    """Hugging Face `datasets` feature spec, so it decodes image columns as images.

    Only written when every column maps to a plain feature; otherwise `datasets` infers
    the features from the Arrow schema itself.
    """
    if not image_columns:
        return None
    features: dict[str, Any] = {}
    for f in schema:
        if f.name in image_columns:
            features[f.name] = {"_type": "Image"}
        elif f.type in _HF_VALUE_TYPES:
            features[f.name] = {"dtype": _HF_VALUE_TYPES[f.type], "_type": "Value"}
        else:
            return None
    return features


def write_augmented(
    path: str | Path,
    real: pd.DataFrame,
    synthetic_path: str | Path,
    provenance: dict[str, Any],
    image_columns: Iterable[str] = (),
    balanced: bool = False,
    label: str | None = None,
) -> dict[str, int]:
    """Real rows, then the accepted synthetic rows of `synthetic_path` (streamed back): see
    write_training_set."""
    columns = list(real.columns)
    named = "source" in pq.read_schema(synthetic_path).names  # files written before 0.5 have no source

    def accepted() -> Iterator[pd.DataFrame]:
        for part in iter_row_groups(synthetic_path, columns=columns + ["accepted"] + (["source"] if named else [])):
            kept = part.loc[part["accepted"]]
            yield kept if named else kept.assign(source="synthetic")

    return write_training_set(path, real, accepted(), provenance, image_columns, balanced, label)


def write_training_set(
    path: str | Path,
    real: pd.DataFrame,
    synthetic: Iterable[pd.DataFrame],
    provenance: dict[str, Any],
    image_columns: Iterable[str] = (),
    balanced: bool = False,
    label: str | None = None,
    strength: float = 1.0,
) -> dict[str, int]:
    """Real rows, then the `synthetic` frames (the real columns plus `source`), with
    is_synthetic, source (`real` or the generator that made the row) and sample_weight: 1, or
    with `balanced` the class weights of `label` that close `strength` of the imbalance of the
    real rows (1: scikit-learn's balanced rule, n / (classes * rows of the class); 0.5: half the gap
    to the largest class; pipeline.quality.menu.balanced_weights). Returns the rows written of each kind."""
    columns = list(real.columns)
    counts = {"real": len(real), "synthetic": 0}
    weights = _balanced_weights(real[label], strength) if balanced else None

    def weight(labels: pd.Series) -> np.ndarray:
        if weights is None:
            return np.ones(len(labels))
        return labels.astype(str).map(weights).to_numpy(dtype="float64")

    def frames() -> Iterator[pd.DataFrame]:
        yield real.assign(is_synthetic=False, source="real", sample_weight=weight(real[label]) if label else 1.0)
        for part in synthetic:
            counts["synthetic"] += len(part)
            if len(part):
                yield part[columns].assign(
                    is_synthetic=True,
                    source=part["source"].to_numpy(),
                    sample_weight=weight(part[label]) if label else 1.0,
                )

    write_frames(path, frames(), provenance, image_columns)
    return counts


def _balanced_weights(labels: pd.Series, strength: float = 1.0) -> dict[str, float]:
    found = labels.astype(str).value_counts()
    if strength == 1:
        return {c: len(labels) / (len(found) * int(n)) for c, n in found.items()}
    target = {c: n + strength * (found.max() - n) for c, n in found.items()}
    scale = len(labels) / sum(target.values())
    return {c: scale * target[c] / int(n) for c, n in found.items()}


def head_per_class(path: str | Path, label: str, n: int) -> pd.DataFrame:
    """The first n rows of each class, read row group by row group (never the whole file)."""
    parts, seen = [], {}
    for group in iter_row_groups(path):
        for cls, rows in group.groupby(group[label].astype(str), sort=False):
            room = n - seen.get(cls, 0)
            if room > 0:
                parts.append(rows.head(room))
                seen[cls] = seen.get(cls, 0) + min(room, len(rows))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
