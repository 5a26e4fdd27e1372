"""The generator bundle: CVAE weights + codec + classes, in one self-describing file.

It is what MLflow registers and what `augment generate` loads: everything needed to
decode samples back to the user's schema travels with the weights, as plain data
(torch.load with weights_only=True, no pickled code).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.config import ModelConfig
from pipeline.data.codec import ClassIndex, Codec, codec_from_dict
from pipeline.errors import ModelLoadError
from pipeline.model import CVAE, ModelShape

FORMAT_VERSION = 1
# q(z|x,y) of the real rows and, for images, their pixels, in the state dict (sized by the
# data, so resized on load); the posterior and warp sampling modes need them, and they mean
# the bundle carries the real rows: treat a bundle like the data it was trained on
POSTERIOR_BUFFERS = ("post_mu", "post_logvar", "post_y", "post_x")


@dataclass
class GeneratorBundle:
    model: CVAE
    codec: Codec
    classes: ClassIndex
    label: str
    real_counts: dict[str, int]  # real rows per class name, for --balance-to
    meta: dict[str, Any] = field(default_factory=dict)  # data hash, seed, data set name...
    columns: list[str] | None = None  # output column order (the user's); default features + label

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(
            {
                "format": FORMAT_VERSION,
                "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "shape": asdict(self.model.shape),
                "model_config": self.model.cfg.model_dump(),
                "codec": self.codec.to_dict(),
                "classes": {"values": self.classes.values, "dtype": self.classes.dtype},
                "label": self.label,
                "real_counts": self.real_counts,
                "meta": self.meta,
                "columns": self.columns,
            },
            tmp,
        )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "GeneratorBundle":
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load generator bundle {str(path)!r}: {exc}", "point at a bundle written by `augment run`"
            ) from exc
        if state.get("format") != FORMAT_VERSION:
            raise ModelLoadError(
                f"bundle format {state.get('format')} is not {FORMAT_VERSION}", "retrain the model with this version"
            )
        codec = codec_from_dict(state["codec"])
        shape_d = state["shape"]
        shape = ModelShape(tuple(shape_d["input_shape"]), shape_d["n_classes"], shape_d["arch"])
        model = CVAE(shape, ModelConfig(**state["model_config"]), codec.layout)
        weights = dict(state["state_dict"])
        for name in POSTERIOR_BUFFERS:  # bundles from before stored posteriors: no rows to vary
            weights.setdefault(name, getattr(model, name))
            setattr(model, name, torch.empty_like(weights[name]))
        model.load_state_dict(weights)
        model.to(device).eval()
        classes = ClassIndex(state["classes"]["values"], state["classes"]["dtype"])
        return cls(model, codec, classes, state["label"], state["real_counts"], state["meta"], state.get("columns"))
