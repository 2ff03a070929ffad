"""One checkpoint format for every model in the project.

A checkpoint is a single ``.pt`` file holding only tensors and plain containers, so it
loads with ``torch.load(weights_only=True)`` — no arbitrary unpickling. It is
self-describing: ``meta`` carries the task name, the validated config and whatever
the task needs to rebuild the model and its vocabularies (e.g. a subword model's
JSON), so inference needs the file alone. ``train`` (optional) carries the
optimizer, schedule, RNG and data-position state that resuming needs.

Loading with the family's config class validates the stored config whole, once, and checks
the task. A checkpoint written before the config reshape (``config_version`` 1, no field) is
migrated first (:mod:`pipeline.migration`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.config import TaskConfig, validate
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.migration import migrate

FORMAT = "pipeline-checkpoint/1"
CONFIG_VERSION = 2  # 1: the shape before TaskConfig (batching:, cd:, beta1, ...); 2: task/run/data/model/train


@dataclass
class Checkpoint:
    meta: dict[str, Any]
    model: dict[str, torch.Tensor]
    train: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    config: Any = None  # the validated TaskConfig, when loaded with its config class

    @property
    def task(self) -> str:
        return self.meta["task"]


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> None:
    meta = {**ckpt.meta, "config_version": CONFIG_VERSION} if "config" in ckpt.meta else ckpt.meta
    payload = {
        "format": FORMAT,
        "meta_json": json.dumps(meta, ensure_ascii=False),
        "model": {k: v.detach().cpu() for k, v in ckpt.model.items()},
        "train": ckpt.train,
        "extra": ckpt.extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(
    path: str | os.PathLike,
    config: type[TaskConfig] | tuple[type[TaskConfig], ...] = (),
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint; with ``config`` (one task config class, or several a family accepts) a checkpoint
    of another task is a clear error, and ``Checkpoint.config`` is its config, migrated and validated."""
    payload = _read(Path(path), map_location)
    ckpt = Checkpoint(
        meta=json.loads(payload["meta_json"]),
        model=payload["model"],
        train=payload.get("train"),
        extra=payload.get("extra") or {},
    )
    classes = config if isinstance(config, tuple) else (config,)
    if not classes:
        return ckpt
    by_task = {cls.model_fields["task"].default: cls for cls in classes}
    if ckpt.task not in by_task:
        raise PipelineError(f"{path} is a {ckpt.task} checkpoint, not a {' or '.join(by_task)} one")
    cls = by_task[ckpt.task]
    raw = ckpt.meta["config"]
    if ckpt.meta.get("config_version", 1) < CONFIG_VERSION:
        raw = migrate(raw, cls)
    ckpt.config = validate(raw, cls, source=f"config of checkpoint {path}")
    return ckpt


def checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's meta (task, config, validation scores, ...), read without loading its tensors."""
    return json.loads(_read(Path(path), "cpu", mmap=True)["meta_json"])


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The training step a trainer checkpoint holds (``None`` for one without training state), read
    memory-mapped."""
    train = _read(Path(path), "cpu", mmap=True).get("train") or {}
    state = train.get("state") or {}
    return state.get("step")


def checkpoint_task(path: str | os.PathLike) -> str:
    """The task a checkpoint belongs to, read without loading its tensors (memory-mapped)."""
    return checkpoint_meta(path)["task"]


def _read(path: Path, map_location: str | torch.device, mmap: bool = False) -> dict:
    if not path.is_file():
        raise PipelineError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's error here
        raise PipelineError(f"not a readable checkpoint: {path} ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PipelineError(f"{path} is not a {FORMAT} file")
    return payload
