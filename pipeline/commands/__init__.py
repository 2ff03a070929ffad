"""Task-specific CLI verbs. Each module here defines ``register(subparsers)``; the CLI registers them all.

A verb module imports torch-backed project modules inside the function that runs the verb, so that
building the parser (``pipeline --help``) imports no torch.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.runs import RunFolder
from pipeline.tasks import load_task_config

OVERRIDE = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)*=")  # key.path=value


class ListThenOverrides(argparse.Action):
    """A ``nargs="+"`` option that may be followed by ``key=value`` overrides, which argparse would take
    as more of its values (``--beam-size 1 5 train.threads=1``): those go back to the overrides."""

    def __init__(self, *args, convert=str, **kwargs):
        super().__init__(*args, nargs="+", **kwargs)
        self.convert = convert

    def __call__(self, parser, namespace, values, option_string=None):
        spilled = [v for v in values if OVERRIDE.match(v)]
        mine = [v for v in values if not OVERRIDE.match(v)]
        if not mine:
            parser.error(f"argument {option_string}: expected at least one value before {spilled[0]}")
        try:
            setattr(namespace, self.dest, [self.convert(v) for v in mine])
        except ValueError:
            parser.error(f"argument {option_string}: invalid {self.convert.__name__} value in {' '.join(mine)}")
        namespace.spilled_overrides = [*getattr(namespace, "spilled_overrides", []), *spilled]


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
