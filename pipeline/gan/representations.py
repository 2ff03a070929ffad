"""The lecture's "DCGAN representations" (Radford et al. 2015, §6.1 and §6.3, Fig. 4 and 7).

* Interpolation: G along straight lines between random latents; smooth changes (no sudden jumps) suggest
  the model has not memorised training images.
* Vector arithmetic: average the z of three groups of samples that share a visual attribute, and decode
  z̄(A) − z̄(B) + z̄(C). Without attribute labels we form the groups with the project's classifier and
  ink/brightness: A = thick class-a samples, B = thin class-a samples, C = thin class-b samples, so the
  result should be a *thick class b* — the analogue of "smiling woman − neutral woman + neutral man".
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.gan.figures import interpolation_latents, save_grid, to_unit, vector_arithmetic


def _decode(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    generator.eval()
    with torch.no_grad():
        return to_unit(generator(z))  # (N, C, H, W) in [0, 1]


def interpolation_panel(
    generator: nn.Module, z_dim: int, path: Path, pairs: int = 8, steps: int = 10, seed: int = 11
) -> Path:
    gen = torch.Generator().manual_seed(seed)
    start, end = torch.randn(pairs, z_dim, generator=gen), torch.randn(pairs, z_dim, generator=gen)
    return save_grid(_decode(generator, interpolation_latents(start, end, steps)), path, nrow=steps)


def arithmetic_panel(
    generator: nn.Module, classifier: nn.Module, z_dim: int, path: Path, pool: int = 2000, seed: int = 13
) -> dict:
    """One row: G(z̄A), G(z̄B), G(z̄C), then 8 decodings of z̄A − z̄B + z̄C (+ noise). Returns its numbers."""
    z = torch.randn(pool, z_dim, generator=torch.Generator().manual_seed(seed))
    images = _decode(generator, z)
    with torch.no_grad():
        labels = classifier(images).argmax(1)
    ink = images.flatten(1).mean(1)  # mean intensity: stroke thickness (MNIST) or brightness (CIFAR)
    counts = torch.bincount(labels, minlength=10)
    class_a, class_b = counts.topk(2).indices.tolist()
    if counts[class_b] < 4:  # a collapsed generator: fall back to a within-class analogy
        class_b = class_a
    in_a, in_b = labels == class_a, labels == class_b
    thick_a = in_a & (ink >= ink[in_a].quantile(0.75))
    thin_a = in_a & (ink <= ink[in_a].quantile(0.25))
    thin_b = in_b & (ink <= ink[in_b].quantile(0.25))
    means, results = vector_arithmetic(z, thick_a, thin_a, thin_b, noise=0.25, n_results=8)
    decoded = _decode(generator, torch.cat([means, results]))  # (11, C, H, W)
    save_grid(decoded, path, nrow=11, scale=3)
    with torch.no_grad():
        result_labels = classifier(decoded[3:]).argmax(1)
    result_ink = decoded[3:].flatten(1).mean(1)
    return {
        "path": path,
        "groups": {
            "class_a": class_a,
            "class_b": class_b,
            "sizes": [int(thick_a.sum()), int(thin_a.sum()), int(thin_b.sum())],
            "ink_of_group_means": [round(float(v), 4) for v in decoded[:3].flatten(1).mean(1)],
            "ink_of_results_mean": round(float(result_ink.mean()), 4),
            "results_classified_as_b": round(float((result_labels == class_b).float().mean()), 3),
        },
    }
