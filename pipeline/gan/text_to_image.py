"""Text-to-image GAN-CLS (Reed et al. 2016): its config, the condition standardisation, and the trained
model rebuilt from one checkpoint (:meth:`TextToImage.from_checkpoint`) with the retrieval check that its
conditioning is real."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, default, task_config
from pipeline.data.caption_pairs import (
    CaptionPairsConfig,
    PairBatches,
    PairSplit,
    caption_tokens,
    first_captions,
    to_unit_float,
)
from pipeline.data.vocabulary import Vocabulary
from pipeline.device import Runtime
from pipeline.gan.figures import to_unit
from pipeline.gan.models import DCGanModelConfig, load_players
from pipeline.gan.text_encoder import JointEmbedding, JointEmbeddingConfig, match_scores
from pipeline.gan.training import GanTrainConfig
from pipeline.losses import contrastive_loss
from pipeline.training.trainer import Trainer


class TextGanModelConfig(DCGanModelConfig):
    """The matching-aware DCGAN (stage 2), conditioned on the compressed sentence embedding."""

    width: int = default(DCGanModelConfig, "width", 32)
    cond_dim: int = Field(128, description="text condition after the compression layer (Reed et al.: 128)")


class TextGanEvaluateConfig(Config):
    """The ``evaluate:`` section: the retrieval check of the conditioning."""

    n_captions: int = Field(1000, description="test captions (the first of each test image) in the check")
    seed: int = Field(7, description="latent seed")


TextToImageConfig = task_config(
    "text_to_image",
    "A text-to-image run: the joint embedding first, then GAN-CLS conditioned on its text side.",
    data=CaptionPairsConfig,
    encoder=JointEmbeddingConfig,
    model=TextGanModelConfig,
    train=GanTrainConfig,
    evaluate=TextGanEvaluateConfig,
)


def player_args(cfg: TextToImageConfig) -> dict:
    """The plain arguments of the conditional players (kept in the checkpoint as ``meta['model']``)."""
    size = cfg.data.image_size
    return {
        "architecture": "dcgan",
        "image_shape": [3, size, size],
        "z_dim": cfg.model.z_dim,
        "width": cfg.model.width,
        "hidden": 0,
        "embed_dim": cfg.encoder.embed_dim,
        "cond_dim": cfg.model.cond_dim,
    }


@dataclass
class ConditionStats:
    """Per-dimension standardisation of the sentence embeddings that condition the GAN.

    The joint embedding is unit-norm, so each of its E components is ~1/√E; through GAN-CLS's N(0, 0.02)
    compression layer the text then reaches G ~50× weaker than z and the generator learns to ignore it
    (a 200-step run scored chance on the conditioning check). Standardised with the training captions'
    mean and std, the condition enters both players at the same scale as z ~ N(0, I).
    """

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, embeddings: torch.Tensor) -> ConditionStats:
        return cls(embeddings.mean(0), embeddings.std(0).clamp_min(1e-6))

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        return (embeddings - self.mean) / self.std


def embed_texts(encoder, tokens: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(tokens[i : i + batch_size]) for i in range(0, len(tokens), batch_size)])


def embed_images(encoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``images`` float (N, 3, S, S) in [0, 1]."""
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


@dataclass
class TextToImage:
    """Everything inference needs, rebuilt from one checkpoint."""

    generator: torch.nn.Module
    text_encoder: torch.nn.Module
    image_encoder: torch.nn.Module
    vocab: Vocabulary
    config: TextToImageConfig
    meta: dict
    condition: ConditionStats | None = None  # None: a checkpoint from before standardisation

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> TextToImage:
        ckpt = load_checkpoint(path, TextToImageConfig)
        generator, _ = load_players(ckpt.model, ckpt.meta["model"])
        joint = JointEmbedding(**ckpt.meta["encoder"])
        joint.text.load_state_dict(ckpt.extra["text_encoder"])
        joint.image.load_state_dict(ckpt.extra["image_encoder"])
        stats = (
            ConditionStats(ckpt.extra["condition_mean"], ckpt.extra["condition_std"])
            if "condition_mean" in ckpt.extra
            else None
        )
        return cls(
            generator,
            joint.text.eval(),
            joint.image.eval(),
            Vocabulary.from_json(ckpt.meta["vocab"]),
            ckpt.config,
            ckpt.meta,
            stats,
        )

    def embed(self, captions: list[str]) -> torch.Tensor:
        """Captions → their unit vectors in the joint space (what the retrieval check compares)."""
        return embed_texts(self.text_encoder, caption_tokens(captions, self.vocab, self.config.data.max_len))

    def generate(self, text_emb: torch.Tensor, z: torch.Tensor, batch_size: int = 200) -> torch.Tensor:
        """Images in [0, 1] for aligned (joint-space embedding, z) rows."""
        condition = self.condition(text_emb) if self.condition is not None else text_emb
        self.generator.eval()
        with torch.no_grad():
            return torch.cat(
                [
                    to_unit(self.generator(z[i : i + batch_size], condition[i : i + batch_size]))
                    for i in range(0, len(z), batch_size)
                ]
            )

    def latents(self, n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, self.config.model.z_dim, generator=torch.Generator().manual_seed(seed))

    def conditioning_check(self, test: PairSplit, n: int, seed: int) -> dict[str, dict[str, float]]:
        """Do generated images match their own caption (image side of the joint embedding) better than random
        captions? Beside real test images and images made for another caption (the control)."""
        idx = first_captions(test, n)
        text_emb = self.embed([test.captions[i] for i in idx])
        z = self.latents(len(idx), seed)
        fake = self.generate(text_emb, z)
        real = to_unit_float(test.images[test.image_of[idx]])
        shuffled = self.generate(text_emb.roll(1, dims=0), z)  # control: images made for another caption
        return {
            "generated": match_scores(embed_images(self.image_encoder, fake), text_emb),
            "real_test_images": match_scores(embed_images(self.image_encoder, real), text_emb),
            "generated_from_other_caption": match_scores(embed_images(self.image_encoder, shuffled), text_emb),
        }


def train_joint_embedding(
    cfg: TextToImageConfig,
    data: dict[str, PairSplit],
    vocab: Vocabulary,
    runtime: Runtime,
    run_dir: Path,
    restart: bool,
) -> JointEmbedding:
    """Stage 1: the joint embedding, selected by caption retrieval recall@1 (1 of 100) on dev."""
    model = JointEmbedding(**cfg.encoder.args(len(vocab)))
    dev = data["dev"]
    dev_idx = first_captions(dev, 1000)
    dev_images = to_unit_float(dev.images[dev.image_of[dev_idx]])

    def validate(joint) -> dict[str, float]:
        scores = match_scores(
            embed_images(joint.image, dev_images.to(runtime.device)),
            embed_texts(joint.text, dev.tokens[dev_idx].to(runtime.device)),
        )
        return {"recall_at_1": scores["recall_at_1"], "auc": scores["auc"]}

    meta = {"task": "text_encoder", "encoder": cfg.encoder.args(len(vocab)), "vocab": vocab.to_json()}
    train = cfg.encoder.train
    trainer = Trainer(
        train,
        runtime,
        model,
        contrastive_loss,
        PairBatches(data["train"], train.batch_size, train.seed),
        validate,
        run_dir,
        meta,
        score_name="recall_at_1",
        unit="pair",
        perplexity=False,
    )
    trainer.fit(resume=not restart)
    model.load_state_dict(load_checkpoint(trainer.best_path).model)
    return model.eval()
