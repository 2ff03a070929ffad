"""Figures shared by tasks: the one way to save a figure, and attention heatmaps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.files import atomic_path


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return path


def attention_heatmap(
    attention: Sequence[Sequence[float]],
    src_labels: Sequence[str],
    tgt_labels: Sequence[str],
    out: str | Path,
    title: str = "",
) -> Path:
    """Rows: output tokens (and </s>); columns: source tokens. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(tgt_labels), len(src_labels)
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * cols + 2), max(3, 0.4 * rows + 1.5)))
    ax.imshow(attention, cmap="Greys_r", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(cols), labels=list(src_labels), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(rows), labels=list(tgt_labels), fontsize=8)
    ax.set(xlabel="source", ylabel="output", title=title)
    fig.tight_layout()
    return save_figure(fig, out, dpi=120)


def numbered_png(base: str | Path, index: int, count: int) -> Path:
    """Figure path for item ``index`` of ``count``: ``base`` itself for one item, ``stem-1.png``, ``stem-2.png``,
    ... for several (always a ``.png`` suffix)."""
    path = Path(base)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    return path if count == 1 else path.with_name(f"{path.stem}-{index + 1}{path.suffix}")
