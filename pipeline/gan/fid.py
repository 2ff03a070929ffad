"""Classifier-FID: the Fréchet distance (Heusel et al. 2017) between Gaussians fitted to features of the
project's own classifier, trained on the same dataset.

Inception-v3 weights cannot be downloaded here, so the features are the penultimate layer of
:class:`pipeline.adversarial.classifiers.ConvClassifier`. The numbers are therefore NOT comparable with
published (Inception) FIDs; compare them only with each other and with the real-vs-real floor
(train images vs test images through the same classifier).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from torch import nn


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) in float64."""
    array = np.asarray(features, dtype=np.float64)
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), with the usual ε·I retry when the product is singular."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real  # numerical noise can leave a tiny imaginary part
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def classifier_features(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Penultimate features (N, F) of images in the pixel box [0, 1]."""
    classifier.eval()
    with torch.no_grad():
        parts = [classifier.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return torch.cat(parts).double().numpy()


def classifier_fid(classifier: nn.Module, images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Classifier-FID between two image sets in [0, 1] (sizes may differ)."""
    stats_a = feature_statistics(classifier_features(classifier, images_a))
    stats_b = feature_statistics(classifier_features(classifier, images_b))
    return frechet_distance(*stats_a, *stats_b)
