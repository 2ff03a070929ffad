"""Configs of the earlier shape, mapped onto today's.

Before :class:`~pipeline.config.TaskConfig` (checkpoints of ``config_version`` 1), a config kept the
training batch size in four sections, the label smoothing and validation limits at its top level, the RBM's
learning rule under ``cd:``, the GAN's Adam under ``beta1`` and fields of every variant in one section.
Here is the whole difference, in one place:

* :data:`RENAMED`: where each moved key lives now. A YAML file (or override) that still names the old key
  is one error naming the new place (:func:`check_renamed`); an old checkpoint's config is moved over.
* Keys today's shape has no field for (another variant's: a softmax classifier carried the CNN's widths;
  the DBN's unused ``retrieval:``) are dropped from an old checkpoint (:func:`pipeline.config.prune`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline.config import TaskConfig, deep_merge, nested, prune
from pipeline.errors import PipelineError

DATA_BATCH = {"data.batch_size": "train.batch_size"}
BETA1 = ("train.betas", lambda beta1: [beta1, 0.999])  # beta1 alone; beta2 was fixed at 0.999

RENAMED: dict[str, dict[str, str | tuple[str, Callable[[Any], Any]]]] = {  # task → old key → new key
    "translation": {
        "batching.max_tokens": "train.batch_size",
        "label_smoothing": "train.label_smoothing",
        "valid_limit": "train.valid_limit",
    },
    "captioning": {
        "batching.batch_images": "train.batch_size",
        "batching.captions_per_image": "train.captions_per_image",
        "label_smoothing": "train.label_smoothing",
        "valid_metric": "train.valid_metric",
        "valid_limit": "train.valid_limit",
        "test_splits": "evaluate.splits",
        "eval_beam_sizes": "evaluate.beam_sizes",
    },
    "classifier": DATA_BATCH,
    "autoencoder": DATA_BATCH,
    "dbn": {**DATA_BATCH, "init": "pretrain.init"},
    "rbm": {"cd": "train"},
    "gan": {"train.beta1": BETA1},
    "text_to_image": {"train.beta1": BETA1, "encoder.batch_size": "encoder.train.batch_size"},
}


def _renames(task: str) -> list[tuple[str, str, Callable[[Any], Any]]]:
    out = []
    for old, new in RENAMED.get(task, {}).items():
        target, convert = new if isinstance(new, tuple) else (new, lambda value: value)
        out.append((old, target, convert))
    return out


def _pop(raw: dict, dotted: str) -> tuple[bool, Any]:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return False, None
    return (True, node.pop(leaf)) if leaf in node else (False, None)


def _has(raw: dict, dotted: str) -> bool:
    return _pop(copy.deepcopy(raw), dotted)[0]


def check_renamed(raw: dict, task: str, source: str) -> None:
    """A key of the earlier shape is one error that names its new place."""
    for old, new, _ in _renames(task):
        if _has(raw, old):
            raise PipelineError(f"{source}: '{old}' is now '{new}'; rename it")


def migrate(raw: dict, cls: type[TaskConfig]) -> dict:
    """An earlier-shape config mapping as today's: moved keys at their new place (a new key already set
    wins), keys with no field dropped."""
    raw = copy.deepcopy(raw)
    for old, new, convert in _renames(cls.model_fields["task"].default):
        found, value = _pop(raw, old)
        if found and not _has(raw, new):
            raw = deep_merge(raw, nested(new, convert(value)))
    return prune(raw, cls)
