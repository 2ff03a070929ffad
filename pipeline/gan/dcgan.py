"""DCGAN (Radford, Metz & Chintala 2015), optionally conditioned on a text embedding as in GAN-CLS
(Reed et al. 2016, §4).

Architecture guidelines of Radford et al. §3: no pooling (strided convolutions in D, fractionally
strided in G), batch norm in both (not on G's output nor D's input), ReLU in G with tanh output,
LeakyReLU(0.2) in D, weights from N(0, 0.02). G's first layer is the "project and reshape" dense map.

Resolution: ``image_size = start · 2^n`` with ``start`` 4 (32, 64) or 7 (28, MNIST).

Conditioning (Reed et al.): the embedding φ(t) is compressed by a dense layer + LeakyReLU to
``cond_dim`` and concatenated to z in G; in D it is replicated spatially and concatenated to the
last 4×4 (or 7×7) feature map before a final 1×1 conv + dense layer.
"""

from __future__ import annotations

import torch
from torch import nn


def _start_and_steps(image_size: int) -> tuple[int, int]:
    for start in (4, 7):
        steps = 0
        while start * 2**steps < image_size:
            steps += 1
        if start * 2**steps == image_size and steps >= 1:
            return start, steps
    raise ValueError(f"DCGAN image_size must be 4·2^n or 7·2^n (e.g. 28, 32, 64), got {image_size}")


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) for conv/dense weights; N(1, 0.02) for batch-norm scales (Radford et al. §4)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ConditionProjection(nn.Module):
    """φ(t) → LeakyReLU(W φ(t)): the compressed text condition of GAN-CLS."""

    def __init__(self, embed_dim: int, cond_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, cond_dim), nn.LeakyReLU(0.2))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.net(embedding)  # (B, cond_dim)


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        z_dim: int = 100,
        channels: int = 1,
        image_size: int = 28,
        width: int = 64,
        embed_dim: int = 0,
        cond_dim: int = 0,
    ):
        super().__init__()
        self.z_dim, self.image_size = z_dim, image_size
        start, steps = _start_and_steps(image_size)
        self.start, top = start, width * 2 ** (steps - 1)
        self.condition = ConditionProjection(embed_dim, cond_dim) if embed_dim else None
        in_dim = z_dim + (cond_dim if embed_dim else 0)
        self.project = nn.Sequential(nn.Linear(in_dim, top * start * start, bias=False))
        self.project_norm = nn.Sequential(nn.BatchNorm2d(top), nn.ReLU())
        layers, ch = [], top
        for i in range(steps):
            last = i == steps - 1
            out = channels if last else ch // 2
            layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            ch = out
        self.body = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.condition is not None:
            if condition is None:
                raise ValueError("this generator is text-conditioned: pass the sentence embedding")
            z = torch.cat([z, self.condition(condition)], dim=1)  # (B, z_dim + cond_dim)
        h = self.project(z).view(z.shape[0], -1, self.start, self.start)  # (B, top, s, s)
        return self.body(self.project_norm(h))  # (B, C, H, W) in [−1, 1]


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 64, embed_dim: int = 0, cond_dim: int = 0):
        super().__init__()
        start, steps = _start_and_steps(image_size)
        layers, ch = [], channels
        for i in range(steps):
            out = width * 2**i
            layers.append(nn.Conv2d(ch, out, 4, 2, 1, bias=i == 0))
            layers += [nn.LeakyReLU(0.2)] if i == 0 else [nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            ch = out
        self.body = nn.Sequential(*layers)
        self.condition = ConditionProjection(embed_dim, cond_dim) if embed_dim else None
        joint = ch + (cond_dim if embed_dim else 0)
        self.head = nn.Sequential(
            nn.Conv2d(joint, ch, 1),
            nn.BatchNorm2d(ch),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(ch * start * start, 1),
        )
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(images)  # (B, top, s, s)
        if self.condition is not None:
            if condition is None:
                raise ValueError("this discriminator is text-conditioned: pass the sentence embedding")
            c = self.condition(condition)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
            h = torch.cat([h, c], dim=1)  # (B, top + cond_dim, s, s)
        return self.head(h).squeeze(1)  # (B,) logits
