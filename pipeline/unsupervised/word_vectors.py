"""Word vectors learned offline on the training sentences: word2vec (Mikolov et al. 2013, skip-gram with
negative sampling) through gensim, cached as a stage; and the lookup that turns tokens into vector rows.

No pretrained vectors exist offline, so the recursive autoencoder's leaves and the mean-of-word-vectors
baseline both read the vectors of this stage (one table, so the comparison is about composition only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.config import Config
from pipeline.stages import StageOutput, run_stage


class WordVectorConfig(Config):
    """The ``vectors:`` section: gensim ``Word2Vec`` options."""

    size: int = 100  # dimension of each vector (and of every RAE node)
    algorithm: Literal["skipgram", "cbow"] = "skipgram"
    window: int = 5  # context words on each side
    negative: int = 5  # negative samples per positive pair
    min_count: int = 2  # words seen fewer times in train get no vector (dropped from sentences)
    epochs: int = 10  # passes over the training sentences
    seed: int = 1  # gensim's initial vectors and sampling (one worker thread, so runs are repeatable)


@dataclass
class WordVectors:
    """``vocab[i]`` has vector ``vectors[i + 1]``; row 0 is the zero padding row."""

    vocab: list[str]
    vectors: np.ndarray  # (V + 1, D) float32

    def __post_init__(self) -> None:
        self.index = {word: i + 1 for i, word in enumerate(self.vocab)}

    @property
    def size(self) -> int:
        return self.vectors.shape[1]

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Row ids of the known tokens, in order (unknown ones are dropped, as in the baselines)."""
        return np.asarray([self.index[t] for t in tokens if t in self.index], dtype=np.int64)

    def mean(self, sentences: Sequence[Sequence[str]], normalize: bool = False) -> np.ndarray:
        """(N, D) mean of each sentence's known word vectors (zeros when none); ``normalize`` averages
        unit-length vectors instead, the leaves the RAE composes."""
        table = self.vectors
        if normalize:
            table = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
        out = np.zeros((len(sentences), self.size), dtype=np.float32)
        for row, tokens in enumerate(sentences):
            ids = self.ids(tokens)
            if len(ids):
                out[row] = table[ids].mean(0)
        return out


def word2vec_stage(
    sentences: Sequence[Sequence[str]],
    cfg: WordVectorConfig,
    corpus_fingerprint: str,
    stages: str | Path,
    force: bool = False,
) -> StageOutput:
    """Train word2vec on ``sentences`` (the training split only) once per (options, corpus)."""
    import gensim

    def build(out: Path) -> dict:
        from gensim.models import Word2Vec

        model = Word2Vec(
            sentences=list(sentences),
            vector_size=cfg.size,
            window=cfg.window,
            min_count=cfg.min_count,
            sg=int(cfg.algorithm == "skipgram"),
            negative=cfg.negative,
            epochs=cfg.epochs,
            seed=cfg.seed,
            workers=1,
        )
        vocab = list(model.wv.index_to_key)  # most frequent first
        vectors = np.concatenate([np.zeros((1, cfg.size), np.float32), model.wv.vectors.astype(np.float32)])
        (out / "vocab.txt").write_text("".join(w + "\n" for w in vocab), encoding="utf-8")
        np.save(out / "vectors.npy", vectors)
        return {"words": len(vocab), "size": cfg.size, "sentences": len(sentences)}

    params = {**cfg.to_dict(), "gensim": gensim.__version__}
    return run_stage(Path(stages), "word2vec-en", params, {"corpus": corpus_fingerprint}, build, force)


def load_word_vectors(stage: StageOutput) -> WordVectors:
    vocab = (stage.path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    return WordVectors(vocab, np.load(stage.path / "vectors.npy"))


@dataclass
class CaptionCorpus:
    """The training sentences as vector rows, and the tokenised retrieval splits with their images."""

    vectors: WordVectors
    train_tokens: list[list[str]]
    train_ids: list[np.ndarray]  # sentences with at least two known words (one word makes no merge)
    splits: dict[str, tuple[list[list[str]], list[str], list[int]]]  # split → (tokens, texts, image per caption)


def load_caption_corpus(
    root: str | None, train_limit: int | None, vectors: WordVectorConfig, stages: str | Path, force: bool = False
) -> CaptionCorpus:
    """Tokenised Multi30k English (cached), word2vec on its training sentences (cached), ids for the RAE."""
    from pipeline.data.multi30k_captions import (
        EVAL_SPLITS,
        caption_text_stage,
        flat_captions,
        read_image_ids,
        read_token_lines,
    )

    text = caption_text_stage(root, stages, force)
    train = read_token_lines(text, "train")
    fingerprint = text.fingerprint
    if train_limit is not None and train_limit < len(train):
        keep = np.sort(np.random.default_rng(0).choice(len(train), train_limit, replace=False))
        train = [train[i] for i in keep]
        fingerprint = f"{fingerprint}:random{train_limit}-seed0"
    table = load_word_vectors(word2vec_stage(train, vectors, fingerprint, stages, force))
    ids = [row for row in (table.ids(t) for t in train) if len(row) > 1]
    splits = {
        s: (read_token_lines(text, s), flat_captions(s, "en", root)[0], read_image_ids(text, s)) for s in EVAL_SPLITS
    }
    return CaptionCorpus(table, train, ids, splits)
