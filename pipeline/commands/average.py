"""``pipeline average``: one checkpoint whose weights are the mean of several of one run's.

    pipeline average --run data/runs/en_de --last 5            # -> <run>/checkpoints/average_last5.pt
    pipeline average --run data/runs/en_de --best 5 --out avg.pt
    pipeline average a.pt b.pt c.pt --out avg.pt

The run's snapshots are the validation checkpoints that ``train.keep_last`` / ``train.keep_best`` kept.
The result evaluates, translates and serves like any checkpoint of its task.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("average", help="average the weights of several checkpoints of one run into one")
    p.add_argument("checkpoints", nargs="*", help="checkpoint files (or use --run with --last/--best)")
    p.add_argument("--run", help="a run folder whose kept snapshots to average")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--last", type=int, help="the newest N snapshots")
    which.add_argument("--best", type=int, help="the N snapshots with the best validation score")
    p.add_argument("--out", help="output checkpoint (default with --run: <run>/checkpoints/average_<last|best>N.pt)")
    p.set_defaults(func=average)


def average(args: argparse.Namespace) -> int:
    from pipeline.checkpoint import save_checkpoint
    from pipeline.progress import log
    from pipeline.runs import RunFolder
    from pipeline.training.averaging import average_checkpoints, snapshot_paths

    if bool(args.run) == bool(args.checkpoints):
        raise PipelineError("give either checkpoint files or --run RUN (with --last N or --best N)")
    if args.run:
        paths = snapshot_paths(args.run, last=args.last, best=args.best)
        kind = f"best{args.best}" if args.best else f"last{len(paths)}"
        out = Path(args.out) if args.out else RunFolder(args.run).checkpoints / f"average_{kind}.pt"
    else:
        if args.last or args.best:
            raise PipelineError("--last/--best choose among a run's snapshots: use them with --run")
        if not args.out:
            raise PipelineError("give --out PATH for the averaged checkpoint")
        paths, out = [Path(p) for p in args.checkpoints], Path(args.out)
    if any(p.resolve() == out.resolve() for p in paths):
        raise PipelineError(f"--out {out} is one of the checkpoints being averaged")
    save_checkpoint(out, average_checkpoints(paths))
    log(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {out}")
    print(out)
    return 0
