"""Test session setup: one thread, a private artifacts root, quiet offline Prefect/MLflow.

The environment is set before anything imports Prefect, so the ephemeral Prefect server
starts once for the whole session, in a temporary PREFECT_HOME.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="augment-tests-"))
os.environ["AUGMENT_HOME"] = str(_ROOT)
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_HOME"] = str(_ROOT / "prefect")
os.environ["AUGMENT_THREADS"] = "1"
# one process per gate, as the suite runs many small gates; tests/test_gate_workers.py asks for 2
os.environ["AUGMENT_WORKERS"] = "1"
# a local Prefect server started by a CLI run in a test stops itself five minutes after its last
# use, even where the session's teardown below does not get to stop it
os.environ["AUGMENT_SERVER_IDLE"] = "300"
os.environ["XDG_CACHE_HOME"] = str(_ROOT / "cache")  # the Prefect database template (flows/local_server.py)
os.environ["AUGMENT_RUNNER"] = "0"  # tests/test_runner.py turns the warm runner on where it tests it

from flows.settings import configure_environment  # noqa: E402

configure_environment(_ROOT)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _remove_artifacts_root_at_the_end():
    """Set up first, torn down last: the local Prefect server that CLI runs in subprocesses
    started, the session's runs, MLflow database and Prefect home go."""
    yield
    from flows.local_server import stop

    stop(_ROOT)
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts_root() -> Path:
    return _ROOT


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def mixed_table() -> pd.DataFrame:
    """Every column kind the codec supports, with missing values where they can occur."""
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(1),
            "count": rng.integers(0, 50, n).astype("int64"),
            "visits": pd.array(rng.integers(1, 9, n), dtype="Int64"),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n), categories=["blue", "green", "red"]),
            "city": pd.Series(rng.choice(["Oslo", "Lima", "Pune"], n), dtype="str"),
            "member": rng.random(n) > 0.5,
            "label": pd.Series(np.repeat(["a", "b"], n // 2), dtype="str"),
        }
    )
    frame.loc[[1, 5], "height"] = np.nan
    frame.loc[[2], "visits"] = pd.NA
    frame.loc[[3, 7], "colour"] = np.nan
    return frame


@pytest.fixture
def image_frame() -> pd.DataFrame:
    """Two classes of 16x16 grey images: a bright square top-left vs bottom-right."""
    rng = np.random.default_rng(1)
    rows = []
    for label, (r, c) in ((0, (2, 2)), (1, (9, 9))):
        for _ in range(12):
            img = rng.integers(0, 30, (16, 16))
            img[r : r + 5, c : c + 5] = 220 + rng.integers(0, 30)
            rows.append({"image": {"bytes": png(img), "path": None}, "label": label})
    return pd.DataFrame(rows)


# A fixed advice for the tests of the gate's arithmetic and words: the packaged artifact
# (pipeline/quality/advice_prior.json) is rebuilt by `benchmarks/meta.py --learn` whenever the
# meta-benchmark grows, so these tests pin their own numbers (0.8's averages, a weight of one half).
FIXED_TYPICAL = {
    "table/logistic": {"all": {"class_weight": 6.8, "oversample": 6.7, "smote": 6.2, "cvae": 7.0}},
    "table/forest": {"all": {"class_weight": 3.7, "oversample": 2.2, "smote": 3.3, "cvae": 6.5}},
    "table/boosting": {"all": {"class_weight": 2.6, "oversample": 4.8, "smote": 5.2, "cvae": 8.9}},
    "image/logistic": {"all": {"class_weight": 5.2, "oversample": 5.4, "affine": 6.2, "cvae": 4.7, "cvae_affine": 6.1}},
    "image/cnn": {"all": {"class_weight": 0.9, "oversample": 0.4, "affine": 1.9, "cvae": 0.0, "cvae_affine": 1.7}},
}


@pytest.fixture
def fixed_advice(monkeypatch):
    """menu.ADVICE and menu.TYPICAL_GAINS as FIXED_TYPICAL with a fixed weight of 0.5."""
    from pipeline.quality import menu
    from pipeline.quality.prior import Advice

    advice = Advice(0, FIXED_TYPICAL, {"kind": "fixed", "weight": 0.5})
    monkeypatch.setattr(menu, "ADVICE", advice)
    monkeypatch.setattr(menu, "TYPICAL_GAINS", advice.overall())
    return advice
