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


def _numbered_y_ticks(ax) -> list[str]:
    """The y tick labels drawn inside the axes' view, with their text."""
    low, high = sorted(ax.get_ylim())
    return [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high and t.get_text()]


def test_the_loss_plot_numbers_its_y_axes_however_the_losses_span():
    import matplotlib.pyplot as plt

    narrow = [{"epoch": e, "loss": 60 + 30 / e, "val_loss": 70 + 30 / e, "recon": 50, "kl": 5} for e in range(1, 50)]
    steep = [{"epoch": e, "loss": -20 + 5000 / e**2, "val_loss": -15 + 4000 / e**2, "recon": 30 + 3000 / e**2, "kl": 5}
             for e in range(1, 50)]  # fmt: skip
    for history in (narrow, steep):
        fig = plots.loss_figure(history)
        fig.canvas.draw()
        for ax in fig.axes[:2]:
            assert len(_numbered_y_ticks(ax)) >= 3, _numbered_y_ticks(ax)
        plt.close(fig)


def test_the_scores_title_sits_above_its_panels_titles():
    import matplotlib.pyplot as plt
    from matplotlib.transforms import Bbox

    rng = np.random.default_rng(0)
    rows = pd.DataFrame({name: rng.random(50) for name in plots.SCORES}).assign(accepted=rng.random(50) > 0.3)
    fig = plots.scores_figure(rows, {"realism": 0.2})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        panel = Bbox.union([ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)])
        assert title.y0 >= panel.y1, (title, panel)  # above, not overlapping
    assert fig._suptitle.get_text().startswith("per-row scores of 50 synthetic rows")
    plt.close(fig)


def test_columns_plot_says_which_classes_it_pools():
    import matplotlib.pyplot as plt

    frame = pd.DataFrame({"radius": [1.0, 2.0, 3.0, 4.0], "texture": [3.0, 1.0, 2.0, 5.0]})
    some = plots.columns_figure(frame, frame, ["radius", "texture"], classes=["malignant"], class_count=2)
    both = plots.columns_figure(frame, frame, ["radius"], classes=["malignant", "benign"], class_count=2)
    many = plots.columns_figure(frame, frame, ["radius"], classes=["a", "b", "c"], class_count=5)
    assert "rows of class malignant" in some._suptitle.get_text()
    assert "both classes pooled (malignant, benign)" in both._suptitle.get_text()
    assert "3 classes pooled, those given rows (a, b, c)" in many._suptitle.get_text()
    for fig in (some, both, many):
        plt.close(fig)
