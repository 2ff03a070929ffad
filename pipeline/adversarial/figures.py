"""The lecture's "fooling a deep network" picture: original (class, confidence) + magnified ΔI =
adversarial (class, confidence), one row per attack target (Szegedy et al. 2013, Fig. 5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.plots import save_figure


@dataclass(frozen=True)
class AttackPanel:
    adversarial: torch.Tensor  # (C, H, W) in [0, 1]
    label: str  # e.g. "target goldfish (Szegedy)"


def _as_image(x: torch.Tensor):
    x = x.detach().cpu().clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _verdict(model: torch.nn.Module, x: torch.Tensor, classes: tuple[str, ...]) -> str:
    with torch.no_grad():
        probs = model(x[None]).softmax(1)[0]
    conf, idx = probs.max(0)
    return f"{classes[int(idx)]} ({float(conf):.1%})"


def classifier_verdict(model: torch.nn.Module, classes: tuple[str, ...]) -> Callable[[torch.Tensor], str]:
    model.eval()
    return lambda x: _verdict(model, x, classes)


def fooling_figure(
    describe: Callable[[torch.Tensor], str],
    image: torch.Tensor,
    panels: list[AttackPanel],
    path: str | Path,
    width: float = 7.5,
) -> Path:
    """Rows: original | ΔI magnified to the full grey range | adversarial, each titled by ``describe(x)``
    (a classifier's class and confidence, or a captioner's caption)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 3, figsize=(width, 2.7 * len(panels)), squeeze=False)
    grey = "gray" if image.shape[0] == 1 else None
    for row, panel in zip(axes, panels, strict=True):
        delta = panel.adversarial - image
        scale = float(delta.abs().max().clamp_min(1e-12))
        magnified = 0.5 + 0.5 * delta / scale  # ΔI · (0.5 / max|ΔI|) around mid-grey
        row[0].imshow(_as_image(image), cmap=grey, vmin=0, vmax=1)
        row[0].set_title(f"original\n{describe(image)}", fontsize=9)
        row[1].imshow(_as_image(magnified), cmap=grey, vmin=0, vmax=1)
        row[1].set_title(
            f"+ ΔI ×{0.5 / scale:.0f}\nL2 {float(delta.norm()):.3f}, L∞ {float(delta.abs().max()):.3f}", fontsize=9
        )
        row[2].imshow(_as_image(panel.adversarial), cmap=grey, vmin=0, vmax=1)
        row[2].set_title(f"= {panel.label}\n{describe(panel.adversarial)}", fontsize=9)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=120)
    return path
