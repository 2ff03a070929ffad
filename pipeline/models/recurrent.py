"""One way to call an ``nn.LSTM`` that also works under CPU autocast.

Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` torch 2.13 hands oneDNN's LSTM an fp32 input (or
initial state) together with bf16 weights, and the call fails with "could not create a primitive
descriptor for the LSTM forward propagation primitive". Casting the input and the state to the autocast
dtype first is what autocast should have done; on CUDA and without autocast nothing is cast.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

State = tuple[torch.Tensor, torch.Tensor]


def run_lstm(
    lstm: nn.Module, inputs: torch.Tensor | PackedSequence, state: State | None = None
) -> tuple[torch.Tensor | PackedSequence, State]:
    """``lstm(inputs, state)``, with the input and state in the autocast dtype under CPU autocast."""
    device = (inputs.data if isinstance(inputs, PackedSequence) else inputs).device
    if device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        inputs = inputs.to(dtype)
        state = None if state is None else (state[0].to(dtype), state[1].to(dtype))
    return lstm(inputs, state)
