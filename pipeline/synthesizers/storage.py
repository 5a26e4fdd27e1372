"""The saved-model format: tensors, tables and JSON only, with a SHA-256 per file.

A folder holds `spec.json` (what the model is: kind, codec, classes, settings, versions),
optional `weights.safetensors` (tensors only: loading them runs no code, unlike a pickle),
optional Parquet tables (rows a memory-based generator keeps), and `manifest.json` with
the SHA-256 of every other file. `load` refuses a folder whose files differ from the
manifest, or that holds any file the manifest does not list (a planted pickle included).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from pipeline.errors import ModelLoadError

FORMAT = "augment-synthesizer/1"
SPEC, MANIFEST, WEIGHTS = "spec.json", "manifest.json", "weights.safetensors"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_folder(
    folder: str | Path,
    spec: dict[str, Any],
    tensors: dict[str, torch.Tensor] | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the folder beside its target and swap it in whole, so a crash leaves the old one."""
    folder = Path(folder)
    stage = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    stage.mkdir(parents=True)
    try:
        (stage / SPEC).write_text(json.dumps({"format": FORMAT} | spec, indent=2, default=str))
        if tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(stage / WEIGHTS))
        for name, frame in (tables or {}).items():
            frame.to_parquet(stage / f"{name}.parquet", index=False)
        files = sorted(p.name for p in stage.iterdir())
        (stage / MANIFEST).write_text(json.dumps({name: sha256_of(stage / name) for name in files}, indent=2))
        _swap_in(stage, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder


def _swap_in(stage: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(stage, folder)
    shutil.rmtree(old, ignore_errors=True)


def manifest_digest(folder: str | Path) -> str:
    """SHA-256 of the manifest: one value that pins every file of the folder (logged as a tag)."""
    return sha256_of(Path(folder) / MANIFEST)


def load_folder(
    folder: str | Path, expected_digest: str | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, pd.DataFrame]]:
    """(spec, tensors, tables) of a verified folder; ModelLoadError names what is wrong."""
    folder = Path(folder)
    manifest = _read_json(folder / MANIFEST, folder)
    if expected_digest and manifest_digest(folder) != expected_digest:
        raise _refuse(folder, "its manifest is not the one recorded when it was logged")
    present = {p.name for p in folder.iterdir()} - {MANIFEST}
    if present != set(manifest):
        extra, missing = sorted(present - set(manifest)), sorted(set(manifest) - present)
        raise _refuse(folder, f"unexpected files {extra}" if extra else f"missing files {missing}")
    for name, digest in manifest.items():
        if sha256_of(folder / name) != digest:
            raise _refuse(folder, f"{name} does not match its SHA-256 in the manifest")
    spec = _read_json(folder / SPEC, folder)
    if spec.get("format") != FORMAT:
        raise _refuse(folder, f"format {spec.get('format')!r} is not {FORMAT!r}")
    tensors = load_file(str(folder / WEIGHTS)) if WEIGHTS in manifest else {}
    tables = {Path(n).stem: pd.read_parquet(folder / n) for n in manifest if n.endswith(".parquet")}
    return spec, tensors, tables


def _read_json(path: Path, folder: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _refuse(folder, f"{path.name} cannot be read ({exc})") from None


def _refuse(folder: Path, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"refusing to load the model in {str(folder)!r}: {why}",
        "load a model folder written by `augment` (Synthesizer.save), unchanged since",
    )
