"""Compact ResNet image encoder, trained from scratch, yielding a spatial grid for attention.

No ImageNet weights can be downloaded, so the default backbone is a small ResNet of our own, trained
from scratch: a strided 3x3 stem, optional
max-pool, then stages of basic residual blocks (He et al. 2016, §3.3 "option B" projection
shortcuts), each stage after the first halving the resolution. The last stage's H x W grid is
the memory the decoder attends over (Xu et al. 2015, §3.1.1: "annotation vectors", one per
location); its mean is the summary that initialises the decoder.

``init_checkpoint`` copies matching weights from another project checkpoint, e.g. the
convolutional autoencoder's (see :func:`load_encoder_weights`). ``backbone: resnet18`` uses
torchvision's ResNet-18 layout instead, with a user's own weights file if given
(:mod:`pipeline.models.torchvision_backbone`).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.models.decoder import EncoderOutput


class ImageEncoderConfig(Config):
    """The ``model.encoder:`` section of a captioning config."""

    backbone: Literal["compact", "resnet18"] = Field(
        "compact",
        description="compact: the ResNet below (widths, blocks, stem_*); resnet18: torchvision's ResNet-18 layout",
    )
    weights: str | None = Field(
        None, description="resnet18 only: a torchvision resnet18 state dict file (e.g. resnet18-f37072fd.pth)"
    )
    widths: tuple[int, ...] = Field(
        (64, 128, 256, 512), description="channels of each stage; the last is the attention memory size"
    )
    blocks: tuple[int, ...] = Field((1, 1, 1, 1), description="basic residual blocks per stage")
    stem_stride: int = Field(2, description="stride of the 3x3 stem convolution")
    stem_pool: bool = Field(True, description="3x3/2 max-pool after the stem")
    dropout: float = Field(0.0, description="dropout on the grid features handed to the decoder")
    position_embedding: bool = Field(
        True, description="add learned row + column embeddings to the grid cells (so attention knows where)"
    )
    max_grid: int = Field(32, description="largest grid side the position embeddings cover")
    init_checkpoint: str | None = Field(
        None, description="project checkpoint to initialise the CNN from (e.g. an autoencoder's best.pt)"
    )
    init_prefix: str = Field("encoder.", description="key prefix of the CNN's tensors inside that checkpoint")


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut (He et al. 2016, Fig. 2)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # Zero-init the last BN of each residual branch: every block starts as the identity,
        # which trains deeper nets from scratch more smoothly (Goyal et al. 2017, §5.1).
        nn.init.zeros_(self.bn2.weight)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CompactResNet(nn.Module):
    """images (B, 3, H, W) in [0, 1] → feature grid (B, C, H', W'), normalised inside with train-set stats."""

    def __init__(
        self,
        cfg: ImageEncoderConfig,
        mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        std: tuple[float, ...] = (0.25, 0.25, 0.25),
    ):
        super().__init__()
        if len(cfg.widths) != len(cfg.blocks) or not cfg.widths:
            raise ValueError("model.encoder.widths and blocks must be non-empty and of equal length")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        stem = [
            nn.Conv2d(3, cfg.widths[0], 3, cfg.stem_stride, 1, bias=False),
            nn.BatchNorm2d(cfg.widths[0]),
            nn.ReLU(inplace=True),
        ]
        if cfg.stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        stages, channels = [], cfg.widths[0]
        for i, (width, count) in enumerate(zip(cfg.widths, cfg.blocks, strict=True)):
            blocks = [
                BasicBlock(channels if j == 0 else width, width, 2 if i > 0 and j == 0 else 1) for j in range(count)
            ]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        return self.stages(self.stem(x))  # (B, C, H', W')


class ImageEncoder(nn.Module):
    """CNN grid → :class:`EncoderOutput`: memory (B, H'W', C), all-True mask, summary = grid mean (B, C).

    A convolutional grid says *what* is in each cell but hardly *where* the cell is, and a
    weighted sum over cells (the attention context) loses position entirely. Learned row and
    column embeddings added to each cell (as in DETR, Carion et al. 2020, §3.2) let the decoder
    say "on the left".
    """

    def __init__(
        self,
        cfg: ImageEncoderConfig,
        mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        std: tuple[float, ...] = (0.25, 0.25, 0.25),
    ):
        super().__init__()
        self.cfg = cfg
        if cfg.backbone == "resnet18":
            from pipeline.models.torchvision_backbone import IMAGENET_MEAN, IMAGENET_STD, ResNet18Grid

            if cfg.weights:  # pretrained features expect the inputs normalised as in their training
                mean, std = IMAGENET_MEAN, IMAGENET_STD
            self.backbone = ResNet18Grid(mean, std)
        else:
            self.backbone = CompactResNet(cfg, mean, std)
        self.dropout = nn.Dropout(cfg.dropout)
        channels = self.backbone.out_channels
        self.row_embed = nn.Embedding(cfg.max_grid, channels) if cfg.position_embedding else None
        self.col_embed = nn.Embedding(cfg.max_grid, channels) if cfg.position_embedding else None
        if self.row_embed is not None:
            nn.init.normal_(self.row_embed.weight, std=0.02)
            nn.init.normal_(self.col_embed.weight, std=0.02)

    @property
    def output_size(self) -> int:
        return self.backbone.out_channels

    def grid_shape(self, image_size: int) -> tuple[int, int]:
        """(H', W') of the memory grid for a square input (for attention maps)."""
        with torch.no_grad():
            probe = torch.zeros(1, 3, image_size, image_size, device=self.backbone.mean.device)
            was_training = self.training
            self.eval()
            shape = self.backbone(probe).shape[-2:]
            self.train(was_training)
        return int(shape[0]), int(shape[1])

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        """images (B, 3, H, W) float in [0, 1]."""
        grid = self.backbone(images)  # (B, C, H', W')
        memory = grid.flatten(2).transpose(1, 2)  # (B, S = H'W', C)
        if self.row_embed is not None:
            memory = memory + self._positions(grid.shape[-2], grid.shape[-1])[None]
        memory = self.dropout(memory)
        mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)  # (B, S)
        return EncoderOutput(memory, mask, grid.mean(dim=(2, 3)))  # summary (B, C)

    def _positions(self, height: int, width: int) -> torch.Tensor:
        if max(height, width) > self.cfg.max_grid:
            raise ValueError(f"grid {height}x{width} exceeds model.encoder.max_grid {self.cfg.max_grid}")
        device = self.row_embed.weight.device
        rows = self.row_embed(torch.arange(height, device=device))  # (H', C)
        cols = self.col_embed(torch.arange(width, device=device))  # (W', C)
        return (rows[:, None, :] + cols[None, :, :]).flatten(0, 1)  # (H'W', C), row-major like the grid


def load_encoder_weights(backbone: nn.Module, path: str, prefix: str = "encoder.") -> list[str]:
    """Copy the tensors of checkpoint ``path`` under ``prefix`` into ``backbone``; all of them or none.

    This is the hook for initialising the captioner's CNN from the convolutional autoencoder or the
    CIFAR-10 classifier (any project checkpoint whose CNN uses :class:`CompactResNet`'s layout).
    Every tensor of the backbone except its input normalisation (``mean``, ``std``: the captioner's own
    data statistics) must be found with its shape: a partial copy would leave layers at random while the
    run believes it was pre-initialised, so a missing name or a shape that differs is a PipelineError
    naming them. Returns the copied names.
    """
    ckpt = load_checkpoint(path)
    own = {k: v for k, v in backbone.state_dict().items() if k not in ("mean", "std")}
    found = {name[len(prefix) :]: tensor for name, tensor in ckpt.model.items() if name.startswith(prefix)}
    if not found.keys() & own.keys():
        raise PipelineError(
            f"{path}: no tensors under {prefix!r} match the image encoder's layers "
            f"(expected names like {prefix}{next(iter(own))})"
        )
    missing = sorted(own.keys() - found.keys())
    wrong = [k for k in own if k in found and found[k].shape != own[k].shape]
    if missing or wrong:
        details = [f"missing {prefix}{k}" for k in missing[:3]] + [
            f"{prefix}{k} is {tuple(found[k].shape)}, the encoder's {tuple(own[k].shape)}" for k in wrong[:3]
        ]
        raise PipelineError(
            f"{path}: its CNN is not the configured encoder ({len(missing)} tensors missing, {len(wrong)} of "
            f"another shape: {'; '.join(details)}); set model.encoder's widths, blocks, stem_stride and "
            "stem_pool as in the pretraining run"
        )
    backbone.load_state_dict({k: found[k] for k in own}, strict=False)
    return sorted(own)
