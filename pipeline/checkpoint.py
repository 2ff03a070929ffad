"""One checkpoint format for every model in the project.

A checkpoint is a single ``.pt`` file holding only tensors and plain containers, so it
loads with ``torch.load(weights_only=True)`` — no arbitrary unpickling. It is
self-describing: ``meta`` carries the task name, the validated config and whatever
the task needs to rebuild the model and its vocabularies (e.g. a subword model's
JSON), so inference needs the file alone. ``train`` (optional) carries the
optimizer, schedule, RNG and data-position state that resuming needs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.errors import PipelineError
from pipeline.files import atomic_path

FORMAT = "pipeline-checkpoint/1"


@dataclass
class Checkpoint:
    meta: dict[str, Any]
    model: dict[str, torch.Tensor]
    train: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.meta["task"]


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> None:
    payload = {
        "format": FORMAT,
        "meta_json": json.dumps(ckpt.meta, ensure_ascii=False),
        "model": {k: v.detach().cpu() for k, v in ckpt.model.items()},
        "train": ckpt.train,
        "extra": ckpt.extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    task: str | None = None) -> Checkpoint:
    """Load a checkpoint; with ``task``, a checkpoint of another task is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's error here
        raise PipelineError(f"not a readable checkpoint: {path} ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PipelineError(f"{path} is not a {FORMAT} file")
    ckpt = Checkpoint(meta=json.loads(payload["meta_json"]), model=payload["model"],
                      train=payload.get("train"), extra=payload.get("extra") or {})
    if task is not None and ckpt.task != task:
        raise PipelineError(f"{path} is a {ckpt.task} checkpoint, not a {task} one")
    return ckpt
