"""Image plots tile images into one array; quality plots take the scored rows as written."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import plots
from pipeline.data.images import encode_png


def test_montage_places_each_image_in_its_cell_with_blank_padding():
    imgs = [np.full((3, 2), v, dtype=np.uint8) for v in (10, 20, 30)]
    grid = plots._montage(imgs, cols=2, pad=1)
    assert grid.shape == (3 + 1 + 3, 2 + 1 + 2)
    assert (grid[0:3, 0:2] == 10).all() and (grid[0:3, 3:5] == 20).all() and (grid[4:7, 0:2] == 30).all()
    assert (grid[3, :] == 255).all() and (grid[4:7, 3:5] == 255).all()  # padding row, empty last cell


def test_quality_plots_from_scored_rows(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame(
        {
            "image": [
                {"bytes": encode_png(rng.integers(0, 255, (8, 8), dtype=np.uint8)), "path": None} for _ in range(n)
            ],
            "label": ["a", "b"] * (n // 2),
            "label_fidelity": rng.random(n),
            "realism": rng.random(n) * 2,
            "authenticity": rng.random(n) + 0.5,
            "quality_score": rng.random(n),
            "accepted": rng.random(n) > 0.3,
        }
    )
    made = [
        plots.accepted_rejected(frame, "image", "label", tmp_path / "ar.png"),
        plots.score_histograms(frame, {"realism": 0.2, "authenticity": 0.6}, tmp_path / "scores.png"),
        plots.class_bars(
            {"a": {"accepted_share": 0.7, "follows_label": 0.9}, "b": {"accepted_share": 0.5}}, tmp_path / "bars.png"
        ),
        plots.accepted_rejected(frame.iloc[:0], "image", "label", tmp_path / "none.png"),
    ]
    assert all(p.stat().st_size > 1000 for p in made)


def test_user_text_in_plots_is_shown_as_written(tmp_path):
    """A `$` in a class or column name would start matplotlib's math mode and crash the plot."""
    import pandas as pd

    from pipeline.plots import class_bars, column_distributions

    names = ["$\\frac{$", "[/x]", "<script>x</script>"]
    per_class = {n: {"accepted_share": 0.5, "follows_label": 0.9, "label_fidelity": 0.8} for n in names}
    assert class_bars(per_class, tmp_path / "bars.png").stat().st_size > 1000
    frame = pd.DataFrame({"$a$": [1.0, 2.0, 3.0], "colour": pd.Categorical(["$x", "y", "$x"])})
    assert column_distributions(frame, frame, ["$a$", "colour"], tmp_path / "cols.png").stat().st_size > 1000
