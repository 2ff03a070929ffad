"""The image datasets as float tensors in the pixel box [0, 1], channels first — the one layout attacks,
classifiers and GAN metrics share. Reading the files is :mod:`pipeline.data.vision`'s job."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

DatasetName = Literal["mnist", "cifar10"]
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


def image_shape(dataset: DatasetName) -> tuple[int, int, int]:
    return (1, 28, 28) if dataset == "mnist" else (3, 32, 32)


def class_names(dataset: DatasetName) -> tuple[str, ...]:
    from pipeline.data.vision import CIFAR10_CLASSES

    return MNIST_CLASSES if dataset == "mnist" else CIFAR10_CLASSES


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) → float (N, C, H, W) in [0, 1]."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]  # (N, 1, H, W)
    else:
        array = array.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return torch.from_numpy(np.array(array)).float().div_(255.0)  # a copy: readers may return read-only memmaps


def load_images(dataset: DatasetName, split: Literal["train", "test"], root: str | None = None,
                stages_dir: str = "data/stages", limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    from pipeline.data.vision import load_cifar10, load_mnist

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
