"""Unlabelled crops of Flickr8k *training* photos, as extra images for CIFAR-sized pretraining.

The captioner's CNN sees 96-px Flickr8k photos; an autoencoder trained on 32-px images can still learn its
filters at the same pixel scale from random crops of those photos (a crop side of 32–64 px of the 96-px
photo, resized to 32). Only the official train split is read, so no dev or test photo is ever seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.data.flickr8k import load_flickr8k
from pipeline.data.images import ImageConfig, build_image_stage, open_split

PHOTO_SIZE = 96  # the quick and cpu captioners' image size: the photos are cached once at it


def flickr8k_train_crops(
    count: int,
    size: int,
    side: tuple[int, int],
    seed: int,
    root: str | None = None,
    stages_dir: str | Path = "data/stages",
    chunk: int = 2048,
) -> torch.Tensor:
    """``count`` seeded random square crops (side uniform in ``side`` px of the 96-px photo, random place,
    random photo) resized to ``size`` → float (count, 3, size, size) in [0, 1]."""
    low, high = side
    if not 1 <= low <= high <= PHOTO_SIZE:
        raise ValueError(f"crop side range {side} must lie within 1..{PHOTO_SIZE} px")
    dataset = load_flickr8k(root)
    paths = [example.path for example in dataset.split("train")]
    stage = build_image_stage(
        Path(stages_dir), {"train": paths}, ImageConfig(size=PHOTO_SIZE), name="images-flickr8k-train"
    )
    photos = open_split(stage, "train")  # (N, 96, 96, 3) uint8
    generator = torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(photos), (count,), generator=generator)
    sides = torch.randint(low, high + 1, (count,), generator=generator).float() / PHOTO_SIZE  # fraction of the photo
    centres = (torch.rand(count, 2, generator=generator) * 2 - 1) * (1 - sides[:, None])  # in [-1, 1] coordinates
    out = torch.empty(count, 3, size, size)
    for start in range(0, count, chunk):
        rows = slice(start, min(start + chunk, count))
        x = torch.from_numpy(np.asarray(photos[which[rows].numpy()])).permute(0, 3, 1, 2).float() / 255.0
        theta = torch.zeros(len(x), 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = sides[rows]
        theta[:, :, 2] = centres[rows]
        # sampled at twice the size and averaged 2x2: a 64-px box is read at every pixel, so no aliasing
        grid = torch.nn.functional.affine_grid(theta, [len(x), 3, 2 * size, 2 * size], align_corners=False)
        fine = torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)
        out[rows] = torch.nn.functional.avg_pool2d(fine, 2)
    return out.clamp_(0, 1)
