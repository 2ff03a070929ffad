"""Glue the unsupervised tasks share: image data splits, the PCA baseline stage, reconstruction error,
encoding a dataset to codes, and the CIFAR-10 retrieval benchmark (codes vs pixels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from pipeline.config import Config
from pipeline.stages import run_stage

DatasetName = Literal["mnist", "cifar10"]


class ImageDataConfig(Config):
    """The ``data:`` section of the image autoencoder tasks."""

    dataset: DatasetName = "mnist"  # mnist | cifar10
    root: str | None = None  # local copy; default $PIPELINE_DATASETS/<dataset>, else the public origin
    train_limit: int | None = None  # a seeded random N of the training images only (quick runs)
    valid_size: int = 5000  # a seeded random hold-out of train for model selection
    batch_size: int = 128  # images per step


class RetrievalConfig(Config):
    """The ``retrieval:`` section: the benchmark protocol (class labels as relevance)."""

    queries: int = 1000  # random test images used as queries; the other 59,000 images are the database
    seed: int = 0  # which queries
    map_k: int = 1000  # mAP@k
    precision_k: list[int] = [10, 100, 1000]  # precision@k


@dataclass
class ImageSplits:
    train: torch.Tensor  # (N, C, H, W) in [0, 1]
    valid: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor


def load_splits(data: ImageDataConfig, stages_dir: str) -> ImageSplits:
    from pipeline.adversarial.datasets import holdout_split, load_images

    images, _ = load_images(data.dataset, "train", data.root, stages_dir, data.train_limit)
    test, test_labels = load_images(data.dataset, "test", data.root, stages_dir)
    train_rows, valid_rows = holdout_split(len(images), data.valid_size)
    return ImageSplits(images[train_rows], images[valid_rows], test, test_labels)


def pca_stage(data: ImageDataConfig, train: torch.Tensor, stages_dir: str, max_components: int = 512) -> Path:
    """Closed-form PCA of the training images (the same images the autoencoders train on), cached."""
    from pipeline.unsupervised.pca import PCA

    def build(out: Path) -> dict:
        flat = train.flatten(1).numpy()
        pca = PCA.fit(flat, min(max_components, flat.shape[1]))
        np.save(out / "mean.npy", pca.mean)
        np.save(out / "components.npy", pca.components.astype(np.float32))
        np.save(out / "variance.npy", pca.explained_variance)
        return {"images": len(flat), "components": pca.components.shape[1]}

    params = {"dataset": data.dataset, "train_limit": data.train_limit, "valid_size": data.valid_size,
              "holdout": "random-seed0",
              "max_components": max_components}
    return run_stage(Path(stages_dir), f"pca-{data.dataset}", params, {}, build).path


def pca_mse(stage: Path, code_size: int, images: torch.Tensor) -> float:
    from pipeline.unsupervised.pca import PCA

    pca = PCA(np.load(stage / "mean.npy"), np.load(stage / "components.npy")[:, :code_size].astype(np.float64),
              np.load(stage / "variance.npy")[:code_size])
    return pca.reconstruction_mse(images.flatten(1).numpy())


@torch.no_grad()
def reconstruction_mse(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
                       batch_size: int = 500) -> float:
    """Mean squared error per pixel (pixels in [0, 1]) of the model in eval mode."""
    model.eval()
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        total += float(((model(x).reconstruction.float() - x) ** 2).sum())
    return total / images.numel()


@torch.no_grad()
def code_activity(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
                  batch_size: int = 500) -> dict[str, float]:
    """How sparse the code is on ``images``: mean activation, mean |code|, and the share of code units
    below 0.05 in magnitude (for a logistic code with KL target ρ, the mean activation should be ≈ ρ)."""
    model.eval()
    codes = torch.cat([model(images[s:s + batch_size].to(device)).code.float().cpu()
                       for s in range(0, len(images), batch_size)])
    return {"mean_activation": float(codes.mean()), "mean_abs": float(codes.abs().mean()),
            "share_below_0.05": float((codes.abs() < 0.05).float().mean())}


@torch.no_grad()
def encode_pre(model: torch.nn.Module, images: torch.Tensor, device: torch.device,
               batch_size: int = 500) -> torch.Tensor:
    """Code pre-activations (N, k) in eval mode; thresholding them at 0 gives the bits."""
    model.eval()
    return torch.cat([model.encode_pre(images[s:s + batch_size].to(device)).float().cpu()
                      for s in range(0, len(images), batch_size)])
