"""Captioning data → cached arrays, in two stages over one list of images per split.

1. ``images``: decoded, resized uint8 pixels, one memory-mapped ``<split>.npy`` per split
   (:func:`pipeline.data.images.build_image_stage`).
2. ``captions``: spaCy tokens (lowercased, punctuation dropped) → a word vocabulary learned on the
   training captions (``min_frequency``) → ``<split>.npz`` with flat ids, offsets and the image row
   of each caption; plus ``<split>.references.json`` (the raw captions, for coco-caption scoring)
   and ``cider_df.json``, the fixed CIDEr-D document-frequency table from the training references
   (see :class:`pipeline.caption_metrics.CiderDTable`).

The images come from Flickr8k (its reader and official splits) or from any COCO caption file plus
image folder per split (MS-COCO, Flickr30k, ...). Both stages are cached by (params, input hashes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from pipeline.caption_metrics import CiderDTable, ptb_tokenize
from pipeline.config import Config, default, variants
from pipeline.data.coco import load_coco_captions
from pipeline.data.flickr8k import SPLITS, CaptionedImage, load_flickr8k
from pipeline.data.images import AugmentConfig, ImageConfig, build_image_stage, open_split
from pipeline.data.tokenization import tokenize
from pipeline.data.vocabulary import Vocabulary
from pipeline.errors import PipelineError
from pipeline.files import sha256_json
from pipeline.stages import StageOutput, run_stage

TOKENIZER_VERSION = "spacy-blank-en+lower+nopunct/1"


class CocoSplitConfig(Config):
    """One split of a COCO-format caption source."""

    annotations: str = Field(description="a captions_*.json file")
    images: str = Field(description="the folder its file_name entries are relative to")


class CaptionDataBase(Config):
    min_frequency: int = Field(
        5, description="words seen fewer times in the training captions become <unk> (5 → ~2.5k words on Flickr8k)"
    )
    max_vocab: int | None = Field(None, description="cap on the vocabulary size, specials included (null: no cap)")
    max_caption_len: int = Field(20, description="training captions are cut to this many words (+ </s>)")
    images: ImageConfig = Field(ImageConfig(), description="how images are resized and cached")
    augment: AugmentConfig = Field(AugmentConfig(), description="random augmentation of the training batches")
    flip_swaps: list[tuple[str, str]] = Field(
        [("left", "right")],
        description="word pairs exchanged in the captions of horizontally flipped training images, so that a "
        "flip keeps its captions true ([]: flip the image alone)",
    )


class Flickr8kCaptionDataConfig(CaptionDataBase):
    """``source: flickr8k``: the Flickr8k reader and its official splits."""

    source: Literal["flickr8k"] = Field(
        "flickr8k",
        description="flickr8k (images/ + captions.txt or "
        "Flickr8k.token.txt + split lists) or coco (caption files per split)",
    )
    root: str | None = Field(None, description="Flickr8k folder (null: $PIPELINE_DATASETS/flickr8k)")


class CocoCaptionDataConfig(CaptionDataBase):
    """``source: coco``: any COCO caption file plus image folder per split (MS-COCO, Flickr30k, ...)."""

    source: Literal["coco"] = default(Flickr8kCaptionDataConfig, "source", "coco")
    coco: dict[str, CocoSplitConfig] = Field(description="split name → its files; needs train, dev and test")


CaptionDataConfig = variants(Flickr8kCaptionDataConfig, CocoCaptionDataConfig, key="source", default="flickr8k")


def read_examples(cfg: CaptionDataBase) -> dict[str, list[CaptionedImage]]:
    """Split name → images with their captions, for the configured source."""
    if isinstance(cfg, Flickr8kCaptionDataConfig):
        dataset = load_flickr8k(cfg.root)
        return {split: dataset.split(split) for split in SPLITS}
    missing = {"train", "dev", "test"} - set(cfg.coco)
    if missing:
        raise PipelineError(f"data.source coco needs data.coco.<split>.annotations/images for {sorted(missing)}")
    return {split: load_coco_captions(files.annotations, files.images) for split, files in cfg.coco.items()}


def caption_tokens(captions: list[str]) -> list[list[str]]:
    """Lowercased spaCy tokens without punctuation-only tokens (the PTB scorer drops those too)."""
    return [[t for t in toks if any(ch.isalnum() for ch in t)] for toks in tokenize(captions, "en", lowercase=True)]


@dataclass
class CaptionSplit:
    """One split's captions as arrays; caption i has ids ``ids[offsets[i]:offsets[i+1]]`` and image ``image[i]``."""

    ids: np.ndarray  # (total tokens,) int32
    offsets: np.ndarray  # (N_captions + 1,) int64
    image: np.ndarray  # (N_captions,) int32 row in the image array
    names: list[str]  # image file names, one per image row
    references: list[list[str]]  # raw captions per image row

    def caption(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def captions_of(self) -> list[list[int]]:
        """Caption indices grouped by image row."""
        groups: list[list[int]] = [[] for _ in self.names]
        for i, row in enumerate(self.image.tolist()):
            groups[row].append(i)
        return groups


def build_caption_stage(
    stage_root: Path, examples: dict[str, list[CaptionedImage]], cfg: CaptionDataBase, force: bool = False
) -> StageOutput:
    params = {"tokenizer": TOKENIZER_VERSION, "min_frequency": cfg.min_frequency, "max_vocab": cfg.max_vocab}
    inputs = {split: sha256_json([[ex.image_id, ex.captions] for ex in rows]) for split, rows in examples.items()}

    def build(out: Path) -> dict:
        tokens = {split: caption_tokens([c for ex in rows for c in ex.captions]) for split, rows in examples.items()}
        vocab = Vocabulary.build(tokens["train"], cfg.min_frequency, cfg.max_vocab)
        (out / "vocab.json").write_text(vocab.to_json(), encoding="utf-8")
        stats: dict = {"vocab_size": len(vocab)}
        for split, rows in examples.items():
            image = np.repeat(np.arange(len(rows), dtype=np.int32), [len(ex.captions) for ex in rows])
            ids = [vocab.encode(t) for t in tokens[split]]
            offsets = np.concatenate([[0], np.cumsum([len(x) for x in ids])]).astype(np.int64)
            flat = np.fromiter((i for x in ids for i in x), dtype=np.int32, count=int(offsets[-1]))
            np.savez(out / f"{split}.npz", ids=flat, offsets=offsets, image=image)
            refs = {"names": [ex.image_id for ex in rows], "references": [list(ex.captions) for ex in rows]}
            (out / f"{split}.references.json").write_text(json.dumps(refs, ensure_ascii=False), encoding="utf-8")
            stats[f"{split}_images"], stats[f"{split}_captions"] = len(rows), len(ids)
            stats[f"{split}_unk_rate"] = round(float((flat == vocab.unk_id).mean()) if len(flat) else 0.0, 4)
        stats["train_mean_len"] = round(float(np.mean([len(t) for t in tokens["train"]])), 2)
        (out / "cider_df.json").write_text(_cider_table(examples["train"]).to_json(), encoding="utf-8")
        return stats

    return run_stage(Path(stage_root), f"captions-{cfg.source}", params, inputs, build, force)


def _cider_table(train: list[CaptionedImage]):
    tokenized = ptb_tokenize({i: list(ex.captions) for i, ex in enumerate(train)})
    return CiderDTable.from_references([tokenized[i] for i in range(len(train))])


@dataclass
class PreparedCaptions:
    images: StageOutput
    captions: StageOutput
    vocab: Vocabulary

    def split(self, name: str) -> CaptionSplit:
        arrays = np.load(self.captions.path / f"{name}.npz")
        refs = json.loads((self.captions.path / f"{name}.references.json").read_text(encoding="utf-8"))
        return CaptionSplit(arrays["ids"], arrays["offsets"], arrays["image"], refs["names"], refs["references"])

    def pixels(self, name: str) -> np.ndarray:
        return open_split(self.images, name)  # (N, H, W, 3) uint8, memory-mapped

    @property
    def mean_std(self) -> tuple[list[float], list[float]]:
        stats = self.images.manifest["stats"]
        return stats["mean"], stats["std"]


def prepare_captions(cfg: CaptionDataBase, stage_root: str | Path, force: bool = False) -> PreparedCaptions:
    examples = read_examples(cfg)
    paths = {split: [ex.path for ex in rows] for split, rows in examples.items()}
    name = f"caption-images-{cfg.source}-{cfg.images.size}-{cfg.images.resize}"  # sizes coexist, no pruning
    images = build_image_stage(Path(stage_root), paths, cfg.images, force, name=name)
    captions = build_caption_stage(Path(stage_root), examples, cfg, force)
    vocab = Vocabulary.from_json((captions.path / "vocab.json").read_text(encoding="utf-8"))
    return PreparedCaptions(images, captions, vocab)
