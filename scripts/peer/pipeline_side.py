"""The pipeline side of the peer benchmark: ``pipeline train`` driven as a subprocess, then decoding.

The trainer has no time budget, so the harness watches it from outside. ``train.log_every=1`` makes it
print one line per update; each line is time-stamped on arrival, which gives the end time of every
update. ``train.checkpoint_every_s=budget/S`` makes the trainer apply the snapshot rule of
:class:`~scripts.peer.snapshot_plan.SnapshotPlan` (shared with the JoeyNMT side) itself: it writes
``checkpoints/last.pt`` at the first update at or after each mark and logs ``checkpoint at step N (… mark
k …)``, so the pipeline writes as many checkpoints as JoeyNMT does. ``train.checkpoint_every`` is
JoeyNMT's last update count, the equal-updates point. On each checkpoint line a hard link keeps that
version (the trainer replaces the file by rename before logging, so the link is never half-written and
costs no copy). Validation is pushed past the budget, as on the JoeyNMT side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from scripts.peer.snapshot_plan import SnapshotPlan

CONFIG = "conf/translate_en_de.yaml"
# JoeyNMT's attentive LSTM at the pipeline's own config (≈ 64 sentences per batch with 1,100 tokens).
ARCHITECTURE = (
    "model.encoder.num_layers=1",
    "model.decoder.attention=luong_general",
    "model.decoder.input_feeding=true",
    "model.decoder.tie_embeddings=false",
    "data.src_vocab_size=4400",
    "data.tgt_vocab_size=5800",
    "train.batch_size=1100",  # tokens
)
NEVER = 1_000_000_000  # a step count no budget reaches
STEP_LINE = re.compile(r"^step (\d+) .* ([\d.]+) tok/s")
CHECKPOINT_LINE = re.compile(r"^checkpoint at step (\d+)(?: \((?:.* mark (\d+),.*|[^)]*)\))?:")


def overrides(run_dir: Path, threads: int, plan: SnapshotPlan, keep_step: int | None, precision: str = "fp32"):
    """The architecture plus what the harness needs: its run folder, one log line per update, ``last.pt``
    at the plan's marks and at ``keep_step``, no validation, no epoch limit within any budget.
    ``precision`` bf16 trains under CPU autocast (matrix products in bfloat16, weights and optimizer in
    fp32)."""
    return [
        *ARCHITECTURE,
        f"run.dir={run_dir}",
        f"train.threads={threads}",
        f"train.precision={precision}",
        "train.log_every=1",
        f"train.checkpoint_every={keep_step or NEVER}",
        f"train.checkpoint_every_s={plan.targets[0]!r}",
        f"train.validate_every={NEVER}",
        "train.max_epochs=1000",
    ]


def load_config(run_dir: Path, threads: int, plan: SnapshotPlan, keep_step: int | None, precision: str = "fp32"):
    from pipeline.config import compose, read_yaml, validate
    from pipeline.inference.translator import TranslationConfig

    args = overrides(run_dir, threads, plan, keep_step, precision)
    return validate(compose(read_yaml(CONFIG), None, args), TranslationConfig)


class Watcher:
    """Reads the trainer's log lines, keeps the checkpoints it wrote at the plan's marks (and at the kept
    steps), says when the budget is over."""

    def __init__(self, plan: SnapshotPlan, run_dir: Path, keep_steps: set[int]):
        self.plan, self.keep_steps = plan, keep_steps
        self.last = run_dir / "checkpoints" / "last.pt"
        self.snap_dir = run_dir / "snapshots"
        self.snap_dir.mkdir(parents=True, exist_ok=True)
        self.end_times: dict[int, float] = {}  # update → arrival time of its log line
        self.logged_tok_s: dict[int, float] = {}  # update → the trainer's own tokens/s for it
        self.written: set[int] = set()  # updates after which the trainer wrote last.pt
        self.kept: dict[int, Path] = {}

    def elapsed(self, step: int) -> float:
        return self.end_times[step] - self.end_times[1]

    def line(self, text: str, now: float) -> None:
        match = STEP_LINE.match(text)
        if match:
            step = int(match.group(1))
            self.end_times[step], self.logged_tok_s[step] = now, float(match.group(2))
            return
        match = CHECKPOINT_LINE.match(text)
        if not match or int(match.group(1)) not in self.end_times:
            return
        step = int(match.group(1))
        self.written.add(step)
        ks = self.plan.record(step, self.elapsed(step), int(match.group(2))) if match.group(2) else []
        if ks or step in self.keep_steps:
            self.kept[step] = self._keep(step)

    def _keep(self, step: int) -> Path:
        target = self.snap_dir / f"step-{step}.pt"
        target.unlink(missing_ok=True)
        os.link(self.last, target)
        return target


def train(
    run_dir: Path,
    minutes: float,
    threads: int,
    snapshots: int,
    keep_step: int | None,
    env: dict[str, str],
    precision: str = "fp32",
) -> Watcher:
    """Train until the plan's last snapshot; returns the watcher with its times and kept checkpoints."""
    from pipeline.errors import PipelineError

    plan = SnapshotPlan(minutes * 60, snapshots)
    watcher = Watcher(plan, run_dir, {keep_step} if keep_step else set())
    command = [
        str(Path(sys.executable).with_name("pipeline")),
        "train",
        CONFIG,
        *overrides(run_dir, threads, plan, keep_step, precision),
        "--restart",
    ]
    print(f"[pipeline] {' '.join(command)}", file=sys.stderr, flush=True)
    log = run_dir / "train.log"
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        # a guard, should the log lines ever stop matching: the trainer would otherwise run 1,000 epochs
        guard = threading.Timer(minutes * 60 * 3 + 1800, proc.kill)
        guard.start()
        for text in proc.stdout:
            watcher.line(text, time.perf_counter())
            handle.write(text)
            if watcher.plan.finished:
                proc.terminate()  # the kept checkpoints are complete files; nothing else is needed
                break
        proc.wait()
        guard.cancel()
    if not watcher.plan.finished:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        raise PipelineError(f"pipeline train stopped (exit {proc.returncode}) before the budget; its log: {log}")
    return watcher


def replayed_batches(cfg, steps: int) -> list[tuple[int, int]]:
    """(sentence pairs, target tokens) of updates 1..steps, from the task's own batch order.

    The translation task trains on ``TokenBucketBatches(train.src, train.tgt, train.batch_size, seed)`` epoch
    after epoch; rebuilding the same batches gives exact counts without instrumenting the trainer.
    """
    from pipeline.data.batching import TokenBucketBatches
    from pipeline.data.translation_stages import prepare_translation

    split = prepare_translation(cfg.data, cfg.run.stages).split("train")
    batches = TokenBucketBatches(split.src, split.tgt, cfg.train.batch_size, cfg.train.seed)
    counts: list[tuple[int, int]] = []
    epoch = 0
    while len(counts) < steps:
        for batch in batches.epoch(epoch):
            counts.append((len(batch.index), batch.n_tokens))
            if len(counts) == steps:
                break
        epoch += 1
    return counts


def replay_mismatch(watcher: Watcher, counts: list[tuple[int, int]]) -> float:
    """Median relative gap between the replayed tokens per update and the trainer's own tokens/s × the
    update's duration: near 0 when the replay matches what was trained (a guard against drift)."""
    gaps = []
    for step in range(2, len(counts) + 1):
        if step in watcher.end_times and step - 1 in watcher.end_times and step - 1 not in watcher.written:
            seconds = watcher.end_times[step] - watcher.end_times[step - 1]
            logged = watcher.logged_tok_s[step] * seconds
            gaps.append(abs(logged - counts[step - 1][1]) / max(counts[step - 1][1], 1))
    gaps.sort()
    return gaps[len(gaps) // 2] if gaps else float("nan")


def summary(watcher: Watcher, cfg) -> dict:
    """The training record in the JoeyNMT driver's shape: snapshots with their counts, plus kept extras."""
    final = watcher.plan.taken[-1]["step"]
    counts = replayed_batches(cfg, max([final, *watcher.kept]))

    def record(step: int) -> dict:
        return {
            "step": step,
            "elapsed_s": round(watcher.elapsed(step), 3),
            "path": str(watcher.kept[step]),
            "pairs_total": sum(c[0] for c in counts[:step]),
            "tgt_tokens_total": sum(c[1] for c in counts[:step]),
        }

    snapshots = [{**snap, **record(snap["step"])} for snap in watcher.plan.taken]
    extra = [record(step) for step in sorted(watcher.keep_steps & set(watcher.kept))]
    return {
        "system": "pipeline",
        "first_update": {"pairs": counts[0][0], "tgt_tokens": counts[0][1]},
        "snapshots": snapshots,
        "extra": extra,
        "replay_mismatch": round(replay_mismatch(watcher, counts), 4),
    }


def translator(checkpoint: Path, threads: int, quantize: str = "none"):
    from pipeline.inference.translator import Translator

    return Translator.from_checkpoint(checkpoint, device="cpu", threads=threads, quantize=quantize)


def decode(model, sources: list[str], beam_size: int) -> tuple[list[str], float]:
    """Detokenised hypotheses and the seconds of the search alone (sources encoded before the timer)."""
    src = model.encode_texts(sources)
    started = time.perf_counter()
    found = model.translate_ids(src, beam_size=beam_size)
    seconds = time.perf_counter() - started
    return [model.detokenize(hyps[0].tokens) for hyps in found], seconds
