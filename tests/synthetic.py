"""Synthetic data: a translation task (reverse the sequence) to check that the whole path learns, and a tiny
class-coloured CIFAR-10."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from pipeline.data.batching import TokenBucketBatches


def reverse_task(n: int, seed: int, vocab: int = 14, min_len: int = 3, max_len: int = 8):
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, vocab, size=rng.integers(min_len, max_len + 1)) for _ in range(n)]
    return src, [s[::-1].copy() for s in src]


def reverse_batches(n: int = 2000, max_tokens: int = 400, seed: int = 0) -> TokenBucketBatches:
    src, tgt = reverse_task(n, seed)
    return TokenBucketBatches(src, tgt, max_tokens=max_tokens, seed=seed)


def cifar_pickles(root: Path, n_train: int = 100, n_test: int = 40) -> Path:
    """A CIFAR-10 in the python-pickle layout whose images' colour is set by their class (plus noise), so
    codes can find same-class neighbours."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(n: int) -> dict:
        labels = np.arange(n) % 10
        base = (labels[:, None] * 25).astype(np.float64)  # (n, 1)
        pixels = np.clip(base + rng.normal(0, 10, (n, 3072)), 0, 255).astype(np.uint8)
        return {b"data": pixels, b"labels": labels.tolist()}

    per = n_train // 5
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump(batch(per), handle)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(n_test), handle)
    return root
