"""Measured-result fixes: the digits split has no shifted copy of a test digit in training, PCD's
fantasy chains survive a shorter batch, and retrieval ties are not broken by class order."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.data.vision import load_digits
from pipeline.unsupervised.contrastive_divergence import CDConfig, ContrastiveDivergence
from pipeline.unsupervised.rbm import RBM
from pipeline.unsupervised.rbm_features import nudge, split_digits
from pipeline.unsupervised.retrieval import rank_hamming


def test_the_digits_split_has_no_shifted_copy_of_a_test_image_in_training():
    images, labels = load_digits()
    train, _, test, _ = split_digits(images, labels, 0.2, shifts=True)
    assert len(train) == 5 * (len(images) - len(test)) and abs(len(test) - 0.2 * len(images)) < 1
    test_images = test.reshape(-1, 8, 8)
    variants, _ = nudge(test_images, np.zeros(len(test_images)))  # each test digit and its 4 shifts
    seen = {row.tobytes() for row in train.astype(np.float32)}
    leaked = [v for v in variants.reshape(len(variants), -1).astype(np.float32) if v.tobytes() in seen]
    # scikit-learn's digits hold a few exact duplicates across classes of writers; a shift of a test digit
    # may equal a training digit by chance, but not systematically as when shifting before splitting
    assert len(leaked) <= 0.01 * len(variants), f"{len(leaked)} of {len(variants)} test variants are in training"
    old_train = nudge(images.astype(np.float32), labels)[0].reshape(5 * len(images), -1)  # the leaky order
    old_seen = {row.tobytes() for row in old_train}
    assert sum(v.tobytes() in old_seen for v in variants.reshape(len(variants), -1)) == len(variants)


def test_pcd_chains_persist_across_a_shorter_batch():
    torch.manual_seed(0)
    rbm = RBM(6, 4, "bernoulli")
    learner = ContrastiveDivergence(rbm, CDConfig(persistent=True, cd_k=1))
    data = torch.bernoulli(torch.full((17, 6), 0.5))
    learner.step(data[:10], momentum=0.0)
    assert learner.chains.shape == (10, 6)
    sentinel = torch.ones(10, 6)
    learner.chains = sentinel.clone()
    torch.manual_seed(5)
    advanced = learner.negative_sample(data[10:])  # 7 rows: the 10 chains go on, they do not restart
    torch.manual_seed(5)
    assert torch.equal(advanced, rbm.gibbs(sentinel, 1, sample_visible=True))
    learner.step(data[10:], momentum=0.0)  # and the update handles 7 data rows against 10 chains
    assert learner.chains.shape == (10, 6)


def test_shuffling_the_database_breaks_ties_independently_of_class_order():
    # every database item at the same distance: in file order the top 100 would be class 0 only
    database = np.zeros((1000, 32), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 100)  # class-sorted, as CIFAR-10's files are
    query = np.zeros((1, 32), dtype=np.uint8)
    assert set(labels[rank_hamming(query, database, 100)[0]]) == {0}
    order = np.random.default_rng(0).permutation(1000)
    top = labels[order[rank_hamming(query, database[order], 100)[0]]]
    assert len(set(top)) == 10 and np.bincount(top).max() < 25
