"""The ``pipeline`` command: generic verbs (prepare, train, evaluate) plus each task's own.

Every user error is one ``error: ...`` line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from pipeline.errors import PipelineError


def add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """CONFIG [--preset NAME] [key=value ...] — shared by every verb that reads a config."""
    if required:
        parser.add_argument("config", help="YAML config in conf/, e.g. conf/translate_en_de.yaml")
    else:
        parser.add_argument("--config", help="YAML config (alternative to --checkpoint)")
    parser.add_argument("--preset", help="a preset defined in the config's presets: section, e.g. quick")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. train.lr=3e-4 model.decoder.hidden_size=512")


def _prepare(args: argparse.Namespace) -> int:
    from pipeline.tasks import load_task_config

    task, cfg = load_task_config(args.config, args.preset, args.overrides)
    task.prepare(cfg, args.force)
    return 0


def _train(args: argparse.Namespace) -> int:
    from pipeline.tasks import load_task_config

    task, cfg = load_task_config(args.config, args.preset, args.overrides)
    run_dir = task.train(cfg, args)
    print(f"run folder: {run_dir}")
    return 0


def resolve_checkpoint(args: argparse.Namespace) -> Path:
    """``--checkpoint PATH``, or the best checkpoint of the run a ``--config`` describes."""
    if args.checkpoint:
        return Path(args.checkpoint)
    if not args.config:
        raise PipelineError("give --checkpoint PATH or --config CONFIG")
    from pipeline.tasks import load_task_config

    _, cfg = load_task_config(args.config, args.preset, args.overrides)
    return Path(cfg.run.dir) / "checkpoints" / "best.pt"


def _evaluate(args: argparse.Namespace) -> int:
    from pipeline.checkpoint import load_checkpoint
    from pipeline.tasks import get_task

    path = resolve_checkpoint(args)
    task = get_task(load_checkpoint(path).task)
    task.evaluate(path, args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="run a config's data stages (cached; --force rebuilds)")
    add_config_args(p)
    p.add_argument("--force", action="store_true", help="rebuild every stage even if up to date")
    p.set_defaults(func=_prepare)

    p = sub.add_parser("train", help="prepare data, then train (resumes the run's last checkpoint)")
    add_config_args(p)
    p.add_argument("--force", action="store_true", help="rebuild the data stages")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on test splits and write a JSON report")
    add_config_args(p, required=False)
    p.add_argument("--checkpoint", help="checkpoint file (default: the config's run's best.pt)")
    p.add_argument("--splits", nargs="+", help="splits to score (default: the task's test splits)")
    p.add_argument("--beam-size", type=int, nargs="+", help="beam sizes to score; 1 is greedy")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="decode locally or on Ray Data")
    p.add_argument("--address", help="Ray cluster address for --engine ray (default: start a local one)")
    p.add_argument("--report", help="report path (default: next to the checkpoint)")
    p.add_argument("--limit", type=int, help="score only the first N examples of each split")
    p.add_argument("--quantize", choices=["none", "int8", "auto"], default="none",
                   help="translation/captioning: int8 = dynamic int8 Linear/LSTM layers on the CPU (as serving)")
    p.set_defaults(func=_evaluate)

    import pipeline.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"pipeline.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may follow options (`train CONFIG --preset quick train.lr=1e-3`): argparse leaves those over
    stray = [item for item in extra if "=" not in item or item.startswith("-")]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*(args.overrides or []), *extra]
    try:
        return args.func(args)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
