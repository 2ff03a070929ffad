"""The fully connected GAN of Goodfellow et al. (2014) for flattened images (MNIST)."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """z ~ N(0, I) → two ReLU layers → tanh pixels in [−1, 1]."""

    def __init__(self, z_dim: int = 64, hidden: int = 256, image_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        self.z_dim, self.image_shape = z_dim, tuple(image_shape)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * hidden),
            nn.ReLU(),
            nn.Linear(2 * hidden, math.prod(image_shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """Flattened image → two LeakyReLU layers (with dropout, as the maxout/dropout D of the paper) → logit."""

    def __init__(self, hidden: int = 256, image_shape: tuple[int, int, int] = (1, 28, 28), dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(image_shape), 2 * hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images).squeeze(1)  # (B,) logits
