"""Generate from a registered model alone: `models:/<name>@<alias>` -> synthetic.parquet.

Given the real rows too (`data`), the new rows are scored like in the augment flow and an
augmented.parquet (real + accepted synthetic) is written beside them: the nightly
"fresh rows from the champion" job.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from flows.settings import artifacts_root
from pipeline import __version__
from pipeline.config import DataSpec, QualityConfig, SampleConfig
from pipeline.data.sources import load_real
from pipeline.errors import DataError
from pipeline.generate import generate_frames, plan_counts
from pipeline.io import write_augmented, write_frames
from pipeline.tracking import default_tracking_uri, load_registered


@task(name="generate-from-registry")
def generate_from_registry(
    model_uri: str,
    sample: SampleConfig,
    seed: int,
    out: str,
    tracking_uri: str,
    data: DataSpec | None = None,
    quality: QualityConfig = QualityConfig(),
) -> dict[str, Any]:
    bundle, info = load_registered(model_uri, tracking_uri)
    counts = plan_counts(bundle, sample)
    provenance = {
        **info,
        "mlflow_tracking_uri": tracking_uri,
        "prefect_flow_run_id": str(flow_run.id or ""),
        "seed": seed,
        "config": {"sample": sample.model_dump(mode="json")},
        "source_data_hash": bundle.meta.get("data_hash", ""),
        "class_names": bundle.classes.names,
        "label": bundle.label,
        "package_version": __version__,
    }
    image_columns = [bundle.codec.column] if bundle.codec.modality == "image" else []
    if data is None:
        path = Path(out) / "synthetic.parquet"
        rows = write_frames(
            path,
            generate_frames(bundle, counts, seed, sample.temperature, sample.batch_rows, sample.mode),
            provenance,
            image_columns,
        )
        return {"path": str(path), "rows": rows, "counts": counts, **info}
    from flows.augment import synthesize

    real = load_real(data, seed=seed).frame
    if bundle.columns and list(real.columns) != list(bundle.columns):
        raise DataError(
            f"the real rows' columns {list(real.columns)} differ from the model's {bundle.columns}",
            "pass the data set (and --columns) the model was trained on",
        )
    synth = synthesize(
        bundle, real, counts, seed, sample.temperature, sample.batch_rows, Path(out), provenance, quality, sample.mode
    )
    provenance = provenance | {"thresholds": synth["report"]["thresholds"]}
    kept = write_augmented(Path(out) / "augmented.parquet", real, synth["path"], provenance, image_columns)
    return {
        "path": synth["path"],
        "augmented": str(Path(out) / "augmented.parquet"),
        "rows": synth["rows"],
        "accepted_rows": kept["synthetic"],
        "counts": counts,
        "quality_report": synth["report_files"],
        **info,
    }


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
    out = Path(out_dir) if out_dir else root / "generated" / f"{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    result = generate_from_registry(model_uri, sample, seed, str(out), default_tracking_uri(root), data, quality)
    return result | {"out_dir": str(out), "seconds": time.perf_counter() - started}
