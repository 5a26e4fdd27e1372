"""The registered MLflow pyfunc, logged as code ("models from code"), never as a pickle.

Input rows {class, count}; output rows in the user's schema (image columns as PNG bytes).
Params: seed. `augment generate` does not go through this: it loads the saved generator
folder itself, verified against the digest recorded at registration.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from pipeline.synthesizers.registry import load_synthesizer


class SynthesizerPyfunc(PythonModel):
    def load_context(self, context) -> None:
        self.gen = load_synthesizer(context.artifacts["synthesizer"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        counts = {str(c): int(n) for c, n in zip(model_input["class"], model_input["count"])}
        for name in counts:
            self.gen.classes.index_of(name)  # unknown classes are refused by name
        frames = list(self.gen.sample_frames(counts, int((params or {}).get("seed", 0))))
        out = pd.concat(frames, ignore_index=True) if frames else self.gen._empty()
        if self.gen.codec.modality == "image":
            out[self.gen.codec.column] = [v["bytes"] for v in out[self.gen.codec.column]]
        return out


mlflow.models.set_model(SynthesizerPyfunc())
