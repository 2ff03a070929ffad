"""Tasks glue data stages, a model, the trainer and evaluation into CLI verbs.

A config file names its task (``task: translation``); the task lives in the module
``pipeline.tasks.<task>`` and exposes ``TASK``. Adding a task is adding a module.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Config, compose, read_yaml, validate
from pipeline.errors import PipelineError


@dataclass(frozen=True)
class Task:
    name: str
    config_class: type[Config]
    prepare: Callable[[Any, bool], Any]
    train: Callable[[Any, argparse.Namespace], Path]
    evaluate: Callable[[Path, argparse.Namespace], dict]
    description: str = ""


def available_tasks() -> list[str]:
    import pipeline.tasks as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def get_task(name: str) -> Task:
    if not isinstance(name, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name not in available_tasks():
        raise PipelineError(f"unknown task {name!r}; known tasks: {', '.join(available_tasks())}")
    return importlib.import_module(f"pipeline.tasks.{name}").TASK


def load_task_config(path: str | Path, preset: str | None = None,
                     overrides: list[str] | tuple[str, ...] = ()) -> tuple[Task, Any]:
    """Read a YAML config, apply preset and overrides, pick its task and validate once."""
    raw = compose(read_yaml(path), preset, overrides)
    if "task" not in raw:
        raise PipelineError(f"{path}: missing the 'task' key (one of: {', '.join(available_tasks())})")
    task = get_task(raw["task"])
    return task, validate(raw, task.config_class, source=f"config {path}")
