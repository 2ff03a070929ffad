"""Gradient attacks: FGSM (Goodfellow et al. 2014, §3) and PGD with random start (Madry et al. 2018, §2.1).

Conventions shared by every attack here:

* images live in the pixel box [0, 1]; the returned adversarial images stay in it;
* ``target=None`` is untargeted (move away from ``labels``); a target tensor makes the attack
  targeted (move toward ``target``), so both are batched the same way;
* the input tensor is never modified in place, and the model is put in eval mode by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["linf", "l2"]
Objective = Callable[[torch.Tensor], torch.Tensor]  # images → the scalar the attacker maximises


def classifier_objective(model: nn.Module, labels: torch.Tensor, target: torch.Tensor | None = None) -> Objective:
    """+CE(true label) untargeted, −CE(target) targeted, summed over the batch."""
    if target is None:
        return lambda x: F.cross_entropy(model(x), labels, reduction="sum")
    return lambda x: -F.cross_entropy(model(x), target, reduction="sum")


def loss_gradient(
    model: nn.Module | None,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    target: torch.Tensor | None = None,
    objective: Objective | None = None,
) -> torch.Tensor:
    """∇_x of the attacker's objective (a classifier's CE unless ``objective`` is given); shape of ``images``."""
    objective = objective or classifier_objective(model, labels, target)
    x = images.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(x), x)
    return grad


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    target: torch.Tensor | None = None,
    clamp: bool = True,
) -> torch.Tensor:
    """x + ε·sign(∇_x J(θ, x, y)) — one step to the corner of the L∞ ball; clipped to the pixel box."""
    adv = images.detach() + epsilon * loss_gradient(model, images, labels, target).sign()
    return adv.clamp(0.0, 1.0) if clamp else adv


def _l2_normalize(v: torch.Tensor) -> torch.Tensor:
    norms = v.flatten(1).norm(dim=1).clamp_min(1e-12)
    return v / norms.view(-1, *([1] * (v.dim() - 1)))


def project(delta: torch.Tensor, epsilon: float, norm: Norm) -> torch.Tensor:
    """Euclidean projection of a batch of perturbations onto the ε-ball of ``norm``."""
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    norms = delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return delta * torch.clamp(epsilon / norms.clamp_min(1e-12), max=1.0)


def random_start(images: torch.Tensor, epsilon: float, norm: Norm, generator: torch.Generator | None) -> torch.Tensor:
    """A uniform point of the L∞ ball, or a point of the L2 ball with uniform direction and radius."""
    if norm == "linf":
        u = torch.rand(images.shape, generator=generator, device=images.device)
        return (2 * u - 1) * epsilon
    direction = _l2_normalize(torch.randn(images.shape, generator=generator, device=images.device))
    radius = torch.rand(images.shape[0], generator=generator, device=images.device) * epsilon
    return direction * radius.view(-1, *([1] * (images.dim() - 1)))


def pgd(
    model: nn.Module | None,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    epsilon: float,
    step_size: float,
    steps: int,
    norm: Norm = "linf",
    target: torch.Tensor | None = None,
    rand_init: bool = True,
    seed: int | None = 0,
    objective: Objective | None = None,
) -> torch.Tensor:
    """Projected gradient ascent on the attacker's loss, inside the ε-ball ∩ pixel box.

    Each step moves by ``step_size`` along sign(∇) (L∞) or ∇/‖∇‖₂ (L2), then projects back. The loss is a
    classifier's cross-entropy (``model``, ``labels``, ``target``) or any ``objective`` (e.g. a captioner's
    caption log-likelihood, :mod:`pipeline.adversarial.captioning`).
    """
    clean = images.detach()
    generator = None
    if seed is not None:
        generator = torch.Generator(device=clean.device).manual_seed(seed)
    delta = random_start(clean, epsilon, norm, generator) if rand_init else torch.zeros_like(clean)
    adv = (clean + delta).clamp(0.0, 1.0)
    for _ in range(steps):
        grad = loss_gradient(model, adv, labels, target, objective)
        step = grad.sign() if norm == "linf" else _l2_normalize(grad)
        delta = project(adv + step_size * step - clean, epsilon, norm)
        adv = (clean + delta).clamp(0.0, 1.0)
    return adv
