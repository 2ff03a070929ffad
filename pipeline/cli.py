"""The ``pipeline`` command: generic verbs (prepare, train, evaluate) plus each task's own.

Every user error is one ``error: ...`` line on stderr and exit status 2, never a traceback. Building the
parser imports no torch (``pipeline --help`` stays fast): the verbs import what they run when they run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points

import pipeline.commands as commands
from pipeline.commands import ListThenOverrides, add_config_args, resolve_checkpoint
from pipeline.errors import PipelineError
from pipeline.tasks import EvalOptions, TrainOptions, get_task, load_task_config

# Entry-point group through which other installed packages add verbs (serving adds serve and loadtest).
PLUGIN_GROUP = "pipeline.commands"


def _prepare(args: argparse.Namespace) -> int:
    task, cfg = load_task_config(args.config, args.preset, args.overrides)
    task.prepare(cfg, args.force)
    return 0


def _train(args: argparse.Namespace) -> int:
    options = TrainOptions(force=args.force, restart=args.restart)
    if args.workers is not None:
        from pipeline.training.ray_train import train_on_ray  # imports torch and Ray

        run_dir = train_on_ray(
            args.config,
            args.preset,
            args.overrides,
            options,
            args.workers,
            args.address,
            args.storage,
            args.max_failures,
        )
    else:
        task, cfg = load_task_config(args.config, args.preset, args.overrides)
        run_dir = task.train(cfg, options)
    print(f"run folder: {run_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pipeline.checkpoint import checkpoint_task  # imports torch: not on the CLI's startup path

    path = resolve_checkpoint(args)
    options = EvalOptions(
        splits=args.splits,
        beam_size=args.beam_size,
        engine=args.engine,
        address=args.address,
        report=args.report,
        limit=args.limit,
        quantize=args.quantize,
        ensemble=tuple(args.ensemble or ()),
        length_penalty=args.length_penalty,
    )
    task = checkpoint_task(path)
    if options.ensemble and task not in ("translation", "captioning"):
        raise PipelineError(f"--ensemble: ensembles are evaluated for translation and captioning, not {task}")
    if options.length_penalty is not None and task not in ("translation", "captioning"):
        raise PipelineError(f"--length-penalty: a beam-search option of translation and captioning, not {task}")
    get_task(task).evaluate(path, options)
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
    p.add_argument(
        "--workers",
        type=int,
        help="data-parallel training on N Ray Train workers (translation, captioning, classifier, autoencoder)",
    )
    p.add_argument("--address", help="with --workers: the Ray cluster (auto, HEAD:6379; default: start a local one)")
    p.add_argument("--storage", help="with --workers: where Ray Train keeps checkpoints (shared by every node)")
    p.add_argument("--max-failures", type=int, default=2, help="with --workers: worker-group restarts allowed")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="score a checkpoint on test splits and write a JSON report")
    add_config_args(p, required=False)
    p.add_argument("--checkpoint", help="checkpoint file (default: the config's run's best.pt)")
    p.add_argument("--splits", action=ListThenOverrides, help="splits to score (default: the task's test splits)")
    p.add_argument("--beam-size", action=ListThenOverrides, convert=int, help="beam sizes to score; 1 is greedy")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="decode locally or on Ray Data")
    p.add_argument("--address", help="Ray cluster address for --engine ray (default: start a local one)")
    p.add_argument("--report", help="report path (default: next to the checkpoint)")
    p.add_argument("--limit", type=int, help="score only the first N examples of each split")
    p.add_argument(
        "--quantize",
        choices=["none", "int8", "auto"],
        default="none",
        help="translation/captioning: int8 = dynamic int8 Linear/LSTM layers on the CPU (as serving)",
    )
    p.add_argument(
        "--ensemble",
        action=ListThenOverrides,
        metavar="PT",
        help="translation, captioning: decode with these checkpoints too, as one ensemble (same data stages)",
    )
    p.add_argument(
        "--length-penalty",
        type=float,
        metavar="ALPHA",
        help="translation/captioning: beam search's GNMT length-penalty alpha, not the config's (0: raw log-prob)",
    )
    p.set_defaults(func=_evaluate)

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"pipeline.commands.{info.name}").register(sub)
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):  # e.g. serving's serve, loadtest
        entry.load()(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may follow options (`train CONFIG --preset quick train.lr=1e-3`): argparse leaves those over
    stray = [item for item in extra if "=" not in item or item.startswith("-")]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    extra = [*getattr(args, "spilled_overrides", []), *extra]  # e.g. after `--beam-size 1 5`
    if extra:
        args.overrides = [*(args.overrides or []), *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
