"""The one place that decides device, precision and CPU threads."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Literal

import torch

from pipeline.errors import PipelineError

DeviceName = Literal["auto", "cpu", "cuda"]
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class Runtime:
    """Where tensors live and which autocast dtype (if any) the forward pass uses."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: full fp32

    @property
    def needs_grad_scaler(self) -> bool:
        return self.amp_dtype is torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def resolve_runtime(
    device: DeviceName = "auto", precision: PrecisionName = "auto", threads: int | None = None
) -> Runtime:
    """CUDA with bf16 (or fp16 on pre-Ampere cards) when present, else CPU fp32.

    ``threads`` sets torch's intra-op threads (default: every core, or
    ``PIPELINE_THREADS`` when set) — the serving replicas pass their own share.
    """
    threads = threads or int(os.environ.get("PIPELINE_THREADS", "0")) or None
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise PipelineError("device 'cuda' was asked for but no CUDA GPU is visible; use device=auto or cpu")
    dev = torch.device(device)
    if precision == "auto":
        if dev.type != "cuda":
            precision = "fp32"
        else:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if dev.type == "cpu" and precision == "fp16":
        raise PipelineError("precision fp16 needs a CUDA device; on CPU use fp32 or bf16")
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return Runtime(device=dev, amp_dtype=amp)
