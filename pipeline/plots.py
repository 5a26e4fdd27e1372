"""Pictures people would rather look at than read: sample grids, loss curves, columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator, SymmetricalLogLocator  # noqa: E402

from pipeline.data.images import decode_image  # noqa: E402

if TYPE_CHECKING:
    from pipeline.quality.result import OptionGain


def _plain(text: object, limit: int = 40) -> str:
    """User text (class and column names) as written: a `$` would start matplotlib's math mode."""
    return str(text)[:limit].replace("$", r"\$")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_curves(history: list[dict[str, float]], path: Path) -> Path:
    return _save(loss_figure(history), path)


def loss_figure(history: list[dict[str, float]]) -> Figure:
    """Losses (left), their terms (middle), active units and the KL weight (right) per validation."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]  # epochs done at each validation
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
    series = lambda k: [h.get(k, np.nan) for h in history]  # noqa: E731
    axes[0].plot(epochs, series("loss"), label="train loss")
    axes[0].plot(epochs, series("val_loss"), label="validation loss")
    axes[1].plot(epochs, series("recon"), label="reconstruction")
    axes[1].plot(epochs, series("kl"), label="KL")
    if any("clf_fake" in h for h in history):
        axes[1].plot(epochs, series("clf_fake"), label="label loss (samples)")
    for ax in axes[:2]:
        _spread_scale(ax)
    axes[2].plot(epochs, series("active_units"), color="tab:green", label="active latent units")
    axes[2].plot(epochs, series("beta"), color="tab:gray", ls="--", label="KL weight (beta)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.suptitle("CVAE training")
    return fig


def _spread_scale(ax) -> None:
    """A symmetric-log y axis where the values span decades (the first epochs' losses dwarf the
    rest), a plain one otherwise. Symlog's default ticks fall only on powers of ten, so values
    between two of them had no numbers at all: here 1, 2 and 5 of each decade are numbered, or
    each decade alone where there are more than three."""
    values = np.concatenate([line.get_ydata() for line in ax.get_lines()]).astype(float)
    values = np.abs(values[np.isfinite(values)])
    if not len(values) or values.max() <= 10 * max(values.min(), 1.0):
        return
    linthresh = max(1.0, float(values.min()))
    subs = (1.0,) if values.max() > 1000 * linthresh else (1.0, 2.0, 5.0)  # about ten numbers at most
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.yaxis.set_major_locator(SymmetricalLogLocator(linthresh=linthresh, base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def _pixels(values: pd.Series, n: int) -> list[np.ndarray]:
    return [decode_image(v, "plot") for v in values.iloc[:n]]


def _same_mode(imgs: list[np.ndarray]) -> list[np.ndarray]:
    """Grey (H, W) and colour (H, W, 3) images of one data set on one sheet: all as colour when
    any is (a grey + RGBA folder of one size broke the montage with a broadcast error)."""
    if not any(im.ndim == 3 for im in imgs):
        return imgs
    return [im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2) for im in imgs]


def _montage(imgs: list[np.ndarray], cols: int, cell: tuple[int, ...] | None = None, pad: int = 1) -> np.ndarray:
    """Tile images into one array (blank cells where there are fewer): one imshow instead of
    one matplotlib axes per image, which is what made grids of hundreds of images slow."""
    cell = cell or imgs[0].shape
    h, w = cell[0], cell[1]
    rows = max(1, int(np.ceil(max(len(imgs), 1) / cols)))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *cell[2:]), 255, dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def _side_by_side(
    groups: list[tuple[str, list[np.ndarray], list[np.ndarray]]], n_left: int, n_right: int, title: str, path: Path
) -> Path:
    """One row per group: up to n_left images, a gap, up to n_right images."""
    flat = _same_mode([im for _, left, right in groups for im in left + right])
    if not flat:
        return _empty(title, path)
    it = iter(flat)
    groups = [(name, [next(it) for _ in left], [next(it) for _ in right]) for name, left, right in groups]
    sample = flat[0]
    blank = np.full(sample.shape, 255, dtype=np.uint8)
    cols = n_left + 1 + n_right
    cells: list[np.ndarray] = []
    for _, left, right in groups:
        cells += left[:n_left] + [blank] * (n_left - len(left[:n_left])) + [blank]
        cells += right[:n_right] + [blank] * (n_right - len(right[:n_right]))
    grid = _montage(cells, cols, sample.shape)
    fig, ax = plt.subplots(figsize=(cols * 0.55 + 1, len(groups) * 0.6 + 0.8))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    step = sample.shape[0] + 1
    ax.set_yticks(
        [r * step + sample.shape[0] / 2 for r in range(len(groups))], [_plain(g[0]) for g in groups], fontsize=8
    )
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _empty(title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}: nothing to show", ha="center", va="center")
    return _save(fig, path)


def image_grid(
    real: pd.DataFrame, synthetic: pd.DataFrame, image: str, label: str, path: Path, n_real: int = 4, n_synth: int = 10
) -> Path:
    """One row per class: a few real images, then synthetic ones (marked by a gap)."""
    groups = [
        (
            str(cls),
            _pixels(real.loc[real[label] == cls, image], n_real),
            _pixels(synthetic.loc[synthetic[label] == cls, image], n_synth),
        )
        for cls in pd.unique(synthetic[label])
    ]
    return _side_by_side(groups, n_real, n_synth, f"real (left {n_real}) | synthetic (right {n_synth})", path)


def accepted_rejected(synthetic: pd.DataFrame, image: str, label: str, path: Path, n: int = 8) -> Path:
    """One row per class: accepted synthetic images, then rejected ones: what the filter keeps and drops."""
    groups = []
    for cls in pd.unique(synthetic[label]):
        rows = synthetic[synthetic[label] == cls]
        groups.append(
            (
                f"{cls} ({rows['accepted'].mean():.0%} kept)",
                _pixels(rows.loc[rows["accepted"], image], n),
                _pixels(rows.loc[~rows["accepted"], image], n),
            )
        )
    return _side_by_side(groups, n, n, f"accepted (left {n}) | rejected (right {n})", path)


def class_samples(synthetic: pd.DataFrame, image: str, path: Path, n: int = 64, name: str = "") -> Path:
    """An 8-wide grid of one class's synthetic images, titled with the class's name."""
    title = f"synthetic rows of class {_plain(name)}" if name else "synthetic rows"
    imgs = _same_mode(_pixels(synthetic[image], n))
    if not imgs:
        return _empty(title, path)
    grid = _montage(imgs, 8)
    rows = grid.shape[0] / (imgs[0].shape[0] + 1)
    fig, ax = plt.subplots(figsize=(8, max(1.0, rows) + 0.4))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"{title} (first {len(imgs)})", fontsize=10)
    return _save(fig, path)


SCORES = ("label_fidelity", "realism", "authenticity", "quality_score")


def score_histograms(synthetic: pd.DataFrame, thresholds: dict[str, float], path: Path) -> Path:
    return _save(scores_figure(synthetic, thresholds), path)


def scores_figure(synthetic: pd.DataFrame, thresholds: dict[str, float]) -> Figure:
    """Distribution of each per-row score, accepted vs rejected, with the acceptance thresholds;
    laid out by matplotlib's constrained layout, so the title sits above the panels' own."""
    fig, axes = plt.subplots(1, len(SCORES), figsize=(4 * len(SCORES), 3.4), layout="constrained")
    kept = synthetic["accepted"].to_numpy(bool)
    for ax, name in zip(axes, SCORES):
        values = synthetic[name].to_numpy(float)
        finite = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(finite if len(finite) else [0, 1], bins=30)
        ax.hist(np.clip(values[kept], bins[0], bins[-1]), bins=bins, alpha=0.6, label="accepted")
        ax.hist(np.clip(values[~kept], bins[0], bins[-1]), bins=bins, alpha=0.6, label="rejected")
        if name in thresholds:
            ax.axvline(thresholds[name], color="k", ls="--", lw=1, label="threshold")
        ax.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"per-row scores of {len(synthetic)} synthetic rows ({kept.mean():.0%} accepted)")
    return fig


def class_bars(per_class: dict[str, dict[str, float]], path: Path) -> Path:
    """Per class: share accepted, share following its label, precision and coverage."""
    keys = [
        k
        for k in ("accepted_share", "follows_label", "precision", "coverage")
        if any(k in v for v in per_class.values())
    ]
    names = list(per_class)
    x = np.arange(len(names))
    width = 0.8 / max(1, len(keys))
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.7 + 2), 3.4))
    for i, key in enumerate(keys):
        ax.bar(x + (i - (len(keys) - 1) / 2) * width, [per_class[n].get(key, np.nan) for n in names], width, label=key)
    ax.set_xticks(
        x,
        [_plain(n) for n in names],
        rotation=45 if len(names) > 8 else 0,
        ha="right" if len(names) > 8 else "center",
        fontsize=8,
    )
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncol=len(keys), loc="lower right")
    ax.set_title("quality per class")
    return _save(fig, path)


MAX_COLUMN_PLOTS = 24  # one small panel each; 2,000 panels took minutes and are unreadable anyway


def columns_to_draw(columns: list[str], shapes: dict[str, float] | None = None) -> list[str]:
    """All columns of a narrow table; of a wide one, the MAX_COLUMN_PLOTS least alike in real and
    synthetic rows (lowest column-shape score, where the report has them), else the first ones."""
    if len(columns) <= MAX_COLUMN_PLOTS:
        return list(columns)
    if not shapes:
        return list(columns[:MAX_COLUMN_PLOTS])
    rank = {c: shapes.get(c, float("nan")) for c in columns}
    worst = sorted(columns, key=lambda c: (np.isnan(rank[c]), rank[c]))[:MAX_COLUMN_PLOTS]
    return [c for c in columns if c in set(worst)]


def column_distributions(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[str],
    path: Path,
    shapes: dict[str, float] | None = None,
    classes: list[str] | None = None,
    class_count: int | None = None,
) -> Path:
    return _save(columns_figure(real, synthetic, columns, shapes, classes, class_count), path)


def which_classes(classes: list[str] | None, class_count: int | None) -> str:
    """Which classes' rows a pooled plot shows, in words for its title ('' when not known)."""
    if not classes:
        return ""
    if len(classes) == 1:
        return f"class {_plain(classes[0])}"
    names = ", ".join(_plain(c, 20) for c in classes[:6]) + (", ..." if len(classes) > 6 else "")
    if class_count is not None and len(classes) == class_count:
        return f"{'both' if len(classes) == 2 else f'all {len(classes)}'} classes pooled ({names})"
    return f"{len(classes)} classes pooled, those given rows ({names})"


def columns_figure(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[str],
    shapes: dict[str, float] | None = None,
    classes: list[str] | None = None,
    class_count: int | None = None,
) -> Figure:
    """Per column: real vs synthetic histogram (numbers) or bar shares (categories); of a wide
    table only the columns columns_to_draw picks, named in the title, as are the classes whose
    rows it pools (`classes` of the data's `class_count`)."""
    total = len(columns)
    columns = columns_to_draw(columns, shapes)
    n = len(columns)
    width = min(4, n)
    rows = int(np.ceil(n / width))
    fig, axes = plt.subplots(rows, width, figsize=(width * 3.4, rows * 2.7), squeeze=False)
    for ax, col in zip(axes.flat, columns):
        r, s = real[col], synthetic[col]
        if pd.api.types.is_numeric_dtype(r.dtype) and not pd.api.types.is_bool_dtype(r.dtype):
            rv, sv = r.dropna().astype(float), s.dropna().astype(float)
            bins = np.histogram_bin_edges(np.concatenate([rv, sv]), bins=20)
            ax.hist(rv, bins=bins, density=True, alpha=0.55, label="real")
            ax.hist(sv, bins=bins, density=True, alpha=0.55, label="synthetic")
        else:
            shares = pd.DataFrame(
                {
                    "real": r.astype(object).fillna("<missing>").value_counts(normalize=True),
                    "synthetic": s.astype(object).fillna("<missing>").value_counts(normalize=True),
                }
            ).fillna(0)
            x = np.arange(len(shares))
            ax.bar(x - 0.2, shares["real"], 0.4, label="real")
            ax.bar(x + 0.2, shares["synthetic"], 0.4, label="synthetic")
            ax.set_xticks(x, [_plain(i, 10) for i in shares.index], rotation=30, fontsize=7)
        ax.set_title(_plain(col, 30), fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    which = (
        ""
        if n == total
        else f": {n} of {total:,} columns, " + ("the least alike by column shape" if shapes else "the first ones")
    )
    shown = which_classes(classes, class_count)
    fig.suptitle("real vs synthetic, per column" + which + (f"\nrows of {shown}" if shown else ""))
    fig.tight_layout()
    return fig


def gate_options(options: dict[str, OptionGain], recommended: str | None, judge: str, path: Path) -> Path:
    """Each training set's gain measured on the user's folds (bar, with its interval), its typical
    gain on similar data sets (a cross) and the expected gain that ranked it (a diamond), ranked by
    the expected gain (the recommended one on top of the ranking, in colour), so a recommended bar
    that is not the longest is explained by the marks beside it. All in macro-F1 points, every class
    weighing the same."""
    expected = {m: o.expected_gain for m, o in options.items()}
    typical = {m: o.typical_gain for m, o in options.items() if o.typical_gain is not None}
    names = sorted(options, key=lambda m: (expected[m], options[m].gain))
    gain = np.array([options[m].gain for m in names])
    lower = np.array([options[m].lower_bound for m in names])
    upper = np.array([options[m].upper_bound for m in names])
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.6))
    colours = ["tab:green" if m == recommended else "tab:gray" for m in names]
    ax.barh(names, gain, color=colours, alpha=0.6)
    ax.errorbar(gain, names, xerr=[gain - lower, upper - gain], fmt="none", ecolor="black", capsize=3)
    ax.scatter(gain, names, c=colours, s=40, zorder=3, label="measured on your folds")
    if typical:
        ax.scatter(
            [typical.get(m, np.nan) for m in names],
            names,
            marker="x",
            c="tab:orange",
            s=50,
            zorder=4,
            label="typical on similar data sets",
        )
    if expected:
        bets = [expected.get(m, np.nan) for m in names]
        style = {"marker": "D", "facecolors": "none", "edgecolors": "tab:blue", "s": 50, "zorder": 5}
        ax.scatter(bets, names, label="expected (ranks them)", **style)
    if typical or expected:
        ax.legend(loc="best", fontsize=8)
    for tick in ax.get_yticklabels():
        if tick.get_text() == recommended:
            tick.set_color("tab:green")
            tick.set_fontweight("bold")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"macro-F1 points over real rows alone, every class weighing the same (judge: {judge})")
    ax.set_title("Which training set? Ranked by expected gain (recommended in green; 90 % interval)")
    return _save(fig, path)
