"""Learning-rate schedules as a multiplier of the base LR (for ``LambdaLR``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

ScheduleName = Literal["constant", "inverse_sqrt", "cosine"]


def lr_multiplier(name: ScheduleName, warmup_steps: int, total_steps: int | None) -> Callable[[int], float]:
    """Linear warm-up, then constant, inverse-square-root (Vaswani et al. 2017, §5.3) or cosine decay."""

    def warm(step: int) -> float:
        return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0

    if name == "constant":
        return warm
    if name == "inverse_sqrt":
        base = max(warmup_steps, 1)
        return lambda step: warm(step) * min(1.0, math.sqrt(base / max(step + 1, 1)))
    if name == "cosine":
        if not total_steps:
            raise ValueError("the cosine schedule needs train.max_steps")
        span = max(total_steps - warmup_steps, 1)
        return lambda step: warm(step) * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0, step - warmup_steps) / span)))
    raise ValueError(f"unknown schedule {name!r}")
