"""Restricted Boltzmann machines: Bernoulli–Bernoulli, and Gaussian–Bernoulli for real-valued inputs.

Energies (Hinton 2010, "A practical guide to training RBMs", §13.2 for the Gaussian case, with
unit-variance visibles — standardise the data first):

* Bernoulli:  E(v, h) = −bᵀv − cᵀh − vᵀWh
* Gaussian:   E(v, h) = ½‖v − b‖² − cᵀh − vᵀWh

so P(hⱼ=1 | v) = σ(cⱼ + vᵀW₍:,j₎) in both, and P(v | h) is Bernoulli(σ(b + Wh)) or N(b + Wh, I).
Summing out h gives the free energy F(v) = E_v(v) − Σⱼ softplus(cⱼ + vᵀW₍:,j₎), with
P(v) = exp(−F(v)) / Z.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

VisibleKind = Literal["bernoulli", "gaussian"]


class RBM(nn.Module):
    """Weights ``weight`` (V, H), visible bias ``visible_bias`` (V,), hidden bias ``hidden_bias`` (H,)."""

    def __init__(self, n_visible: int, n_hidden: int, visible: VisibleKind = "bernoulli", init_std: float = 0.01):
        super().__init__()
        if visible not in ("bernoulli", "gaussian"):
            raise ValueError(f"unknown visible kind {visible!r}; expected bernoulli or gaussian")
        self.visible = visible
        self.weight = nn.Parameter(init_std * torch.randn(n_visible, n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    @property
    def n_visible(self) -> int:
        return self.weight.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.weight.shape[1]

    # ---- conditionals ---------------------------------------------------------------------------
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return v @ self.weight + self.hidden_bias  # (B, H)

    def hidden_prob(self, v: torch.Tensor) -> torch.Tensor:
        """P(h = 1 | v), (B, V) → (B, H). Also the RBM's features."""
        return torch.sigmoid(self.hidden_input(v))

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]: P(v = 1 | h) for Bernoulli visibles, the Gaussian's mean otherwise. (B, H) → (B, V)."""
        pre = h @ self.weight.T + self.visible_bias
        return torch.sigmoid(pre) if self.visible == "bernoulli" else pre

    def sample_hidden(self, v: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.hidden_prob(v))

    def sample_visible(self, h: torch.Tensor) -> torch.Tensor:
        mean = self.visible_mean(h)
        return torch.bernoulli(mean) if self.visible == "bernoulli" else mean + torch.randn_like(mean)

    def gibbs(self, v: torch.Tensor, steps: int = 1, sample_visible: bool = True) -> torch.Tensor:
        """``steps`` rounds of v → h ~ P(h|v) → v ~ P(v|h) (or E[v|h] when not ``sample_visible``)."""
        for _ in range(steps):
            h = self.sample_hidden(v)
            v = self.sample_visible(h) if sample_visible else self.visible_mean(h)
        return v

    # ---- energies -------------------------------------------------------------------------------
    def visible_energy(self, v: torch.Tensor) -> torch.Tensor:
        if self.visible == "bernoulli":
            return -(v @ self.visible_bias)
        return 0.5 * ((v - self.visible_bias) ** 2).sum(1)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) per example, (B,)."""
        return self.visible_energy(v) - h @ self.hidden_bias - ((v @ self.weight) * h).sum(1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = −log Σ_h exp(−E(v, h)), (B,)."""
        return self.visible_energy(v) - F.softplus(self.hidden_input(v)).sum(1)

    # ---- monitoring -----------------------------------------------------------------------------
    def reconstruction_error(self, v: torch.Tensor) -> torch.Tensor:
        """Mean squared error of v against E[v | P(h|v)] — cheap, but not the objective CD follows."""
        return ((v - self.visible_mean(self.hidden_prob(v))) ** 2).mean()

    def pseudo_log_likelihood(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Stochastic pseudo-log-likelihood (Bernoulli visibles): V · log σ(F(ṽ) − F(v)), ṽ = v with one
        random unit flipped — the estimate scikit-learn's ``BernoulliRBM.score_samples`` uses. (B,)"""
        if self.visible != "bernoulli":
            raise ValueError("pseudo-likelihood is defined here for binary visibles only")
        flip = torch.randint(self.n_visible, (len(v),), generator=generator, device=v.device)
        flipped = v.clone()
        rows = torch.arange(len(v), device=v.device)
        flipped[rows, flip] = 1 - flipped[rows, flip]
        return self.n_visible * F.logsigmoid(self.free_energy(flipped) - self.free_energy(v))

    def log_partition_exact(self) -> torch.Tensor:
        """log Z by enumerating every visible state (Bernoulli, V ≤ 20): for tests and tiny models."""
        if self.visible != "bernoulli" or self.n_visible > 20:
            raise ValueError("exact log Z needs Bernoulli visibles and at most 20 of them")
        states = torch.tensor(
            list(itertools.product((0.0, 1.0), repeat=self.n_visible)),
            dtype=self.weight.dtype,
            device=self.weight.device,
        )  # (2^V, V)
        return torch.logsumexp(-self.free_energy(states), 0)
