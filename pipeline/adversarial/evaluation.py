"""Success rate and distortion of attacks against ε, batched over a test set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from pydantic import Field
from torch import nn

from pipeline.adversarial.attacks import fgsm, pgd
from pipeline.config import Config
from pipeline.errors import PipelineError

AttackFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


class AttackConfig(Config):
    """The ``attack:`` section of a classifier config: the table ``evaluate`` writes."""

    test_limit: int = Field(1000, description="attack a seeded random N of the test images")
    steps: int = Field(40, description="PGD iterations (step size 2.5·ε/steps, Madry et al. 2018)")
    fgsm: list[float] = Field([0.05, 0.1, 0.25], description="FGSM ε values (pixel box [0, 1])")
    pgd_linf: list[float] = Field([0.1, 0.3], description="PGD L∞ ε values")
    pgd_l2: list[float] = Field([1.0, 2.0], description="PGD L2 ε values")
    batch_size: int = Field(250, description="images attacked together")


@dataclass(frozen=True)
class AttackRow:
    attack: str
    epsilon: float
    n: int
    clean_accuracy: float
    adversarial_accuracy: float
    success_rate: float  # among originally correct images, the share now misclassified
    error_rate: float  # 1 − adversarial accuracy, over all images (Goodfellow et al.'s figure)
    mean_l2: float  # over successful examples
    mean_linf: float


def torchattacks_attack(name: str, steps: int = 40) -> AttackFn:
    """The peer implementation (torchattacks 3.5, Kim 2020) of the same attack and settings, for parity checks.

    Installed with ``pip install --no-deps torchattacks`` (its declared dependencies would replace the pinned
    torch); it imports nothing beyond torch, numpy, scipy and requests.
    """
    try:
        import torchattacks
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise PipelineError("torchattacks is not installed: pip install --no-deps torchattacks==3.5.1") from err
    if name == "fgsm":
        return lambda model, x, y, eps: torchattacks.FGSM(model, eps=eps)(x, y)
    if name == "pgd_linf":
        return lambda model, x, y, eps: torchattacks.PGD(
            model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True
        )(x, y)
    if name == "pgd_l2":
        return lambda model, x, y, eps: torchattacks.PGDL2(
            model, eps=eps, alpha=2.5 * eps / steps, steps=steps, random_start=True
        )(x, y)
    raise ValueError(f"unknown attack {name!r}")


def attack_by_name(name: str, steps: int = 40) -> AttackFn:
    """``fgsm``, ``pgd_linf`` (step 2.5ε/steps, Madry et al.) or ``pgd_l2``, all untargeted; the same with a
    ``torchattacks_`` prefix runs the peer library's implementation."""
    if name.startswith("torchattacks_"):
        return torchattacks_attack(name.removeprefix("torchattacks_"), steps)
    if name == "fgsm":
        return lambda model, x, y, eps: fgsm(model, x, y, eps)
    if name in ("pgd_linf", "pgd_l2"):
        norm = name.split("_")[1]
        return lambda model, x, y, eps: pgd(model, x, y, eps, step_size=2.5 * eps / steps, steps=steps, norm=norm)
    raise ValueError(f"unknown attack {name!r}; known: fgsm, pgd_linf, pgd_l2, each also with a torchattacks_ prefix")


def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def evaluate_attack(
    model: nn.Module,
    name: str,
    attack: AttackFn,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    batch_size: int = 250,
) -> AttackRow:
    model.eval()
    clean_ok, adv_ok, l2, linf = [], [], [], []
    for i in range(0, len(images), batch_size):
        x, y = images[i : i + batch_size], labels[i : i + batch_size]
        adv = attack(model, x, y, epsilon)
        with torch.no_grad():
            clean_ok.append(model(x).argmax(1) == y)
            adv_ok.append(model(adv).argmax(1) == y)
        delta = (adv - x).flatten(1)
        l2.append(delta.norm(dim=1))
        linf.append(delta.abs().amax(dim=1))
    clean, adv_correct = torch.cat(clean_ok), torch.cat(adv_ok)
    fooled = clean & ~adv_correct
    l2_all, linf_all = torch.cat(l2), torch.cat(linf)
    n_fooled = int(fooled.sum())
    return AttackRow(
        attack=name,
        epsilon=epsilon,
        n=len(images),
        clean_accuracy=float(clean.float().mean()),
        adversarial_accuracy=float(adv_correct.float().mean()),
        success_rate=n_fooled / max(int(clean.sum()), 1),
        error_rate=1.0 - float(adv_correct.float().mean()),
        mean_l2=float(l2_all[fooled].mean()) if n_fooled else 0.0,
        mean_linf=float(linf_all[fooled].mean()) if n_fooled else 0.0,
    )


def attack_table(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    grid: dict[str, list[float]],
    steps: int = 40,
    batch_size: int = 250,
) -> list[AttackRow]:
    """One row per (attack, ε) of ``grid``, e.g. ``{"fgsm": [0.1, 0.25], "pgd_linf": [0.3]}``."""
    return [
        evaluate_attack(model, name, attack_by_name(name, steps), images, labels, eps, batch_size)
        for name, epsilons in grid.items()
        for eps in epsilons
    ]


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    """Share of ``images`` (on ``device``) the model in eval mode labels correctly."""
    model.eval()
    return float((predict(model, images.to(device)).cpu() == labels).float().mean())
