"""Deep (fully connected) and convolutional autoencoders with a configurable code layer.

Hinton & Salakhutdinov (2006), "Reducing the dimensionality of data with neural networks":
a deep nonlinear encoder/decoder pair finds codes that reconstruct better than PCA's at the
same code size. The code layer may be linear, logistic, or binary (see ``binary_codes``);
a sparsity penalty on it gives the sparse variant (see ``sparsity``).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import model_validator
from torch import nn

from pipeline.config import Config
from pipeline.unsupervised.binary_codes import CodeKind, CodeLayer
from pipeline.unsupervised.output import AutoencoderOutput
from pipeline.unsupervised.pca import LinearAutoencoder
from pipeline.unsupervised.sparsity import SparsityKind

Activation = Literal["relu", "sigmoid", "tanh"]
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class SparsityConfig(Config):
    """The ``model.sparsity:`` section."""

    kind: SparsityKind = "none"  # none | l1 (any code) | kl (logistic codes only)
    weight: float = 0.0  # multiplier of the penalty added to the reconstruction loss
    target: float = 0.05  # ρ, the desired mean activity of each code unit (kl only)


class AutoencoderConfig(Config):
    """The ``model:`` section of the autoencoder task."""

    kind: Literal["linear", "deep", "conv"] = "deep"  # linear = PCA as a network (tied weights)
    code_size: int = 32  # units in the code layer (bits, for code: binary)
    hidden: list[int] = [512, 256]  # deep: encoder hidden sizes; the decoder mirrors them
    channels: list[int] = [32, 64]  # conv: channels of the stride-2 conv layers; decoder mirrors them
    activation: Activation = "relu"  # nonlinearity of hidden layers
    code: CodeKind = "linear"  # linear | sigmoid | binary (noisy logistic in training, 0/1 at test)
    noise_std: float = 0.0  # std of the Gaussian noise added before the logistic (code: binary)
    sparsity: SparsityConfig = SparsityConfig()

    @model_validator(mode="after")
    def _kl_needs_logistic_codes(self) -> AutoencoderConfig:
        if self.sparsity.kind == "kl" and self.code not in ("sigmoid", "binary"):
            raise ValueError("sparsity.kind=kl needs logistic code units: set code to sigmoid or binary")
        return self


def _mlp(sizes: list[int], activation: Activation) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with the activation after all but the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class DeepAutoencoder(nn.Module):
    """input → hidden… → code → …hidden → logistic output, on flattened images in [0, 1]."""

    def __init__(self, input_shape: tuple[int, ...], code_size: int, hidden: list[int],
                 activation: Activation = "relu", code: CodeKind = "linear", noise_std: float = 0.0):
        super().__init__()
        self.input_shape = tuple(input_shape)
        sizes = [int(torch.tensor(input_shape).prod()), *hidden, code_size]
        self.encoder = _mlp(sizes, activation)
        self.code_layer = CodeLayer(code, noise_std)
        self.decoder = nn.Sequential(_mlp(sizes[::-1], activation), nn.Sigmoid())

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, k)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        pre = self.encode_pre(x)
        code = self.code_layer(pre)
        out = self.decoder(code).view(x.shape)  # (B, *input_shape)
        return AutoencoderOutput(out, code, pre)


class ConvAutoencoder(nn.Module):
    """Stride-2 conv encoder → linear code → linear → transposed-conv decoder → logistic output.

    ``features`` (the conv stack) is the part a captioning CNN can be initialised from.
    """

    def __init__(self, input_shape: tuple[int, int, int], code_size: int, channels: list[int],
                 code: CodeKind = "linear", noise_std: float = 0.0):
        super().__init__()
        in_channels, height, width = input_shape
        self.input_shape = tuple(input_shape)
        scale = 2 ** len(channels)
        if height % scale or width % scale:
            raise ValueError(f"input {height}×{width} must be divisible by 2^{len(channels)} (one per conv layer)")
        self.feature_shape = (channels[-1], height // scale, width // scale)
        flat = channels[-1] * (height // scale) * (width // scale)
        convs: list[nn.Module] = []
        for n_in, n_out in zip([in_channels, *channels[:-1]], channels, strict=True):
            convs += [nn.Conv2d(n_in, n_out, 4, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*convs)
        self.to_code = nn.Linear(flat, code_size)
        self.code_layer = CodeLayer(code, noise_std)
        self.from_code = nn.Sequential(nn.Linear(code_size, flat), nn.ReLU())
        deconvs: list[nn.Module] = []
        outs = [*channels[::-1][1:], in_channels]
        for i, (n_in, n_out) in enumerate(zip(channels[::-1], outs, strict=True)):
            deconvs.append(nn.ConvTranspose2d(n_in, n_out, 4, stride=2, padding=1))
            deconvs.append(nn.ReLU() if i < len(channels) - 1 else nn.Sigmoid())
        self.deconvs = nn.Sequential(*deconvs)

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.features(x).flatten(1))  # (B, C, H, W) → (B, k)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        pre = self.encode_pre(x)
        code = self.code_layer(pre)
        hidden = self.from_code(code).view(-1, *self.feature_shape)  # (B, C', H/2^L, W/2^L)
        return AutoencoderOutput(self.deconvs(hidden), code, pre)


def build_autoencoder(cfg: AutoencoderConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """The model a config describes; ``input_shape`` is (C, H, W) for images, channels first."""
    if cfg.kind == "deep":
        return DeepAutoencoder(input_shape, cfg.code_size, cfg.hidden, cfg.activation, cfg.code, cfg.noise_std)
    if cfg.kind == "conv":
        return ConvAutoencoder(input_shape, cfg.code_size, cfg.channels, cfg.code, cfg.noise_std)
    if cfg.kind == "linear":
        return LinearAutoencoder(int(torch.tensor(input_shape).prod()), cfg.code_size)
    raise ValueError(f"unknown autoencoder kind {cfg.kind!r}")
