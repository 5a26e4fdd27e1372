"""Generate from a registered model alone: `models:/<name>@<alias>` -> synthetic.parquet.

Given the real rows too (`data`), the new rows are scored and kept as in the augment flow
and an augmented.parquet is written beside them: the nightly "fresh rows from the
champion" job. Outputs are staged and moved into place as a set, only into a folder that
is new, empty or an earlier output (pipeline/outputs.py).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from flows import handoff
from flows.settings import artifacts_root
from pipeline import __version__
from pipeline.config import DataSpec, QualityConfig, SampleConfig
from pipeline.data.sources import load_real
from pipeline.errors import DataError
from pipeline.io import write_frames
from pipeline.job import synthesize_rows
from pipeline.outputs import claim_out, publish, staging_folder
from pipeline.tracking import default_tracking_uri, load_registered


@task(name="generate-from-registry")
def generate_from_registry(
    model_uri: str,
    sample: SampleConfig,
    seed: int,
    stage: Path,
    tracking_uri: str,
    data: DataSpec | None,
    quality: QualityConfig,
) -> dict[str, Any]:
    loaded = handoff.take("registered", f"{model_uri} {tracking_uri}")  # as `augment generate` checked it
    if loaded is None:
        with tempfile.TemporaryDirectory() as tmp:
            loaded = load_registered(model_uri, tracking_uri, tmp)
    gen, info = loaded
    counts = gen.plan(sample.per_class, sample.balance_to, sample.classes)
    provenance = info | {
        "mlflow_tracking_uri": tracking_uri,
        "prefect_flow_run_id": str(flow_run.id or ""),
        "seed": seed,
        "config": {"sample": sample.model_dump(mode="json")},
        "class_names": gen.classes.names,
        "label": gen.label,
        "package_version": __version__,
    }
    if data is None:
        image_columns = [gen.codec.column] if gen.codec.modality == "image" else []
        rows = write_frames(
            stage / "synthetic.parquet", gen.sample_frames(counts, seed, sample.batch_rows), provenance, image_columns
        )
        return {"rows": rows, "counts": counts, **info}
    real = load_real(data, seed=seed).frame
    if list(real.columns) != list(gen.columns):
        raise DataError(
            f"the real rows' columns {list(real.columns)} differ from the model's {gen.columns}",
            "pass the data set (and --columns) the model was trained on",
        )
    synth = synthesize_rows(gen, real, counts, quality, sample, seed, stage, provenance)
    return {"rows": synth["rows"], "accepted_rows": synth["accepted_rows"], "counts": counts, **info}


@flow(name="augment-generate")
def generate_flow(
    model_uri: str,
    sample: SampleConfig,
    seed: int = 0,
    out_dir: str | None = None,
    data: DataSpec | None = None,
    quality: QualityConfig = QualityConfig(),
) -> dict[str, Any]:
    """Sample rows from a registered generator and write them as Parquet (scored + augmented with `data`)."""
    started = time.perf_counter()
    root = artifacts_root()
    inputs = [data.source] if data is not None and Path(data.source).expanduser().exists() else []
    default = root / "generated" / f"{datetime.now():%Y%m%d-%H%M%S}"
    with claim_out(out_dir or default, inputs, root) as out:
        stage = staging_folder(out)
        try:
            result = generate_from_registry(model_uri, sample, seed, stage, default_tracking_uri(root), data, quality)
            publish(stage, out)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    return result | {
        "out_dir": str(out),
        "path": str(out / "synthetic.parquet"),
        "seconds": time.perf_counter() - started,
    }
