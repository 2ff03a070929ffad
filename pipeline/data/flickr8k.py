"""Flickr8k reader (Hodosh, Young & Hockenmaier, JAIR 47, 2013): images, 5 captions each, official splits.

Two caption formats are accepted, whichever the data root holds:

* ``captions.txt`` — CSV with header ``image,caption`` (quoted fields may contain commas), as in the
  widely mirrored Kaggle copy and ``../shared/datasets/flickr8k``;
* ``Flickr8k.token.txt`` — the original release: ``<image>#<n>\\t<caption>`` per line.

Split lists: ``split_{train,dev,test}.txt`` or the original ``Flickr_8k.{train,dev,test}Images.txt``
(one image file name a line; 6,000 / 1,000 / 1,000). Images live in ``images/`` (or the original
``Flicker8k_Dataset/``). The data root comes from :func:`pipeline.data.roots.dataset_root`.

This module only reads; it imports nothing from models and decodes no pixels. Usage::

    ds = load_flickr8k(cfg_root)          # Flickr8k
    for ex in ds.split("test"):           # CaptionedImage(image_id, path, captions)
        ...
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.data.roots import SET_ROOT, dataset_root
from pipeline.errors import PipelineError

SPLITS = ("train", "dev", "test")
CAPTION_FILES = ("captions.txt", "Flickr8k.token.txt")
IMAGE_DIRS = ("images", "Flicker8k_Dataset", "Flickr8k_Dataset")
SPLIT_FILES = {
    "train": ("split_train.txt", "Flickr_8k.trainImages.txt"),
    "dev": ("split_dev.txt", "Flickr_8k.devImages.txt"),
    "test": ("split_test.txt", "Flickr_8k.testImages.txt"),
}
ORIGIN_HINT = (
    "Flickr8k is not downloadable without a licence click-through; get it from "
    f"https://illinois.edu/fb/sec/1713398 (or the Kaggle mirror 'adityajn105/flickr8k'), then {SET_ROOT}"
)


@dataclass(frozen=True)
class CaptionedImage:
    """One image and its reference captions (raw text, as written by the annotators)."""

    image_id: str  # the file name, e.g. "1000268201_693b08cb0e.jpg"
    path: Path
    captions: tuple[str, ...]


@dataclass(frozen=True)
class Flickr8k:
    root: Path
    image_dir: Path
    captions: dict[str, tuple[str, ...]]  # image file name → captions, in file order
    splits: dict[str, tuple[str, ...]]  # split name → image file names, in list order
    caption_file: Path

    def split(self, name: str) -> list[CaptionedImage]:
        if name not in self.splits:
            raise PipelineError(f"unknown Flickr8k split {name!r}; known: {', '.join(self.splits)}")
        return [CaptionedImage(i, self.image_dir / i, self.captions[i]) for i in self.splits[name]]

    def source_files(self) -> list[Path]:
        """The text files this dataset was read from (stage inputs are hashed from them)."""
        return [self.caption_file] + [_find(self.root, SPLIT_FILES[s]) for s in SPLITS]


def read_captions_csv(path: Path) -> dict[str, list[str]]:
    """``image,caption`` CSV → {image: [captions]}; the csv module handles quoted commas."""
    out: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
            raise PipelineError(f"{path}: expected a CSV header 'image,caption', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise PipelineError(f"{path}:{line_no}: expected 2 fields (image,caption), got {len(row)}")
            out[row[0].strip()].append(row[1].strip())
    return dict(out)


def read_captions_token(path: Path) -> dict[str, list[str]]:
    """Original ``Flickr8k.token.txt``: ``<image>#<n>\\t<caption>`` → {image: [captions]}."""
    out: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            key, sep, caption = line.rstrip("\n").partition("\t")
            image, hash_sign, _ = key.partition("#")
            if not sep or not hash_sign:
                raise PipelineError(f"{path}:{line_no}: expected '<image>#<n><TAB><caption>'")
            out[image.strip()].append(caption.strip())
    return dict(out)


def read_split_list(path: Path) -> tuple[str, ...]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return tuple(n for n in names if n)


def load_flickr8k(configured_root: str | None = None, check_images: bool = True) -> Flickr8k:
    """Read captions and the official splits from the data root (see module docstring)."""
    root = dataset_root("flickr8k", configured_root)
    if root is None:
        raise PipelineError(ORIGIN_HINT)
    caption_file = _find(root, CAPTION_FILES)
    reader = read_captions_csv if caption_file.name == "captions.txt" else read_captions_token
    raw = reader(caption_file)
    image_dir = _find(root, IMAGE_DIRS, kind="image folder")
    splits = {s: read_split_list(_find(root, SPLIT_FILES[s])) for s in SPLITS}
    for split, names in splits.items():
        missing = [n for n in names if n not in raw]
        if missing:
            raise PipelineError(
                f"{len(missing)} {split} images have no captions in {caption_file.name}, e.g. {missing[0]}"
            )
        if check_images and not (image_dir / names[0]).is_file():
            raise PipelineError(f"image {names[0]} of split {split} not found in {image_dir}")
    return Flickr8k(root, image_dir, {k: tuple(v) for k, v in raw.items()}, splits, caption_file)


def _find(root: Path, names: tuple[str, ...], kind: str = "file") -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise PipelineError(f"no {kind} {' or '.join(names)} in Flickr8k root {root}")
