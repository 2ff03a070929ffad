"""The box-constrained targeted attack of Szegedy et al. (2013, §4.1), by a projected gradient method.

For a target class c it minimises, per image, ``−log f_c(x + Δ) + λ‖Δ‖²`` over Δ with x + Δ kept in
the pixel box [0, 1] — i.e. it maximises the target's log-probability minus λ times the squared
distortion. The paper uses box-constrained L-BFGS and a line search over λ for the smallest
distortion; here the inner problem is solved by projected Adam (batched, on any device) and λ by a
per-image bisection in log space: a success makes λ larger (try a smaller ΔI), a failure smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SzegedyResult:
    adversarial: torch.Tensor  # (B, C, H, W): smallest successful x + Δ found, else the last try
    success: torch.Tensor  # (B,) bool: classified as the target
    lambdas: torch.Tensor  # (B,) the λ that gave the returned example


def _solve_inner(
    model: nn.Module, clean: torch.Tensor, target: torch.Tensor, lam: torch.Tensor, steps: int, lr: float
) -> torch.Tensor:
    """min_Δ −log f_target(x+Δ) + λ‖Δ‖², x+Δ ∈ [0,1]; returns x + Δ (detached)."""
    delta = torch.zeros_like(clean, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        logits = model(clean + delta)
        nll = F.cross_entropy(logits, target, reduction="none")  # (B,)
        penalty = lam * delta.flatten(1).pow(2).sum(dim=1)  # (B,)
        optimizer.zero_grad()
        (nll + penalty).sum().backward()
        optimizer.step()
        with torch.no_grad():  # projection onto the box: x + Δ ∈ [0, 1]
            delta.copy_((clean + delta).clamp(0.0, 1.0) - clean)
    return (clean + delta).detach()


def szegedy_attack(
    model: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    search_steps: int = 6,
    steps: int = 100,
    lr: float = 0.01,
    initial_lambda: float = 0.1,
) -> SzegedyResult:
    """Targeted attack with a λ search for the smallest distortion (batched; ``images`` untouched)."""
    clean = images.detach()
    batch = clean.shape[0]
    lam = torch.full((batch,), initial_lambda, device=clean.device)
    works = torch.zeros(batch, device=clean.device)  # largest λ known to succeed (0: none yet)
    fails = torch.full((batch,), float("inf"), device=clean.device)  # smallest λ known to fail
    best = clean.clone()
    best_norm = torch.full((batch,), float("inf"), device=clean.device)
    best_lam = lam.clone()
    success = torch.zeros(batch, dtype=torch.bool, device=clean.device)
    for _ in range(search_steps):
        adv = _solve_inner(model, clean, target, lam, steps, lr)
        with torch.no_grad():
            hit = model(adv).argmax(dim=1) == target
            norm = (adv - clean).flatten(1).norm(dim=1)
        better = hit & (norm < best_norm)
        best[better], best_norm[better], best_lam[better] = adv[better], norm[better], lam[better]
        first_try = ~success & ~hit
        best[first_try] = adv[first_try]  # keep some attempt for images never fooled
        success |= hit
        # A success allows a larger λ (smaller ΔI); a failure asks for a smaller one. Bisect in log space.
        works = torch.where(hit, lam, works)
        fails = torch.where(hit, fails, lam)
        bracketed = (works > 0) & torch.isfinite(fails)
        lam = torch.where(bracketed, (works * fails).sqrt(), torch.where(hit, lam * 10, lam / 10))
    return SzegedyResult(best, success, best_lam)
