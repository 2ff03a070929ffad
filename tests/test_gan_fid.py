"""Classifier-FID and class coverage."""

import numpy as np
import pytest
import torch

from pipeline.adversarial.classifiers import ConvClassifier
from pipeline.gan.coverage import class_coverage
from pipeline.gan.fid import classifier_fid, feature_statistics, frechet_distance


def test_classifier_fid_of_a_set_against_itself_is_zero():
    torch.manual_seed(0)
    classifier = ConvClassifier((1, 28, 28), width=4, hidden=8).eval()
    images = torch.rand(300, 1, 28, 28)
    other = torch.rand(300, 1, 28, 28) ** 3  # a different distribution
    self_distance = classifier_fid(classifier, images, images)
    other_distance = classifier_fid(classifier, images, other)
    assert abs(self_distance) < 1e-6 * max(other_distance, 1e-12) + 1e-9
    assert other_distance > 1e-4


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-8)


def test_feature_statistics_are_mean_and_covariance():
    features = np.random.default_rng(0).normal(size=(500, 4))
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(mu, features.mean(0))
    np.testing.assert_allclose(sigma, np.cov(features.T))


def test_coverage_counts_predicted_classes():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            logits = torch.full((len(x), 10), -10.0)
            logits[torch.arange(len(x)), x.flatten(1)[:, 0].long()] = 10.0
            return logits

    images = torch.tensor([0, 0, 0, 3]).float().view(4, 1, 1, 1)
    cov = class_coverage(Fixed(), images, n_classes=10, min_share=0.2)
    assert cov.counts[0] == 3 and cov.counts[3] == 1 and cov.covered == 2
    assert 0 < cov.entropy_ratio < 1 and cov.confident_share == 1.0
