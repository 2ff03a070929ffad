"""YAML configs → typed, frozen, validated config objects.

A config file is a mapping whose sections each belong to one component (the component owns its
section's class and documents every field with ``Field(description=...)``). Layers are merged before
validation, last wins:

1. the files a config ``extends:`` (a path relative to it), recursively;
2. the file itself;
3. a named preset from the merged ``presets:`` mapping (``--preset quick``);
4. command-line overrides, ``key.sub=value`` or Hydra-style ``+key=value`` / ``++key=value``;
   values are parsed as YAML, so ``train.lr=3e-4`` is a float and ``model.tie=true`` a bool.

Validation happens once, at load; afterwards nothing reads a raw dict. ``render`` prints a validated
config back as YAML with each field's description as its comment (``pipeline config show``).
"""

from __future__ import annotations

import copy
import os
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, create_model, model_validator

from pipeline.errors import PipelineError

ConfigT = TypeVar("ConfigT", bound="Config")
COMMENT_COLUMN = 40


class Config(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RunConfig(Config):
    """Where a run's outputs land."""

    dir: str = Field(
        "data/runs/default",
        description="run folder: checkpoints/, metrics.jsonl, curves.png, "
        "config.yaml and the evaluation report land here",
    )
    stages: str = Field("data/stages", description="cached preprocessing stage outputs (shared between runs)")


class TaskConfig(Config):
    """The shape every task config shares: ``task``, ``run``, ``data``, ``model``, ``train`` and the
    task's own sections (the earlier shape, and how it maps onto this one: :mod:`pipeline.migration`)."""

    task: str = Field(description="which task handles this file (pipeline/tasks/<task>.py)")
    run: RunConfig = Field(RunConfig(), description="where the run's outputs land")
    data: Config
    model: Config
    train: Config


def task_config(name: str, doc: str, check: Callable[[Any], None] | None = None, **sections: Any) -> type[TaskConfig]:
    """The config class of task ``name``: :class:`TaskConfig` with the task's section classes (``data``,
    ``model``, ``train`` and its own), each given as a class (defaults: the class's) or as (type, default).
    ``check(cfg)`` raises ValueError for a combination of values no run could use."""
    fields: dict[str, Any] = {"task": (Literal[name], default(TaskConfig, "task", name))}
    for key, section in sections.items():
        fields[key] = section if isinstance(section, tuple) else (section, section())
    validators = {}
    if check is not None:

        def checked(cfg: TaskConfig) -> TaskConfig:
            check(cfg)
            return cfg

        validators["_check"] = model_validator(mode="after")(checked)
    title = "".join(part.title() for part in name.split("_")) + "Config"
    module = sys._getframe(1).f_globals["__name__"]  # the caller's: where the class is defined
    return create_model(title, __base__=TaskConfig, __doc__=doc, __module__=module, __validators__=validators, **fields)


def default(base: type[Config], name: str, value: Any) -> Any:
    """Field ``name`` of ``base`` with another default, keeping its one description (for a subclass)."""
    return Field(value, description=base.model_fields[name].description)


def variants(*classes: type[Config], key: str, default: str) -> Any:
    """A discriminated union of config classes, told apart by their ``key`` literal (``default`` when absent).

    Each class declares ``key: Literal["name"] = "name"``; a mapping without the key takes ``default``, so
    configs written before the field became a choice keep their meaning.
    """
    choices = {cls.model_fields[key].default: cls for cls in classes}
    if default not in choices:
        raise ValueError(f"default {default!r} is none of {sorted(choices)}")

    def pick(value: Any) -> str:
        return value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)

    pick.choices, pick.key = choices, key  # type: ignore[attr-defined]  # read by variant_class()
    members = tuple(Annotated[cls, Tag(name)] for name, cls in choices.items())
    return Annotated[Union[members], Discriminator(pick)]  # noqa: UP007 - a runtime tuple of members


def variant_class(field_info: Any, value: Any) -> type[Config] | None:
    """The config class a field holds for ``value``: its own class, or the variant ``value`` names."""
    for meta in field_info.metadata:
        if isinstance(meta, Discriminator) and hasattr(meta.discriminator, "choices"):
            return meta.discriminator.choices.get(meta.discriminator(value))
    annotation = field_info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Config) else None


def deep_merge(base: dict, update: dict) -> dict:
    """Return ``base`` with ``update`` merged in; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def nested(dotted: str, value: Any) -> dict:
    """``a.b.c``, value → ``{"a": {"b": {"c": value}}}``."""
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def parse_override(text: str) -> dict:
    """``a.b.c=value`` → ``{"a": {"b": {"c": value}}}``, with value parsed as YAML."""
    key, sep, raw = text.lstrip("+").partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise PipelineError(f"bad override {text!r}: expected key.sub=value, e.g. train.lr=3e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise PipelineError(f"bad override {text!r}: value is not valid YAML ({err.problem})") from None
    return nested(key, value)


def read_yaml(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict:
    """One config file as a mapping, with the files it ``extends:`` merged underneath."""
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
    base = raw.pop("extends", None)
    if base is None:
        return raw
    parent = (path.parent / str(base)).resolve()
    if parent in _seen or parent == path.resolve():
        raise PipelineError(f"{path}: 'extends: {base}' makes a cycle")
    return deep_merge(read_yaml(parent, (*_seen, path.resolve())), raw)


def merge_config(base: dict, update: dict, cls: type[Config] | None = None) -> dict:
    """:func:`deep_merge` that knows ``cls``'s variants: when ``update`` switches a section to another
    variant (``model: {kind: conv}`` over a deep model), the section keeps only the keys the new variant
    has too, so a preset need not undo the old variant's own keys."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        old = merged.get(key)
        info = cls.model_fields.get(key) if cls is not None else None
        if isinstance(value, dict) and isinstance(old, dict):
            before = variant_class(info, old) if info is not None else None
            after = variant_class(info, {**old, **value}) if info is not None else None
            if after is not None and before is not after:
                old = {k: v for k, v in old.items() if k in after.model_fields}
            merged[key] = merge_config(old, value, after)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def compose(
    raw: dict, preset: str | None = None, overrides: list[str] | tuple[str, ...] = (), cls: type[Config] | None = None
) -> dict:
    """Merge the preset and overrides into a raw config mapping (``presets:`` is removed)."""
    raw = dict(raw)
    presets = raw.pop("presets", None) or {}
    if preset is not None:
        if preset not in presets:
            known = ", ".join(sorted(presets)) or "none"
            raise PipelineError(f"unknown preset {preset!r}; this config defines: {known}")
        raw = merge_config(raw, presets[preset], cls)
    for item in overrides:
        raw = merge_config(raw, parse_override(item), cls)
    return raw


def prune(raw: dict, cls: type[Config]) -> dict:
    """``raw`` without the keys ``cls`` has no field for (recursively, through variants)."""
    out = {}
    for key, value in raw.items():
        field_info = cls.model_fields.get(key)
        if field_info is None:
            continue
        sub = variant_class(field_info, value) if isinstance(value, dict) else None
        out[key] = prune(value, sub) if sub is not None else value
    return out


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


def render(cfg: Config, indent: int = 0) -> str:
    """``cfg`` as YAML, each key followed by its description as a comment (a section's: its class docstring)."""
    lines = []
    pad = " " * indent
    fields = type(cfg).model_fields
    for name in sorted(fields, key=lambda n: typing.get_origin(fields[n].annotation) is not Literal):  # tag first
        field_info, value = fields[name], getattr(cfg, name)
        if isinstance(value, Config):
            lines.append(_commented(f"{pad}{name}:", field_info.description or section_doc(type(value))))
            lines.append(render(value, indent + 2))
        else:
            lines.append(_commented(f"{pad}{name}: {_flow(value)}", field_info.description or ""))
    return "\n".join(lines)


def section_doc(cls: type[Config]) -> str:
    """The first sentence of a section class's docstring, without reST markup: what the section is."""
    first = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", first).replace("``", "")


def _flow(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, dict):
        value = {k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in value.items()}
    elif isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _commented(code: str, about: str) -> str:
    if not about:
        return code
    return f"{code.ljust(COMMENT_COLUMN - 1)} # {about}"
