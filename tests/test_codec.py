"""Codec round trips: every column kind, missing values, images, and the errors users hit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import png

from pipeline.data.codec import ClassIndex, ImageCodec, TableCodec, codec_from_dict
from pipeline.data.images import decode_image
from pipeline.errors import DataError


def _ideal_raw(codec: TableCodec, x: torch.Tensor) -> torch.Tensor:
    """Decoder outputs that put all probability on the encoded values."""
    raw = x.clone()
    for block in codec.layout:
        part = x[:, block.start : block.stop]
        raw[:, block.start : block.stop] = part if block.kind == "gaussian" else (part * 2 - 1) * 50
    return raw


def test_table_round_trip_keeps_values_dtypes_and_missing(mixed_table):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    decoded = codec.decode(_ideal_raw(codec, codec.encode(features).x), torch.Generator().manual_seed(0))
    assert list(decoded.columns) == list(features.columns)
    for column in features.columns:
        assert decoded[column].dtype == features[column].dtype, column
        pd.testing.assert_series_equal(
            decoded[column], features[column], check_names=False, check_exact=False, rtol=1e-6
        )


def test_codec_survives_json_round_trip(mixed_table):
    codec = TableCodec.fit(mixed_table.drop(columns=["label"]))
    clone = codec_from_dict(codec.to_dict())
    assert clone.layout == codec.layout
    assert torch.equal(clone.encode(mixed_table).x, codec.encode(mixed_table).x)


def test_decoded_numbers_respect_bounds_precision_and_integers(mixed_table):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    raw = torch.randn(200, codec.width) * 5  # far outside the real range
    decoded = codec.decode(raw, torch.Generator().manual_seed(0))
    heights = decoded["height"].dropna()
    assert heights.between(features["height"].min(), features["height"].max()).all()
    assert np.allclose(heights, heights.round(1))
    assert decoded["count"].dtype == np.int64
    assert set(decoded["colour"].dropna()) <= {"blue", "green", "red"}
    assert list(decoded["colour"].cat.categories) == ["blue", "green", "red"]


def test_missing_numbers_are_masked_in_the_loss_layout(mixed_table):
    codec = TableCodec.fit(mixed_table.drop(columns=["label"]))
    encoded = codec.encode(mixed_table)
    height = next(b for b in codec.layout if b.column == "height" and b.kind == "gaussian")
    assert encoded.mask is not None
    assert encoded.mask[1, height.start] == 0 and encoded.mask[0, height.start] == 1


def test_class_index_round_trip_keeps_label_dtype():
    labels = pd.Series([3, 1, 2, 1], dtype="int64")
    index = ClassIndex.fit(labels)
    assert index.names == ["1", "2", "3"]
    back = index.decode(index.encode(labels).numpy())
    pd.testing.assert_series_equal(back, labels.reset_index(drop=True))
    with pytest.raises(DataError, match="unknown class '9'"):
        index.index_of("9")


def test_image_round_trip_is_pixel_exact(image_frame):
    codec = ImageCodec.fit(image_frame[["image"]])
    x = codec.encode(image_frame[["image"]]).x
    assert x.shape == (24, 1, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    logits = torch.logit(x.clamp(1e-4, 1 - 1e-4).double()).float()
    decoded = codec.decode(logits)
    for i in (0, 13):
        original = decode_image(image_frame["image"][i], "test")
        again = decode_image(decoded["image"][i], "test")
        assert np.abs(original.astype(int) - again.astype(int)).max() <= 1


def test_truncated_png_is_refused():
    from pipeline.data.images import encode_png

    raw = encode_png(np.arange(64, dtype=np.uint8).reshape(8, 8))
    with pytest.raises(DataError, match="row 1: not a readable image"):
        decode_image({"bytes": raw[:-30], "path": None}, "row 1")


def test_images_of_different_sizes_are_refused(image_frame):
    frame = image_frame.copy()
    frame.at[5, "image"] = {"bytes": png(np.zeros((20, 16))), "path": None}
    codec = ImageCodec.fit(frame[["image"]])
    with pytest.raises(DataError, match="different sizes.*row 5 is 16x20"):
        codec.encode(frame[["image"]])


def test_unreadable_image_bytes_are_refused(image_frame):
    frame = image_frame.copy()
    frame.at[3, "image"] = {"bytes": b"not a png", "path": None}
    with pytest.raises(DataError, match="row 3: not a readable image"):
        ImageCodec.fit(frame[["image"]]).encode(frame[["image"]])


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pd.Series(pd.date_range("2020-01-01", periods=40)), "cannot be generated"),
        (pd.Series([np.nan] * 40, dtype="float64"), "has no values"),
        (pd.Series([f"id-{i}" for i in range(400)][:40] * 1, dtype="str"), None),
    ],
)
def test_unsupported_columns_name_the_column(column, message):
    frame = pd.DataFrame({"bad": column})
    if message is None:  # 40 distinct strings in 40 rows is still few enough levels to be categories
        TableCodec.fit(frame)
        return
    with pytest.raises(DataError, match=f"'bad'.*{message}"):
        TableCodec.fit(frame)


def test_id_like_text_columns_are_refused():
    frame = pd.DataFrame({"customer": pd.Series([f"c{i}" for i in range(300)], dtype="str")})
    with pytest.raises(DataError, match="looks like an ID or free text"):
        TableCodec.fit(frame)
