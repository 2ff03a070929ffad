"""The run folder, one layout for every task.

::

    <run.dir>/
      config.yaml          the validated config the run was started with
      checkpoints/         last.pt (resume), best.pt (best validation score)
      metrics.jsonl        one JSON object per logged event (:mod:`pipeline.training.logbook`)
      curves.png
      <report>.json        what ``pipeline evaluate`` wrote (the name is the task's)
      figures/             what evaluation draws

A checkpoint's run folder is the parent of its ``checkpoints/`` folder; :meth:`RunFolder.of` is the
one place that knows it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.config import TaskConfig, dump_yaml
from pipeline.files import write_json, write_text


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.best, self.last = self.checkpoints / "best.pt", self.checkpoints / "last.pt"
        self.figures = self.path / "figures"

    @classmethod
    def of(cls, checkpoint: str | os.PathLike) -> RunFolder:
        """The run folder a checkpoint (``<run>/checkpoints/<name>.pt``) belongs to."""
        return cls(Path(checkpoint).parent.parent)

    def start(self, cfg: TaskConfig) -> RunFolder:
        """Create the folder and keep the config the run starts with."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / "config.yaml", dump_yaml(cfg))
        return self

    @staticmethod
    def meta(cfg: TaskConfig, **extra: Any) -> dict[str, Any]:
        """What every checkpoint of the run carries: its task and whole config, plus the task's own keys."""
        return {"task": cfg.task, "config": cfg.to_dict(), **extra}

    def report_path(self, name: str, override: str | os.PathLike | None = None) -> Path:
        """``override`` (``evaluate --report``) or ``<run>/<name>``."""
        return Path(override) if override else self.path / name

    def write_report(self, report: dict, name: str, override: str | os.PathLike | None = None) -> Path:
        path = self.report_path(name, override)
        write_json(path, report)
        return path
