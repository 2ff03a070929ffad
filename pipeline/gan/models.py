"""Build a GAN's two players from plain arguments, and rebuild them from a checkpoint alone."""

from __future__ import annotations

from typing import Any

from torch import nn

from pipeline.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from pipeline.gan.mlp import MLPDiscriminator, MLPGenerator


def build_players(args: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """``args``: architecture (mlp | dcgan), image_shape, z_dim, width, hidden, embed_dim, cond_dim."""
    shape = tuple(args["image_shape"])
    if args["architecture"] == "mlp":
        return (MLPGenerator(args["z_dim"], args["hidden"], shape), MLPDiscriminator(args["hidden"], shape))
    embed, cond = args.get("embed_dim", 0), args.get("cond_dim", 0)
    return (DCGANGenerator(args["z_dim"], shape[0], shape[1], args["width"], embed, cond),
            DCGANDiscriminator(shape[0], shape[1], args["width"], embed, cond))


def players_from_checkpoint(path) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """(generator, discriminator, meta) in eval mode; ``meta['model']`` holds the build arguments."""
    from pipeline.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    generator, discriminator = build_players(ckpt.meta["model"])
    generator.load_state_dict({k[len("generator."):]: v for k, v in ckpt.model.items() if k.startswith("generator.")})
    discriminator.load_state_dict({k[len("discriminator."):]: v for k, v in ckpt.model.items()
                                   if k.startswith("discriminator.")})
    return generator.eval(), discriminator.eval(), ckpt.meta
