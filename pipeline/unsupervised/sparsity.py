"""Sparsity penalties on code activations for the sparse autoencoder (Ng 2011, "Sparse autoencoder" notes)."""

from __future__ import annotations

from typing import Literal

import torch

SparsityKind = Literal["none", "l1", "kl"]


def sparsity_penalty(code: torch.Tensor, kind: SparsityKind, target: float = 0.05) -> torch.Tensor:
    """Penalty on a batch of codes (B, k), per example.

    * ``l1``: mean over the batch of Σⱼ |cⱼ| — pushes most activities to exactly zero;
    * ``kl``: Σⱼ KL(ρ ‖ ρ̂ⱼ), with ρ̂ⱼ the batch-mean activity of logistic unit j and ρ = ``target``.
    """
    if kind == "none":
        return code.new_zeros(())
    if kind == "l1":
        return code.abs().sum(1).mean()
    if kind == "kl":
        eps = 1e-6
        rho_hat = code.mean(0).clamp(eps, 1 - eps)  # (k,)
        rho = torch.as_tensor(target, dtype=code.dtype, device=code.device)
        return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
    raise ValueError(f"unknown sparsity kind {kind!r}; expected none, l1 or kl")
