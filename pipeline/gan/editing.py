"""Editing on the natural image manifold (Zhu et al. 2016, §4): from a projection z0, find

    z1 = argmin_z  Σ_g ‖f_g(G(z)) − v_g‖²  +  λ ‖z − z0‖² / d

where the f_g / v_g are the user's colour strokes and sketch (:mod:`pipeline.gan.constraints`) and the
λ term keeps the edit close to the projected image (the paper's λ_s; here divided by d so that λ does
not depend on the latent size). z stays in the projection's latent ball. The morph from the projection
to the edit is G along the straight line z0 → z1 (the paper's §4.2 interpolation), so the first frame
is the projection exactly and the last is the edit.

:class:`Editor` is the inference API serving imports: it rebuilds G (and optionally E) from checkpoints
alone and knows nothing about training or HTTP. Every call is bounded in steps and wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.gan.constraints import (
    Stroke,
    check_sketch,
    colour_error,
    colour_loss,
    edge_error,
    parse_stroke,
    rasterise,
    sketch_loss,
)
from pipeline.gan.projection import Method, Projection, ProjectionBudget, Projector, check_images, clamp_to_ball, render

MAX_FRAMES = 64


@dataclass(frozen=True)
class EditBudget:
    steps: int = 150  # Adam steps on z
    lr: float = 0.05  # Adam step size
    max_seconds: float | None = 15.0  # wall-time cap of one call
    prior_weight: float = 0.05  # λ of λ‖z − z0‖² / d
    sketch_weight: float = 1.0  # weight of the sketch term beside the colour term

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.prior_weight < 0 or self.sketch_weight < 0:
            raise PipelineError(f"bad edit budget: steps {self.steps} (≥ 1), lr {self.lr} (> 0), weights ≥ 0")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise PipelineError(f"max_seconds must be positive, got {self.max_seconds}")


@dataclass(frozen=True)
class Constraints:
    """Per-image targets and masks of a batch of edits; the colour or the sketch part may be empty."""

    colour: torch.Tensor  # (B, C, H, W) stroke colours
    colour_mask: torch.Tensor  # (B, 1, H, W) bool
    edges: torch.Tensor  # (B, 1, H, W) sketch edge strength in [0, 1]
    edge_mask: torch.Tensor  # (B, 1, H, W) bool


@dataclass(frozen=True)
class BatchEdit:
    z0: torch.Tensor  # (B, Z) the projections
    z: torch.Tensor  # (B, Z) the edits
    frames: torch.Tensor  # (B, F, C, H, W) morph G((1 − t) z0 + t z), t = 0 … 1
    losses: list[dict[str, float]]  # per step, batch means: total, colour, sketch, prior
    steps: int
    seconds: float

    @property
    def final(self) -> torch.Tensor:
        return self.frames[:, -1]  # (B, C, H, W)


@dataclass(frozen=True)
class EditResult:
    """One edited image: the morph frames (F, C, H, W), the final edit (C, H, W) and the loss curve."""

    frames: torch.Tensor
    final: torch.Tensor
    losses: list[dict[str, float]]
    projection: Projection
    steps: int
    seconds: float
    colour_error_before: float | None = None  # mean |pixel − stroke colour| inside the strokes, projection
    colour_error_after: float | None = None  # the same for the edit
    edge_error_before: float | None = None  # mean |edge strength − sketch| on the sketch's lines, projection
    edge_error_after: float | None = None  # the same for the edit
    z: torch.Tensor = field(default=None, repr=False)  # (Z,)


def paint_constraints(image: torch.Tensor, constraints: Constraints, index: int = 0) -> torch.Tensor:
    """The user's input drawn on an image (C, H, W): strokes in their colours, sketch lines in mid grey / cyan."""
    painted = torch.where(constraints.colour_mask[index], constraints.colour[index], image)
    line = torch.tensor([0.5] if image.shape[0] == 1 else [0.0, 1.0, 1.0]).view(-1, 1, 1).expand_as(image)
    return torch.where(constraints.edge_mask[index], line, painted)


def morph(generator: nn.Module, z0: torch.Tensor, z1: torch.Tensor, frames: int) -> torch.Tensor:
    """G on the straight line z0 → z1: (B, Z) ×2 → (B, F, C, H, W) in [0, 1]."""
    t = torch.linspace(0.0, 1.0, frames).view(1, frames, 1)
    path = z0[:, None] * (1 - t) + z1[:, None] * t  # (B, F, Z)
    with torch.no_grad():
        images = render(generator, path.reshape(-1, z0.shape[1]))  # (B·F, C, H, W)
    return images.view(len(z0), frames, *images.shape[1:])


def edit_latents(
    generator: nn.Module, z0: torch.Tensor, constraints: Constraints, budget: EditBudget, radius: float, frames: int = 8
) -> BatchEdit:
    """Optimise every z of the batch from z0 under the §4 objective; bounded by steps and wall time."""
    if not 2 <= frames <= MAX_FRAMES:
        raise PipelineError(f"frames must be between 2 and {MAX_FRAMES}, got {frames}")
    started = time.perf_counter()
    deadline = None if budget.max_seconds is None else started + budget.max_seconds
    z = z0.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=budget.lr)
    losses: list[dict[str, float]] = []
    with torch.enable_grad():
        while len(losses) < budget.steps and (deadline is None or time.perf_counter() < deadline):
            images = render(generator, z)
            colour = colour_loss(images, constraints.colour, constraints.colour_mask)  # (B,)
            sketch = sketch_loss(images, constraints.edges, constraints.edge_mask)  # (B,)
            prior = (z - z0).pow(2).mean(1)  # (B,) ‖z − z0‖² / d
            total = colour + budget.sketch_weight * sketch + budget.prior_weight * prior
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()  # independent per image
            optimizer.step()
            with torch.no_grad():
                z.copy_(clamp_to_ball(z, radius))
            losses.append(
                {
                    name: float(value.detach().mean())
                    for name, value in (("total", total), ("colour", colour), ("sketch", sketch), ("prior", prior))
                }
            )
    z1 = z.detach()
    return BatchEdit(
        z0.detach(), z1, morph(generator, z0.detach(), z1, frames), losses, len(losses), time.perf_counter() - started
    )


class Editor:
    """iGAN's two operations on one GAN: ``project(image)`` and ``edit(image, strokes, sketch)``."""

    def __init__(
        self,
        generator: nn.Module,
        encoder: nn.Module | None = None,
        projection_budget: ProjectionBudget | None = None,
        edit_budget: EditBudget = EditBudget(),
    ):
        self.projector = Projector(generator, encoder, projection_budget or ProjectionBudget())
        self.generator, self.shape, self.edit_budget = self.projector.generator, self.projector.shape, edit_budget

    @classmethod
    def from_checkpoint(
        cls, gan_checkpoint: str | Path, encoder_checkpoint: str | Path | None = None, **budgets
    ) -> Editor:
        """Rebuild from a ``gan`` checkpoint (and an ``igan_encoder`` one trained against it) alone."""
        from pipeline.gan.encoder import LatentEncoder
        from pipeline.gan.models import Gan

        gan = Gan.from_checkpoint(gan_checkpoint)  # a text-to-image or classifier file is one clear error
        generator, meta = gan.generator, gan.meta
        if meta["model"]["architecture"] != "dcgan":
            raise PipelineError(f"{gan_checkpoint} is an {meta['model']['architecture']} GAN; the editor needs a DCGAN")
        encoder = None
        if encoder_checkpoint is not None:
            encoder, enc_meta = LatentEncoder.from_checkpoint(encoder_checkpoint)
            made = (meta["model"]["z_dim"], list(meta["model"]["image_shape"]))
            if (enc_meta["model"]["z_dim"], list(enc_meta["model"]["image_shape"])) != made:
                raise PipelineError(
                    f"encoder {encoder_checkpoint} was trained for another GAN "
                    f"(z_dim/image shape differ from {gan_checkpoint})"
                )
        return cls(generator, encoder, **budgets)

    @property
    def default_method(self) -> Method:
        return "optimize" if self.projector.encoder is None else "hybrid"

    def project(
        self, image: torch.Tensor, method: Method | None = None, budget: ProjectionBudget | None = None
    ) -> Projection:
        """(C, H, W) or (B, C, H, W) in [0, 1] → Projection (hybrid when an encoder is loaded)."""
        return self.projector.project(image, method or self.default_method, budget)

    def constraints(
        self, strokes: list[str | Stroke], sketch: torch.Tensor | None = None, sketch_mask: torch.Tensor | None = None
    ) -> Constraints:
        """One image's constraints (batch of 1) from stroke specs and an optional sketch."""
        parsed = [parse_stroke(s, self.shape) for s in strokes]
        if not parsed and sketch is None:
            raise PipelineError("an edit needs at least one stroke (x,y,r,colour) or a sketch")
        colour, colour_mask = rasterise(parsed, self.shape)
        if sketch is None:
            edges, edge_mask = torch.zeros(1, *self.shape[1:]), torch.zeros(1, *self.shape[1:], dtype=torch.bool)
        else:
            edges, edge_mask = check_sketch(sketch, self.shape, sketch_mask)
        return Constraints(colour[None], colour_mask[None], edges[None], edge_mask[None])

    def edit(
        self,
        image_or_projection: torch.Tensor | Projection,
        strokes: list[str | Stroke] | Constraints,
        sketch: torch.Tensor | None = None,
        steps: int | None = None,
        max_seconds: float | None = None,
        frames: int = 8,
    ) -> EditResult:
        """Project (unless given a projection), then edit one image; bounded by ``steps`` and ``max_seconds``.

        ``strokes`` are stroke specs (with ``sketch``, checked here), or the :class:`Constraints` that
        :meth:`constraints` built from them already, so a caller that validates first builds them once."""
        projection = image_or_projection
        if not isinstance(projection, Projection):
            projection = self.project(image_or_projection)
        if len(projection.z) != 1:
            raise PipelineError(f"edit takes one image at a time, got a batch of {len(projection.z)}")
        constraints = strokes if isinstance(strokes, Constraints) else self.constraints(strokes, sketch)
        budget = self.edit_budget
        if steps is not None or max_seconds is not None:
            budget = EditBudget(
                steps or budget.steps,
                budget.lr,
                max_seconds or budget.max_seconds,
                budget.prior_weight,
                budget.sketch_weight,
            )
        batch = edit_latents(self.generator, projection.z, constraints, budget, self.projector.latent_radius, frames)
        before = after = edge_before = edge_after = None
        if constraints.colour_mask.any():
            before = float(colour_error(projection.image, constraints.colour, constraints.colour_mask)[0])
            after = float(colour_error(batch.final, constraints.colour, constraints.colour_mask)[0])
        if constraints.edge_mask.any():
            edge_before = float(edge_error(projection.image, constraints.edges, constraints.edge_mask)[0])
            edge_after = float(edge_error(batch.final, constraints.edges, constraints.edge_mask)[0])
        return EditResult(
            batch.frames[0],
            batch.final[0],
            batch.losses,
            projection,
            batch.steps,
            batch.seconds + projection.seconds,
            before,
            after,
            edge_before,
            edge_after,
            batch.z[0],
        )


def load_image(spec: str, shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file, resized (squashed) to the generator's (C, H, W) and converted to grey or RGB, in [0, 1]."""
    from pipeline.data.images import image_array

    return check_images(torch.from_numpy(image_array(Path(spec), shape)), shape)[0]


def save_morph(
    frames: torch.Tensor, png_path: str | Path, gif_path: str | Path | None = None, scale: int = 4
) -> list[Path]:
    """The morph (F, C, H, W) as one PNG strip and, optionally, an animated GIF (atomic writes)."""
    from PIL import Image

    from pipeline.files import atomic_path
    from pipeline.gan.figures import grid_array, save_grid

    paths = [save_grid(frames, png_path, nrow=len(frames), scale=scale)]
    if gif_path is not None:
        pictures = [Image.fromarray(grid_array(frame[None], 1, pad=0, scale=scale)) for frame in frames]
        durations = [120] * (len(pictures) - 1) + [800]  # linger on the edit
        with atomic_path(gif_path) as tmp:
            pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0)
        paths.append(Path(gif_path))
    return paths
