"""Train JoeyNMT for a wall-time budget, writing checkpoints along the way (runs in ``.venv-peer``).

JoeyNMT's own ``TrainManager`` runs the loop unchanged; a subclass only watches the clock at the start
of each update. The clock starts once the first update is done and stops at the budget. Checkpoints
are JoeyNMT's own, written by its ``_save_checkpoint``; their writing time counts as training time.
When to write one is decided by ``snapshot_plan.SnapshotPlan``, the rule the pipeline side uses too.
The last snapshot ends the run (through the ``KeyboardInterrupt`` path JoeyNMT has for that).

    .venv-peer/bin/python scripts/peer/joey_train.py CONFIG --minutes M --threads T --out snapshots.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import torch
from joeynmt.config import load_config, parse_global_args, set_validation_args
from joeynmt.helpers import make_model_dir
from joeynmt.helpers_for_ddp import get_logger
from joeynmt.prediction import prepare
from joeynmt.training import TrainManager
from snapshot_plan import SnapshotPlan  # beside this file; the harness imports the same rule


class BudgetTrainManager(TrainManager):
    """JoeyNMT's TrainManager plus a wall clock, the snapshot plan and the budget."""

    def __init__(self, *args, plan: SnapshotPlan, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.started: float | None = None
        self.pairs = self.tokens = 0  # sentence pairs and target tokens of all updates done so far
        self.first_update: dict[str, int] = {}  # the same for update 1, which the clock leaves out

    def _train_step(self, batch):
        steps = self.stats.steps  # updates completed before this batch
        if steps == 1 and self.started is None:
            self.started = time.perf_counter()
            self.first_update = {"pairs": self.pairs, "tgt_tokens": self.tokens}
        if self.started is not None and self.plan.take(steps, time.perf_counter() - self.started):
            self._save_checkpoint(False, float("nan"))  # <model_dir>/<steps>.ckpt, JoeyNMT's own format
            for snap in self.plan.taken:
                if snap["step"] == steps:
                    snap.update(
                        pairs_total=self.pairs,
                        tgt_tokens_total=self.tokens,
                        path=str(Path(self.model_dir) / f"{steps}.ckpt"),
                    )
            if self.plan.finished:
                raise KeyboardInterrupt  # JoeyNMT's own way out: log, save the current weights, return
        self.pairs += int(batch.nseqs)
        self.tokens += int(batch.ntokens)
        return super()._train_step(batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--snapshots", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(Path(args.config))
    model_dir = Path(cfg["model_dir"])
    make_model_dir(model_dir, overwrite=True)
    get_logger("", log_file=str(model_dir / "train.log"))
    parsed = parse_global_args(cfg, rank=0, mode="train")
    model, train_data, dev_data, _ = prepare(parsed, rank=0, mode="train")
    trainer = BudgetTrainManager(
        model=model,
        model_dir=parsed.model_dir,
        device=parsed.device,
        n_gpu=parsed.n_gpu,
        rank=0,
        num_workers=parsed.num_workers,
        autocast=parsed.autocast,
        seed=parsed.seed,
        train_args=parsed.train,
        dev_args=set_validation_args(parsed.test),
        plan=SnapshotPlan(args.minutes * 60, args.snapshots),
    )
    trainer.train_and_validate(train_data=train_data, valid_data=dev_data)
    summary = {
        "system": "joeynmt",
        "joeynmt": version("joeynmt"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "params": sum(p.numel() for p in model.parameters()),
        "src_vocab": len(model.src_vocab),
        "tgt_vocab": len(model.trg_vocab),
        "train_pairs": len(train_data),
        "first_update": trainer.first_update,
        "snapshots": trainer.plan.taken,
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
