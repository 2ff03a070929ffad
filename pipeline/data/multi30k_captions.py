"""Multi30k task 2 reader (Elliott et al. 2016): five independent captions per Flickr30k image.

Layout, as in the public repository github.com/multi30k/dataset:
``data/task2/raw/{split}.{1..5}.{lang}.gz``, one caption a line, line ``i`` of every file describing
the same image. Without a local root the files are fetched from that repository into
``data/downloads/multi30k``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from pipeline.config import Config
from pipeline.data import multi30k
from pipeline.data.multi30k import ORIGIN
from pipeline.data.roots import DOWNLOADS, dataset_root, fetch
from pipeline.data.tokenization import normalize, tokenize
from pipeline.errors import PipelineError
from pipeline.files import sha256_file
from pipeline.stages import StageOutput, run_stage

SPLITS = ("train", "val", "test_2016")
LANGS = ("en", "de")
CAPTIONS_PER_IMAGE = 5
RAW = Path("data/task2/raw")


def caption_path(split: str, caption: int, lang: str, root: str | None = None) -> Path:
    """The local ``.gz`` file of caption number ``caption`` (1..5) for (split, lang), fetched when no root is set."""
    if split not in SPLITS:
        raise PipelineError(f"unknown Multi30k task 2 split {split!r}; splits: {', '.join(SPLITS)}")
    if lang not in LANGS:
        raise PipelineError(f"unknown Multi30k task 2 language {lang!r}; languages: {', '.join(LANGS)}")
    if not 1 <= caption <= CAPTIONS_PER_IMAGE:
        raise PipelineError(f"Multi30k task 2 caption number must be 1..{CAPTIONS_PER_IMAGE}, not {caption}")
    name = f"{split}.{caption}.{lang}.gz"
    local = dataset_root("multi30k", root)
    if local is None:
        return fetch(f"{ORIGIN}/{RAW.as_posix()}/{name}", DOWNLOADS / "multi30k" / RAW / name)
    path = local / RAW / name
    if not path.is_file():
        raise PipelineError(f"Multi30k task 2 file missing: {path} (is the root a copy of the dataset repository?)")
    return path


def read_captions(split: str, lang: str = "en", root: str | None = None) -> list[list[str]]:
    """One list of five captions per image, images in the split's order."""
    columns = []
    for caption in range(1, CAPTIONS_PER_IMAGE + 1):
        with gzip.open(caption_path(split, caption, lang, root), "rt", encoding="utf-8") as handle:
            columns.append([line.rstrip("\n") for line in handle])
    if len({len(c) for c in columns}) != 1:
        raise PipelineError(
            f"Multi30k task 2 {split}.*.{lang}: the five caption files differ in length "
            f"({', '.join(str(len(c)) for c in columns)} lines)"
        )
    return [list(row) for row in zip(*columns)]


def flat_captions(split: str, lang: str = "en", root: str | None = None) -> tuple[list[str], list[int]]:
    """All captions of a split, image by image, and the image index of each (the retrieval relevance)."""
    per_image = read_captions(split, lang, root)
    texts = [text for captions in per_image for text in captions]
    images = [i for i, captions in enumerate(per_image) for _ in captions]
    return texts, images


class CaptionDataConfig(Config):
    """The ``data:`` section of the recursive autoencoder task."""

    root: str | None = None  # local Multi30k copy; default $PIPELINE_DATASETS/multi30k, else the public origin
    train_limit: int | None = None  # a seeded random N of the training sentences only (quick runs)
    batch_tokens: int = 8000  # padded words per training batch (sentences of similar length together)


TOKENIZER = "spacy-blank+lower/1"
EVAL_SPLITS = ("val", "test_2016")


def caption_text_stage(root: str | None, stages: str | Path, force: bool = False) -> StageOutput:
    """English sentences as lowercased spaCy tokens, cached: ``train.txt`` (task 1 train plus task 2 train's
    five captions per image, exact duplicates dropped) and, for ``val`` / ``test_2016``, every caption in
    :func:`flat_captions` order with ``<split>.images.txt`` (the image index of each line)."""
    import spacy

    files = {"task1.train": multi30k.split_path("train", "en", root)}
    files.update({f"{s}.{c}": caption_path(s, c, "en", root) for s in SPLITS for c in range(1, CAPTIONS_PER_IMAGE + 1)})

    def build(out: Path) -> dict:
        train = multi30k.read_split("train", "en", root) + flat_captions("train", "en", root)[0]
        tokens = list(dict.fromkeys(" ".join(t) for t in _tokens(train)))  # first occurrence order
        (out / "train.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        stats: dict = {"train": {"read": len(train), "sentences": len(tokens)}}
        for split in EVAL_SPLITS:
            texts, images = flat_captions(split, "en", root)
            (out / f"{split}.txt").write_text("".join(" ".join(t) + "\n" for t in _tokens(texts)), encoding="utf-8")
            (out / f"{split}.images.txt").write_text("".join(f"{i}\n" for i in images), encoding="utf-8")
            stats[split] = {"captions": len(texts), "images": len(set(images))}
        return stats

    params = {"tokenizer": TOKENIZER, "spacy": spacy.__version__, "normalize": "nfkc+moses-punct"}
    return run_stage(Path(stages), "captions-en", params, {k: sha256_file(p) for k, p in files.items()}, build, force)


def _tokens(texts: list[str]) -> list[list[str]]:
    return tokenize([normalize(t, "en") for t in texts], "en", show_progress=True, lowercase=True)


def read_token_lines(stage: StageOutput, split: str) -> list[list[str]]:
    """The tokenised sentences of ``split`` (``train``, ``val`` or ``test_2016``) from the stage."""
    lines = (stage.path / f"{split}.txt").read_text(encoding="utf-8").split("\n")[:-1]
    return [line.split(" ") if line else [] for line in lines]


def read_image_ids(stage: StageOutput, split: str) -> list[int]:
    return [int(line) for line in (stage.path / f"{split}.images.txt").read_text().split()]
