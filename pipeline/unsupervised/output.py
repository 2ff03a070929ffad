"""What every autoencoder's forward returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AutoencoderOutput:
    reconstruction: torch.Tensor  # same shape as the input
    code: torch.Tensor  # (B, code_size), after the code layer's activation
    code_pre: torch.Tensor  # (B, code_size), before it (thresholding these at 0 gives the bits)
