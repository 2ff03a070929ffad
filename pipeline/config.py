"""YAML configs → typed, frozen, validated config objects.

A config file is a mapping whose sections each belong to one component (the component
owns its section's class). Three layers are merged before validation, last wins:

1. the file itself;
2. a named preset from the file's ``presets:`` mapping (``--preset quick``);
3. command-line overrides, ``key.sub=value`` or Hydra-style ``+key=value`` / ``++key=value``;
   values are parsed as YAML, so ``train.lr=3e-4`` is a float and ``model.tie=true`` a bool.

Validation happens once, at load; afterwards nothing reads a raw dict.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import PipelineError

ConfigT = TypeVar("ConfigT", bound="Config")


class Config(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RunConfig(Config):
    """The ``run:`` section: where a run's outputs land."""

    dir: str = "data/runs/default"  # checkpoints/, metrics.jsonl, curves.png, reports
    stages: str = "data/stages"  # cached preprocessing stage outputs


def deep_merge(base: dict, update: dict) -> dict:
    """Return ``base`` with ``update`` merged in; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> dict:
    """``a.b.c=value`` → ``{"a": {"b": {"c": value}}}``, with value parsed as YAML."""
    key, sep, raw = text.lstrip("+").partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise PipelineError(f"bad override {text!r}: expected key.sub=value, e.g. train.lr=3e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise PipelineError(f"bad override {text!r}: value is not valid YAML ({err.problem})") from None
    nested: Any = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return nested


def read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PipelineError(f"malformed config {path}{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"malformed config {path}: the top level must be a mapping of sections")
    return raw


def compose(raw: dict, preset: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Merge the preset and overrides into a raw config mapping (``presets:`` is removed)."""
    raw = dict(raw)
    presets = raw.pop("presets", None) or {}
    if preset is not None:
        if preset not in presets:
            known = ", ".join(sorted(presets)) or "none"
            raise PipelineError(f"unknown preset {preset!r}; this config defines: {known}")
        raw = deep_merge(raw, presets[preset])
    for item in overrides:
        raw = deep_merge(raw, parse_override(item))
    return raw


def validate(raw: dict, cls: type[ConfigT], source: str = "config") -> ConfigT:
    """Validate once; turn pydantic's report into one readable line per problem."""
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            field = ".".join(str(p) for p in item["loc"]) or "(top level)"
            problems.append(f"{field}: {item['msg']}")
        raise PipelineError(f"invalid {source}: " + "; ".join(problems)) from None


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)
