"""Flickr8k as (image, caption) pairs for text-to-image: small squashed images (a cached stage), word ids
of every caption, and training batches of one random caption per image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from pipeline.config import Config
from pipeline.data.flickr8k import load_flickr8k
from pipeline.data.images import ImageConfig, build_image_stage, open_split
from pipeline.data.tokenization import normalize, tokenize
from pipeline.data.vocabulary import Vocabulary


class CaptionPairsConfig(Config):
    """The ``data:`` section of the text-to-image task."""

    root: str | None = Field(None, description="Flickr8k folder (null: $PIPELINE_DATASETS/flickr8k)")
    image_size: int = Field(64, description="images are squashed to size × size")
    max_len: int = Field(20, description="caption tokens kept")
    min_freq: int = Field(3, description="words seen fewer times in the training captions become <unk>")


@dataclass
class PairSplit:
    images: torch.Tensor  # (N, S, S, 3) uint8
    tokens: torch.Tensor  # (M, T) word ids, 0-padded
    image_of: torch.Tensor  # (M,) the image of each caption
    captions: list[str]


@dataclass
class PairBatch:
    images: torch.Tensor  # (B, 3, S, S) in [0, 1]
    tokens: torch.Tensor  # (B, T)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def to(self, device: torch.device) -> PairBatch:
        return PairBatch(self.images.to(device), self.tokens.to(device))


def caption_tokens(captions: list[str], vocab: Vocabulary, max_len: int) -> torch.Tensor:
    """(len(captions), max_len) word ids, 0-padded; an empty caption becomes one <unk>."""
    words = tokenize([normalize(c, "en") for c in captions], "en", lowercase=True)
    ids = torch.zeros(len(words), max_len, dtype=torch.long)
    for i, sentence in enumerate(words):
        row = vocab.encode(sentence[:max_len]) or [vocab.unk_id]
        ids[i, : len(row)] = torch.tensor(row)
    return ids


def load_caption_pairs(
    cfg: CaptionPairsConfig, stages_dir: str, force: bool = False
) -> tuple[dict[str, PairSplit], Vocabulary]:
    """train / dev / test pairs and the vocabulary of the training captions."""
    dataset = load_flickr8k(cfg.root)
    splits = {s: dataset.split(s) for s in ("train", "dev", "test")}
    stage = build_image_stage(
        Path(stages_dir),
        {s: [ex.path for ex in items] for s, items in splits.items()},
        ImageConfig(size=cfg.image_size, resize="squash"),
        force,
        name=f"flickr8k-gan-{cfg.image_size}",
    )
    train_caps = [c for ex in splits["train"] for c in ex.captions]
    vocab = Vocabulary.build(
        tokenize([normalize(c, "en") for c in train_caps], "en", lowercase=True), min_freq=cfg.min_freq
    )
    out = {}
    for name, items in splits.items():
        captions = [c for ex in items for c in ex.captions]
        image_of = torch.tensor([i for i, ex in enumerate(items) for _ in ex.captions])
        out[name] = PairSplit(
            torch.from_numpy(np.array(open_split(stage, name))),
            caption_tokens(captions, vocab, cfg.max_len),
            image_of,
            captions,
        )
    return out, vocab


def first_captions(split: PairSplit, limit: int) -> torch.Tensor:
    """Index of the first caption of each of the first ``limit`` images."""
    first = torch.ones(len(split.image_of), dtype=torch.bool)
    first[1:] = split.image_of[1:] != split.image_of[:-1]
    return first.nonzero().squeeze(1)[:limit]


def grid_caption_indices(split: PairSplit, rows: int = 8) -> torch.Tensor:
    """8 test captions spread over the split (first caption of evenly spaced images)."""
    firsts = first_captions(split, len(split.images))
    return firsts[torch.linspace(0, len(firsts) - 1, rows).long()]


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S) in [0, 1]


class PairBatches:
    """Epoch e: every training image once, with one of its captions chosen by (seed, e)."""

    def __init__(self, split: PairSplit, batch_size: int, seed: int):
        self.split, self.batch_size, self.seed = split, batch_size, seed

    def epoch(self, epoch: int) -> _PairEpoch:
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        choice = torch.randperm(len(self.split.image_of), generator=gen)
        picked = torch.zeros(len(self.split.images), dtype=torch.long)
        picked[self.split.image_of[choice]] = choice  # a random caption per image
        return _PairEpoch(self, picked[torch.randperm(len(picked), generator=gen)])


class _PairEpoch:
    """Batches built lazily, so an epoch never holds all its float images at once."""

    def __init__(self, source: PairBatches, order: torch.Tensor):
        self.source, self.order = source, order

    def __len__(self) -> int:
        return len(self.order) // self.source.batch_size  # full batches only (batch norm, contrastive)

    def __getitem__(self, i: int) -> PairBatch:
        size, split = self.source.batch_size, self.source.split
        captions = self.order[i * size : (i + 1) * size]
        return PairBatch(to_unit_float(split.images[split.image_of[captions]]), split.tokens[captions])
