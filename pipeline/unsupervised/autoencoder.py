"""Deep (fully connected) and convolutional autoencoders with a configurable code layer.

Hinton & Salakhutdinov (2006), "Reducing the dimensionality of data with neural networks":
a deep nonlinear encoder/decoder pair finds codes that reconstruct better than PCA's at the
same code size. The code layer may be linear, logistic, or binary (see ``binary_codes``);
a sparsity penalty on it gives the sparse variant (see ``sparsity``).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from pipeline.config import Config, default, variants
from pipeline.models.image_encoder import CompactResNet, ImageEncoderConfig
from pipeline.unsupervised.binary_codes import CodeKind, CodeLayer
from pipeline.unsupervised.output import AutoencoderOutput
from pipeline.unsupervised.pca import LinearAutoencoder
from pipeline.unsupervised.sparsity import SparsityKind

Activation = Literal["relu", "sigmoid", "tanh"]
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class SparsityConfig(Config):
    """The ``model.sparsity:`` section: a penalty on the code's activity (the sparse variant)."""

    kind: SparsityKind = Field("none", description="none, l1 (any code), or kl (logistic codes only)")
    weight: float = Field(
        0.0, description="multiplier of the penalty added to the reconstruction loss (a squared error summed per image)"
    )
    target: float = Field(0.05, description="rho, the desired mean activity of each code unit (kl)")


class AutoencoderBase(Config):
    code_size: int = Field(
        32, description="units in the code layer (bits, for binary codes); PCA is compared at this many components"
    )
    sparsity: SparsityConfig = Field(SparsityConfig(), description="sparsity penalty on the code")

    @model_validator(mode="after")
    def _kl_needs_logistic_codes(self) -> AutoencoderBase:
        if self.sparsity.kind == "kl" and getattr(self, "code", "linear") not in ("sigmoid", "binary"):
            raise ValueError("sparsity.kind=kl needs logistic code units: set code to sigmoid or binary")
        return self


class LinearAutoencoderConfig(AutoencoderBase):
    """``kind: linear``: PCA as a network, a tied linear encoder/decoder on centred pixels."""

    kind: Literal["linear"] = Field(
        "linear",
        description="linear (PCA as a network), deep (fully connected), "
        "conv, or resnet (the captioner's CNN as encoder)",
    )


class NonlinearAutoencoderBase(AutoencoderBase):
    code: CodeKind = Field(
        "linear", description="code units: linear, sigmoid, or binary (noisy logistic in training, 0/1 at test)"
    )
    noise_std: float = Field(0.0, description="std of the Gaussian noise added before the code logistic (binary)")
    input_norm: Literal["none", "contrast"] = Field(
        "none",
        description="contrast: the encoder sees each image minus its mean over its std; the target stays the raw image",
    )
    output: Literal["sigmoid", "linear"] = Field("sigmoid", description="activation of the reconstruction")
    shortcut: Literal["none", "pca", "pca_fixed"] = Field(
        "none",
        description="pca: linear paths beside the nonlinear ones, initialised to closed-form PCA, the "
        "nonlinear paths starting at zero; pca_fixed: the linear paths stay PCA (see PCAShortcutAutoencoder)",
    )

    @model_validator(mode="after")
    def _shortcut_is_linear(self) -> NonlinearAutoencoderBase:
        if self.shortcut != "none" and (self.code != "linear" or self.output != "linear" or self.input_norm != "none"):
            raise ValueError(
                "shortcut=pca(_fixed) needs code: linear, output: linear and input_norm: none (PCA's "
                "code and reconstruction are linear in the raw pixels)"
            )
        return self


class DeepAutoencoderConfig(NonlinearAutoencoderBase):
    """``kind: deep``: fully connected encoder and mirrored decoder."""

    kind: Literal["deep"] = default(LinearAutoencoderConfig, "kind", "deep")
    hidden: list[int] = Field([512, 256], description="encoder hidden sizes; the decoder mirrors them")
    activation: Activation = Field("relu", description="hidden-layer nonlinearity: relu, sigmoid or tanh")


class ConvAutoencoderConfig(NonlinearAutoencoderBase):
    """``kind: conv``: stride-2 4×4 convolutions, a linear code, transposed convolutions back."""

    kind: Literal["conv"] = default(LinearAutoencoderConfig, "kind", "conv")
    channels: list[int] = Field(
        [32, 64], description="channels of the stride-2 conv layers (resnet: widths of the CNN's stages)"
    )


class ResNetAutoencoderConfig(ConvAutoencoderConfig):
    """``kind: resnet``: :class:`ConvAutoencoderConfig` with the captioner's CompactResNet as encoder."""

    kind: Literal["resnet"] = default(LinearAutoencoderConfig, "kind", "resnet")  # type: ignore[assignment]
    stem_stride: int = Field(1, description="stride of the CNN's 3x3 stem convolution (the captioner's quick CNN: 2)")
    stem_pool: bool = Field(False, description="3x3/2 max-pool after the stem (the captioner's quick CNN: true)")


AutoencoderConfig = variants(
    LinearAutoencoderConfig,
    DeepAutoencoderConfig,
    ConvAutoencoderConfig,
    ResNetAutoencoderConfig,
    key="kind",
    default="deep",
)


def _output_activation(name: str) -> nn.Module:
    return nn.Sigmoid() if name == "sigmoid" else nn.Identity()


def contrast_normalise(x: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Per image: subtract the mean and divide by the std (+ ``eps`` so flat images stay finite)."""
    flat = x.flatten(1)
    flat = flat - flat.mean(1, keepdim=True)
    return (flat / (flat.std(1, keepdim=True) + eps)).view_as(x)


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

    def __init__(
        self,
        input_shape: tuple[int, ...],
        code_size: int,
        hidden: list[int],
        activation: Activation = "relu",
        code: CodeKind = "linear",
        noise_std: float = 0.0,
        input_norm: str = "none",
        output: str = "sigmoid",
    ):
        super().__init__()
        self.input_shape, self.input_norm = tuple(input_shape), input_norm
        sizes = [int(torch.tensor(input_shape).prod()), *hidden, code_size]
        self.encoder = _mlp(sizes, activation)
        self.code_layer = CodeLayer(code, noise_std)
        self.decoder = nn.Sequential(_mlp(sizes[::-1], activation), _output_activation(output))

    def zero_last_layers(self) -> None:
        """The code and the reconstruction start at exactly 0 (used under a PCA shortcut)."""
        for layer in (self.encoder[-1], self.decoder[0][-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "contrast":
            x = contrast_normalise(x)
        return self.encoder(x.flatten(1))  # (B, k)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code).view(-1, *self.input_shape)  # (B, *input_shape)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        pre = self.encode_pre(x)
        code = self.code_layer(pre)
        return AutoencoderOutput(self.decode(code), code, pre)


class ConvAutoencoder(nn.Module):
    """Stride-2 conv encoder → linear code → linear → transposed-conv decoder → logistic output.

    :class:`ResNetAutoencoder` swaps the conv stack for the captioner's CNN, so that CNN can be
    initialised from a trained autoencoder.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        code_size: int,
        channels: list[int],
        code: CodeKind = "linear",
        noise_std: float = 0.0,
        input_norm: str = "none",
        output: str = "sigmoid",
    ):
        super().__init__()
        in_channels, height, width = input_shape
        self.input_shape, self.input_norm = tuple(input_shape), input_norm
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
            deconvs.append(nn.ReLU() if i < len(channels) - 1 else _output_activation(output))
        self.deconvs = nn.Sequential(*deconvs)

    def zero_last_layers(self) -> None:
        """The code and the reconstruction start at exactly 0 (used under a PCA shortcut)."""
        for layer in (self.to_code, self.deconvs[-2]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "contrast":
            x = contrast_normalise(x)
        return self.to_code(self.features(x).flatten(1))  # (B, C, H, W) → (B, k)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        hidden = self.from_code(code).view(-1, *self.feature_shape)  # (B, C', H/2^L, W/2^L)
        return self.deconvs(hidden)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        pre = self.encode_pre(x)
        code = self.code_layer(pre)
        return AutoencoderOutput(self.decode(code), code, pre)


class ResNetAutoencoder(ConvAutoencoder):
    """:class:`ConvAutoencoder` with the captioner's :class:`CompactResNet` as encoder, stored as ``encoder``.

    Its checkpoint's ``encoder.*`` tensors are what ``model.encoder.init_checkpoint`` of a captioning
    config copies (with the same widths, one block per stage, stem stride 1 and no stem pool).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        code_size: int,
        channels: list[int],
        *code_args,
        stem_stride: int = 1,
        stem_pool: bool = False,
    ):
        """``channels``: the CNN's stage widths; ``code_args``: :class:`ConvAutoencoder`'s code, noise_std,
        input_norm and output."""
        if stem_stride not in (1, 2):
            raise ValueError("the resnet autoencoder's stem_stride must be 1 or 2")
        # stage 1 keeps the resolution, each later stage halves it, and so do a stride-2 stem and the stem's
        # pool: the decoder undoes each halving with one transposed convolution
        stem_halvings = [channels[0]] * ((stem_stride == 2) + stem_pool)
        super().__init__(input_shape, code_size, [*stem_halvings, *channels[1:]], *code_args)
        if input_shape[0] != 3:
            raise ValueError("the resnet encoder takes colour images (3 channels)")
        self.encoder = CompactResNet(
            ImageEncoderConfig(
                widths=tuple(channels), blocks=(1,) * len(channels), stem_stride=stem_stride, stem_pool=stem_pool
            )
        )
        del self.features  # replaced by the residual encoder

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "contrast":
            x = contrast_normalise(x)
        return self.to_code(self.encoder(x).flatten(1))  # (B, 3, H, W) → (B, C, H/2^(L-1), W/2^(L-1)) → (B, k)


class PCAShortcutAutoencoder(nn.Module):
    """A nonlinear autoencoder plus linear paths initialised to PCA: c = Wᵀ(x − μ) + f(x), x̂ = μ + Uc + g(c).

    Trained from random weights, our deep and convolutional autoencoders need 13 and 22 epochs on
    CIFAR-10 to pass PCA's error at 32 code units (docs/unsupervised.md): gradient descent on raw,
    strongly correlated pixels finds the low-variance principal directions slowly, the problem
    Hinton & Salakhutdinov (2006) met with RBM pretraining.
    Here the linear paths W, U start at PCA's components and the nonlinear paths f (the inner
    encoder) and g (the inner decoder) at exactly zero (their last layers zeroed), so training starts
    at PCA's reconstruction and everything is then trained jointly (``trainable``), or the linear
    paths stay exactly PCA and only the nonlinear correction trains (``trainable=False``): then
    whatever the model ends below PCA's error is what the nonlinear paths add. (Same idea as a
    residual block initialised to the identity, He et al. 2016; here "identity" is the best linear
    autoencoder.)
    """

    def __init__(self, inner: nn.Module, input_size: int, code_size: int, trainable: bool = True):
        super().__init__()
        inner.zero_last_layers()
        self.inner, self.input_shape = inner, inner.input_shape
        self.code_layer = inner.code_layer
        for name, shape in (("encode_linear", (input_size, code_size)), ("decode_linear", (code_size, input_size))):
            if trainable:  # W and Uᵀ, set by init_from_pca
                self.register_parameter(name, nn.Parameter(torch.zeros(shape)))
            else:
                self.register_buffer(name, torch.zeros(shape))
        self.register_buffer("mean", torch.zeros(input_size))

    @torch.no_grad()
    def init_from_pca(self, mean: torch.Tensor, components: torch.Tensor) -> None:
        """``mean`` (D,), ``components`` (D, k) orthonormal: the model then reconstructs exactly as PCA does."""
        self.mean.copy_(mean)
        self.encode_linear.copy_(components)
        self.decode_linear.copy_(components.T)

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.encode_linear + self.inner.encode_pre(x)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        pre = self.encode_pre(x)
        code = self.code_layer(pre)
        linear = (code @ self.decode_linear + self.mean).view(x.shape)
        return AutoencoderOutput(linear + self.inner.decode(code), code, pre)


def build_autoencoder(cfg: AutoencoderBase, input_shape: tuple[int, ...]) -> nn.Module:
    """The model a config describes; ``input_shape`` is (C, H, W) for images, channels first.

    With ``shortcut: pca`` (or ``pca_fixed``) the model starts with zero linear paths; the task copies the PCA
    components in before training (:meth:`PCAShortcutAutoencoder.init_from_pca`), and a
    checkpoint restores them with the other weights.
    """
    if isinstance(cfg, LinearAutoencoderConfig):
        return LinearAutoencoder(int(torch.tensor(input_shape).prod()), cfg.code_size)
    if isinstance(cfg, DeepAutoencoderConfig):
        model = DeepAutoencoder(
            input_shape, cfg.code_size, cfg.hidden, cfg.activation, cfg.code, cfg.noise_std, cfg.input_norm, cfg.output
        )
    else:
        args = (input_shape, cfg.code_size, cfg.channels, cfg.code, cfg.noise_std, cfg.input_norm, cfg.output)
        if isinstance(cfg, ResNetAutoencoderConfig):
            model = ResNetAutoencoder(*args, stem_stride=cfg.stem_stride, stem_pool=cfg.stem_pool)
        else:
            model = ConvAutoencoder(*args)
    if cfg.shortcut != "none":
        return PCAShortcutAutoencoder(
            model, int(torch.tensor(input_shape).prod()), cfg.code_size, trainable=cfg.shortcut == "pca"
        )
    return model
