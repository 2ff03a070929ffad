"""The user's edits as differentiable constraints on G(z) (Zhu et al. 2016, §4.1, the f_g / v_g terms):

* colour strokes: discs (x, y, r, colour) rasterised into a target image and a mask; the loss is the
  mean squared colour difference inside the mask;
* sketch: an edge map the user draws (an image, or line segments x0,y0,x1,y1 rasterised here); the loss
  is the squared difference between G(z)'s Sobel edge strength and the sketch, inside the sketch's mask
  (by default the drawn lines).

Coordinates are pixels of the generator's resolution (x to the right, y down, 0 at the top-left pixel's
centre). Bad specs raise :class:`~pipeline.errors.PipelineError` with one line that says what is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.errors import PipelineError

COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0, 0, 0),
    "white": (1, 1, 1),
    "grey": (0.5, 0.5, 0.5),
    "gray": (0.5, 0.5, 0.5),
    "red": (1, 0, 0),
    "green": (0, 0.6, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "orange": (1, 0.55, 0),
    "purple": (0.5, 0, 0.5),
    "brown": (0.55, 0.3, 0.1),
    "sky": (0.5, 0.75, 1.0),
    "cyan": (0, 1, 1),
}
STROKE_FORMAT = "x,y,r,colour with colour a name, #rrggbb or a grey level in [0, 1], e.g. 14,10,3,white"
LINE_FORMAT = "x0,y0,x1,y1 in pixels of the generator's resolution, e.g. 3,8,12,8"
LUMA = (0.299, 0.587, 0.114)  # RGB → grey for one-channel generators (ITU-R BT.601)
EDGE_SCALE = 4.0  # a black-to-white step gives Sobel magnitude 4: dividing maps strong edges to ~1


@dataclass(frozen=True)
class Stroke:
    """A filled disc of one colour (RGB in [0, 1]) the edited image should show."""

    x: float
    y: float
    radius: float
    colour: tuple[float, float, float]


def parse_colour(text: str) -> tuple[float, float, float]:
    text = text.strip().lower()
    if text in COLOURS:
        return tuple(float(c) for c in COLOURS[text])
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return tuple(int(text[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    try:
        grey = float(text)
    except ValueError:
        grey = -1.0
    if 0.0 <= grey <= 1.0:
        return (grey, grey, grey)
    raise PipelineError(f"bad colour {text!r}: use one of {', '.join(COLOURS)}, #rrggbb or a grey level in [0, 1]")


def parse_stroke(spec: str | Stroke, shape: tuple[int, int, int]) -> Stroke:
    """``"x,y,r,colour"`` (or a Stroke) → a Stroke checked against the image shape (C, H, W)."""
    if isinstance(spec, Stroke):
        stroke = spec
    else:
        parts = str(spec).split(",")
        if len(parts) != 4:
            raise PipelineError(f"bad stroke {spec!r}: expected {STROKE_FORMAT}")
        try:
            x, y, radius = (float(p) for p in parts[:3])
        except ValueError:
            raise PipelineError(f"bad stroke {spec!r}: x, y and r must be numbers ({STROKE_FORMAT})") from None
        stroke = Stroke(x, y, radius, parse_colour(parts[3]))
    _, height, width = shape
    if not (0 <= stroke.x <= width - 1 and 0 <= stroke.y <= height - 1):
        raise PipelineError(
            f"stroke centre ({stroke.x:g}, {stroke.y:g}) is outside the {width}x{height} image "
            f"(x in 0..{width - 1}, y in 0..{height - 1})"
        )
    if not 0.5 <= stroke.radius <= max(height, width):
        raise PipelineError(f"stroke radius {stroke.radius:g} must be between 0.5 and {max(height, width)} pixels")
    if len(stroke.colour) != 3 or not all(0.0 <= c <= 1.0 for c in stroke.colour):
        raise PipelineError(f"stroke colour {stroke.colour} must be three values in [0, 1]")
    return stroke


def rasterise(strokes: list[Stroke], shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(target (C, H, W), mask (1, H, W) bool); a later stroke paints over an earlier one."""
    channels, height, width = shape
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )  # (H, W) pixel centres
    target, mask = torch.zeros(channels, height, width), torch.zeros(1, height, width, dtype=torch.bool)
    for stroke in strokes:
        disc = (xs - stroke.x).pow(2) + (ys - stroke.y).pow(2) <= stroke.radius**2  # (H, W)
        colour = torch.tensor(stroke.colour)
        if channels == 1:
            colour = (colour * torch.tensor(LUMA)).sum().view(1)
        target[:, disc] = colour[:, None]
        mask[0] |= disc
    return target, mask


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image mean of (B, C, H, W) values over the pixels where the (B, 1, H, W) mask is set → (B,)."""
    weight = mask.float().expand_as(values)
    return (values * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


def colour_loss(images: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared colour error inside the stroke mask, per image (B,)."""
    return masked_mean((images - target).pow(2), mask)


def colour_error(images: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute colour error inside the stroke mask, per image (B,) — the reported metric."""
    return masked_mean((images - target).abs(), mask)


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel edge strength of the grey image, (B, C, H, W) in [0, 1] → (B, 1, H, W), about [0, 1]."""
    grey = images if images.shape[1] == 1 else (images * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.t()])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    grad = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)  # (B, 2, H, W)
    return (grad.pow(2).sum(1, keepdim=True) + 1e-8).sqrt() / EDGE_SCALE


def edge_error(images: torch.Tensor, edges: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of G(z)'s edge map and the sketch inside its mask, per image (B,) — reported."""
    return masked_mean((edge_map(images).clamp(max=1.0) - edges).abs(), mask)


def sketch_loss(images: torch.Tensor, edges: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared difference of G(z)'s edge map and the sketch inside its mask, per image (B,)."""
    return masked_mean((edge_map(images).clamp(max=1.0) - edges).pow(2), mask)


def parse_line(spec: str, shape: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` → the segment's end points, both inside the image (C, H, W)."""
    parts = str(spec).split(",")
    if len(parts) != 4:
        raise PipelineError(f"bad sketch line {spec!r}: expected {LINE_FORMAT}")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise PipelineError(f"bad sketch line {spec!r}: the four coordinates must be numbers ({LINE_FORMAT})") from None
    _, height, width = shape
    for x, y in ((x0, y0), (x1, y1)):
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise PipelineError(
                f"sketch line end ({x:g}, {y:g}) is outside the {width}x{height} image "
                f"(x in 0..{width - 1}, y in 0..{height - 1})"
            )
    return x0, y0, x1, y1


def rasterise_lines(lines: list[str], shape: tuple[int, int, int]) -> torch.Tensor:
    """Line segments → a sketch (H, W): 1 at every pixel whose centre lies within 0.5 px of a segment
    (one pixel wide), 0 elsewhere."""
    _, height, width = shape
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    sketch = torch.zeros(height, width)
    for spec in lines:
        x0, y0, x1, y1 = parse_line(spec, shape)
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = ((xs - x0) * dx + (ys - y0) * dy) / length2 if length2 else torch.zeros_like(xs)
        t = t.clamp(0.0, 1.0)  # nearest point of the segment
        near = (xs - (x0 + t * dx)).pow(2) + (ys - (y0 + t * dy)).pow(2) <= 0.5**2 + 1e-6
        sketch[near] = 1.0
    return sketch


def check_sketch(
    sketch: torch.Tensor, shape: tuple[int, int, int], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A (H, W) or (1, H, W) edge map in [0, 1] → (edges (1, H, W), mask (1, H, W) bool; default: lines > 0.5)."""
    _, height, width = shape
    if not isinstance(sketch, torch.Tensor) or sketch.dim() not in (2, 3):
        raise PipelineError(f"a sketch is one grey edge map of {width}x{height} pixels (white lines on black)")
    sketch = sketch.float().reshape(1, *sketch.shape[-2:]) if sketch.dim() == 2 or sketch.shape[0] == 1 else None
    if sketch is None or tuple(sketch.shape[1:]) != (height, width):
        raise PipelineError(f"sketch must be one grey channel of {width}x{height} pixels (the generator's size)")
    if sketch.min() < 0 or sketch.max() > 1:
        raise PipelineError("sketch values must be in [0, 1] (white lines on black)")
    mask = sketch > 0.5 if mask is None else mask.reshape(1, height, width).bool()
    if not mask.any():
        raise PipelineError("the sketch has no lines (no pixel brighter than 0.5)")
    return sketch, mask
