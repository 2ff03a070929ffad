"""Checkpoint averaging: the element-wise mean of several checkpoints' weights as one checkpoint.

Averaging the parameters of the last few checkpoints of one run smooths the noise of the final
updates and usually gains a little BLEU at no decoding cost (Junczys-Dowmunt et al. 2016, "The AMU-UEDIN
submission to the WMT16 news translation task"; Vaswani et al. 2017 average the last 5 or 20). The
checkpoints must share one architecture (same keys and shapes); the result carries the newest one's
meta, plus ``averaged_from`` naming its sources, and loads wherever that checkpoint loads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.checkpoint import CONFIG_VERSION, Checkpoint, load_checkpoint
from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.runs import RunFolder


def average_checkpoints(paths: Sequence[str | os.PathLike]) -> Checkpoint:
    """Mean of the floating-point tensors (accumulated in float64); other tensors (counters) from the last."""
    if not paths:
        raise PipelineError("nothing to average: no checkpoints given")
    first = load_checkpoint(paths[0])
    _check_version(first, paths[0])
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.model.items()}
    last = first
    for path in paths[1:]:
        last = load_checkpoint(path)
        _check_version(last, path)
        if last.task != first.task:
            raise PipelineError(f"cannot average a {last.task} checkpoint ({path}) with a {first.task} one")
        _check_same_shapes(first.model, last.model, paths[0], path)
        for k, v in last.model.items():
            sums[k] = sums[k] + v.double() if v.is_floating_point() else v
    n = len(paths)
    model = {k: (v / n).to(first.model[k].dtype) if first.model[k].is_floating_point() else v for k, v in sums.items()}
    meta = {k: v for k, v in last.meta.items() if k != "scores"}  # scores belong to the sources, not the mean
    meta["averaged_from"] = [str(p) for p in paths]
    return Checkpoint(meta, model)


def snapshot_paths(run: str | os.PathLike, last: int | None = None, best: int | None = None) -> list[Path]:
    """The run's kept validation snapshots (``train.keep_last`` / ``keep_best``): the newest ``last``, or
    the ``best`` best by the run's validation score; oldest first."""
    folder = RunFolder(run)
    rows = folder.snapshots()
    if not rows:
        raise PipelineError(
            f"{folder.checkpoints} holds no kept snapshots: train with train.keep_last=N (or keep_best=N)"
        )
    want = last or best or len(rows)
    if best:
        higher = bool(read_json(folder.snapshot_index).get("higher_is_better", True))
        rows = sorted(rows, key=lambda r: -r["score"] if higher else r["score"])[:best]
        rows.sort(key=lambda r: r["step"])
    else:
        rows = rows[-want:]
    if len(rows) < want:
        raise PipelineError(f"{folder.checkpoints} keeps {len(rows)} snapshots, fewer than the {want} asked for")
    return [r["path"] for r in rows]


def _check_version(ckpt: Checkpoint, path: str | os.PathLike) -> None:
    if "config" in ckpt.meta and ckpt.meta.get("config_version", 1) != CONFIG_VERSION:
        raise PipelineError(f"{path} was written by an older version of the project; average newer checkpoints")


def _check_same_shapes(a: dict, b: dict, path_a, path_b) -> None:
    if a.keys() != b.keys():
        diff = sorted(set(a) ^ set(b))[:3]
        raise PipelineError(f"{path_a} and {path_b} hold different parameters (e.g. {', '.join(diff)})")
    for k, v in a.items():
        if v.shape != b[k].shape:
            shapes = f"{tuple(v.shape)} vs {tuple(b[k].shape)}"
            raise PipelineError(f"{path_a} and {path_b} differ in the shape of {k}: {shapes}")
