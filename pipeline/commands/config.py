"""``pipeline config show CONFIG [--preset P] [key=value ...]``: the resolved config, every key with its meaning.

What is printed is what a run would use: the file, the files it ``extends:``, the preset and the overrides
merged and validated, with each field's description (from the code, the one place it is written) as a
comment. The output is itself a valid config file.
"""

from __future__ import annotations

import argparse

from pipeline.commands import add_config_args
from pipeline.config import render
from pipeline.tasks import load_task_config


def register(subparsers) -> None:
    p = subparsers.add_parser("config", help="inspect configs: `config show CONFIG` prints one resolved and explained")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the resolved config with each key's description as a comment")
    add_config_args(show)
    show.set_defaults(func=show_config)


def show_config(args: argparse.Namespace) -> int:
    _, cfg = load_task_config(args.config, args.preset, args.overrides)
    preset = f", preset {args.preset}" if args.preset else ""
    overrides = f", overrides {' '.join(args.overrides)}" if args.overrides else ""
    print(f"# {args.config}{preset}{overrides}: the resolved config")
    print(render(cfg))
    return 0
