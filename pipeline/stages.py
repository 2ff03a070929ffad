"""Cached, resumable preprocessing stages.

A stage is a pure function of (its params, its inputs' content hashes). Its output is a
folder ``<root>/<name>-<fingerprint>`` built in a temp sibling and renamed into place only
when complete, with ``manifest.json`` inside. So:

* a rerun with the same params and inputs finds the folder and skips the work;
* a change to either gives a new fingerprint, hence a rebuild in a new folder (builds for other
  configs stay, so switching presets does not thrash the cache);
* ``force`` rebuilds and swaps the folder atomically;
* a killed build leaves only a ``.tmp-`` folder, which no reader opens.

Stages import nothing from models or training.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.files import atomic_dir, sha256_json, write_json
from pipeline.progress import log

# Bump when a stage's output format changes, so old caches are not read by new code.
STAGE_FORMAT = 1


@dataclass(frozen=True)
class StageOutput:
    path: Path
    manifest: dict[str, Any]
    built: bool

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]


def fingerprint(name: str, params: dict[str, Any], inputs: dict[str, str]) -> str:
    return sha256_json({"stage": name, "format": STAGE_FORMAT, "params": params, "inputs": inputs})


def run_stage(
    root: Path,
    name: str,
    params: dict[str, Any],
    inputs: dict[str, str],
    build: Callable[[Path], dict[str, Any]],
    force: bool = False,
) -> StageOutput:
    """Build ``name`` unless an up-to-date build exists.

    ``inputs`` maps input names to content hashes (of files, or of upstream stages'
    fingerprints). ``build(out_dir)`` writes its files into ``out_dir`` and returns
    summary statistics, which go into the manifest and are printed.
    """
    fp = fingerprint(name, params, inputs)
    out = Path(root) / f"{name}-{fp[:16]}"
    manifest_path = out / "manifest.json"
    if out.is_dir() and manifest_path.is_file() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == fp:
            log(f"[stage {name}] up to date: {out}")
            return StageOutput(out, manifest, built=False)
    started = time.perf_counter()
    log(f"[stage {name}] building {out}")
    with atomic_dir(out, replace=True) as tmp:
        stats = build(tmp)
        manifest = {
            "stage": name,
            "fingerprint": fp,
            "format": STAGE_FORMAT,
            "params": params,
            "inputs": inputs,
            "stats": stats,
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json(tmp / "manifest.json", manifest)
    log(f"[stage {name}] done in {manifest['seconds']}s: {_summary(stats)}")
    return StageOutput(out, manifest, built=True)


def find_built(root: Path, name: str, params: dict[str, Any], inputs: dict[str, str], free: str) -> StageOutput | None:
    """A finished build of ``name`` with these inputs and params, whatever its value of param ``free``.

    For a machine that lacks the tool a stage records in its params (the spaCy version of a text stage, say):
    stages built elsewhere and copied over are still found, while every other param and every input must
    match as in :func:`run_stage`.
    """
    wanted = {k: v for k, v in params.items() if k != free}
    for manifest_path in sorted(Path(root).glob(f"{name}-*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        own = {k: v for k, v in manifest.get("params", {}).items() if k != free}
        if manifest.get("stage") == name and manifest.get("inputs") == inputs and own == wanted:
            log(f"[stage {name}] built elsewhere with {free}={manifest['params'].get(free)}: {manifest_path.parent}")
            return StageOutput(manifest_path.parent, manifest, built=False)
    return None


def _summary(stats: dict[str, Any]) -> str:
    flat = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}
    return ", ".join(f"{k}={v}" for k, v in flat.items()) or "ok"
