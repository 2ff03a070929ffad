"""A synthetic translation task (reverse the sequence) to check that the whole path learns."""

from __future__ import annotations

import numpy as np

from pipeline.data.batching import TokenBucketBatches


def reverse_task(n: int, seed: int, vocab: int = 14, min_len: int = 3, max_len: int = 8):
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, vocab, size=rng.integers(min_len, max_len + 1)) for _ in range(n)]
    return src, [s[::-1].copy() for s in src]


def reverse_batches(n: int = 2000, max_tokens: int = 400, seed: int = 0) -> TokenBucketBatches:
    src, tgt = reverse_task(n, seed)
    return TokenBucketBatches(src, tgt, max_tokens=max_tokens, seed=seed)
