"""Pictures people would rather look at than read: sample grids, loss curves, columns."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.data.images import decode_image  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_curves(history: list[dict[str, float]], path: Path) -> Path:
    epochs = np.arange(1, len(history) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    series = lambda k: [h.get(k, np.nan) for h in history]  # noqa: E731
    axes[0].plot(epochs, series("loss"), label="train loss")
    axes[0].plot(epochs, series("val_loss"), label="validation loss")
    axes[0].set_yscale("symlog")
    axes[1].plot(epochs, series("recon"), label="reconstruction")
    axes[1].plot(epochs, series("kl"), label="KL")
    if any("clf_fake" in h for h in history):
        axes[1].plot(epochs, series("clf_fake"), label="label loss (samples)")
    axes[1].set_yscale("symlog")
    axes[2].plot(epochs, series("active_units"), color="tab:green", label="active latent units")
    axes[2].plot(epochs, series("beta"), color="tab:gray", ls="--", label="KL weight (beta)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.suptitle("CVAE training")
    return _save(fig, path)


def _pixels(values: pd.Series, n: int) -> list[np.ndarray]:
    return [decode_image(v, "plot") for v in values.iloc[:n]]


def image_grid(real: pd.DataFrame, synthetic: pd.DataFrame, image: str, label: str, path: Path,
               n_real: int = 4, n_synth: int = 10) -> Path:
    """One row per class: a few real images, then synthetic ones (marked by a gap)."""
    classes = list(pd.unique(synthetic[label]))
    cols = n_real + 1 + n_synth
    fig, axes = plt.subplots(len(classes), cols, figsize=(cols * 0.8, len(classes) * 0.85 + 0.6), squeeze=False)
    for r, cls in enumerate(classes):
        real_imgs = _pixels(real.loc[real[label] == cls, image], n_real)
        synth_imgs = _pixels(synthetic.loc[synthetic[label] == cls, image], n_synth)
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            img = real_imgs[c] if c < len(real_imgs) and c < n_real else (
                synth_imgs[c - n_real - 1] if n_real < c <= n_real + len(synth_imgs) else None)
            if img is not None:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        axes[r, 0].text(-0.6, 0.5, str(cls), transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(f"real (left {n_real}) | synthetic (right {n_synth})", fontsize=10)
    return _save(fig, path)


def class_samples(synthetic: pd.DataFrame, image: str, path: Path, n: int = 64) -> Path:
    """An 8-wide grid of one class's synthetic images."""
    imgs = _pixels(synthetic[image], n)
    rows = max(1, int(np.ceil(len(imgs) / 8)))
    fig, axes = plt.subplots(rows, 8, figsize=(8, rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, vmin=0, vmax=255)
    return _save(fig, path)


def column_distributions(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Per column: real vs synthetic histogram (numbers) or bar shares (categories)."""
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
            shares = pd.DataFrame({
                "real": r.astype(object).fillna("<missing>").value_counts(normalize=True),
                "synthetic": s.astype(object).fillna("<missing>").value_counts(normalize=True),
            }).fillna(0)
            x = np.arange(len(shares))
            ax.bar(x - 0.2, shares["real"], 0.4, label="real")
            ax.bar(x + 0.2, shares["synthetic"], 0.4, label="synthetic")
            ax.set_xticks(x, [str(i)[:10] for i in shares.index], rotation=30, fontsize=7)
        ax.set_title(str(col)[:30], fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("real vs synthetic, per column")
    fig.tight_layout()
    return _save(fig, path)
