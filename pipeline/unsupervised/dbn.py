"""Deep belief net pretraining (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data
with neural networks", Fig. 1): train a stack of RBMs greedily, each on the hidden probabilities of
the one below, then unroll the stack into a deep autoencoder — encoder layer i uses Wᵢᵀ and the
hidden biases, the mirrored decoder layer uses Wᵢ and the visible biases — and fine-tune it.

Unrolling needs logistic units everywhere (Bernoulli RBMs), so the unrolled autoencoder has
logistic hidden layers, a logistic code layer and a logistic output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from pipeline.progress import log
from pipeline.unsupervised.autoencoder import DeepAutoencoder
from pipeline.unsupervised.contrastive_divergence import CDConfig, train_rbm
from pipeline.unsupervised.rbm import RBM


def train_stack(
    data: torch.Tensor, sizes: Sequence[int], cfg: CDConfig, on_layer: Callable[[int, RBM], None] | None = None
) -> list[RBM]:
    """Greedy layer-wise training: ``sizes`` = [V, H₁, H₂, …]; layer i+1 sees P(h | v) of layer i."""
    if data.shape[1] != sizes[0]:
        raise ValueError(f"data has {data.shape[1]} features but sizes[0] is {sizes[0]}")
    rbms, inputs = [], data
    for i, (n_visible, n_hidden) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        rbm = train_rbm(RBM(n_visible, n_hidden, "bernoulli"), inputs, cfg.model_copy(update={"seed": cfg.seed + i}))
        rbms.append(rbm)
        if on_layer is not None:
            on_layer(i, rbm)
        with torch.no_grad():
            inputs = torch.cat([rbm.hidden_prob(inputs[s : s + 4096]) for s in range(0, len(inputs), 4096)])
    return rbms


def linear_layers(sequential: nn.Module) -> list[nn.Linear]:
    return [m for m in sequential.modules() if isinstance(m, nn.Linear)]


def unroll(rbms: Sequence[RBM], input_shape: tuple[int, ...]) -> DeepAutoencoder:
    """The deep autoencoder whose encoder and decoder are the stacked RBMs' weights."""
    if any(r.visible != "bernoulli" for r in rbms):
        raise ValueError("unrolling needs Bernoulli RBMs (logistic units in every layer)")
    sizes = [rbms[0].n_visible] + [r.n_hidden for r in rbms]
    model = DeepAutoencoder(input_shape, sizes[-1], sizes[1:-1], activation="sigmoid", code="sigmoid")
    encoder, decoder = linear_layers(model.encoder), linear_layers(model.decoder)
    with torch.no_grad():
        for rbm, enc, dec in zip(rbms, encoder, reversed(decoder), strict=True):
            enc.weight.copy_(rbm.weight.T)  # (H, V): v → h
            enc.bias.copy_(rbm.hidden_bias)
            dec.weight.copy_(rbm.weight)  # (V, H): h → v
            dec.bias.copy_(rbm.visible_bias)
    return model


def pretrained_autoencoder(
    train_images: torch.Tensor, hidden: Sequence[int], code_size: int, cfg: CDConfig, shape: tuple[int, ...]
) -> DeepAutoencoder:
    """The stack trained on ``train_images`` (N, ...) and unrolled, logging each layer as it finishes."""
    flat = train_images.flatten(1)
    sizes = [flat.shape[1], *hidden, code_size]
    started = time.perf_counter()

    def on_layer(i: int, rbm: RBM) -> None:
        log(
            f"RBM {i + 1}/{len(sizes) - 1} ({rbm.n_visible}→{rbm.n_hidden}) trained, "
            f"{time.perf_counter() - started:.0f}s so far"
        )

    return unroll(train_stack(flat, sizes, cfg, on_layer), shape)
