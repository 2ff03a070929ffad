"""Image decoding, resizing, the cached image stage and train-time augmentation.

* :func:`load_rgb` is the one decoder for files, bytes and PIL images (training, the ``caption``
  command and serving all use it). It applies the EXIF orientation, converts every mode (CMYK,
  greyscale, palette, 16-bit, alpha composited over white) to RGB, decodes fully so a truncated
  file fails here, and rejects images too small to describe — always as one clear
  :class:`~pipeline.errors.PipelineError` line.
* :func:`prepare_image` resizes: "squash" to size x size (the shared Flickr8k copy is already
  squashed to 224 x 224), or "center_crop" (shorter side to size, then the centre square).
* :func:`build_image_stage` caches each split as a ``uint8`` array ``(N, H, W, 3)`` written with
  ``open_memmap`` and read back memory-mapped, through :func:`pipeline.stages.run_stage`.
* :class:`Augment` is train-time augmentation on uint8 batches, in torch: random resized crop
  (scale, aspect), optional horizontal flip, brightness/contrast jitter.

Data stages import nothing from models.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.files import sha256_json
from pipeline.progress import progress
from pipeline.stages import StageOutput, run_stage

ResizeMode = Literal["squash", "center_crop"]
MIN_SIDE = 16  # smaller images carry too little to caption; 1x1 "images" are usually tracking pixels
ACCEPTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


def load_rgb(source: str | os.PathLike | bytes | object, name: str | None = None):
    """Decode ``source`` (path, bytes or PIL image) into an upright RGB PIL image, or raise PipelineError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
            raise PipelineError(f"{label}: no such file")
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except UnidentifiedImageError:
            raise PipelineError(f"{label}: not an image file (accepted: {ACCEPTED})") from None
        except Image.DecompressionBombError:
            raise PipelineError(f"{label}: image is too large to decode safely") from None
        except (OSError, SyntaxError, ValueError) as err:  # header cut short or corrupt
            raise PipelineError(f"{label}: damaged or truncated image ({err})") from None
    try:
        image.load()  # decode every byte now: a truncated JPEG raises here, not later
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError) as err:
        raise PipelineError(f"{label}: damaged or truncated image ({err})") from None
    if min(image.size) < MIN_SIDE:
        raise PipelineError(
            f"{label}: image is {image.size[0]}x{image.size[1]} pixels; captioning needs at least {MIN_SIDE}x{MIN_SIDE}"
        )
    return to_rgb(image)


def image_array(data: bytes | str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """Image bytes (or a file) → float (C, H, W) in [0, 1], converted to grey or RGB and squashed to ``shape``
    (bicubic, Pillow's default): the one loader of the editor, image search and their CLIs."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    channels, height, width = shape
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            img = ImageOps.exif_transpose(img) or img  # upright, as the photo was taken
            img = img.convert("RGB" if channels == 3 else "L").resize((width, height), Image.Resampling.BICUBIC)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise PipelineError(f"image not found: {data}") from None
    except Image.DecompressionBombError:
        raise PipelineError("the image is too large to decode safely") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        name = "the upload" if isinstance(data, bytes) else str(data)
        raise PipelineError(f"cannot read {name} as an image ({err})") from None
    return array.transpose(2, 0, 1) if array.ndim == 3 else array[None]


def to_rgb(image):
    """Any PIL mode → RGB; transparency is composited over white rather than dropped to black."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        span = max(float(pixels.max() - pixels.min()), 1e-9)
        image = Image.fromarray(((pixels - pixels.min()) / span * 255).round().astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK (via PIL's profile-free conversion), YCbCr, LAB, HSV


def prepare_image(image, size: int, resize: ResizeMode = "squash") -> np.ndarray:
    """RGB PIL image → uint8 (size, size, 3)."""
    from PIL import Image

    if resize == "center_crop":
        scale = size / min(image.size)
        width, height = max(size, round(image.size[0] * scale)), max(size, round(image.size[1] * scale))
        image = image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    elif image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


class ImageConfig(Config):
    """The ``data.images:`` section."""

    size: int = Field(224, description="side of the square image the CNN sees")
    resize: ResizeMode = Field(
        "squash", description="squash (whole picture, aspect ratio lost) or center_crop (shorter side, centre square)"
    )


def image_inputs_hash(paths: Sequence[Path]) -> str:
    """Names and byte sizes of the image files (hashing 19 GB of MS-COCO pixels would take minutes)."""
    return sha256_json([[p.name, p.stat().st_size] for p in paths])


def build_image_stage(
    stage_root: Path, splits: Mapping[str, Sequence[Path]], cfg: ImageConfig, force: bool = False, name: str = "images"
) -> StageOutput:
    """Decode and resize each split's images into ``<split>.npy`` (uint8, N x H x W x 3) + names.

    ``name`` should differ between datasets and sizes that live side by side: a new build
    prunes older builds of the same name.
    """
    inputs = {split: image_inputs_hash(paths) for split, paths in splits.items()}

    def build(out: Path) -> dict:
        stats: dict = {}
        for split, paths in splits.items():
            array = np.lib.format.open_memmap(
                out / f"{split}.npy", mode="w+", dtype=np.uint8, shape=(len(paths), cfg.size, cfg.size, 3)
            )
            for i, path in enumerate(progress(paths, desc=f"images {split}", unit="img")):
                array[i] = prepare_image(load_rgb(path), cfg.size, cfg.resize)
            array.flush()
            (out / f"{split}.names.json").write_text(json.dumps([p.name for p in paths]))
            stats[f"{split}_images"] = len(paths)
            if split == "train":
                mean, std = channel_stats(array)
                stats["mean"], stats["std"] = mean, std
            del array
        return stats

    return run_stage(Path(stage_root), name, cfg.to_dict(), inputs, build, force)


def open_split(stage: StageOutput, split: str) -> np.ndarray:
    """The cached split as a read-only memory map (N, H, W, 3) uint8."""
    return np.load(stage.path / f"{split}.npy", mmap_mode="r")


def channel_stats(array: np.ndarray, chunk: int = 256) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units, in chunks so a memmap is never loaded whole."""
    total, total_sq, count = np.zeros(3), np.zeros(3), 0
    for start in range(0, len(array), chunk):
        block = np.asarray(array[start : start + chunk], dtype=np.float64) / 255.0
        total += block.sum(axis=(0, 1, 2))
        total_sq += (block**2).sum(axis=(0, 1, 2))
        count += block.shape[0] * block.shape[1] * block.shape[2]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 1e-12))
    return [round(float(m), 6) for m in mean], [round(float(s), 6) for s in std]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) → float (B, 3, H, W) in [0, 1]: what the image encoder takes."""
    return images.permute(0, 3, 1, 2).float() / 255.0


class AugmentConfig(Config):
    """The ``data.augment:`` section (train batches only)."""

    crop_scale: tuple[float, float] = Field(
        (0.7, 1.0), description="random resized crop: range of the fraction of the image area kept ([1, 1]: off)"
    )
    crop_ratio: tuple[float, float] = Field((0.8, 1.25), description="... and of its aspect ratio")
    hflip: float = Field(0.5, description="probability of a horizontal flip")
    jitter: float = Field(0.2, description="max relative change of brightness and contrast (0: off)")


class Augment:
    """Random resized crop + flip + brightness/contrast jitter: uint8 (B, H, W, 3) → float (B, 3, H, W) in [0, 1].

    Randomness comes only from ``generator``, so a batch seeded by (seed, epoch, index) is the
    same after a resume.
    """

    def __init__(self, cfg: AugmentConfig):
        self.cfg = cfg

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(images, generator)[0]

    def apply(self, images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented images and which of them were flipped, (B,) bool (for captions that name sides)."""
        cfg = self.cfg
        x = to_float(images)  # (B, 3, H, W)
        batch = x.size(0)
        flip = torch.zeros(batch, dtype=torch.bool)
        if cfg.crop_scale != (1.0, 1.0):
            x = self._crop(x, generator)
        if cfg.hflip > 0:
            flip = torch.rand(batch, generator=generator) < cfg.hflip
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if cfg.jitter > 0:
            bright = 1 + (torch.rand(batch, 1, 1, 1, generator=generator) * 2 - 1) * cfg.jitter
            contrast = 1 + (torch.rand(batch, 1, 1, 1, generator=generator) * 2 - 1) * cfg.jitter
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - mean) * contrast + mean) * bright
        return x.clamp(0, 1), flip

    def _crop(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image random crop box, resampled back to (H, W) with one ``grid_sample``."""
        cfg, batch = self.cfg, x.size(0)
        area = torch.empty(batch).uniform_(*cfg.crop_scale, generator=generator)
        log_ratio = torch.empty(batch).uniform_(*np.log(cfg.crop_ratio), generator=generator)
        ratio = log_ratio.exp()
        width_frac = (area * ratio).sqrt().clamp(max=1.0)  # box width / image width
        height_frac = (area / ratio).sqrt().clamp(max=1.0)
        center_x = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - width_frac)  # in [-1, 1] coords
        center_y = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - height_frac)
        theta = torch.zeros(batch, 2, 3)  # output grid [-1, 1] → input box
        theta[:, 0, 0], theta[:, 0, 2] = width_frac, center_x
        theta[:, 1, 1], theta[:, 1, 2] = height_frac, center_y
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
