"""The JoeyNMT run config: the commented template ``joey_lstm.yaml`` with this run's paths filled in."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from scripts.peer.joey_data import JoeyData

TEMPLATE = Path(__file__).with_name("joey_lstm.yaml")


def joey_config(data: JoeyData, model_dir: Path, seed: int = 1, template: Path = TEMPLATE) -> dict[str, Any]:
    """The template with data paths, languages, model_dir and seed set; nothing else changes."""
    cfg = copy.deepcopy(yaml.safe_load(template.read_text(encoding="utf-8")))
    cfg["model_dir"] = str(model_dir)
    cfg["random_seed"] = seed
    cfg["data"].update(train=str(data.train), dev=str(data.dev), test=str(data.test_src))
    cfg["data"]["src"]["lang"] = data.src_lang
    cfg["data"]["trg"]["lang"] = data.tgt_lang
    return cfg


def write_joey_config(path: Path, cfg: dict[str, Any]) -> Path:
    from pipeline.files import write_text

    write_text(path, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return path
