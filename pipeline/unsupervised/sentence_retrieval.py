"""Caption-to-caption retrieval on Multi30k task 2: every caption of a split queries all the others by
cosine similarity; the other captions of its image are the relevant ones (four per query).

Scores: mAP (tie-aware: tied items share the precision at the end of their tie, which is what
``sklearn.metrics.average_precision_score`` computes) and R@k, the share of queries with at least one
relevant caption among the top k (the "recall@k" of caption retrieval, e.g. Karpathy & Fei-Fei 2015).
R@k needs an order inside ties: a seeded shuffle of the database decides it, so the split's
image-by-image order cannot favour a caption's neighbours.

Sentence vectors compared: the recursive autoencoder's (root, node mean), the mean of the same word
vectors, TF-IDF bags of words (fitted on the training sentences) and the translation encoder's mean state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from pipeline.config import Config
from pipeline.unsupervised.rae import REPRESENTATIONS, RecursiveAutoencoder, encode_sentences, node_spread
from pipeline.unsupervised.word_vectors import CaptionCorpus

Vectors = np.ndarray | scipy.sparse.spmatrix
SELECT_SPLIT, TEST_SPLIT = "val", "test_2016"  # choices (which RAE vector, which mean) are made on val only
MEAN_BASELINES = ("mean_vectors", "mean_unit_vectors")


class RetrievalConfig(Config):
    """The ``retrieval:`` section: the caption-retrieval protocol and its baselines."""

    ks: list[int] = [1, 5]  # R@k reported
    seed: int = 0  # the database shuffle that orders ties for R@k
    translation_checkpoint: str | None = "data/runs/en_de_quick/checkpoints/best.pt"  # EN→X translation model
    # whose encoder's mean state is a baseline; null leaves that baseline out
    figure_sentences: int = 4  # val captions whose greedy trees are drawn


def unit_rows(vectors: Vectors) -> Vectors:
    """Rows scaled to unit L2 norm (zero rows stay zero, so their cosine with anything is 0)."""
    if scipy.sparse.issparse(vectors):
        from sklearn.preprocessing import normalize

        return normalize(vectors.tocsr().astype(np.float64))
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """(Q, N) scores and relevance → (Q,) AP of each query's ranking by decreasing score, ties shared.

    For each relevant item, precision is read at the end of its group of tied scores; AP is their mean.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, 1)
    rel = np.take_along_axis(relevant, order, 1).astype(np.float64)
    hits = np.cumsum(rel, 1)  # relevant items among the top i + 1
    positions = np.arange(scores.shape[1])
    is_end = np.ones(scores.shape, dtype=bool)
    is_end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    ends = np.where(is_end, positions, scores.shape[1] - 1)
    group_end = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]  # last position of each item's tie
    precision = np.take_along_axis(hits, group_end, 1) / (group_end + 1)
    return (precision * rel).sum(1) / np.maximum(rel.sum(1), 1)


def retrieval_scores(
    vectors: Vectors, images: Sequence[int], ks: Sequence[int] = (1, 5), seed: int = 0, chunk: int = 512
) -> dict[str, float]:
    """mAP and R@k of caption-to-caption retrieval by cosine similarity; ``images[i]`` is caption i's image."""
    images = np.asarray(images)
    unit = unit_rows(vectors)
    shuffle = np.random.default_rng(seed).permutation(len(images))  # database order: decides ties for R@k
    unit, images = unit[shuffle], images[shuffle]
    ap, hit = [], {k: [] for k in ks}
    for start in range(0, len(images), chunk):
        rows = np.arange(start, min(start + chunk, len(images)))
        sims = unit[rows] @ unit.T  # (q, N)
        sims = sims.toarray() if scipy.sparse.issparse(sims) else np.asarray(sims)
        sims[np.arange(len(rows)), rows] = -np.inf  # a caption does not retrieve itself
        relevant = images[None, :] == images[rows, None]
        relevant[np.arange(len(rows)), rows] = False
        ap.append(average_precision(sims, relevant))
        order = np.argsort(-sims, axis=1, kind="stable")[:, : max(ks)]
        top = np.take_along_axis(relevant, order, 1)
        for k in ks:
            hit[k].append(top[:, :k].any(1))
    scores = {"map": float(np.concatenate(ap).mean())}
    scores.update({f"r@{k}": float(np.concatenate(hit[k]).mean()) for k in ks})
    return scores


def tfidf_vectors(train: Sequence[Sequence[str]], sentences: Sequence[Sequence[str]]) -> scipy.sparse.csr_matrix:
    """TF-IDF bags of the given tokens, IDF fitted on the training sentences (scikit-learn's defaults)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_tokens, lowercase=False)
    vectorizer.fit(train)
    return vectorizer.transform(sentences)


def _tokens(tokens: Sequence[str]) -> Sequence[str]:
    return tokens  # the sentences arrive tokenised (spaCy, lowercased): no second tokenizer


def translation_encoder_vectors(checkpoint: str | Path, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """(N, D) the masked mean over source positions of a translation model's encoder states."""
    import torch

    from pipeline.data.batching import inference_batches
    from pipeline.inference.translator import Translator

    translator = Translator.from_checkpoint(checkpoint, device="cpu")
    src = translator.encode_texts(texts)
    keep = [i for i, ids in enumerate(src) if len(ids)]
    out = np.zeros((len(texts), translator.model.encoder.output_size), dtype=np.float32)
    with torch.no_grad():
        for batch in inference_batches([src[i] for i in keep], batch_size):
            encoded = translator.model.encode(src=batch.src, src_lengths=batch.src_lengths)
            mask = encoded.mask[..., None].float()  # (B, S, 1)
            mean = (encoded.memory.float() * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
            out[np.asarray(keep)[batch.index.numpy()]] = mean.numpy()
    return out


def split_vectors(
    model: RecursiveAutoencoder, corpus: CaptionCorpus, split: str, cfg: RetrievalConfig
) -> tuple[dict[str, Vectors], float]:
    """Every system's vectors for the captions of ``split``, and the RAE's mean error per merge there."""
    tokens, texts, _ = corpus.splits[split]
    rae, error = encode_sentences(model, [corpus.vectors.ids(t) for t in tokens])
    systems: dict[str, Vectors] = {f"rae_{name}": vectors for name, vectors in rae.items()}
    systems["mean_vectors"] = corpus.vectors.mean(tokens)
    systems["mean_unit_vectors"] = corpus.vectors.mean(tokens, normalize=True)  # the RAE's unit leaves, if used
    systems["tfidf"] = tfidf_vectors(corpus.train_tokens, tokens)
    if cfg.translation_checkpoint:
        systems["translation_encoder"] = translation_encoder_vectors(_existing(cfg.translation_checkpoint), texts)
    return systems, error


def _existing(path: str) -> Path:
    from pipeline.errors import PipelineError

    if not Path(path).is_file():
        raise PipelineError(
            f"retrieval.translation_checkpoint {path} not found: train it (make run trains "
            f"data/runs/en_de_quick) or set retrieval.translation_checkpoint=null"
        )
    return Path(path)


def rae_validation(model: RecursiveAutoencoder, corpus: CaptionCorpus, cfg: RetrievalConfig) -> dict[str, float]:
    """Validation scores while training: val mAP of each RAE vector (``map`` = the best) and the error."""
    tokens, _, images = corpus.splits[SELECT_SPLIT]
    rae, error = encode_sentences(model, [corpus.vectors.ids(t) for t in tokens])
    scores = {
        f"map_{name}": retrieval_scores(vectors, images, cfg.ks, cfg.seed)["map"] for name, vectors in rae.items()
    }
    return {"map": max(scores.values()), **scores, "reconstruction": error}


def compare_systems(model: RecursiveAutoencoder, corpus: CaptionCorpus, cfg: RetrievalConfig) -> dict[str, Any]:
    """Scores of every system on val and test; "the RAE" and "mean word vectors" are the variants best on val."""
    report: dict[str, Any] = {"protocol": {**cfg.to_dict(), "similarity": "cosine", "relevant": "same image"}}
    for split in (SELECT_SPLIT, TEST_SPLIT):
        systems, error = split_vectors(model, corpus, split, cfg)
        images = corpus.splits[split][2]
        report[split] = {
            "captions": len(images),
            "images": len(set(images)),
            "rae_error_per_merge": error,
            "systems": {name: retrieval_scores(v, images, cfg.ks, cfg.seed) for name, v in systems.items()},
        }
    val = report[SELECT_SPLIT]["systems"]
    rae = max((f"rae_{name}" for name in REPRESENTATIONS), key=lambda name: val[name]["map"])
    mean = max(MEAN_BASELINES, key=lambda name: val[name]["map"])
    test = report[TEST_SPLIT]["systems"]
    report["chosen_on_val"] = {"rae": rae, "mean_vectors": mean}
    val_ids = [corpus.vectors.ids(t) for t in corpus.splits[SELECT_SPLIT][0]]
    report["node_spread_val"] = node_spread(model, val_ids)  # crowded parents: mean cosine near 1
    report["rae_beats_mean_vectors_on_test"] = test[rae]["map"] > max(test[name]["map"] for name in MEAN_BASELINES)
    return report


def summary(report: dict[str, Any]) -> str:
    """The report as a table (every system, val and test scores) and the val choices."""
    from pipeline.progress import table

    val, test = report[SELECT_SPLIT]["systems"], report[TEST_SPLIT]["systems"]
    keys = list(next(iter(test.values())))
    rows = [[name, *(val[name][k] for k in keys), *(test[name][k] for k in keys)] for name in test]
    header = ["system", *(f"{SELECT_SPLIT} {k}" for k in keys), *(f"{TEST_SPLIT} {k}" for k in keys)]
    return (
        f"{table(rows, header)}\nchosen on {SELECT_SPLIT}: {report['chosen_on_val']}; "
        f"RAE beats mean word vectors on {TEST_SPLIT}: {report['rae_beats_mean_vectors_on_test']}"
    )
