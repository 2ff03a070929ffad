"""Ranking a database against queries (Hamming on packed bits, Euclidean on vectors) and scoring it
with class labels as relevance: precision@k and mAP@k, the protocol of the hashing literature
(e.g. Gong & Lazebnik 2011, "Iterative quantization").

AP@k of one query is (1 / R_k) Σ_{i ≤ k} P(i)·rel(i), where R_k is the number of relevant items in
the top k (0 when there are none); mAP@k is its mean over queries. Ties in distance are broken by
database index, so rankings are deterministic and equal a brute-force stable sort.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.unsupervised.binary_codes import hamming_distances


def top_k_by_distance(distances: np.ndarray, k: int) -> np.ndarray:
    """(Q, N) distances → (Q, k) database indices, nearest first, ties by lower index."""
    k = min(k, distances.shape[1])
    if np.issubdtype(distances.dtype, np.integer):
        # a unique integer key per item keeps argpartition exact at the k-th boundary
        keys = distances.astype(np.int64) * distances.shape[1] + np.arange(distances.shape[1])
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(keys, part, 1), axis=1)
        return np.take_along_axis(part, order, 1)
    part = np.argpartition(distances, k - 1, axis=1)[:, :k]
    rows = np.arange(len(distances))[:, None]
    order = np.lexsort((part, distances[rows, part]), axis=1)
    return np.take_along_axis(part, order, 1)


def rank_hamming(query: np.ndarray, database: np.ndarray, k: int, chunk: int = 64) -> np.ndarray:
    """Packed codes (Q, B) and (N, B) uint8 → (Q, k) indices by increasing Hamming distance."""
    return np.concatenate(
        [top_k_by_distance(hamming_distances(query[i : i + chunk], database), k) for i in range(0, len(query), chunk)]
    )


def rank_euclidean(query: np.ndarray, database: np.ndarray, k: int, chunk: int = 128) -> np.ndarray:
    """Vectors (Q, D) and (N, D) → (Q, k) indices by increasing Euclidean distance."""
    db = np.asarray(database, dtype=np.float32)
    db_sq = (db**2).sum(1)  # ‖d‖²; ‖q‖² is constant per query, so it does not change the ranking
    out = []
    for i in range(0, len(query), chunk):
        q = np.asarray(query[i : i + chunk], dtype=np.float32)
        out.append(top_k_by_distance(db_sq[None, :] - 2.0 * q @ db.T, k))  # (q, N)
    return np.concatenate(out)


def relevance(query_labels: np.ndarray, database_labels: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """(Q, k) bool: does the i-th retrieved item share the query's label."""
    return database_labels[ranked] == query_labels[:, None]


def average_precision_at_k(relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k per query from a (Q, ≥k) relevance matrix, as defined in the module docstring."""
    rel = relevant[:, :k].astype(np.float64)
    precision = np.cumsum(rel, 1) / np.arange(1, rel.shape[1] + 1)  # P(i)
    hits = rel.sum(1)
    return np.divide((precision * rel).sum(1), hits, out=np.zeros(len(rel)), where=hits > 0)


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    return float(relevant[:, :k].mean())


def retrieval_scores(relevant: np.ndarray, map_k: int, ks: Sequence[int]) -> dict[str, float]:
    scores = {f"map@{map_k}": float(average_precision_at_k(relevant, map_k).mean())}
    scores.update({f"p@{k}": precision_at_k(relevant, k) for k in ks})
    return scores


def query_split(
    n_items: int, n_queries: int, seed: int, pool: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_queries`` items (from ``pool``, default all) as queries; the rest form the database."""
    rng = np.random.default_rng(seed)
    candidates = np.arange(n_items) if pool is None else np.asarray(pool)
    queries = np.sort(rng.choice(candidates, n_queries, replace=False))
    mask = np.ones(n_items, dtype=bool)
    mask[queries] = False
    return queries, np.flatnonzero(mask)


@dataclass
class TimedRanking:
    ranked: np.ndarray  # (Q, k)
    ms_per_query: float


def timed(rank: Callable[[], np.ndarray], n_queries: int) -> TimedRanking:
    start = time.perf_counter()
    ranked = rank()
    return TimedRanking(ranked, 1000.0 * (time.perf_counter() - start) / n_queries)
