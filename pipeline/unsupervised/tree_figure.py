"""PNG drawings of binary trees over a sentence's words (the recursive autoencoder's greedy trees)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.plots import save_figure


def tree_layout(n_leaves: int, merges: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """(x, y) of every node: leaf ``i`` at (i, 0); the parent made by merge ``t`` (node ``n + t``) above
    the middle of its children, one level higher than the higher child."""
    points = [(float(i), 0.0) for i in range(n_leaves)]
    for left, right in merges:
        (x1, y1), (x2, y2) = points[left], points[right]
        points.append(((x1 + x2) / 2, max(y1, y2) + 1))
    return points


def draw_trees(sentences: Sequence[tuple[Sequence[str], Sequence[tuple[int, int]], str]], path: Path) -> Path:
    """One panel per ``(words, merges, title)``; merges are (left, right) node ids as in :func:`tree_layout`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heights = [max((y for _, y in tree_layout(len(w), m)), default=0) for w, m, _ in sentences]
    fig, axes = plt.subplots(
        len(sentences),
        1,
        squeeze=False,
        figsize=(max(6, 0.7 * max(len(w) for w, _, _ in sentences)), 1.6 + 0.45 * sum(heights)),
        gridspec_kw={"height_ratios": [h + 2 for h in heights]},
    )
    for ax, (words, merges, title) in zip(axes[:, 0], sentences):
        points = tree_layout(len(words), merges)
        for step, (left, right) in enumerate(merges):
            x, y = points[len(words) + step]
            for child in (left, right):
                cx, cy = points[child]
                ax.plot([x, cx, cx], [y, y, cy], color="0.35", lw=1)  # elbow: across, then down
        ax.scatter(
            [x for x, _ in points[len(words) :]], [y for _, y in points[len(words) :]], s=10, color="C0", zorder=3
        )
        for i, word in enumerate(words):
            ax.text(i, -0.15, word, rotation=45, ha="right", va="top", fontsize=8)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_xlim(-1, max(len(words), 2))
        ax.set_ylim(-1.6, max(y for _, y in points) + 0.5)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def greedy_tree_figure(model, corpus, count: int, path: Path, split: str = "val") -> Path:
    """The RAE's greedy trees for ``count`` captions of ``split``, spread over it, with 6 to 12 known words."""
    import torch

    from pipeline.unsupervised.rae import collate_sentences

    tokens, _, images = corpus.splits[split]
    known = [[t for t in sentence if t in corpus.vectors.index] for sentence in tokens]
    pool = [i for i, words in enumerate(known) if 6 <= len(words) <= 12]
    chosen = [pool[j] for j in range(0, len(pool), max(len(pool) // max(count, 1), 1))][:count]
    batch = collate_sentences([corpus.vectors.ids(known[i]) for i in chosen])
    model.eval()
    with torch.no_grad():
        trees = model(batch.words, batch.lengths)
    panels = [(known[i], trees.tree(b), f"{split} caption {i} (image {images[i]})") for b, i in enumerate(chosen)]
    return draw_trees(panels, path)
