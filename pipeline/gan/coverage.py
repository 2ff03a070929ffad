"""Mode-collapse watch: which classes the generated samples fall into, per the project's classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Coverage:
    counts: list[int]  # generated samples classified as each class
    shares: list[float]
    covered: int  # classes holding at least ``min_share`` of the samples
    entropy_ratio: float  # entropy of the class histogram / log(n_classes); 1 = perfectly even
    mean_confidence: float  # mean max-softmax probability: low means unrecognisable samples
    confident_share: float  # share of samples with max probability ≥ 0.9


def class_coverage(
    classifier: nn.Module, images: torch.Tensor, n_classes: int, min_share: float = 0.02, batch_size: int = 500
) -> Coverage:
    """Histogram of predicted classes of images in [0, 1]."""
    classifier.eval()
    with torch.no_grad():
        probs = torch.cat(
            [classifier(images[i : i + batch_size]).softmax(1) for i in range(0, len(images), batch_size)]
        )
    confidence, predicted = probs.max(dim=1)
    counts = np.bincount(predicted.numpy(), minlength=n_classes)
    shares = counts / max(counts.sum(), 1)
    nonzero = shares[shares > 0]
    entropy = abs(float((nonzero * np.log(nonzero)).sum()))
    return Coverage(
        counts=counts.tolist(),
        shares=[round(float(s), 4) for s in shares],
        covered=int((shares >= min_share).sum()),
        entropy_ratio=entropy / np.log(n_classes),
        mean_confidence=float(confidence.mean()),
        confident_share=float((confidence >= 0.9).float().mean()),
    )
