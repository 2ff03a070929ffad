"""Image classifiers that the attacks target and that the GAN metrics use as a feature extractor.

All take images in the pixel box [0, 1], shape (B, C, H, W), and return logits (B, n_classes).
``features(x)`` is the penultimate representation used by classifier-FID.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from pipeline.adversarial.evaluation import AttackConfig
from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, default, task_config, variants
from pipeline.data.image_tensors import (
    DatasetName,
    HeldOutImageDataConfig,
    class_names,
    evaluation_subset,
    image_shape,
    load_images,
)
from pipeline.training.trainer import TrainConfig


class SoftmaxRegression(nn.Module):
    """Multinomial logistic regression on raw pixels: the "shallow softmax" of Goodfellow et al. (2014, §4)."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10):
        super().__init__()
        c, h, w = in_shape
        self.linear = nn.Linear(c * h * w, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)  # (B, C*H*W): a linear model has no hidden representation

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1))


class ConvClassifier(nn.Module):
    """A small VGG-style CNN: ``depth`` blocks of (conv3x3-BN-ReLU ×2, max-pool), then a hidden dense layer.

    Standard (non-robust) training; the PGD check in Madry et al. (2018) expects such a model's accuracy
    to collapse near 0 at ε = 0.3 on MNIST and 8/255 on CIFAR-10.
    """

    def __init__(
        self, in_shape: tuple[int, int, int], n_classes: int = 10, width: int = 32, depth: int = 2, hidden: int = 128
    ):
        super().__init__()
        c, h, w = in_shape
        blocks, channels = [], c
        for level in range(depth):
            out = width * 2**level
            blocks += [
                nn.Conv2d(channels, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.Conv2d(out, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.body = nn.Sequential(*blocks)
        flat = channels * (h // 2**depth) * (w // 2**depth)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.body(images - 0.5))  # (B, hidden); pixels centred on 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class ResNetClassifier(nn.Module):
    """The captioner's CNN (:class:`~pipeline.models.image_encoder.CompactResNet`, stored as ``encoder``),
    global average pooling and a linear layer: supervised pretraining for the captioner's encoder.

    In training mode each batch is augmented as in He et al. (2016, §4.2) for CIFAR-10: a random crop of
    the image padded by ``pad`` pixels, and a horizontal flip with probability ½. Labels do not change
    under either; evaluation (and the attacks) see the images as given.
    """

    def __init__(self, cfg: ResNetModelConfig, n_classes: int = 10):
        super().__init__()
        from pipeline.models.image_encoder import CompactResNet, ImageEncoderConfig

        encoder_cfg = ImageEncoderConfig(
            widths=tuple(cfg.widths), blocks=tuple(cfg.blocks), stem_stride=cfg.stem_stride, stem_pool=cfg.stem_pool
        )
        self.encoder = CompactResNet(encoder_cfg)
        self.pad = cfg.augment_pad if cfg.augment else 0
        self.flip = cfg.augment
        self.head = nn.Linear(self.encoder.out_channels, n_classes)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = images.shape
        if self.pad:
            padded = nn.functional.pad(images, (self.pad,) * 4, mode="reflect")
            dy, dx = torch.randint(0, 2 * self.pad + 1, (2, batch)).tolist()
            images = torch.stack([padded[i, :, y : y + height, x : x + width] for i, (y, x) in enumerate(zip(dy, dx))])
        if self.flip:
            flip = torch.rand(batch, device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return images

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images).mean(dim=(2, 3))  # (B, C): the pooled grid

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training:
            images = self.augment(images)
        return self.head(self.features(images))


class SoftmaxModelConfig(Config):
    """``kind: softmax``: multinomial logistic regression on raw pixels."""

    kind: Literal["softmax"] = Field("softmax", description="softmax (multinomial logistic regression), cnn or resnet")


class CNNModelConfig(Config):
    """``kind: cnn``: the VGG-style :class:`ConvClassifier`."""

    kind: Literal["cnn"] = default(SoftmaxModelConfig, "kind", "cnn")
    width: int = Field(32, description="channels of the first conv block (doubled per block)")
    depth: int = Field(2, description="conv blocks, each halving the resolution")
    hidden: int = Field(128, description="dense layer before the classes; its activations are the FID features")


class ResNetModelConfig(Config):
    """``kind: resnet``: the captioner's compact ResNet with a pooled linear head (:class:`ResNetClassifier`)."""

    kind: Literal["resnet"] = default(SoftmaxModelConfig, "kind", "resnet")
    widths: list[int] = Field([32, 64, 128], description="channels of each residual stage (as model.encoder.widths)")
    blocks: list[int] = Field([1, 1, 1], description="basic residual blocks per stage")
    stem_stride: int = Field(2, description="stride of the 3x3 stem convolution")
    stem_pool: bool = Field(True, description="3x3/2 max-pool after the stem")
    augment: bool = Field(True, description="random padded crops and horizontal flips of the training batches")
    augment_pad: int = Field(4, description="pixels of reflection padding the random crop moves within")


ClassifierModelConfig = variants(SoftmaxModelConfig, CNNModelConfig, ResNetModelConfig, key="kind", default="cnn")


ClassifierConfig = task_config(
    "classifier",
    "A classifier run on MNIST / CIFAR-10, evaluated by test accuracy and an attack table.",
    data=HeldOutImageDataConfig,
    model=(ClassifierModelConfig, CNNModelConfig()),
    train=TrainConfig,
    attack=AttackConfig,
)


def build_classifier(
    cfg: SoftmaxModelConfig | CNNModelConfig | ResNetModelConfig, in_shape: tuple[int, int, int], n_classes: int = 10
) -> nn.Module:
    if isinstance(cfg, SoftmaxModelConfig):
        return SoftmaxRegression(in_shape, n_classes)
    if isinstance(cfg, ResNetModelConfig):
        if in_shape[0] != 3:
            raise ValueError("model.kind=resnet takes colour images (cifar10)")
        return ResNetClassifier(cfg, n_classes)
    return ConvClassifier(in_shape, n_classes, width=cfg.width, depth=cfg.depth, hidden=cfg.hidden)


@dataclass
class Classifier:
    """A trained classifier (eval mode), its config and what it was trained on."""

    model: nn.Module
    config: ClassifierConfig
    meta: dict

    @property
    def dataset(self) -> DatasetName:
        return self.config.data.dataset

    @property
    def classes(self) -> tuple[str, ...]:
        return class_names(self.dataset)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return image_shape(self.dataset)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Classifier:
        ckpt = load_checkpoint(path, ClassifierConfig)
        cfg: ClassifierConfig = ckpt.config
        model = build_classifier(cfg.model, image_shape(cfg.data.dataset), len(class_names(cfg.data.dataset)))
        model.load_state_dict(ckpt.model)
        return cls(model.eval(), cfg, ckpt.meta)

    def test_images(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Its dataset's test split (all, or a seeded random ``limit`` of it: CIFAR-10 is stored by class)."""
        images, labels = load_images(self.dataset, "test", self.config.data.root, self.config.run.stages)
        pick = evaluation_subset(len(labels), limit)
        return images[pick], labels[pick]
