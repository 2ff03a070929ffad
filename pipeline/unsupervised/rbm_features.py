"""RBMs as feature learners: the RBM task's config, its two datasets (scikit-learn's digits protocol or
MNIST), the trained RBM rebuilt from a checkpoint (:meth:`TrainedRBM.from_checkpoint`) and logistic
regression on its hidden probabilities.

The digits protocol is scikit-learn's example "Restricted Boltzmann Machine features for digit
classification": images nudged by one pixel in four directions (5× data), min-max scaled,
80/20 split with ``random_state=0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, default, task_config, variants
from pipeline.data.vision import load_digits, load_mnist
from pipeline.unsupervised.contrastive_divergence import CDConfig
from pipeline.unsupervised.rbm import RBM, VisibleKind


class DigitsDataConfig(Config):
    """``dataset: digits``: scikit-learn's embedded 8×8 digits, in its RBM example's protocol."""

    dataset: Literal["digits"] = Field("digits", description="digits (scikit-learn's 8×8) or mnist")
    nudge: bool = Field(True, description="add the 1-pixel shifts in 4 directions of scikit-learn's example (5× data)")
    test_size: float = Field(0.2, description="held-out fraction, split with random_state=0")
    monitor_size: int = Field(
        1000, description="held-out examples for the per-epoch reconstruction error and pseudo-likelihood"
    )


class MNISTDataConfig(Config):
    """``dataset: mnist``: the MNIST training and test splits."""

    dataset: Literal["mnist"] = default(DigitsDataConfig, "dataset", "mnist")
    root: str | None = Field(None, description="local copy (null: $PIPELINE_DATASETS/mnist, else the public origin)")
    train_limit: int | None = Field(None, description="the first N training images only (null: all)")
    monitor_size: int = default(DigitsDataConfig, "monitor_size", 1000)


RBMDataConfig = variants(DigitsDataConfig, MNISTDataConfig, key="dataset", default="digits")


class RBMModelConfig(Config):
    """The ``model:`` section: one RBM."""

    n_hidden: int = Field(100, description="hidden units = feature dimension")
    visible: VisibleKind = Field(
        "bernoulli", description="bernoulli (intensities as probabilities) or gaussian (standardised pixels)"
    )


class LogisticConfig(Config):
    """The ``logistic:`` section: the classifier evaluate fits on the features."""

    C: float = Field(6000.0, description="inverse L2 strength on RBM features (scikit-learn's example: 6000)")
    raw_C: float = Field(100.0, description="inverse L2 strength on raw pixels (the example: 100)")
    max_iter: int = Field(1000, description="solver iterations")
    solver: Literal["lbfgs", "newton-cg"] = Field("lbfgs", description="scikit-learn solver (the example: newton-cg)")
    tol: float = Field(1e-4, description="solver tolerance (the example: 1)")
    raw_baseline: bool = Field(True, description="also score logistic regression on raw pixels")


RBMTaskConfig = task_config(
    "rbm",
    "An RBM trained by CD-k or PCD, scored by logistic regression on its hidden probabilities.",
    data=(RBMDataConfig, DigitsDataConfig()),
    model=RBMModelConfig,
    train=CDConfig,
    logistic=LogisticConfig,
)


@dataclass
class FeatureData:
    train: np.ndarray  # (N, V) float32
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    image_shape: tuple[int, int]


def nudge(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Originals plus copies shifted by one pixel up, down, left and right (zeros shifted in)."""
    shifted = [images]
    for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = 0 if step == 1 else -1
        moved[tuple(edge)] = 0
        shifted.append(moved)
    return np.concatenate(shifted), np.tile(labels, 5)


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def load_features(data: DigitsDataConfig | MNISTDataConfig, stages_dir: str, force: bool = False) -> FeatureData:
    """Flattened examples in [0, 1] with labels (``force``: nothing is cached to rebuild)."""
    if isinstance(data, MNISTDataConfig):
        train, train_y = load_mnist("train", data.root, stages_dir)
        test, test_y = load_mnist("test", data.root, stages_dir)
        if data.train_limit:
            train, train_y = train[: data.train_limit], train_y[: data.train_limit]
        return FeatureData(_flat(train), train_y, _flat(test), test_y, (28, 28))
    train, train_y, test, test_y = split_digits(*load_digits(), data.test_size, data.nudge)
    low, high = train.min(0), train.max(0)  # per-pixel min-max scaling, fitted on the training split
    span = np.where(high > low, high - low, 1.0)

    def scale(x: np.ndarray) -> np.ndarray:
        return np.clip((x - low) / span, 0.0, 1.0).astype(np.float32)

    return FeatureData(scale(train), train_y, scale(test), test_y, (8, 8))


def split_digits(
    images: np.ndarray, labels: np.ndarray, test_size: float, shifts: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the original digits first, then (``shifts``) add the 1-pixel shifted copies of the training
    images only: a shifted copy of a test digit in training would make the test score optimistic.
    Returns flattened float32 (train, train labels, test, test labels)."""
    index = np.arange(len(labels))
    train_i, test_i = train_test_split(index, test_size=test_size, random_state=0)
    train, train_y = images[train_i].astype(np.float32), labels[train_i]
    if shifts:
        train, train_y = nudge(train, train_y)
    test = images[test_i].astype(np.float32)
    return train.reshape(len(train), -1), train_y, test.reshape(len(test), -1), labels[test_i]


def standardiser(train: np.ndarray, visible: VisibleKind) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean/std for Gaussian visibles (unit variance is what the energy assumes); identity otherwise."""
    if visible == "bernoulli":
        return np.zeros(train.shape[1], np.float32), np.ones(train.shape[1], np.float32)
    return train.mean(0), train.std(0) + 0.1  # +0.1 keeps near-constant border pixels from blowing up


def logistic_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, C: float, cfg: LogisticConfig
) -> float:
    clf = LogisticRegression(C=C, max_iter=cfg.max_iter, solver=cfg.solver, tol=cfg.tol)
    clf.fit(train_x, train_y)
    return float((clf.predict(test_x) == test_y).mean())


@dataclass
class TrainedRBM:
    """A trained RBM (eval mode) with the standardisation of its inputs and its run's config."""

    rbm: RBM
    mean: np.ndarray  # (V,) subtracted from inputs ...
    std: np.ndarray  # (V,) ... which are then divided by this
    config: RBMTaskConfig
    meta: dict

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> TrainedRBM:
        ckpt = load_checkpoint(path, RBMTaskConfig)
        weight = ckpt.model["weight"]
        rbm = RBM(weight.shape[0], weight.shape[1], ckpt.config.model.visible)
        rbm.load_state_dict(ckpt.model)
        return cls(rbm.eval(), ckpt.extra["mean"].numpy(), ckpt.extra["std"].numpy(), ckpt.config, ckpt.meta)

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.meta["image_shape"])

    def standardise(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x - self.mean) / self.std)

    @torch.no_grad()
    def features(self, x: np.ndarray) -> np.ndarray:
        """Hidden probabilities P(h = 1 | v) of raw examples (N, V)."""
        return self.rbm.hidden_prob(self.standardise(x)).numpy()
