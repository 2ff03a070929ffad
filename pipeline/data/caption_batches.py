"""Training batches for captioning: B images, each with its captions, in an order fixed by (seed, epoch).

An image appears once per batch with all (or ``captions_per_image``) of its references, so
the CNN runs once per image and its encoding is repeated for the captions
(``EncoderOutput.select``); on Flickr8k that is 5x less encoder work than one row per pair.
Augmentation is drawn from a generator seeded by (seed, epoch, batch), so a resumed run sees
exactly the batches the uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.data.batching import pad, row_shares
from pipeline.data.captions import CaptionSplit
from pipeline.data.images import Augment, to_float
from pipeline.data.vocabulary import Vocabulary


@dataclass
class CaptionBatch:
    images: torch.Tensor  # (B, 3, H, W) float in [0, 1]
    caption_image: torch.Tensor  # (N,) row in ``images`` of each caption
    tgt_in: torch.Tensor  # (N, T) <s> w1 ... wn, padded
    tgt_out: torch.Tensor  # (N, T) w1 ... wn </s>, padded
    image_index: torch.Tensor  # (B,) rows of the split

    @property
    def n_tokens(self) -> int:
        return int((self.tgt_out != Vocabulary.pad_id).sum())

    def shard(self, rank: int, world: int) -> CaptionBatch | None:
        """Rank ``rank``'s images of ``world`` with their captions (data-parallel training); None if none."""
        rows = row_shares(len(self.images), rank, world)
        if rows.start == rows.stop:
            return None
        keep = (self.caption_image >= rows.start) & (self.caption_image < rows.stop)
        return CaptionBatch(
            self.images[rows],
            self.caption_image[keep] - rows.start,
            self.tgt_in[keep],
            self.tgt_out[keep],
            self.image_index[rows],
        )

    def to(self, device: torch.device) -> CaptionBatch:
        return CaptionBatch(
            *(
                t.to(device, non_blocking=True)
                for t in (self.images, self.caption_image, self.tgt_in, self.tgt_out, self.image_index)
            )
        )


class CaptionBatches:
    """The trainer's ``BatchSource`` for one split."""

    def __init__(
        self,
        split: CaptionSplit,
        pixels: np.ndarray,
        batch_images: int,
        max_caption_len: int,
        seed: int,
        augment: Augment | None = None,
        captions_per_image: int | None = None,
        flip_swaps: dict[int, int] | None = None,
    ):
        self.split, self.pixels, self.batch_images = split, pixels, batch_images
        self.max_caption_len, self.seed, self.augment = max_caption_len, seed, augment
        self.captions_per_image = captions_per_image
        self.flip_swaps = flip_swaps or {}  # word id → its mirror's id, both ways
        self.groups = split.captions_of()

    def epoch(self, epoch: int) -> Sequence[CaptionBatch]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.groups))
        chunks = [order[i : i + self.batch_images] for i in range(0, len(order), self.batch_images)]
        picks = [self._pick(rng, self.groups[row]) for row in range(len(self.groups))]
        return _EpochBatches(self, chunks, picks, epoch)

    def _pick(self, rng: np.random.Generator, captions: list[int]) -> list[int]:
        k = self.captions_per_image
        if k is None or k >= len(captions):
            return captions
        return sorted(rng.choice(captions, size=k, replace=False).tolist())

    def make(self, rows: np.ndarray, picks: list[list[int]], generator: torch.Generator | None) -> CaptionBatch:
        rows = np.sort(rows)  # memmap reads in file order
        pixels = torch.from_numpy(np.ascontiguousarray(self.pixels[rows]))  # (B, H, W, 3) uint8
        if self.augment is not None:
            images, flipped = self.augment.apply(pixels, generator)
        else:
            images, flipped = to_float(pixels), torch.zeros(len(rows), dtype=torch.bool)
        caption_image, targets = [], []
        for b, row in enumerate(rows.tolist()):
            mirror = self.flip_swaps if flipped[b] else {}
            for c in picks[row]:
                caption_image.append(b)
                targets.append([mirror.get(t, t) for t in self.split.caption(c)[: self.max_caption_len].tolist()])
        bos, eos, pad_id = Vocabulary.bos_id, Vocabulary.eos_id, Vocabulary.pad_id
        return CaptionBatch(
            images,
            torch.tensor(caption_image, dtype=torch.long),
            pad([[bos, *t] for t in targets], pad_id),
            pad([[*t, eos] for t in targets], pad_id),
            torch.from_numpy(rows.astype(np.int64)),
        )


class _EpochBatches(Sequence):
    """Built lazily, one batch at a time (the pixels stay memory-mapped)."""

    def __init__(self, source: CaptionBatches, chunks: list[np.ndarray], picks: list[list[int]], epoch: int):
        self.source, self.chunks, self.picks, self.epoch = source, chunks, picks, epoch

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> CaptionBatch:
        seed = int(np.random.SeedSequence([self.source.seed, self.epoch, i]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        return self.source.make(self.chunks[i], self.picks, generator)


def image_batches(
    pixels: np.ndarray, batch_size: int, limit: int | None = None
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Evaluation: (rows, float images (B, 3, H, W)) in split order, no augmentation."""
    total = len(pixels) if limit is None else min(limit, len(pixels))
    for start in range(0, total, batch_size):
        rows = np.arange(start, min(start + batch_size, total))
        yield rows, to_float(torch.from_numpy(np.ascontiguousarray(pixels[rows])))
