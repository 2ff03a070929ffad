"""Image classifiers that the attacks target and that the GAN metrics use as a feature extractor.

All take images in the pixel box [0, 1], shape (B, C, H, W), and return logits (B, n_classes).
``features(x)`` is the penultimate representation used by classifier-FID.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

ClassifierKind = Literal["softmax", "cnn"]


class SoftmaxRegression(nn.Module):
    """Multinomial logistic regression on raw pixels: the "shallow softmax" of Goodfellow et al. (2014, §4)."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10):
        super().__init__()
        c, h, w = in_shape
        self.linear = nn.Linear(c * h * w, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)  # (B, C*H*W): a linear model has no hidden representation

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1))


class ConvClassifier(nn.Module):
    """A small VGG-style CNN: ``depth`` blocks of (conv3x3-BN-ReLU ×2, max-pool), then a hidden dense layer.

    Standard (non-robust) training; the PGD check in Madry et al. (2018) expects such a model's accuracy
    to collapse near 0 at ε = 0.3 on MNIST and 8/255 on CIFAR-10.
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10, width: int = 32,
                 depth: int = 2, hidden: int = 128):
        super().__init__()
        c, h, w = in_shape
        blocks, channels = [], c
        for level in range(depth):
            out = width * 2 ** level
            blocks += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.body = nn.Sequential(*blocks)
        flat = channels * (h // 2 ** depth) * (w // 2 ** depth)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.body(images - 0.5))  # (B, hidden); pixels centred on 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def build_classifier(kind: ClassifierKind, in_shape: tuple[int, int, int], n_classes: int = 10,
                     width: int = 32, depth: int = 2, hidden: int = 128) -> nn.Module:
    if kind == "softmax":
        return SoftmaxRegression(in_shape, n_classes)
    return ConvClassifier(in_shape, n_classes, width=width, depth=depth, hidden=hidden)


def classifier_from_checkpoint(path) -> tuple[nn.Module, dict]:
    """Rebuild a classifier from its checkpoint alone (``meta['model']`` holds its arguments); eval mode."""
    from pipeline.checkpoint import load_checkpoint
    from pipeline.errors import PipelineError

    ckpt = load_checkpoint(path)
    if ckpt.task != "classifier":
        raise PipelineError(f"{path} is a {ckpt.task!r} checkpoint; a 'classifier' checkpoint is needed here")
    args = ckpt.meta["model"]
    model = build_classifier(args["kind"], tuple(ckpt.meta["image_shape"]), args["n_classes"],
                             width=args["width"], depth=args["depth"], hidden=args["hidden"])
    model.load_state_dict(ckpt.model)
    return model.eval(), ckpt.meta
