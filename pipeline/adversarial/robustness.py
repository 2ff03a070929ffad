"""How robust a captioner is: the perturbation size at which half of its captions change, under PGD
(worst case, Madry et al. 2018) and under random noise of the same L∞ norm (the typical case).

For each ε of a grid, every image gets (a) the untargeted L∞ PGD perturbation of
:func:`pipeline.adversarial.captioning.attack_captions` and (b) uniform random signs times ε, a random
corner of the same L∞ ball; the share of greedy captions that differ from the clean caption is recorded.
The ε at which the share crosses one half is interpolated linearly in log ε between grid points. The gap
between the two curves is the point of the lecture's "fooling" examples: directions chosen by the
gradient change the output at budgets where random directions of the same size change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from pipeline.adversarial.captioning import attack_captions


@dataclass(frozen=True)
class RobustnessPoint:
    epsilon: float
    pgd_changed: float  # share of captions changed by PGD at this ε
    noise_changed: float  # share changed by random ±ε noise


def noise_changed(captioner, images: torch.Tensor, epsilon: float, seed: int = 0) -> list[bool]:
    """Whether each greedy caption changes under uniform random ±ε per pixel (clamped to the pixel box)."""
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, images.shape, generator=generator).float().mul_(2).sub_(1)
    noisy = (images + epsilon * signs.to(images.device)).clamp(0, 1)
    clean = captioner.caption_tensors(images, beam_size=1).best_tokens()
    moved = captioner.caption_tensors(noisy, beam_size=1).best_tokens()
    return [a != b for a, b in zip(clean, moved, strict=True)]


def robustness_curve(
    captioner, images: torch.Tensor, epsilons: Sequence[float], steps: int = 20, batch_size: int = 16, seed: int = 0
) -> list[RobustnessPoint]:
    points = []
    for epsilon in epsilons:
        pgd, noise = [], []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            _, reports = attack_captions(captioner, batch, epsilon, steps, seed=seed)
            pgd += [r.changed for r in reports]
            noise += noise_changed(captioner, batch, epsilon, seed + start)
        points.append(RobustnessPoint(epsilon, sum(pgd) / len(pgd), sum(noise) / len(noise)))
    return points


def half_change_epsilon(epsilons: Sequence[float], shares: Sequence[float]) -> float | None:
    """The ε where the share of changed captions first reaches 0.5, interpolated in log ε; None if never."""
    previous = None
    for epsilon, share in zip(epsilons, shares, strict=True):
        if share >= 0.5:
            if previous is None or previous[1] >= share:
                return float(epsilon)
            (e0, s0), (e1, s1) = previous, (epsilon, share)
            t = (0.5 - s0) / (s1 - s0)
            return float(math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0))))
        previous = (epsilon, share)
    return None


def robustness_report(points: list[RobustnessPoint]) -> dict:
    epsilons = [p.epsilon for p in points]
    return {
        "points": [asdict(p) for p in points],
        "pgd_half_epsilon": half_change_epsilon(epsilons, [p.pgd_changed for p in points]),
        "noise_half_epsilon": half_change_epsilon(epsilons, [p.noise_changed for p in points]),
    }


def robustness_figure(points: list[RobustnessPoint], path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.plots import save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    eps255 = [255 * p.epsilon for p in points]
    ax.plot(eps255, [p.pgd_changed for p in points], "o-", label="PGD (L∞)")
    ax.plot(eps255, [p.noise_changed for p in points], "s--", label="random ±ε noise")
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set(xscale="log", xlabel="ε (× 1/255)", ylabel="captions changed", ylim=(-0.02, 1.02), title=title)
    ax.legend()
    return save_figure(fig, path)
