"""Multi30k task 1 reader (Elliott et al. 2016, 2017): aligned one-sentence-a-line gzip files.

Layout, as in the public repository github.com/multi30k/dataset:
``data/task1/raw/{split}.{lang}.gz``. Without a local root the files are fetched from
that repository into ``data/downloads/multi30k``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pipeline.data.roots import DOWNLOADS, dataset_root, fetch
from pipeline.errors import PipelineError

ORIGIN = "https://raw.githubusercontent.com/multi30k/dataset/master"
SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")
LANGS = ("en", "de", "fr", "cs")
RAW = Path("data/task1/raw")
_NO_CS = ("test_2017_flickr", "test_2017_mscoco")  # released without a Czech side


def available_splits(lang: str) -> tuple[str, ...]:
    return tuple(s for s in SPLITS if not (lang == "cs" and s in _NO_CS))


def split_path(split: str, lang: str, root: str | None = None) -> Path:
    """The local ``.gz`` file for (split, lang), fetching it from the origin when no root is set."""
    if split not in SPLITS:
        raise PipelineError(f"unknown Multi30k split {split!r}; splits: {', '.join(SPLITS)}")
    if lang not in LANGS:
        raise PipelineError(f"unknown Multi30k language {lang!r}; languages: {', '.join(LANGS)}")
    name = f"{split}.{lang}.gz"
    local = dataset_root("multi30k", root)
    if local is None:
        return fetch(f"{ORIGIN}/{RAW.as_posix()}/{name}", DOWNLOADS / "multi30k" / RAW / name)
    path = local / RAW / name
    if not path.is_file():
        raise PipelineError(f"Multi30k file missing: {path} (split {split} has no {lang} side, or the root is wrong)")
    return path


def read_split(split: str, lang: str, root: str | None = None) -> list[str]:
    with gzip.open(split_path(split, lang, root), "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]
