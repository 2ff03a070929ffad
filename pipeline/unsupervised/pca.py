"""PCA two ways: closed form (eigendecomposition of the covariance), and a linear autoencoder
trained by gradient descent on ‖x − VVᵀx‖², whose optimum spans the same subspace
(Baldi & Hornik 1989; Bourlard & Kamp 1988).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.data.image_tensors import HeldOutImageDataConfig
from pipeline.stages import run_stage
from pipeline.unsupervised.output import AutoencoderOutput


@dataclass(frozen=True)
class PCA:
    """Principal subspace of centred data: ``components`` (D, k) orthonormal columns, by decreasing variance."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (D, k)
    explained_variance: np.ndarray  # (k,)

    @classmethod
    def fit(cls, x: np.ndarray, code_size: int, chunk: int = 8192) -> PCA:
        """``x`` (N, D) → the top ``code_size`` eigenvectors of its covariance (float64, chunked)."""
        n, dim = x.shape
        if not 0 < code_size <= dim:
            raise ValueError(f"code_size must be in 1..{dim}, got {code_size}")
        mean = np.zeros(dim)
        for start in range(0, n, chunk):
            mean += x[start : start + chunk].astype(np.float64).sum(0)
        mean /= n
        if n <= dim:  # fewer examples than dimensions: a thin SVD of the data is far cheaper than eigh(D×D)
            _, singular, vt = np.linalg.svd(x.astype(np.float64) - mean, full_matrices=False)
            k = min(code_size, len(singular))
            return cls(mean, vt[:k].T, singular[:k] ** 2 / max(n - 1, 1))
        cov = np.zeros((dim, dim))
        for start in range(0, n, chunk):
            # products in float32 (2× faster), sums across chunks in float64
            block = (x[start : start + chunk].astype(np.float64) - mean).astype(np.float32)
            cov += block.T @ block
        cov /= max(n - 1, 1)
        values, vectors = np.linalg.eigh(cov)  # ascending
        order = np.argsort(values)[::-1][:code_size]
        return cls(mean, vectors[:, order], values[order])

    def encode(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.components  # (N, k)

    def decode(self, code: np.ndarray) -> np.ndarray:
        return code @ self.components.T + self.mean  # (N, D)

    def reconstruction_mse(self, x: np.ndarray, chunk: int = 4096) -> float:
        """Mean squared error per input dimension on ``x`` (N, D)."""
        total = 0.0
        for start in range(0, len(x), chunk):
            block = x[start : start + chunk].astype(np.float64)
            total += float(((self.decode(self.encode(block)) - block) ** 2).sum())
        return total / x.size


class LinearAutoencoder(nn.Module):
    """x̂ = VVᵀ(x − μ) + μ with tied weights V (D, k): PCA as a network with one linear code layer."""

    def __init__(self, input_size: int, code_size: int, mean: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(input_size, code_size) / input_size**0.5)  # V
        self.register_buffer("mean", torch.zeros(input_size) if mean is None else mean.float().clone())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.weight  # (B, k)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return code @ self.weight.T + self.mean  # (B, D)

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        code = self.encode(x)
        return AutoencoderOutput(self.decode(code).view_as(x), code, code)


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of ``a`` (D, k) and ``b`` (D, l)."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


def pca_stage(data: HeldOutImageDataConfig, train: torch.Tensor, stages_dir: str, max_components: int = 512) -> Path:
    """Closed-form PCA of the training images (the same images the autoencoders train on), cached as a stage."""

    def build(out: Path) -> dict:
        flat = train.flatten(1).numpy()
        pca = PCA.fit(flat, min(max_components, flat.shape[1]))
        np.save(out / "mean.npy", pca.mean)
        np.save(out / "components.npy", pca.components.astype(np.float32))
        np.save(out / "variance.npy", pca.explained_variance)
        return {"images": len(flat), "components": pca.components.shape[1]}

    params = {
        "dataset": data.dataset,
        "train_limit": data.train_limit,
        "valid_size": data.valid_size,
        "holdout": "random-seed0",
        "max_components": max_components,
    }
    return run_stage(Path(stages_dir), f"pca-{data.dataset}", params, {}, build).path


def pca_from_stage(stage: Path, code_size: int) -> PCA:
    """The stage's PCA truncated to its first ``code_size`` components."""
    return PCA(
        np.load(stage / "mean.npy"),
        np.load(stage / "components.npy")[:, :code_size].astype(np.float64),
        np.load(stage / "variance.npy")[:code_size],
    )


def pca_mse(stage: Path, code_size: int, images: torch.Tensor) -> float:
    return pca_from_stage(stage, code_size).reconstruction_mse(images.flatten(1).numpy())


def pca_reconstruction(stage: Path, code_size: int, images: torch.Tensor) -> np.ndarray:
    """PCA's reconstructions of ``images`` (N, C, H, W) at ``code_size`` components, same shape."""
    pca = pca_from_stage(stage, code_size)
    return pca.decode(pca.encode(images.flatten(1).numpy())).reshape(images.shape)
