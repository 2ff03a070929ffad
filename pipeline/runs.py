"""The run folder, one layout for every task.

::

    <run.dir>/
      config.yaml          the validated config the run was started with
      checkpoints/         last.pt (resume), best.pt (best validation score),
                           step_<step>.pt + snapshots.json (train.keep_last / keep_best: kept for averaging)
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
from pipeline.files import read_json, write_json, write_text


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.best, self.last = self.checkpoints / "best.pt", self.checkpoints / "last.pt"
        self.figures = self.path / "figures"

    @property
    def snapshot_index(self) -> Path:
        return self.checkpoints / "snapshots.json"

    def snapshots(self) -> list[dict[str, Any]]:
        """The kept validation snapshots, oldest first: ``{"step", "score", "path"}`` each."""
        if not self.snapshot_index.exists():
            return []
        rows = read_json(self.snapshot_index)["snapshots"]
        return [{**r, "path": self.checkpoints / r["file"]} for r in sorted(rows, key=lambda r: r["step"])]

    def keep_snapshot(
        self, ckpt: Any, step: int, score_name: str, higher_is_better: bool, keep_last: int, keep_best: int
    ) -> None:
        """Write ``step_<step>.pt``; keep it and the others that are among the last ``keep_last`` or the
        ``keep_best`` best by ``score_name``; delete the rest. The index is written after the new file and
        before any deletion, so a killed run leaves at worst an unlisted file, never a listed missing one."""
        from pipeline.checkpoint import save_checkpoint  # torch-backed

        name = f"step_{step:07d}.pt"
        save_checkpoint(self.checkpoints / name, ckpt)
        rows = [r for r in self.snapshots() if r["step"] != step]
        rows.append({"step": step, "score": ckpt.meta["scores"][score_name], "file": name})
        rows.sort(key=lambda r: r["step"])
        keep = {r["step"] for r in rows[-keep_last:]} if keep_last else set()
        ranked = sorted(rows, key=lambda r: (-r["score"] if higher_is_better else r["score"], -r["step"]))
        keep |= {r["step"] for r in ranked[:keep_best]}
        kept = [{k: r[k] for k in ("step", "score", "file")} for r in rows if r["step"] in keep]
        write_json(self.snapshot_index, {"score": score_name, "higher_is_better": higher_is_better, "snapshots": kept})
        for r in rows:
            if r["step"] not in keep:
                (self.checkpoints / r["file"]).unlink(missing_ok=True)

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
