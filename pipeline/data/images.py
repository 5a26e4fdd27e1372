"""PNG <-> array conversion for image columns stored as {bytes, path} structs.

The struct is the Hugging Face `datasets` Image convention, so the Parquet we write loads
in `datasets`, pandas and pyarrow without a custom reader.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pipeline.errors import DataError

IMAGE_STRUCT_FIELDS = ("bytes", "path")
MAX_DECODED_PIXELS = 1024 * 1024  # above it an image is refused before its pixels are decoded
MIN_IMAGE_SIDE = 8  # smaller images hold too few pixels to learn from, and the image judges' layers need 8
EXIF_ORIENTATION = 0x0112  # the EXIF tag phones write instead of rotating the pixels


def encode_png(array: np.ndarray) -> bytes:
    """One uint8 image (H, W) or (H, W, C) to PNG bytes."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def encode_pngs(images: np.ndarray) -> list[bytes]:
    """A batch of uint8 images (N, H, W[, C]) to PNG bytes. One thread: PIL's encoder holds the
    GIL for most of its work, and two threads were slower than one (177 against 159 us per
    28x28 image, BENCHMARKS.md "Images on the CPU")."""
    return [encode_png(image) for image in images]


def decode_image(value: Any, where: str) -> np.ndarray:
    """A {bytes, path} struct (or raw bytes) to a uint8 array (H, W) or (H, W, 3), turned upright
    by its EXIF orientation: a phone photo taken upright is stored sideways with a tag saying so."""
    raw = value.get("bytes") if isinstance(value, dict) else value
    path = value.get("path") if isinstance(value, dict) else None
    if raw is None and path:  # a path names a file on this machine: never opened unless the user says so
        raise DataError(
            f"{where}: the image has no bytes, only a path ({str(path)[:80]!r})",
            "store the image bytes in the column, or pass --image-paths to read files under the data's folder",
        )
    if raw is None:
        raise DataError(f"{where}: image is missing", "drop rows without an image")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_DECODED_PIXELS:  # checked before decoding: no huge allocation
                raise DataError(
                    f"{where}: the image is {image.width}x{image.height} pixels",
                    "resize the images (e.g. to 64x64) before augmenting",
                )
            if image.getexif().get(EXIF_ORIENTATION, 1) != 1:  # as every viewer shows it
                return to_array(ImageOps.exif_transpose(image))
            return to_array(image)
    except DataError:
        raise
    except Exception as exc:  # PIL raises many kinds
        raise DataError(f"{where}: not a readable image ({exc})", "re-encode the image as PNG or JPEG") from exc


def to_array(image: Image.Image) -> np.ndarray:
    """Grey stays grey (H, W); anything with colour becomes RGB (H, W, 3); alpha is dropped."""
    if image.mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if image.mode in ("I;16", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        return np.round(array / top * 255).astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def image_struct(png: bytes, path: str | None = None) -> dict[str, Any]:
    return {"bytes": png, "path": path}
