"""Dynamic int8 quantisation for CPU inference (weights int8, activations quantised per call).

``torch.ao.quantization.quantize_dynamic`` replaces every ``nn.Linear`` and ``nn.LSTM`` with an int8
version; embeddings, convolutions and attention arithmetic stay fp32. On a CPU the decoder step is
dominated by the LSTM and the output projection, which is where int8 pays (measured in
``pipeline bench``; its BLEU/CIDEr cost is reported in docs/serving.md). On CUDA it is refused: the
dynamic int8 kernels are CPU-only.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from pipeline.errors import PipelineError

QuantizeName = Literal["none", "int8", "auto"]  # auto: int8 on a CPU, none on a GPU


def effective_mode(mode: QuantizeName, device: torch.device) -> QuantizeName:
    return ("int8" if device.type == "cpu" else "none") if mode == "auto" else mode


def quantize_model(model: nn.Module, mode: QuantizeName, device: torch.device) -> nn.Module:
    """``model`` (eval mode) as is, or with int8 Linear/LSTM layers."""
    mode = effective_mode(mode, device)
    if mode == "none":
        return model
    if mode != "int8":
        raise PipelineError(f"unknown quantize mode {mode!r}; use none, int8 or auto")
    if device.type != "cpu":
        raise PipelineError("quantize: int8 runs on the CPU only; use quantize: none on a GPU")
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao, which has no
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamic int8 LSTM; the eager API still works
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        return torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear, nn.LSTM}, dtype=torch.qint8)
