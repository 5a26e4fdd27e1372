"""Loading real rows from every kind of source, and the clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import png

from pipeline.config import DataSpec
from pipeline.data.sources import frame_hash, load_real
from pipeline.errors import DataError


def test_builtin_table_with_categories_and_missing_values():
    real = load_real(DataSpec(source="penguins"))
    assert real.modality == "table" and real.label == "species"
    assert real.frame["sex"].isna().any() and isinstance(real.frame["island"].dtype, pd.CategoricalDtype)


def test_builtin_images_come_as_png_structs():
    real = load_real(DataSpec(source="digits", real_per_class=3), seed=1)
    assert real.modality == "image" and real.image_column == "image"
    assert real.frame["label"].value_counts().tolist() == [3] * 10
    assert real.frame["image"][0]["bytes"].startswith(b"\x89PNG")


def test_parquet_with_image_structs(tmp_path, image_frame):
    path = tmp_path / "train.parquet"
    image_frame.to_parquet(path)
    real = load_real(DataSpec(source=str(path), label="label"))
    assert real.image_column == "image" and len(real.frame) == 24


def test_image_folder_one_subfolder_per_class(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i}.png").write_bytes(png(np.full((8, 8), 40 * i)))
    real = load_real(DataSpec(source=str(tmp_path)))
    assert sorted(real.frame["label"].unique()) == ["cat", "dog"]
    assert real.frame["image"][0]["path"] == "cat/0.png"


def test_image_folder_with_mixed_sizes_is_refused(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            (tmp_path / cls / f"{i}.png").write_bytes(png(np.zeros((8, 8 + (cls == "b") * i))))
    with pytest.raises(DataError, match="different sizes"):
        load_real(DataSpec(source=str(tmp_path)))


def test_same_rows_same_hash(mixed_table):
    assert frame_hash(mixed_table) == frame_hash(mixed_table.copy())
    changed = mixed_table.copy()
    changed.loc[0, "count"] += 1
    assert frame_hash(changed) != frame_hash(mixed_table)


def _parquet(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "label", "message"),
    [
        (lambda f: f, "target", r"label column 'target' not found.*\n.*fix: pass --label with one of: height"),
        (lambda f: f.assign(label="a"), "label", r"only one class \('a'\)"),
        (lambda f: f.iloc[:21], "label", r"class\(es\) with fewer than 2 rows: 'b' \(1 row\)"),
        (
            lambda f: f.assign(label=f["label"].mask(f.index.isin([4, 9]))),
            "label",
            r"2 row\(s\) have no label.*rows 4, 9",
        ),
        (lambda f: f.iloc[:0], "label", "the table is empty"),
    ],
    ids=["missing-label-column", "single-class", "one-row-class", "nan-labels", "empty-table"],
)
def test_bad_labels_get_a_clear_error(tmp_path, mixed_table, mutate, label, message):
    source = _parquet(tmp_path, mutate(mixed_table))
    with pytest.raises(DataError, match=message):
        load_real(DataSpec(source=source, label=label))


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="cannot read .*broken.parquet.* as Parquet"):
        load_real(DataSpec(source=str(path), label="label"))


def test_unknown_source_lists_the_builtins():
    with pytest.raises(DataError, match="fix: give a Parquet or CSV file.*digits, mnist"):
        load_real(DataSpec(source="no-such-thing"))


def test_unknown_feature_columns(tmp_path, mixed_table):
    with pytest.raises(DataError, match=r"columns \['weight'\] not found"):
        load_real(DataSpec(source=_parquet(tmp_path, mixed_table), label="label", columns=["weight"]))


def test_rows_without_a_label_are_dropped_or_kept_as_unlabelled(tmp_path, mixed_table):
    frame = mixed_table.assign(label=mixed_table["label"].mask(mixed_table.index.isin([4, 9, 30])))
    source = _parquet(tmp_path, frame)
    with pytest.raises(DataError, match=r"3 row\(s\) have no label.*\n.*--unlabelled use"):
        load_real(DataSpec(source=source, label="label"))
    dropped = load_real(DataSpec(source=source, label="label", unlabelled="drop"))
    assert len(dropped.frame) == 37 and dropped.unlabelled is None
    used = load_real(DataSpec(source=source, label="label", unlabelled="use"))
    assert len(used.frame) == 37 and list(used.unlabelled.columns) == used.features
    pd.testing.assert_frame_equal(used.unlabelled, frame.loc[[4, 9, 30], used.features].reset_index(drop=True))


def test_rows_left_out_by_real_per_class_join_the_unlabelled_rows(tmp_path, mixed_table):
    frame = mixed_table.assign(label=mixed_table["label"].mask(mixed_table.index == 4))
    used = load_real(
        DataSpec(source=_parquet(tmp_path, frame), label="label", real_per_class=5, unlabelled="use"), seed=3
    )
    assert used.frame["label"].value_counts().tolist() == [5, 5]
    assert len(used.unlabelled) == 40 - 10  # 1 without a label + 29 left out
    # every real row is either labelled or unlabelled, never both
    seen = pd.concat([used.frame[used.features], used.unlabelled]).astype(str)
    assert not seen.duplicated().any() and len(seen) == 40
