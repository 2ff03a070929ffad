"""Task-specific CLI verbs. Each module here defines ``register(subparsers)``; the CLI registers them all.

A verb module imports torch-backed project modules inside the function that runs the verb, so that
building the parser (``pipeline --help``) imports no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.runs import RunFolder
from pipeline.tasks import load_task_config


def add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """CONFIG [--preset NAME] [key=value ...] — shared by every verb that reads a config."""
    if required:
        parser.add_argument("config", help="YAML config in conf/, e.g. conf/translate_en_de.yaml")
    else:
        parser.add_argument("--config", help="YAML config (alternative to --checkpoint)")
    parser.add_argument("--preset", help="a preset defined in the config's presets: section, e.g. quick")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. train.lr=3e-4 model.decoder.hidden_size=512",
    )


def resolve_checkpoint(args: argparse.Namespace) -> Path:
    """``--checkpoint PATH``, or the best checkpoint of the run a ``--config`` describes."""
    if args.checkpoint:
        return Path(args.checkpoint)
    if not args.config:
        raise PipelineError("give --checkpoint PATH or --config CONFIG")
    _, cfg = load_task_config(args.config, args.preset, args.overrides)
    return RunFolder(cfg.run.dir).best
