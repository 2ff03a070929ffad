"""MNIST and CIFAR-10 as float tensors in the pixel box [0, 1], channels first — the one layout the
classifiers, attacks, GANs and autoencoders share — and their ``data:`` section. Reading the files is
:mod:`pipeline.data.vision`'s job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from pipeline.config import Config
from pipeline.data.vision import CIFAR10_CLASSES, load_cifar10, load_mnist

DatasetName = Literal["mnist", "cifar10"]
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


class ImageDataConfig(Config):
    """The ``data:`` section of the tasks on MNIST / CIFAR-10 images."""

    dataset: DatasetName = Field("mnist", description="mnist or cifar10")
    root: str | None = Field(
        None, description="local copy (null: $PIPELINE_DATASETS/<dataset>, else the public origin)"
    )
    train_limit: int | None = Field(None, description="a seeded random N of the training images only (null: all)")


class HeldOutImageDataConfig(ImageDataConfig):
    """:class:`ImageDataConfig` plus the validation hold-out that selects the best checkpoint."""

    valid_size: int = Field(
        5000, description="a seeded random hold-out of the training split for model selection (at most a fifth of it)"
    )


@dataclass
class ImageSplits:
    train: torch.Tensor  # (N, C, H, W) in [0, 1]
    valid: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor


def image_shape(dataset: DatasetName) -> tuple[int, int, int]:
    return (1, 28, 28) if dataset == "mnist" else (3, 32, 32)


def class_names(dataset: DatasetName) -> tuple[str, ...]:
    return MNIST_CLASSES if dataset == "mnist" else CIFAR10_CLASSES


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) → float (N, C, H, W) in [0, 1]."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]  # (N, 1, H, W)
    else:
        array = array.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return torch.from_numpy(np.array(array)).float().div_(255.0)  # a copy: readers may return read-only memmaps


def load_images(
    dataset: DatasetName,
    split: Literal["train", "test"],
    root: str | None = None,
    stages_dir: str = "data/stages",
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    reader = load_mnist if dataset == "mnist" else load_cifar10
    images, labels = reader(split, root=root, stages_dir=stages_dir)
    if limit is not None:  # a seeded random subset, in file order: the first N of CIFAR-10 are all airplanes
        keep = np.sort(evaluation_subset(len(labels), min(limit, len(labels))).numpy())
        images, labels = images[keep], np.asarray(labels)[keep]
    return to_tensor(images), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def evaluation_subset(total: int, n: int | None, seed: int = 0) -> torch.Tensor:
    """Indices of a seeded random subset of ``n`` of ``total`` images (all when ``n`` is None).

    Random, not the first ``n``: the CIFAR-10 ImageFolder copy is stored class by class, so its first
    images are all airplanes.
    """
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    return order if n is None else order[:n]


def holdout_split(total: int, valid_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, valid) indices: a seeded random hold-out of ``min(valid_size, total // 5)`` images.

    Never the last N: the CIFAR-10 ImageFolder copy is stored class by class, so those are all trucks.
    """
    order = evaluation_subset(total, None, seed)
    n_valid = min(valid_size, total // 5)
    return order[n_valid:], order[:n_valid]


def load_train_images(data: ImageDataConfig, stages_dir: str, force: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images and labels a ``data:`` section selects (``force``: nothing is cached to rebuild)."""
    return load_images(data.dataset, "train", data.root, stages_dir, data.train_limit)


def load_splits(data: HeldOutImageDataConfig, stages_dir: str, force: bool = False) -> ImageSplits:
    """Train minus a seeded hold-out, the hold-out, and the test split with its labels."""
    images, _ = load_images(data.dataset, "train", data.root, stages_dir, data.train_limit)
    test, test_labels = load_images(data.dataset, "test", data.root, stages_dir)
    train_rows, valid_rows = holdout_split(len(images), data.valid_size)
    return ImageSplits(images[train_rows], images[valid_rows], test, test_labels)
