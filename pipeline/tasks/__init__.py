"""Tasks glue data stages, a model, the trainer and evaluation into the generic CLI verbs.

A config file names its task (``task: translation``); :data:`TASKS` maps each name to the module that
exposes its :class:`Task`. A task receives typed options from the CLI (:class:`TrainOptions`,
:class:`EvalOptions`), never the argument parser's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from pipeline.config import TaskConfig, compose, read_yaml, validate
from pipeline.errors import PipelineError
from pipeline.migration import check_renamed

TASKS = {
    "translation": "pipeline.tasks.translation",
    "captioning": "pipeline.tasks.captioning",
    "classifier": "pipeline.tasks.classifier",
    "gan": "pipeline.tasks.gan",
    "text_to_image": "pipeline.tasks.text_to_image",
    "autoencoder": "pipeline.tasks.autoencoder",
    "dbn": "pipeline.tasks.dbn",
    "rbm": "pipeline.tasks.rbm",
    "rae": "pipeline.tasks.rae",
}


@dataclass(frozen=True)
class TrainOptions:
    """``pipeline train`` flags."""

    force: bool = False  # rebuild the data stages even when cached
    restart: bool = False  # ignore the run's last checkpoint and start over


@dataclass(frozen=True)
class EvalOptions:
    """``pipeline evaluate`` flags; None means the task's (or the checkpoint's config's) default."""

    splits: Sequence[str] | None = None  # splits to score
    beam_size: Sequence[int] | None = None  # beam sizes to score (1 = greedy)
    engine: Literal["local", "ray"] = "local"  # decode in this process or on Ray Data
    address: str | None = None  # Ray cluster address for engine ray (None: start a local one)
    report: str | None = None  # report path (None: the task's report name in the run folder)
    limit: int | None = None  # score only the first N examples (or a seeded N, per task)
    quantize: Literal["none", "int8", "auto"] = "none"  # translation/captioning: dynamic int8 layers on the CPU
    ensemble: Sequence[str] = ()  # translation: more checkpoints decoded together with the evaluated one
    length_penalty: float | None = None  # translation/captioning: beam search's length-penalty alpha (None: config's)

    @classmethod
    def of(cls, options: Any) -> EvalOptions:
        """``options``, or the ones any object with such attributes names (the rest default)."""
        if isinstance(options, cls):
            return options
        return cls(**{f.name: getattr(options, f.name) for f in fields(cls) if hasattr(options, f.name)})


TRAIN_DEFAULTS, EVAL_DEFAULTS = TrainOptions(), EvalOptions()


@dataclass(frozen=True)
class Task:
    """A task: its config class, the loader of its ``data:`` section, and its train and evaluate steps."""

    name: str
    config_class: type[TaskConfig]
    load_data: Callable[[Any, str, bool], Any] | None  # (cfg.data, cfg.run.stages, force) → the prepared data
    train: Callable[[Any, TrainOptions], Path]
    evaluate: Callable[[Path, EvalOptions], dict]
    description: str = ""
    prepare_config: Callable[[Any, bool], Any] | None = None  # (cfg, force), for data built from several sections

    def prepare(self, cfg: TaskConfig, force: bool = False) -> Any:
        """The data stages of ``cfg`` (cached; ``force`` rebuilds them)."""
        if self.prepare_config is not None:
            return self.prepare_config(cfg, force)
        return self.load_data(cfg.data, cfg.run.stages, force)


def available_tasks() -> list[str]:
    return sorted(TASKS)


def get_task(name: str) -> Task:
    if not isinstance(name, str) or name not in TASKS:
        raise PipelineError(f"unknown task {name!r}; known tasks: {', '.join(available_tasks())}")
    return importlib.import_module(TASKS[name]).TASK


def load_task_config(
    path: str | Path, preset: str | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[Task, Any]:
    """Read a YAML config, apply preset and overrides, pick its task and validate once."""
    raw = read_yaml(path)
    name = compose(raw, None, overrides).get("task")
    if name is None:
        raise PipelineError(f"{path}: missing the 'task' key (one of: {', '.join(available_tasks())})")
    task = get_task(name)
    raw = compose(raw, preset, overrides, task.config_class)
    check_renamed(raw, task.name, source=str(path))
    return task, validate(raw, task.config_class, source=f"config {path}")
