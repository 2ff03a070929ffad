"""Hamming ranking against brute force; mAP@k and precision@k against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.unsupervised.binary_codes import hamming_distances, pack_bits
from pipeline.unsupervised.retrieval import (
    average_precision_at_k,
    precision_at_k,
    query_split,
    rank_euclidean,
    rank_hamming,
    relevance,
    retrieval_scores,
)


@pytest.mark.parametrize("n_bits", [32, 64, 256, 12])
def test_hamming_ranking_equals_brute_force(n_bits):
    rng = np.random.default_rng(n_bits)
    db_bits = rng.integers(0, 2, (500, n_bits), dtype=np.uint8)
    q_bits = rng.integers(0, 2, (20, n_bits), dtype=np.uint8)
    brute = (q_bits[:, None, :] != db_bits[None, :, :]).sum(-1)  # (Q, N)
    np.testing.assert_array_equal(hamming_distances(pack_bits(q_bits), pack_bits(db_bits)), brute)
    expected = np.argsort(brute, axis=1, kind="stable")[:, :50]  # ties by lower index
    np.testing.assert_array_equal(rank_hamming(pack_bits(q_bits), pack_bits(db_bits), 50, chunk=7), expected)


def test_euclidean_ranking_equals_brute_force():
    rng = np.random.default_rng(0)
    db, q = rng.normal(size=(300, 16)), rng.normal(size=(10, 16))
    brute = np.argsort(((q[:, None] - db[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :25]
    np.testing.assert_array_equal(rank_euclidean(q, db, 25, chunk=3), brute)


def test_map_hand_computed():
    # query 1: relevant at ranks 1, 3, 4 of 5 → AP@5 = (1/1 + 2/3 + 3/4) / 3
    # query 2: relevant at rank 2 only → AP@5 = (1/2) / 1; query 3: nothing relevant → 0
    relevant = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    ap = average_precision_at_k(relevant, 5)
    np.testing.assert_allclose(ap, [(1 + 2 / 3 + 3 / 4) / 3, 0.5, 0.0])
    # at k = 2 only the first two ranks count
    np.testing.assert_allclose(average_precision_at_k(relevant, 2), [1.0, 0.5, 0.0])
    assert precision_at_k(relevant, 5) == pytest.approx(4 / 15)
    scores = retrieval_scores(relevant, 5, (1, 5))
    assert scores["map@5"] == pytest.approx(((1 + 2 / 3 + 3 / 4) / 3 + 0.5) / 3)
    assert scores["p@1"] == pytest.approx(1 / 3)


def test_relevance_and_query_split():
    queries, database = query_split(50, 10, seed=0)
    assert len(queries) == 10 and len(database) == 40 and not set(queries) & set(database)
    labels = np.arange(50) % 5
    ranked = np.array([[0, 5, 1]])
    np.testing.assert_array_equal(relevance(labels[[10]], labels, ranked), [[True, True, False]])


def test_random_ranking_map_is_the_base_rate():
    rng = np.random.default_rng(0)
    db_labels, q_labels = rng.integers(0, 10, 20000), rng.integers(0, 10, 200)
    ranked = np.stack([rng.permutation(20000)[:1000] for _ in range(200)])
    assert retrieval_scores(relevance(q_labels, db_labels, ranked), 1000, (100,))["map@1000"] == pytest.approx(
        0.1, abs=0.02
    )
