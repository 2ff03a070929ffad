"""Multi30k → cached subword-id arrays, in three stages.

1. ``text-<lang>``: read every split, normalise (NFKC; Moses punctuation on the source side), spaCy-tokenize with
   join marks; one ``<split>.txt`` of space-separated tokens per split.
2. ``bpe-<lang>``: learn a BPE model on the training split only.
3. ``ids-<src>-<tgt>``: numericalise both sides of every split into ``<split>.npz``
   (flat ids + offsets); training pairs longer than ``max_train_len`` are dropped.

Each stage is cached by (params, input hashes) — see :mod:`pipeline.stages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from pipeline.config import Config
from pipeline.data import multi30k
from pipeline.data.subwords import SubwordModel
from pipeline.data.tokenization import normalize, tokenize
from pipeline.errors import PipelineError
from pipeline.files import sha256_file
from pipeline.progress import progress
from pipeline.stages import StageOutput, find_built, run_stage

Lang = Literal["en", "de", "fr", "cs"]
TOKENIZER_VERSION = "spacy-blank+joiner/2"


class TranslationDataConfig(Config):
    """The ``data:`` section of a translation config."""

    root: str | None = Field(
        None,
        description="local Multi30k copy, a folder holding data/task1/raw (null: "
        "$PIPELINE_DATASETS/multi30k, else download from github.com/multi30k/dataset)",
    )
    src_lang: Lang = Field("en", description="source language: en, de, fr or cs")
    tgt_lang: Lang = Field("de", description="target language: en, de, fr or cs")
    src_vocab_size: int = Field(8000, description="BPE vocabulary size of the source side, learned on train only")
    tgt_vocab_size: int = Field(8000, description="BPE vocabulary size of the target side")
    min_frequency: int = Field(2, description="a BPE merge needs at least this many occurrences")
    max_train_len: int = Field(100, description="training pairs with a side longer than this many subwords are dropped")


@dataclass
class Parallel:
    src: list[np.ndarray]
    tgt: list[np.ndarray]


@dataclass
class PreparedData:
    ids: StageOutput
    src_model: SubwordModel
    tgt_model: SubwordModel
    cfg: TranslationDataConfig

    @property
    def manifest(self) -> dict:
        return self.ids.manifest

    def split(self, name: str) -> Parallel:
        arrays = np.load(self.ids.path / f"{name}.npz")
        return Parallel(
            _unflatten(arrays["src_ids"], arrays["src_offsets"]), _unflatten(arrays["tgt_ids"], arrays["tgt_offsets"])
        )

    def sources(self, name: str) -> list[str]:
        return multi30k.read_split(name, self.cfg.src_lang, self.cfg.root)

    def references(self, name: str) -> list[str]:
        return multi30k.read_split(name, self.cfg.tgt_lang, self.cfg.root)

    @cached_property
    def splits(self) -> list[str]:
        return list(self.manifest["stats"]["splits"])


def _unflatten(ids: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [ids[offsets[i] : offsets[i + 1]].astype(np.int64) for i in range(len(offsets) - 1)]


def _flatten(seqs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in seqs])
    flat = np.fromiter((i for s in seqs for i in s), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def text_stage(lang: str, root: str | None, stages: Path, force: bool, punctuation: bool) -> StageOutput:
    splits = multi30k.available_splits(lang)
    files = {s: multi30k.split_path(s, lang, root) for s in splits}
    params = {
        "lang": lang,
        "tokenizer": TOKENIZER_VERSION,
        "spacy": _spacy_version(),
        "normalize": "nfkc+moses-punct" if punctuation else "nfkc",
    }
    name = f"text-{lang}" + ("" if punctuation else "-raw-punct")
    inputs = {s: sha256_file(p) for s, p in files.items()}
    if params["spacy"] is None:  # e.g. a GPU machine without spaCy: stages prepared elsewhere and copied
        built = find_built(stages, name, params, inputs, free="spacy")
        if built is None or force:
            raise PipelineError(
                f"spaCy is not installed, and {stages} holds no {name} stage for these Multi30k files: run "
                "`pipeline prepare CONFIG` where spaCy is installed and copy its stages folder here"
            )
        return built

    def build(out: Path) -> dict:
        stats = {"splits": {}}
        for split in splits:
            lines = multi30k.read_split(split, lang, root)
            normed = [
                normalize(t, lang, punctuation) for t in progress(lines, desc=f"normalize {split}.{lang}", unit="sent")
            ]
            tokens = tokenize(normed, lang, show_progress=True, mark_joins=True)
            (out / f"{split}.txt").write_text("".join(" ".join(t) + "\n" for t in tokens), encoding="utf-8")
            stats["splits"][split] = {"sentences": len(tokens), "tokens": sum(map(len, tokens))}
        stats["sentences"] = sum(v["sentences"] for v in stats["splits"].values())
        stats["tokens"] = sum(v["tokens"] for v in stats["splits"].values())
        return stats

    return run_stage(stages, name, params, inputs, build, force)


def _spacy_version() -> str | None:
    try:
        import spacy
    except ImportError:
        return None
    return spacy.__version__


def read_tokens(text: StageOutput, split: str) -> list[list[str]]:
    return [
        line.split(" ") if line else []
        for line in (text.path / f"{split}.txt").read_text(encoding="utf-8").split("\n")[:-1]
    ]


def bpe_stage(text: StageOutput, vocab_size: int, min_frequency: int, stages: Path, force: bool) -> StageOutput:
    def build(out: Path) -> dict:
        train = read_tokens(text, "train")
        model = SubwordModel.train(train, vocab_size, min_frequency)
        (out / "subwords.json").write_text(model.to_json(), encoding="utf-8")
        pieces = sum(len(ids) for ids in model.encode_batch(train))
        return {"vocab_size": len(model), "subwords_per_word": round(pieces / sum(map(len, train)), 3)}

    params = {"vocab_size": vocab_size, "min_frequency": min_frequency, "learned_on": "train"}
    name = "bpe-" + text.manifest["stage"].removeprefix("text-")
    return run_stage(stages, name, params, {"text": text.fingerprint}, build, force)


def load_subwords(bpe: StageOutput) -> SubwordModel:
    return SubwordModel.from_json((bpe.path / "subwords.json").read_text(encoding="utf-8"))


def prepare_translation(cfg: TranslationDataConfig, stages: str | Path, force: bool = False) -> PreparedData:
    """Run (or reuse) all three stages and return handles to their outputs."""
    stages = Path(stages)
    src_text = text_stage(cfg.src_lang, cfg.root, stages, force, punctuation=True)
    tgt_text = text_stage(cfg.tgt_lang, cfg.root, stages, force, punctuation=False)
    src_bpe = bpe_stage(src_text, cfg.src_vocab_size, cfg.min_frequency, stages, force)
    tgt_bpe = bpe_stage(tgt_text, cfg.tgt_vocab_size, cfg.min_frequency, stages, force)
    src_model, tgt_model = load_subwords(src_bpe), load_subwords(tgt_bpe)
    splits = [s for s in multi30k.available_splits(cfg.src_lang) if s in multi30k.available_splits(cfg.tgt_lang)]

    def build(out: Path) -> dict:
        stats: dict = {
            "splits": {},
            "src_vocab_size": len(src_model),
            "tgt_vocab_size": len(tgt_model),
            "special_ids": {"pad": 0, "unk": 1, "bos": 2, "eos": 3},
        }
        for split in splits:
            src_ids = src_model.encode_batch(read_tokens(src_text, split))
            tgt_ids = tgt_model.encode_batch(read_tokens(tgt_text, split))
            keep = [
                i
                for i in range(len(src_ids))
                if split != "train"
                or (0 < len(src_ids[i]) <= cfg.max_train_len and 0 < len(tgt_ids[i]) <= cfg.max_train_len)
            ]
            src_flat, src_off = _flatten([src_ids[i] for i in keep])
            tgt_flat, tgt_off = _flatten([tgt_ids[i] for i in keep])
            np.savez(out / f"{split}.npz", src_ids=src_flat, src_offsets=src_off, tgt_ids=tgt_flat, tgt_offsets=tgt_off)
            stats["pairs"] = stats.get("pairs", 0) + len(keep)
            stats["splits"][split] = {
                "pairs": len(keep),
                "dropped": len(src_ids) - len(keep),
                "src_tokens": int(src_off[-1]),
                "tgt_tokens": int(tgt_off[-1]),
                "src_mean_len": round(float(src_off[-1]) / max(len(keep), 1), 2),
                "tgt_mean_len": round(float(tgt_off[-1]) / max(len(keep), 1), 2),
            }
        return stats

    inputs = {
        "src_text": src_text.fingerprint,
        "tgt_text": tgt_text.fingerprint,
        "src_bpe": src_bpe.fingerprint,
        "tgt_bpe": tgt_bpe.fingerprint,
    }
    ids = run_stage(
        stages, f"ids-{cfg.src_lang}-{cfg.tgt_lang}", {"max_train_len": cfg.max_train_len}, inputs, build, force
    )
    return PreparedData(ids, src_model, tgt_model, cfg)
