"""The unconditional GAN's config, its two players built from plain arguments, and the trained GAN
rebuilt from a checkpoint alone (:meth:`Gan.from_checkpoint`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, default, task_config, variants
from pipeline.data.image_tensors import ImageDataConfig, image_shape
from pipeline.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from pipeline.gan.figures import to_unit
from pipeline.gan.mlp import MLPDiscriminator, MLPGenerator
from pipeline.gan.training import GanTrainConfig


class MLPGanModelConfig(Config):
    """``architecture: mlp``: the fully connected GAN of Goodfellow et al. (2014)."""

    architecture: Literal["mlp"] = Field("mlp", description="dcgan, or mlp (fully connected, Goodfellow et al. 2014)")
    z_dim: int = Field(100, description="latent size, z ~ N(0, I)")
    hidden: int = Field(256, description="hidden width of both players")


class DCGanModelConfig(Config):
    """``architecture: dcgan``: the convolutional players of Radford et al. (2015)."""

    architecture: Literal["dcgan"] = default(MLPGanModelConfig, "architecture", "dcgan")
    z_dim: int = default(MLPGanModelConfig, "z_dim", 100)
    width: int = Field(64, description="channels of D's first conv; G mirrors it")


GanModelConfig = variants(MLPGanModelConfig, DCGanModelConfig, key="architecture", default="dcgan")


class GanEvaluateConfig(Config):
    """The ``evaluate:`` section: classifier-FID and class coverage of the samples."""

    classifier: str = Field(
        "data/runs/classifier_mnist_cnn/checkpoints/best.pt",
        description="classifier checkpoint whose features FID and coverage use",
    )
    n_samples: int = Field(5000, description="generated and real images per FID estimate")
    seed: int = Field(7, description="latent seed of the evaluated samples")


GanConfig = task_config(
    "gan",
    "An unconditional GAN run on MNIST / CIFAR-10.",
    data=ImageDataConfig,
    model=(GanModelConfig, DCGanModelConfig()),
    train=GanTrainConfig,
    evaluate=GanEvaluateConfig,
)


def player_args(cfg: GanConfig) -> dict[str, Any]:
    """The plain arguments :func:`build_players` takes (and a checkpoint keeps as ``meta['model']``)."""
    m = cfg.model
    return {
        "architecture": m.architecture,
        "image_shape": list(image_shape(cfg.data.dataset)),
        "z_dim": m.z_dim,
        "width": getattr(m, "width", 0),
        "hidden": getattr(m, "hidden", 0),
    }


def build_players(args: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """``args``: architecture (mlp | dcgan), image_shape, z_dim, width, hidden, embed_dim, cond_dim."""
    shape = tuple(args["image_shape"])
    if args["architecture"] == "mlp":
        return (MLPGenerator(args["z_dim"], args["hidden"], shape), MLPDiscriminator(args["hidden"], shape))
    embed, cond = args.get("embed_dim", 0), args.get("cond_dim", 0)
    return (
        DCGANGenerator(args["z_dim"], shape[0], shape[1], args["width"], embed, cond),
        DCGANDiscriminator(shape[0], shape[1], args["width"], embed, cond),
    )


def load_players(state: dict[str, torch.Tensor], args: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """Both players (eval mode) from a :class:`GanPlayers` state dict (``generator.*``, ``discriminator.*``)."""
    generator, discriminator = build_players(args)
    for prefix, player in (("generator.", generator), ("discriminator.", discriminator)):
        player.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return generator.eval(), discriminator.eval()


def sample(generator: nn.Module, n: int, z_dim: int, seed: int, batch_size: int = 500) -> torch.Tensor:
    """``n`` samples in the pixel box [0, 1] from latents seeded by ``seed``."""
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return torch.cat([to_unit(generator(z[i : i + batch_size])) for i in range(0, n, batch_size)])


@dataclass
class Gan:
    """A trained unconditional GAN: both players in eval mode, its config and checkpoint meta."""

    generator: nn.Module
    discriminator: nn.Module
    config: GanConfig
    meta: dict

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Gan:
        ckpt = load_checkpoint(path, GanConfig)
        return cls(*load_players(ckpt.model, ckpt.meta["model"]), ckpt.config, ckpt.meta)

    @property
    def z_dim(self) -> int:
        return self.meta["model"]["z_dim"]  # the built generator's latent size

    def sample(self, n: int, seed: int) -> torch.Tensor:
        return sample(self.generator, n, self.z_dim, seed)
