"""Attention figure as in *Show, Attend and Tell* (Xu et al. 2015, Fig. 2/3): the image, then one panel per
generated word with that step's attention over the CNN grid, upsampled smoothly and laid over the image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.plots import save_figure


def upsample(grid: np.ndarray, height: int, width: int, peak: float) -> np.ndarray:
    """(H', W') attention → (height, width), bicubic, divided by ``peak`` for display."""
    from PIL import Image

    scaled = np.clip(grid / max(peak, 1e-12), 0.0, 1.0)
    image = Image.fromarray((scaled * 255).astype(np.uint8), "L").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def save_attention_figure(
    path: str | Path,
    image: np.ndarray,
    words: Sequence[str],
    grids: np.ndarray,
    caption: str | None = None,
    columns: int = 5,
) -> Path:
    """image (H, W, 3) uint8; grids (>= len(words), H', W'), row t = attention while emitting words[t].

    All panels share one colour scale (the caption's largest weight), so a flat, uniform map
    looks flat rather than being stretched into a confident-looking blob.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 1 + len(words)
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows), squeeze=False)
    height, width = image.shape[:2]
    peak = float(grids[: len(words)].max()) if len(words) else 1.0
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("input", fontsize=10)
    for t, word in enumerate(words):
        ax = axes.flat[t + 1]
        ax.imshow(image)
        ax.imshow(upsample(grids[t], height, width, peak), cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        ax.set_title(f"{word}  (max {grids[t].max():.2f})", fontsize=10)
    if caption:
        fig.suptitle(caption, fontsize=12)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=90)
    return path
