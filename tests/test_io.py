"""Parquet writing: row groups, provenance, image structs, atomic replace on failure."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.io import head_per_class, iter_row_groups, read_provenance, write_augmented, write_frames


def _batches(frame: pd.DataFrame, size: int):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def test_streamed_row_groups_keep_dtypes_and_provenance(tmp_path, mixed_table):
    path = tmp_path / "out.parquet"
    rows = write_frames(path, _batches(mixed_table, 15), {"seed": 7, "class_names": ["a", "b"]})
    assert rows == 40 and pq.ParquetFile(path).num_row_groups == 3
    back = pd.read_parquet(path)
    assert back.dtypes.to_dict() == mixed_table.dtypes.to_dict()
    pd.testing.assert_frame_equal(back, mixed_table.reset_index(drop=True))
    assert read_provenance(path) == {"seed": 7, "class_names": ["a", "b"]}


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, mixed_table):
    path = tmp_path / "out.parquet"
    write_frames(path, [mixed_table], {"run": "first"})

    def failing():
        yield mixed_table.iloc[:10]
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError):
        write_frames(path, failing(), {"run": "second"})
    assert read_provenance(path) == {"run": "first"} and len(pd.read_parquet(path)) == 40
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_image_structs_read_back_as_png_with_hf_features(tmp_path, image_frame):
    path = tmp_path / "images.parquet"
    write_frames(path, [image_frame], {}, image_columns=["image"])
    back = pd.read_parquet(path)
    with Image.open(io.BytesIO(back["image"][0]["bytes"])) as img:
        assert img.format == "PNG" and img.size == (16, 16)
    schema = pq.read_schema(path)
    assert b'"_type": "Image"' in schema.metadata[b"huggingface"]
    assert str(schema.field("image").type) == "struct<bytes: binary, path: string>"  # what `datasets` expects


def test_augmented_has_real_then_accepted_synthetic(tmp_path, mixed_table):
    synthetic = mixed_table.assign(accepted=[i % 4 != 0 for i in range(40)], label_fidelity=0.5)
    write_frames(tmp_path / "synthetic.parquet", _batches(synthetic, 16), {})
    counts = write_augmented(tmp_path / "augmented.parquet", mixed_table, tmp_path / "synthetic.parquet", {"k": 1})
    out = pd.read_parquet(tmp_path / "augmented.parquet")
    assert counts == {"real": 40, "synthetic": 30}
    assert list(out.columns) == list(mixed_table.columns) + ["is_synthetic", "source", "sample_weight"]
    assert out["is_synthetic"].sum() == 30 and not out["is_synthetic"].iloc[:40].any()
    assert out["source"].iloc[:40].eq("real").all() and out["source"].iloc[40:].eq("synthetic").all()
    assert out["sample_weight"].eq(1.0).all()
    assert out.dtypes.drop(["is_synthetic", "source", "sample_weight"]).to_dict() == mixed_table.dtypes.to_dict()
    assert sum(len(f) for f in iter_row_groups(tmp_path / "augmented.parquet")) == 70


def test_augmented_carries_balanced_class_weights_and_each_rows_source(tmp_path, mixed_table):
    from sklearn.utils.class_weight import compute_sample_weight

    real = mixed_table.iloc[:26]  # 20 of class a, 6 of b
    write_frames(tmp_path / "synthetic.parquet", [real.head(0).assign(accepted=False, source="")], {})
    counts = write_augmented(
        tmp_path / "augmented.parquet", real, tmp_path / "synthetic.parquet", {}, balanced=True, label="label"
    )
    out = pd.read_parquet(tmp_path / "augmented.parquet")
    assert counts == {"real": 26, "synthetic": 0} and out["source"].eq("real").all()
    np.testing.assert_allclose(out["sample_weight"], compute_sample_weight("balanced", real["label"]))


def test_plots_read_only_a_bounded_head_per_class(tmp_path, mixed_table):
    write_frames(tmp_path / "s.parquet", _batches(mixed_table, 7), {})
    head = head_per_class(str(tmp_path / "s.parquet"), "label", 4)
    assert head["label"].value_counts().to_dict() == {"a": 4, "b": 4}
