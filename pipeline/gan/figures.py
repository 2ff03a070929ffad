"""Image grids and the lecture's "DCGAN representations" (Radford et al. 2015, §6): latent interpolation
and latent vector arithmetic, written as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.files import atomic_path
from pipeline.plots import save_figure


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [−1, 1] → pixel box [0, 1]."""
    return (images.detach().float().cpu() + 1.0) / 2.0


def grid_array(images: torch.Tensor, nrow: int, pad: int = 2, scale: int = 1) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → uint8 (rows·(H+pad), nrow·(W+pad), 3) with white padding."""
    images = images.detach().float().cpu().clamp(0, 1)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    rows = (n + nrow - 1) // nrow
    canvas = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = images[i].permute(1, 2, 0).numpy()
    array = (canvas * 255).round().astype(np.uint8)
    return array.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else array


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, scale: int = 2) -> Path:
    """Save images in [0, 1] as one PNG grid (atomically)."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(grid_array(images, nrow, scale=scale)).save(tmp, format="PNG")
    return path


def interpolation_latents(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear paths z_a → z_b: (pairs, Z) ×2 → (pairs·steps, Z), row by row."""
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    path = z_start[:, None] * (1 - t) + z_end[:, None] * t  # (pairs, steps, Z)
    return path.reshape(-1, z_start.shape[1])


def vector_arithmetic(
    z: torch.Tensor,
    group_a: torch.Tensor,
    group_b: torch.Tensor,
    group_c: torch.Tensor,
    noise: float = 0.0,
    n_results: int = 8,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mean z[A] − mean z[B] + mean z[C] (boolean masks over ``z``), plus a little noise per result as
    in Radford et al. Fig. 7. Returns (the three group means (3, Z), results (n_results, Z))."""
    means = torch.stack([z[group_a].mean(0), z[group_b].mean(0), z[group_c].mean(0)])  # (3, Z)
    target = means[0] - means[1] + means[2]
    gen = torch.Generator().manual_seed(seed)
    results = target + noise * torch.randn(n_results, z.shape[1], generator=gen)
    results[0] = target
    return means, results


def captioned_grid(images: torch.Tensor, captions: list[str], path: str | Path) -> Path:
    """Rows of ``len(images) // len(captions)`` images, each row titled with its caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_row = len(images) // len(captions)
    fig, axes = plt.subplots(len(captions), 1, figsize=(1.3 * per_row, 1.75 * len(captions)), squeeze=False)
    for r, (ax, caption) in enumerate(zip(axes[:, 0], captions, strict=True)):
        ax.imshow(grid_array(images[r * per_row : (r + 1) * per_row], nrow=per_row))
        ax.set_title(caption if len(caption) < 90 else caption[:87] + "...", fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=110)
    return path
