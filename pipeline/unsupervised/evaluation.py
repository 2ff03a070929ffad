"""Measuring a trained autoencoder in batches: reconstruction error, how sparse its code is, its code
pre-activations (thresholded, the bits of the retrieval benchmark)."""

from __future__ import annotations

import torch


@torch.no_grad()
def reconstruction_mse(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 500
) -> float:
    """Mean squared error per pixel (pixels in [0, 1]) of the model in eval mode."""
    model.eval()
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device)
        total += float(((model(x).reconstruction.float() - x) ** 2).sum())
    return total / images.numel()


@torch.no_grad()
def code_activity(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 500
) -> dict[str, float]:
    """How sparse the code is on ``images``: mean activation, mean |code|, and the share of code units
    below 0.05 in magnitude (for a logistic code with KL target ρ, the mean activation should be ≈ ρ)."""
    model.eval()
    codes = torch.cat(
        [model(images[s : s + batch_size].to(device)).code.float().cpu() for s in range(0, len(images), batch_size)]
    )
    return {
        "mean_activation": float(codes.mean()),
        "mean_abs": float(codes.abs().mean()),
        "share_below_0.05": float((codes.abs() < 0.05).float().mean()),
    }


@torch.no_grad()
def encode_pre(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 500
) -> torch.Tensor:
    """Code pre-activations (N, k) in eval mode; thresholding them at 0 gives the bits."""
    model.eval()
    return torch.cat(
        [
            model.encode_pre(images[s : s + batch_size].to(device)).float().cpu()
            for s in range(0, len(images), batch_size)
        ]
    )
