"""Projecting real images onto a generator's manifold (Zhu et al. 2016, "Generative Visual Manipulation
on the Natural Image Manifold", §3.1): find z* = argmin_z ‖G(z) − x‖² three ways.

* ``optimize``: gradient descent on z alone (Adam here; the paper uses L-BFGS-B) from several random
  starts, keeping the best start per image;
* ``encoder``: one pass of a feed-forward network E(x) ≈ z (the paper's P, §3.2; see
  :mod:`pipeline.gan.encoder`);
* ``hybrid``: E(x) as the single starting point of the optimisation (§3.3).

The paper constrains z to the prior's box [−1, 1]^d; our DCGANs draw z ~ N(0, I), whose mass lies near
the sphere of radius √d, so every method keeps z inside the ball of radius ``latent_radius`` (default
1.25·√d). Without it the optimiser can leave the region G was trained on and fit pixels with images no
sample of G resembles. Every call is bounded in steps and in wall time (the serving endpoint relies on it)
and batched over images (and restarts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pipeline.errors import PipelineError

Method = Literal["optimize", "encoder", "hybrid"]
METHODS: tuple[str, ...] = ("optimize", "encoder", "hybrid")


@dataclass(frozen=True)
class ProjectionBudget:
    """Bounds of one projection call; ``max_seconds`` stops the optimisation early (best z so far kept)."""

    steps: int = 200  # Adam steps per start
    restarts: int = 4  # random starts of "optimize" (hybrid has one: the encoder's z)
    lr: float = 0.05  # Adam step size on z
    max_seconds: float | None = 30.0  # wall-time cap of one call (None: steps only)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.restarts < 1 or self.lr <= 0:
            raise PipelineError(
                f"bad projection budget: steps {self.steps} (≥ 0), restarts {self.restarts} (≥ 1), lr {self.lr} (> 0)"
            )
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise PipelineError(f"max_seconds must be positive, got {self.max_seconds}")


@dataclass(frozen=True)
class Projection:
    """Where images landed in latent space, and how well G reproduces them there."""

    z: torch.Tensor  # (B, Z)
    image: torch.Tensor  # (B, C, H, W) = G(z) in the pixel box [0, 1]
    error: torch.Tensor  # (B,) per-pixel mean squared error against the target images
    method: str
    steps: int  # optimisation steps run (0 for the encoder alone)
    seconds: float


def reconstruction_error(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared pixel error in [0, 1]: (B, C, H, W) ×2 → (B,)."""
    return (images - targets).pow(2).flatten(1).mean(1)


def clamp_to_ball(z: torch.Tensor, radius: float) -> torch.Tensor:
    """Rows of z scaled back onto the ball ‖z‖ ≤ radius (rows inside are unchanged)."""
    norm = z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return z * (radius / norm).clamp(max=1.0)


def render(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) in the pixel box [0, 1] (G's tanh output is in [−1, 1])."""
    return (generator(z) + 1.0) / 2.0


def check_images(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """(C, H, W) or (B, C, H, W) float in [0, 1] of the generator's shape → (B, C, H, W), else one clear error."""
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        raise PipelineError(f"expected an image tensor (C, H, W) or (B, C, H, W) of shape {tuple(shape)}")
    images = images[None] if images.dim() == 3 else images
    if tuple(images.shape[1:]) != tuple(shape):
        raise PipelineError(
            f"image has shape {tuple(images.shape[1:])}; this generator makes {tuple(shape)} "
            "(channels, height, width): resize it first"
        )
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise PipelineError("image values must be finite and in the pixel box [0, 1]")
    return images.float()


class Projector:
    """Projects images onto a frozen generator's manifold by the three methods of Zhu et al. §3."""

    def __init__(
        self,
        generator: nn.Module,
        encoder: nn.Module | None = None,
        budget: ProjectionBudget = ProjectionBudget(),
        latent_radius: float | None = None,
        seed: int = 0,
    ):
        self.generator = generator.eval().requires_grad_(False)
        self.encoder = None if encoder is None else encoder.eval().requires_grad_(False)
        self.budget, self.seed = budget, seed
        self.z_dim = generator.z_dim
        with torch.no_grad():
            self.shape = tuple(generator(torch.zeros(1, self.z_dim)).shape[1:])  # (C, H, W)
        self.latent_radius = latent_radius or 1.25 * math.sqrt(self.z_dim)

    def project(
        self, images: torch.Tensor, method: Method = "hybrid", budget: ProjectionBudget | None = None
    ) -> Projection:
        """Project (C, H, W) or (B, C, H, W) images in [0, 1]; ``budget`` overrides the default bounds."""
        if method not in METHODS:
            raise PipelineError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}")
        if method != "optimize" and self.encoder is None:
            raise PipelineError(f"method {method!r} needs an encoder checkpoint (train one with train-encoder)")
        targets = check_images(images, self.shape)
        budget, started = budget or self.budget, time.perf_counter()
        deadline = None if budget.max_seconds is None else started + budget.max_seconds
        if method == "optimize":
            gen = torch.Generator().manual_seed(self.seed)
            starts = torch.randn(len(targets), budget.restarts, self.z_dim, generator=gen)  # (B, R, Z)
        else:
            starts = self.encode(targets)[:, None]  # (B, 1, Z)
        if method == "encoder":
            z, steps = starts[:, 0], 0
        else:
            z, steps = self.optimize(targets, starts, budget, deadline)
        with torch.no_grad():
            image = render(self.generator, z)
        return Projection(z, image, reconstruction_error(image, targets), method, steps, time.perf_counter() - started)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """E(x) inside the latent ball: (B, C, H, W) → (B, Z)."""
        with torch.no_grad():
            return clamp_to_ball(self.encoder(images), self.latent_radius)

    def optimize(
        self, targets: torch.Tensor, starts: torch.Tensor, budget: ProjectionBudget, deadline: float | None
    ) -> tuple[torch.Tensor, int]:
        """Adam on z from every start (B, R, Z) at once; returns the best z per image (B, Z) and steps run."""
        n_images, n_starts, _ = starts.shape
        repeated = targets.repeat_interleave(n_starts, 0)  # (B·R, C, H, W), row b·R + r is image b
        z = clamp_to_ball(starts.reshape(n_images * n_starts, -1).clone(), self.latent_radius).requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=budget.lr)
        best_z, best_error = z.detach().clone(), torch.full((len(z),), math.inf)
        steps = 0
        with torch.enable_grad():
            while steps < budget.steps and (deadline is None or time.perf_counter() < deadline):
                error = reconstruction_error(render(self.generator, z), repeated)  # (B·R,)
                improved = error.detach() < best_error
                best_error = torch.where(improved, error.detach(), best_error)
                best_z[improved] = z.detach()[improved]
                optimizer.zero_grad(set_to_none=True)
                error.sum().backward()  # per-row losses: each z's gradient is its own image's
                optimizer.step()
                with torch.no_grad():
                    z.copy_(clamp_to_ball(z, self.latent_radius))
                steps += 1
        best_z = self._keep_better_final(z.detach(), repeated, best_z, best_error)
        with torch.no_grad():
            final_error = reconstruction_error(render(self.generator, best_z), repeated).view(n_images, n_starts)
        pick = final_error.argmin(1)  # (B,) best start per image
        return best_z.view(n_images, n_starts, -1)[torch.arange(n_images), pick], steps

    def _keep_better_final(
        self, z: torch.Tensor, targets: torch.Tensor, best_z: torch.Tensor, best_error: torch.Tensor
    ) -> torch.Tensor:
        """The last Adam step has not been scored yet: keep it where it beats the best so far."""
        with torch.no_grad():
            error = reconstruction_error(render(self.generator, z), targets)
        improved = error < best_error
        best_z[improved] = z[improved]
        return best_z
