"""PNG grids of images (reconstructions, retrieval results, Gibbs chains, filters), drawn with matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.plots import save_figure


def to_display(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) floats in [0, 1] → (N, H, W[, 3]) for imshow."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    if images.ndim == 4:
        images = images.transpose(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    return images


def image_grid(
    rows: Sequence[np.ndarray],
    path: Path,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    cell: float = 0.9,
    col_labels: Sequence[str] | None = None,
) -> Path:
    """One row of images per entry of ``rows`` (each (N, …), N may differ), labelled on the left."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [to_display(r) for r in rows]
    n_cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(cell * n_cols + 1.6, cell * len(rows) + 0.5), squeeze=False)
    for i, images in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(images):
                ax.imshow(
                    images[j], cmap="gray" if images[j].ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
                )
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8)
            if i == 0 and col_labels and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return path


def tile_filters(weights: np.ndarray, image_shape: tuple[int, int], n: int = 100) -> np.ndarray:
    """RBM weights (V, H) → (n, h, w) images, each filter min-max scaled to [0, 1]."""
    filters = weights[:, :n].T.reshape(-1, *image_shape)
    low = filters.min(axis=(1, 2), keepdims=True)
    high = filters.max(axis=(1, 2), keepdims=True)
    return (filters - low) / np.maximum(high - low, 1e-8)
