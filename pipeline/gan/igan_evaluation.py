"""The iGAN acceptance numbers (Zhu et al. 2016, §3.3 and §4): reconstruction error of the three projection
methods on held-out test images, and how well edits meet random colour strokes; plus the figures.

* Projection: per-pixel MSE of G(z*) against each test image (pixel box [0, 1]) for ``optimize``,
  ``encoder`` and ``hybrid``, and the share of images on which the hybrid beats both others.
* Edits: random strokes (1–2 discs, random centre in the middle 60 % of the image, radius 1.5–3.5 px,
  random colour: uniform RGB, or a uniform grey level for one-channel data) on projected test images.
  The metric is the mean absolute colour error inside the stroke mask, of the edit against that of the
  unedited projection; the report gives the ratio of the means, the median per-edit ratio and the
  share of edits at or below half.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from pipeline.errors import PipelineError
from pipeline.gan.constraints import Stroke, colour_error, rasterise
from pipeline.gan.editing import Constraints, EditBudget, Editor, edit_latents, paint_constraints
from pipeline.gan.projection import METHODS, Projection, ProjectionBudget


def project_all(
    editor: Editor, images: torch.Tensor, budget: ProjectionBudget, batch_size: int = 250
) -> dict[str, Projection]:
    """Every method over the images in chunks → one Projection per method (concatenated)."""
    parts: dict[str, list[Projection]] = {method: [] for method in METHODS}
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        for method in METHODS:
            parts[method].append(editor.project(chunk, method, budget))
    return {
        method: Projection(
            torch.cat([p.z for p in ps]),
            torch.cat([p.image for p in ps]),
            torch.cat([p.error for p in ps]),
            method,
            max(p.steps for p in ps),
            sum(p.seconds for p in ps),
        )
        for method, ps in parts.items()
    }


def projection_report(projections: dict[str, Projection]) -> dict:
    """Mean (± standard error) reconstruction MSE per method and the hybrid's wins."""
    rows = {}
    for method, projection in projections.items():
        error = projection.error.double()
        rows[method] = {
            "mse": float(error.mean()),
            "mse_se": float(error.std() / len(error) ** 0.5),
            "rmse": float(error.sqrt().mean()),
            "steps": projection.steps,
            "seconds": round(projection.seconds, 1),
        }
    hybrid = projections["hybrid"].error
    wins = (hybrid < projections["optimize"].error) & (hybrid < projections["encoder"].error)
    return {
        "n": len(hybrid),
        "methods": rows,
        "hybrid_best_share": float(wins.float().mean()),
        "hybrid_lowest_mean": rows["hybrid"]["mse"] < min(rows["optimize"]["mse"], rows["encoder"]["mse"]),
    }


def random_strokes(n_edits: int, shape: tuple[int, int, int], seed: int = 0) -> list[list[Stroke]]:
    """1–2 random discs per edit (see the module docstring)."""
    rng = np.random.default_rng(seed)
    channels, height, width = shape
    edits = []
    for _ in range(n_edits):
        strokes = []
        for _ in range(int(rng.integers(1, 3))):
            colour = tuple(float(c) for c in (rng.random(3) if channels == 3 else np.repeat(rng.random(), 3)))
            x, y = rng.uniform(0.2, 0.8) * (width - 1), rng.uniform(0.2, 0.8) * (height - 1)
            strokes.append(Stroke(float(x), float(y), float(rng.uniform(1.5, 3.5)), colour))
        edits.append(strokes)
    return edits


def stroke_constraints(edits: list[list[Stroke]], shape: tuple[int, int, int]) -> Constraints:
    """A batch of colour-only constraints, one image per edit."""
    rasters = [rasterise(strokes, shape) for strokes in edits]
    colour, mask = torch.stack([r[0] for r in rasters]), torch.stack([r[1] for r in rasters])
    no_edges = torch.zeros(len(edits), 1, *shape[1:])
    return Constraints(colour, mask, no_edges, no_edges.bool())


def edit_report(
    editor: Editor,
    projection: Projection,
    edits: list[list[Stroke]],
    budget: EditBudget,
    frames: int = 8,
    batch_size: int = 100,
) -> tuple[dict, torch.Tensor, Constraints]:
    """Edit each projected image with its strokes; returns (report, morph frames (N, F, C, H, W), constraints)."""
    if len(edits) > len(projection.z):
        raise PipelineError(f"{len(edits)} edits need as many projected images, got {len(projection.z)}")
    constraints = stroke_constraints(edits, editor.shape)
    started, all_frames, steps = time.perf_counter(), [], 0
    for start in range(0, len(edits), batch_size):
        part = slice(start, start + batch_size)
        chunk = Constraints(
            constraints.colour[part],
            constraints.colour_mask[part],
            constraints.edges[part],
            constraints.edge_mask[part],
        )
        batch = edit_latents(
            editor.generator, projection.z[: len(edits)][part], chunk, budget, editor.projector.latent_radius, frames
        )
        all_frames.append(batch.frames)
        steps = max(steps, batch.steps)
    frames_t = torch.cat(all_frames)
    before = colour_error(projection.image[: len(edits)], constraints.colour, constraints.colour_mask).double()
    after = colour_error(frames_t[:, -1], constraints.colour, constraints.colour_mask).double()
    outside = ~constraints.colour_mask.expand_as(frames_t[:, -1])
    change_outside = (frames_t[:, -1] - projection.image[: len(edits)]).abs()[outside].mean()
    ratio = after / before.clamp_min(1e-6)
    report = {
        "n": len(edits),
        "colour_error_projection": float(before.mean()),
        "colour_error_edit": float(after.mean()),
        "ratio_of_means": float(after.mean() / before.mean()),
        "median_ratio": float(ratio.median()),
        "share_at_most_half": float((ratio <= 0.5).double().mean()),
        "mean_abs_change_outside_strokes": float(change_outside),
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "budget": {"steps": budget.steps, "lr": budget.lr, "prior_weight": budget.prior_weight},
    }
    return report, frames_t, constraints


def projection_figure(images: torch.Tensor, projections: dict[str, Projection], path: Path, rows: int = 8) -> Path:
    """Rows of original | optimize | encoder | hybrid."""
    from pipeline.gan.figures import save_grid

    tiles = [torch.stack([images[i], *(projections[m].image[i] for m in METHODS)]) for i in range(rows)]
    return save_grid(torch.cat(tiles), path, nrow=1 + len(METHODS), scale=3)


def edit_figure(
    images: torch.Tensor, frames: torch.Tensor, constraints: Constraints, path: Path, rows: int = 8
) -> Path:
    """Rows of original | strokes painted on the projection | morph frames (first = projection, last = edit)."""
    from pipeline.gan.figures import save_grid

    tiles = []
    for i in range(rows):
        painted = paint_constraints(frames[i, 0], constraints, i)
        tiles.append(torch.cat([images[i][None], painted[None], frames[i]]))
    return save_grid(torch.cat(tiles), path, nrow=2 + frames.shape[1], scale=3)
