"""Binary codes from an autoencoder's code layer (Krizhevsky & Hinton 2011; Salakhutdinov & Hinton 2009).

During training the code units are logistic, and Gaussian noise is added to their input so that
only saturated (near 0 or 1) activities carry information through; at test time they are
thresholded to exact bits. Packed as bytes, the Hamming distance is XOR + popcount.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

CodeKind = Literal["linear", "sigmoid", "binary"]


class CodeLayer(nn.Module):
    """Activation of the code layer: linear, logistic, or binary (noisy logistic in training, 0/1 in eval)."""

    def __init__(self, kind: CodeKind = "linear", noise_std: float = 0.0):
        super().__init__()
        if kind not in ("linear", "sigmoid", "binary"):
            raise ValueError(f"unknown code kind {kind!r}; expected linear, sigmoid or binary")
        self.kind, self.noise_std = kind, noise_std

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            return pre
        if self.kind == "sigmoid":
            return torch.sigmoid(pre)
        if self.training:
            return torch.sigmoid(pre + self.noise_std * torch.randn_like(pre))
        return to_bits(pre).to(pre.dtype)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, noise_std={self.noise_std}"


def to_bits(pre: torch.Tensor) -> torch.Tensor:
    """Threshold code pre-activations at 0 (logistic at 0.5) → uint8 tensor of exact 0/1."""
    return (pre > 0).to(torch.uint8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(N, n_bits) of 0/1 → (N, ceil(n_bits / 8)) uint8, big-endian within each byte."""
    bits = np.asarray(bits)
    if bits.ndim != 2 or not np.isin(bits, (0, 1)).all():
        raise ValueError("pack_bits expects a 2-D array of 0/1")
    return np.packbits(bits.astype(np.uint8), axis=1)


def hamming_distances(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Packed codes ``query`` (Q, B) and ``database`` (N, B) uint8 → (Q, N) int Hamming distances."""
    out = np.empty((len(query), len(database)), dtype=np.int32)
    for i, code in enumerate(query):
        out[i] = np.bitwise_count(np.bitwise_xor(database, code)).sum(1, dtype=np.int32)
    return out
