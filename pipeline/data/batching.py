"""Batches of similar length, sized by tokens, in an order fixed by (seed, epoch).

A fixed order per epoch is what makes resuming exact: the trainer stores how many
batches of the current epoch it has done and, after a restart, asks for the same epoch again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class TranslationBatch:
    src: torch.Tensor  # (B, S) padded source ids
    src_lengths: torch.Tensor  # (B,)
    tgt_in: torch.Tensor  # (B, T) <s> y1 ... yn, padded
    tgt_out: torch.Tensor  # (B, T) y1 ... yn </s>, padded
    index: torch.Tensor  # (B,) positions in the split, to restore order after decoding

    @property
    def n_tokens(self) -> int:
        return int((self.tgt_out != 0).sum())

    def shard(self, rank: int, world: int) -> TranslationBatch | None:
        """Rank ``rank``'s rows of ``world`` (data-parallel training); None if it gets none."""
        rows = row_shares(len(self.src), rank, world)
        if rows.start == rows.stop:
            return None
        return TranslationBatch(*(t[rows] for t in (self.src, self.src_lengths, self.tgt_in, self.tgt_out, self.index)))

    def to(self, device: torch.device) -> TranslationBatch:
        return TranslationBatch(
            *(
                t.to(device, non_blocking=True)
                for t in (self.src, self.src_lengths, self.tgt_in, self.tgt_out, self.index)
            )
        )


def row_shares(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous share of ``n`` rows, sizes differing by at most one (may be empty)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def pad(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)
    for i, seq in enumerate(seqs):
        out[i, : len(seq)] = torch.as_tensor(np.asarray(seq), dtype=torch.long)
    return out


def collate(
    src: Sequence[np.ndarray],
    tgt: Sequence[np.ndarray] | None,
    index: Sequence[int],
    bos_id: int = 2,
    eos_id: int = 3,
    pad_id: int = 0,
) -> TranslationBatch:
    src_t = pad(src, pad_id)
    lengths = torch.tensor([len(s) for s in src], dtype=torch.long)
    if tgt is None:
        tgt = [np.zeros(0, dtype=np.int64)] * len(src)
    tgt_in = pad([[bos_id, *t] for t in tgt], pad_id)
    tgt_out = pad([[*t, eos_id] for t in tgt], pad_id)
    return TranslationBatch(src_t, lengths, tgt_in, tgt_out, torch.as_tensor(list(index), dtype=torch.long))


class _LazyBatches(Sequence):
    def __init__(self, groups: list[np.ndarray], src, tgt):
        self.groups, self.src, self.tgt = groups, src, tgt

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i):
        idx = self.groups[i]
        tgt = None if self.tgt is None else [self.tgt[j] for j in idx]
        return collate([self.src[j] for j in idx], tgt, idx)


class TokenBucketBatches:
    """Shuffle, sort within pools of ``pool_batches`` batches by length, cut by ``max_tokens``
    (padded size: rows × longest side), shuffle the batches. Same (seed, epoch) → same batches."""

    def __init__(
        self, src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], max_tokens: int, seed: int, pool_batches: int = 100
    ):
        self.src, self.tgt, self.max_tokens, self.seed, self.pool = src, tgt, max_tokens, seed, pool_batches
        self.lengths = np.array([max(len(s), len(t)) + 1 for s, t in zip(src, tgt)])

    def epoch(self, epoch: int) -> Sequence[TranslationBatch]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        pool_size = max(1, self.pool * self.max_tokens // max(int(self.lengths.mean()), 1))
        groups: list[np.ndarray] = []
        for start in range(0, len(order), pool_size):
            pool = order[start : start + pool_size]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            groups.extend(_cut(pool, self.lengths, self.max_tokens))
        groups = [groups[i] for i in rng.permutation(len(groups))]
        return _LazyBatches(groups, self.src, self.tgt)


def _cut(sorted_idx: np.ndarray, lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    groups, current, longest = [], [], 0
    for i in sorted_idx:
        longest_if_added = max(longest, lengths[i])
        if current and longest_if_added * (len(current) + 1) > max_tokens:
            groups.append(np.array(current))
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        groups.append(np.array(current))
    return groups


def inference_batches(src: Sequence[np.ndarray], batch_size: int) -> list[TranslationBatch]:
    """Source-only batches sorted by length (fast decoding); ``index`` restores the order."""
    order = np.argsort([len(s) for s in src], kind="stable")
    return [
        collate([src[j] for j in order[i : i + batch_size]], None, order[i : i + batch_size])
        for i in range(0, len(order), batch_size)
    ]


class ShuffledTensorBatches:
    """Aligned tensors (images, labels, ...) in a permutation fixed by (seed, epoch), cut lazily into
    batches of ``batch_size`` rows; ``make_batch(*rows)`` builds each batch. Same epoch → same batches."""

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, seed: int, make_batch):
        self.tensors, self.batch_size, self.seed, self.make_batch = list(tensors), batch_size, seed, make_batch

    def epoch(self, epoch: int) -> Sequence:
        generator = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        return _ShuffledEpoch(self, torch.randperm(len(self.tensors[0]), generator=generator))


class _ShuffledEpoch(Sequence):
    def __init__(self, source: ShuffledTensorBatches, order: torch.Tensor):
        self.source, self.order = source, order

    def __len__(self) -> int:
        return (len(self.order) + self.source.batch_size - 1) // self.source.batch_size

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        idx = self.order[i * self.source.batch_size : (i + 1) * self.source.batch_size]
        return self.source.make_batch(*(t[idx] for t in self.source.tensors))


@dataclass
class ImageBatch:
    """Labelled images; ``n_tokens`` counts images, so the trainer's rates are images/s."""

    images: torch.Tensor  # (B, C, H, W) in [0, 1]
    labels: torch.Tensor  # (B,)

    @property
    def n_tokens(self) -> int:
        return len(self.labels)

    def shard(self, rank: int, world: int) -> ImageBatch | None:
        rows = row_shares(len(self.labels), rank, world)
        return ImageBatch(self.images[rows], self.labels[rows]) if rows.start < rows.stop else None

    def to(self, device: torch.device) -> ImageBatch:
        return ImageBatch(self.images.to(device), self.labels.to(device))


@dataclass
class ReconstructionBatch:
    """Images only (their own targets); ``n_tokens`` counts images."""

    images: torch.Tensor  # (B, C, H, W) in [0, 1]

    @property
    def n_tokens(self) -> int:
        return len(self.images)

    def shard(self, rank: int, world: int) -> ReconstructionBatch | None:
        rows = row_shares(len(self.images), rank, world)
        return ReconstructionBatch(self.images[rows]) if rows.start < rows.stop else None

    def to(self, device: torch.device) -> ReconstructionBatch:
        return ReconstructionBatch(self.images.to(device))
