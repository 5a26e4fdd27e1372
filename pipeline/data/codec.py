"""Codecs: the user's columns <-> the CVAE's tensors, and back to the user's schema.

A codec is fitted once on the real rows, travels inside the registered model (as plain
JSON) and is the only thing that knows column kinds, scales, categories and dtypes.
The model sees a flat feature layout: blocks of Bernoulli, Gaussian or categorical units.
"""

from __future__ import annotations

import datetime
import decimal
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from pipeline.data.images import MIN_IMAGE_SIDE, decode_image, encode_pngs, image_struct
from pipeline.errors import DataError, cut

BlockKind = Literal["bernoulli", "gaussian", "categorical"]
MAX_FREE_TEXT_LEVELS = 100
MAX_IMAGE_PIXELS = 128 * 128  # larger images would need another model, and gigabytes per batch


@dataclass(frozen=True)
class Block:
    """A contiguous slice of the decoder's output with one likelihood."""

    kind: BlockKind
    start: int
    stop: int
    column: str


@dataclass
class Encoded:
    x: torch.Tensor  # (N, *input_shape) float32
    mask: torch.Tensor | None  # (N, D) 1 where a Gaussian value is observed; None if nothing missing


# decoded rows, and where it comes at no cost their encoding as read back (else None)
Written = tuple[pd.DataFrame, "torch.Tensor | None"]


# --- dtypes -------------------------------------------------------------------------------


def dtype_info(series: pd.Series) -> dict[str, Any]:
    """What it takes to rebuild this column's dtype exactly."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return {
            "dtype": "category",
            "categories": series.cat.categories.tolist(),
            "ordered": bool(series.cat.ordered),
        }
    return {"dtype": str(series.dtype)}


def restore_dtype(values: list | np.ndarray, info: dict[str, Any]) -> pd.Series:
    if info["dtype"] == "category":
        dtype = pd.CategoricalDtype(info["categories"], ordered=info["ordered"])
        return pd.Series(pd.Categorical(values, dtype=dtype))
    return pd.Series(values).astype(info["dtype"])


def _py(value: Any) -> Any:
    """numpy scalars to plain Python, so codecs serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


# --- labels -------------------------------------------------------------------------------


@dataclass
class ClassIndex:
    """Class values in a fixed (sorted) order; index i is the one-hot position."""

    values: list[Any]
    dtype: dict[str, Any]

    @classmethod
    def fit(cls, labels: pd.Series) -> "ClassIndex":
        values = sorted((_py(v) for v in labels.dropna().unique()), key=lambda v: (str(type(v)), v))
        return cls(values=values, dtype=dtype_info(labels))

    @property
    def names(self) -> list[str]:
        return [str(v) for v in self.values]

    def __len__(self) -> int:
        return len(self.values)

    def encode(self, labels: pd.Series) -> torch.Tensor:
        lookup = {v: i for i, v in enumerate(self.values)}
        return torch.tensor([lookup[_py(v)] for v in labels], dtype=torch.long)

    def decode(self, index: np.ndarray) -> pd.Series:
        return restore_dtype([self.values[i] for i in index], self.dtype)

    def index_of(self, name: str) -> int:
        try:
            return self.names.index(str(name))
        except ValueError:
            raise DataError(f"unknown class {name!r}", f"choose from: {', '.join(self.names)}") from None


# --- tables -------------------------------------------------------------------------------


@dataclass
class ColumnInfo:
    name: str
    kind: Literal["numeric", "integer", "categorical", "boolean"]
    dtype: dict[str, Any]
    missing: bool
    mean: float = 0.0
    std: float = 1.0
    lo: float = 0.0
    hi: float = 0.0
    categories: list[Any] = field(default_factory=list)
    decimals: int | None = None  # numbers are written with the precision the real rows have


def _decimals(values: np.ndarray, most: int = 6) -> int | None:
    """Fewest decimal places that represent every value exactly (None: more than `most`)."""
    scale = np.maximum(np.abs(values), 1.0)
    for d in range(most + 1):
        if np.all(np.abs(values - np.round(values, d)) <= 1e-9 * scale):
            return d
    return None


LARGEST = 1e150  # beyond it squares overflow float64: the column's spread becomes inf and every value NaN


def _refuse_unmodellable(values: np.ndarray, index: pd.Index, name: str) -> None:
    """inf, or numbers so large that their spread overflows, would train on NaN and fail much
    later with a misleading "contains NaN" from scikit-learn."""
    bad = ~np.isfinite(values) | (np.abs(values) > LARGEST)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"column {cut(name, 60)!r} has {int(bad.sum())} value(s) that are infinite or too large to model "
            f"(row {index[first]}: {float(values[first])!r}; at most {LARGEST:g} in size)",
            "leave those values empty (missing), replace them with finite numbers, or rescale the column",
        )


def _numbers(series: pd.Series, name: str) -> np.ndarray:
    """A numeric column's values as float64 (NaN where missing), refused when they are text or
    not finite: rows scored against a model must be numbers where its rows were."""
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        example = next((v for v in series.dropna() if not isinstance(v, (int, float, np.number))), None)
        raise DataError(
            f"column {cut(name, 60)!r} holds values that are not numbers (e.g. {cut(repr(example), 60)})",
            "give numbers in that column, as in the rows the model was fitted on",
        ) from None
    present = ~np.isnan(values)
    _refuse_unmodellable(values[present], series.index[present], name)
    return values


def _column_info(series: pd.Series) -> ColumnInfo:
    name, dtype = str(series.name), series.dtype
    missing = bool(series.isna().any())
    observed = series.dropna()
    if len(observed) == 0:
        raise DataError(f"column {name!r} has no values", f"drop it (--columns without {name!r})")
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnInfo(name, "boolean", dtype_info(series), missing, categories=[False, True])
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnInfo(
            name, "categorical", dtype_info(series), missing, categories=[_py(v) for v in dtype.categories]
        )
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        values = observed.to_numpy(dtype=np.float64)
        _refuse_unmodellable(values, observed.index, name)
        kind = "integer" if pd.api.types.is_integer_dtype(dtype) else "numeric"
        std = float(values.std()) or 1.0
        info = ColumnInfo(
            name, kind, dtype_info(series), missing, float(values.mean()), std, float(values.min()), float(values.max())
        )
        if kind == "numeric":
            info.decimals = _decimals(values)
        return info
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        _refuse_typed_objects(observed, name)
        if any(isinstance(v, (dict, list, tuple, bytes, np.ndarray)) for v in observed.head(5)):
            raise DataError(
                f"column {name!r} holds nested values", f"drop it or flatten it (--columns without {name!r})"
            )
        levels = sorted({_py(v) for v in observed}, key=lambda v: (str(type(v)), v))
        if len(levels) > MAX_FREE_TEXT_LEVELS and len(levels) > 0.5 * len(observed):
            raise DataError(
                f"column {name!r} has {len(levels)} distinct values in {len(observed)} rows: "
                "it looks like an ID or free text",
                f"drop it (--columns without {name!r}) or bin it into categories",
            )
        return ColumnInfo(name, "categorical", dtype_info(series), missing, categories=levels)
    raise DataError(
        f"column {name!r} has type {dtype}, which cannot be generated",
        "convert it to a number, a category or a boolean, or drop it with --columns",
    )


# Python objects Arrow gives for Parquet types that are neither numbers nor categories
_OBJECT_TYPES = (
    ((bytes, bytearray, memoryview), "raw bytes (a binary column)", "store images as {bytes, path} structs"),
    (datetime.datetime, "dates with a time (timestamps)", "convert it to a number (e.g. days since a start date)"),
    (datetime.date, "dates", "convert it to a number (e.g. days since a start date) or a category (e.g. the month)"),
    (datetime.time, "times of day", "convert it to a number (e.g. seconds since midnight) or a category (the hour)"),
    (datetime.timedelta, "durations", "convert it to a number (e.g. seconds)"),
    (decimal.Decimal, "decimal numbers (Decimal)", "convert it to float, e.g. df[column].astype(float)"),
)


def _refuse_typed_objects(observed: pd.Series, name: str) -> None:
    """A column of dates, times, bytes or Decimals is not a category of text: as one, every
    synthetic value would be a copy, and writing them back failed far from the cause."""
    first = observed.iloc[0]
    for types, words, fix in _OBJECT_TYPES:
        if isinstance(first, types):
            raise DataError(
                f"column {name!r} holds {words}, which cannot be generated",
                f"{fix}, or drop it (--columns without {name!r})",
            )


class TableCodec:
    """Numeric and integer columns as standardised Gaussians (plus a missing flag);
    categorical and boolean columns as one-hot groups (plus a 'missing' level)."""

    modality = "table"

    def __init__(self, columns: list[ColumnInfo]) -> None:
        self.columns = columns
        self.layout: list[Block] = []
        offset = 0
        for col in columns:
            if col.kind in ("numeric", "integer"):
                self.layout.append(Block("gaussian", offset, offset + 1, col.name))
                offset += 1
                if col.missing:
                    self.layout.append(Block("bernoulli", offset, offset + 1, col.name))
                    offset += 1
            else:
                width = len(col.categories) + int(col.missing)
                self.layout.append(Block("categorical", offset, offset + width, col.name))
                offset += width
        self.width = offset
        self.input_shape: tuple[int, ...] = (offset,)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> "TableCodec":
        return cls([_column_info(frame[c]) for c in frame.columns])

    def encode(self, frame: pd.DataFrame) -> Encoded:
        n = len(frame)
        x = np.zeros((n, self.width), dtype=np.float32)
        mask = np.ones((n, self.width), dtype=np.float32)
        blocks = iter(self.layout)
        for col in self.columns:
            series = frame[col.name]
            isna = series.isna().to_numpy()
            block = next(blocks)
            if col.kind in ("numeric", "integer"):
                if isna.any() and not col.missing:
                    raise DataError(
                        f"column {col.name!r} has missing values (row {int(isna.argmax())}) where the rows it was "
                        "fitted on had none",
                        "fill them in, or fit on data that has missing values in that column",
                    )
                values = _numbers(series, col.name)
                x[:, block.start] = np.where(isna, 0.0, (values - col.mean) / col.std)
                mask[:, block.start] = ~isna
                if col.missing:
                    flag = next(blocks)
                    x[:, flag.start] = isna
            else:
                lookup = {v: i for i, v in enumerate(col.categories)}
                unknown = [v for v in series[~isna].unique() if _py(v) not in lookup]
                if unknown:
                    raise DataError(
                        f"column {col.name!r} has values the model was not fitted on: {unknown[:5]}",
                        "refit on data that includes them",
                    )
                codes = np.array(
                    [len(col.categories) if m else lookup[_py(v)] for v, m in zip(series, isna)], dtype=np.int64
                )
                if isna.any() and not col.missing:
                    raise DataError(
                        f"column {col.name!r} has missing values the model was not fitted on",
                        "refit on data with missing values",
                    )
                x[np.arange(n), block.start + codes] = 1.0
        has_missing = any(c.missing and c.kind in ("numeric", "integer") for c in self.columns)
        return Encoded(torch.from_numpy(x), torch.from_numpy(mask) if has_missing else None)

    def decode(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> pd.DataFrame:
        """Decoder outputs (means and logits) to rows in the user's schema."""
        raw = raw.detach().to("cpu", torch.float32)
        out: dict[str, pd.Series] = {}
        blocks = iter(self.layout)
        for col in self.columns:
            block = next(blocks)
            part = raw[:, block.start : block.stop]
            if col.kind in ("numeric", "integer"):
                values = (part[:, 0].double() * col.std + col.mean).clamp(col.lo, col.hi).numpy()
                if col.kind == "integer":
                    values = np.round(values)
                elif col.decimals is not None:
                    values = np.round(values, col.decimals)
                isna = np.zeros(len(values), dtype=bool)
                if col.missing:
                    flag = next(blocks)
                    p_missing = torch.sigmoid(raw[:, flag.start])
                    isna = (torch.rand(len(values), generator=generator) < p_missing).numpy()
                out[col.name] = _numeric_series(values, isna, col)
            else:
                codes = torch.multinomial(torch.softmax(part, dim=1), 1, generator=generator)[:, 0].numpy()
                levels = col.categories + ([None] if col.missing else [])
                out[col.name] = restore_dtype([levels[i] for i in codes], col.dtype)
        return pd.DataFrame(out)

    def decode_written(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> Written:
        """decode(), and no encoding: rounding and categories make re-encoding the rows the
        only exact way to read them back."""
        return self.decode(raw, generator), None

    def to_dict(self) -> dict[str, Any]:
        return {"modality": "table", "columns": [asdict(c) for c in self.columns]}


def _numeric_series(values: np.ndarray, isna: np.ndarray, col: ColumnInfo) -> pd.Series:
    dtype = col.dtype["dtype"]
    if col.missing and col.kind == "integer" and dtype.startswith(("int", "uint")):
        # a plain int64 column cannot hold missing values; nullable Int64 keeps integers integers
        dtype = dtype.replace("uint", "UInt").replace("int", "Int")
    return pd.Series(np.where(isna, np.nan, values)).astype(dtype)


# --- images -------------------------------------------------------------------------------


class ImageCodec:
    """Pixels in [0, 1] with a Bernoulli likelihood; decoded as mean images, encoded to PNG."""

    modality = "image"

    def __init__(self, column: str, channels: int, height: int, width: int) -> None:
        self.column, self.channels, self.height, self.width_px = column, channels, height, width
        self.input_shape = (channels, height, width)
        self.width = channels * height * width
        self.layout = [Block("bernoulli", 0, self.width, column)]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> "ImageCodec":
        column = str(frame.columns[0])
        first = decode_image(frame[column].iloc[0], where=image_where(column, 0, frame[column].iloc[0]))
        if first.shape[0] * first.shape[1] > MAX_IMAGE_PIXELS:
            raise DataError(
                f"images are {first.shape[1]}x{first.shape[0]} pixels; the CVAE is built for small images "
                f"(at most {MAX_IMAGE_PIXELS:,} pixels, e.g. 128x128)",
                "resize the images (e.g. to 64x64) before augmenting",
            )
        if min(first.shape[:2]) < MIN_IMAGE_SIDE:
            raise DataError(
                f"{image_where(column, 0, frame[column].iloc[0])} is {first.shape[1]}x{first.shape[0]} pixels; "
                f"images of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels are needed",
                f"give images of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels (e.g. resize them to 28x28)",
            )
        channels = 1 if first.ndim == 2 else first.shape[2]
        return cls(column, channels, first.shape[0], first.shape[1])

    def encode(self, frame: pd.DataFrame) -> Encoded:
        arrays = []
        expected = (self.height, self.width_px)
        for i, value in enumerate(frame[self.column]):
            where = image_where(self.column, i, value)
            array = decode_image(value, where=where)
            if array.shape[:2] != expected:
                raise DataError(
                    f"images have different sizes: the first is {expected[1]}x{expected[0]}, "
                    f"{where} is {array.shape[1]}x{array.shape[0]}",
                    "resize all images to one size before augmenting",
                )
            if self.channels == 1 and array.ndim == 3:
                array = np.asarray(array.mean(axis=2), dtype=np.uint8)  # colour among grey images
            elif self.channels == 3 and array.ndim == 2:
                array = np.repeat(array[:, :, None], 3, axis=2)
            arrays.append(array.reshape(self.height, self.width_px, self.channels))
        pixels = np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return Encoded(torch.from_numpy(np.ascontiguousarray(pixels)), None)

    def decode(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> pd.DataFrame:
        return self.decode_written(raw, generator)[0]

    def decode_written(self, raw: torch.Tensor, generator: torch.Generator | None = None) -> Written:
        """decode(), and the rows as encode() reads them back from what is written: the 8-bit
        pixels the (lossless) PNGs hold, so scoring needs no PNG decoding."""
        return self.means_written(torch.sigmoid(raw.detach().to("cpu", torch.float32)))

    def decode_means(self, probs: torch.Tensor) -> pd.DataFrame:
        """Pixel values in [0, 1] (not logits) -> 8-bit PNG image structs."""
        return self.means_written(probs)[0]

    def means_written(self, probs: torch.Tensor) -> Written:
        """decode_means(), and the written pixels as encode() would read them back."""
        probs = probs.detach().to("cpu", torch.float32).reshape(-1, *self.input_shape)
        pixels = (probs * 255.0).round().to(torch.uint8)
        pngs = encode_pngs(pixels.permute(0, 2, 3, 1).numpy())
        frame = pd.DataFrame({self.column: [image_struct(png) for png in pngs]})
        return frame, pixels.float() / 255.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": "image",
            "column": self.column,
            "channels": self.channels,
            "height": self.height,
            "width": self.width_px,
        }


Codec = TableCodec | ImageCodec


def image_where(column: str, row: int, value: Any) -> str:
    """Where an image is, for a message: its file when the struct names one (image folders
    do), else its row."""
    path = value.get("path") if isinstance(value, dict) else None
    return f"image {cut(str(path), 120)!r}" if path else f"column {cut(column, 60)!r}, row {row}"


def fit_codec(frame: pd.DataFrame, image_column: str | None) -> Codec:
    return ImageCodec.fit(frame[[image_column]]) if image_column else TableCodec.fit(frame)


def codec_from_dict(data: dict[str, Any]) -> Codec:
    if data["modality"] == "image":
        return ImageCodec(data["column"], data["channels"], data["height"], data["width"])
    return TableCodec([ColumnInfo(**c) for c in data["columns"]])
