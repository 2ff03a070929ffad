"""The latent encoder E: x → z of iGAN (Zhu et al. 2016, §3.2, their network P): a feed-forward
approximation of the projection argmin_z ‖G(z) − x‖², trained against a frozen generator.

Objective (both terms are in the paper's discussion; the weights are configurable):

* latent loss ‖E(G(z)) − z‖² / d on the generator's own samples, whose true z is known;
* image loss ‖G(E(x)) − x‖² (per pixel, in [0, 1]) on G's samples and on real *training* images, the
  paper's reconstruction objective — real images are what E will be asked to project.

Training uses the project's model-agnostic :class:`~pipeline.training.trainer.Trainer` (resume, logs,
``last.pt`` / ``best.pt`` in the one checkpoint format, selected by the image loss on a held-out part of
the training split). The checkpoint names the GAN checkpoint it was trained against, and
:meth:`LatentEncoder.from_checkpoint` rebuilds the network from the file alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.gan.dcgan import DCGANDiscriminator

TASK_NAME = "igan_encoder"


class LatentEncoder(nn.Module):
    """E(x) → z: the DCGAN discriminator's strided conv stack (Radford et al. 2015) with a linear head
    onto the d-dimensional latent instead of one real/fake logit."""

    def __init__(self, z_dim: int, image_shape: tuple[int, int, int], width: int = 32):
        super().__init__()
        channels, size, _ = image_shape
        self.z_dim, self.image_shape, self.width = z_dim, tuple(image_shape), width
        self.body = DCGANDiscriminator(channels, size, width).body  # built and N(0, 0.02)-initialised there
        with torch.no_grad():
            features = self.body(torch.zeros(2, *image_shape)).flatten(1).shape[1]
        self.head = nn.Linear(features, z_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in the pixel box [0, 1] → (B, Z)."""
        return self.head(self.body(images * 2.0 - 1.0).flatten(1))  # D's input range is G's, [−1, 1]

    def build_args(self) -> dict[str, Any]:
        return {"z_dim": self.z_dim, "image_shape": list(self.image_shape), "width": self.width}

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> tuple[LatentEncoder, dict[str, Any]]:
        """(encoder in eval mode, meta) from an ``igan_encoder`` checkpoint alone."""
        from pipeline.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        if ckpt.task != TASK_NAME:
            raise PipelineError(f"{path} is a {ckpt.task} checkpoint, not an {TASK_NAME} one")
        args = ckpt.meta["model"]
        encoder = cls(args["z_dim"], tuple(args["image_shape"]), args["width"])
        encoder.load_state_dict(ckpt.model)
        return encoder.eval(), ckpt.meta


class EncoderTrainConfig(Config):
    """How E is trained against a frozen G (``pipeline train-encoder`` fills it from its flags)."""

    width: int = 32  # channels of E's first conv (doubled per stride-2 layer)
    batch_size: int = 64  # generated samples per step, plus as many real training images
    max_steps: int = 3000  # optimizer steps
    lr: float = 1e-3  # Adam
    latent_weight: float = 1.0  # weight of ‖E(G(z)) − z‖² / d
    image_weight: float = 10.0  # weight of the per-pixel ‖G(E(x)) − x‖² (samples and real images)
    real_images: bool = True  # include real training images in the image loss (the paper's objective)
    valid_size: int = 500  # held-out real training images for selecting best.pt
    validate_every: int = 500
    seed: int = 1


@dataclass
class EncoderBatch:
    z: torch.Tensor  # (B, Z) latents of the generated half
    generated: torch.Tensor  # (B, C, H, W) = G(z) in [0, 1]
    real: torch.Tensor | None  # (B, C, H, W) real training images in [0, 1], or None

    @property
    def n_tokens(self) -> int:
        return len(self.z)

    def to(self, device: torch.device) -> EncoderBatch:
        real = None if self.real is None else self.real.to(device)
        return EncoderBatch(self.z.to(device), self.generated.to(device), real)


class GeneratedBatches:
    """Epochs of fresh G(z) batches, seeded by (seed, epoch, index) so that a resumed run sees the same data."""

    def __init__(self, generator: nn.Module, real: torch.Tensor | None, cfg: EncoderTrainConfig, per_epoch: int = 500):
        self.generator, self.real, self.cfg, self.per_epoch = generator, real, cfg, per_epoch

    def epoch(self, epoch: int) -> _EpochView:
        return _EpochView(self, epoch)

    def make(self, epoch: int, index: int) -> EncoderBatch:
        from pipeline.gan.projection import render

        gen = torch.Generator().manual_seed((self.cfg.seed * 100_003 + epoch) * 1_000_003 + index)
        z = torch.randn(self.cfg.batch_size, self.generator.z_dim, generator=gen)
        with torch.no_grad():
            generated = render(self.generator, z)
        real = None
        if self.real is not None:
            real = self.real[torch.randint(len(self.real), (self.cfg.batch_size,), generator=gen)]
        return EncoderBatch(z, generated, real)


class _EpochView:
    def __init__(self, source: GeneratedBatches, epoch: int):
        self.source, self.epoch = source, epoch

    def __len__(self) -> int:
        return self.source.per_epoch

    def __getitem__(self, index: int) -> EncoderBatch:
        return self.source.make(self.epoch, index)


def encoder_loss_fn(generator: nn.Module, cfg: EncoderTrainConfig):
    """loss(encoder, batch) for the Trainer: latent loss on samples + image loss on samples and real images."""
    from pipeline.gan.projection import reconstruction_error, render
    from pipeline.training.trainer import LossOutput

    def loss(encoder: nn.Module, batch: EncoderBatch) -> LossOutput:
        z_hat = encoder(batch.generated)  # (B, Z)
        latent = (z_hat - batch.z).pow(2).mean()
        image = reconstruction_error(render(generator, z_hat), batch.generated).mean()
        if batch.real is not None:
            image = (image + reconstruction_error(render(generator, encoder(batch.real)), batch.real).mean()) / 2
        total = cfg.latent_weight * latent + cfg.image_weight * image
        return LossOutput(total, batch.n_tokens, {"latent": float(latent.detach()), "image_mse": float(image.detach())})

    return loss


def train_encoder(
    generator: nn.Module,
    gan_checkpoint: str,
    train_images: torch.Tensor,
    cfg: EncoderTrainConfig,
    run_dir: Path,
    resume: bool = True,
) -> Path:
    """Train E against the frozen ``generator``; returns the best checkpoint's path (``run_dir/checkpoints``)."""
    from pipeline.data.image_tensors import holdout_split
    from pipeline.device import resolve_runtime
    from pipeline.gan.projection import reconstruction_error, render
    from pipeline.training.trainer import TrainConfig, Trainer

    runtime = resolve_runtime("cpu", "fp32")  # the frozen G runs inside the loss: keep both on one device
    generator = generator.eval().requires_grad_(False)
    train_idx, valid_idx = holdout_split(len(train_images), cfg.valid_size, cfg.seed)
    valid = train_images[valid_idx]
    torch.manual_seed(cfg.seed)
    encoder = LatentEncoder(generator.z_dim, tuple(train_images.shape[1:]), cfg.width)

    def validate(model: nn.Module) -> dict[str, float]:
        image = render(generator, model(valid))
        return {"valid_image_mse": float(reconstruction_error(image, valid).mean())}

    batches = GeneratedBatches(generator, train_images[train_idx] if cfg.real_images else None, cfg)
    train_cfg = TrainConfig(
        seed=cfg.seed,
        device="cpu",
        precision="fp32",
        lr=cfg.lr,
        max_steps=cfg.max_steps,
        max_epochs=math.ceil(cfg.max_steps / batches.per_epoch),
        clip_grad_norm=None,
        validate_every=cfg.validate_every,
        checkpoint_every=cfg.validate_every,
        early_stopping_patience=1_000_000,
        plateau_patience=1_000_000,
        log_every=50,
    )
    meta = {
        "task": TASK_NAME,
        "model": encoder.build_args(),
        "gan_checkpoint": str(gan_checkpoint),
        "config": cfg.to_dict(),
    }
    trainer = Trainer(
        train_cfg,
        runtime,
        encoder,
        encoder_loss_fn(generator, cfg),
        batches,
        validate,
        run_dir,
        meta,
        score_name="valid_image_mse",
        higher_is_better=False,
        unit="img",
        perplexity=False,
    )
    trainer.fit(resume=resume)
    return trainer.best_path
