"""A training loop that knows nothing about the model.

The task hands it a model, a ``loss_fn(model, batch) -> LossOutput``, a ``BatchSource``
whose epochs are deterministic given (seed, epoch), a ``validate(model)`` callback and
the metadata that makes checkpoints self-describing. The loop owns the optimizer, LR
schedule, mixed precision, gradient clipping, logging, early stopping and checkpoints.

Resuming restores model, optimizer, schedule, grad-scaler, RNG state and the position in
the current epoch, so a run killed mid-epoch continues exactly as if uninterrupted.

Under ``torch.distributed`` (``pipeline train --workers N``) the same loop runs on every rank, each on its
rows of every global batch (:mod:`pipeline.training.data_parallel`); rank 0 validates and writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from pydantic import Field

from pipeline.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pipeline.config import Config, TaskConfig
from pipeline.device import DeviceName, PrecisionName, Runtime, resolve_runtime
from pipeline.progress import log
from pipeline.runs import RunFolder
from pipeline.training.data_parallel import DataParallel, reporter
from pipeline.training.logbook import Logbook
from pipeline.training.schedule import ScheduleName, lr_multiplier

_clock = time.perf_counter  # checkpoint_every_s's clock (tests replace it)


class LoopConfig(Config):
    """What every training loop's ``train:`` section holds (the supervised Trainer's and the GAN loop's)."""

    seed: int = Field(1, description="seeds parameters, dropout, batch order and sampling")
    device: DeviceName = Field("auto", description="auto (CUDA when present), cpu or cuda")
    threads: int | None = Field(None, description="torch CPU threads (null: $PIPELINE_THREADS, else every core)")
    batch_size: int = Field(128, description="training examples per optimizer step")
    lr: float = Field(1e-3, description="peak learning rate (Adam)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's (beta1, beta2)")
    max_steps: int | None = Field(None, description="upper bound on optimizer steps (null: none)")
    log_every: int = Field(50, description="log training loss and throughput every N steps")
    checkpoint_every: int = Field(500, description="write checkpoints/last.pt every N steps (and at the end)")


class TrainConfig(LoopConfig):
    """The ``train:`` section of the supervised training loop (:class:`Trainer`)."""

    precision: PrecisionName = Field(
        "auto", description="auto (bf16/fp16 autocast on CUDA, fp32 on CPU), fp32, bf16 or fp16"
    )
    optimizer: Literal["adam", "adamw"] = Field("adam", description="adam, or adamw (decoupled weight decay)")
    weight_decay: float = Field(0.0, description="L2 (adam) or decoupled (adamw) weight decay")
    schedule: ScheduleName = Field(
        "constant", description="after warm-up: constant, inverse_sqrt or cosine (cosine needs max_steps)"
    )
    warmup_steps: int = Field(0, description="linear learning-rate warm-up steps")
    plateau_factor: float = Field(
        0.5, description="multiply the learning rate by this when the validation score does not improve"
    )
    plateau_patience: int = Field(1, description="... after this many validations without improvement")
    min_lr_scale: float = Field(0.01, description="the plateau decay never goes below lr * this")
    clip_grad_norm: float | None = Field(1.0, description="gradient-norm clipping (null: off)")
    max_epochs: int = Field(10, description="upper bound on passes over the training data")
    validate_every: int | None = Field(None, description="validate every N steps (null: after every epoch)")
    early_stopping_patience: int = Field(5, description="stop after this many validations without a better score")
    keep_last: int = Field(
        0, description="also keep the weights of the last N validations as checkpoints/step_<step>.pt (0: none)"
    )
    keep_best: int = Field(0, description="... and of the N best validations (for `pipeline average --best N`)")
    checkpoint_every_s: float | None = Field(
        None,
        gt=0,
        description="also write checkpoints/last.pt at every multiple of this many seconds of training, counted "
        "from the end of this process's first update and checked after each update (null: by steps only)",
    )


class SequenceTrainConfig(TrainConfig):
    """:class:`TrainConfig` of the tasks that generate sequences (translation, captioning)."""

    label_smoothing: float = Field(0.0, description="label-smoothing epsilon of the cross-entropy")
    valid_limit: int | None = Field(None, description="validate on the first N validation examples only (null: all)")


class Batch(Protocol):
    n_tokens: int

    def to(self, device: torch.device) -> Batch: ...


class BatchSource(Protocol):
    def epoch(self, epoch: int) -> Sequence[Batch]: ...


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to back-propagate (already normalised)
    n_tokens: int
    extras: dict[str, float] | None = None  # per-token terms logged beside the loss, e.g. {"xent": ..., "penalty": ...}


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_score: float | None = None
    bad_validations: int = 0
    lr_scale: float = 1.0
    stopped_early: bool = False


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        runtime: Runtime,
        model: torch.nn.Module,
        loss_fn: Callable[[torch.nn.Module, Any], LossOutput],
        batches: BatchSource,
        validate: Callable[[torch.nn.Module], dict[str, float]] | None,
        run_dir: Path,
        meta: dict[str, Any],
        score_name: str = "score",
        higher_is_better: bool = True,
        on_step: Callable[[int], None] | None = None,
        unit: str = "tok",
        perplexity: bool = True,
    ):
        """``unit`` names what ``LossOutput.n_tokens`` counts in the log line (tok, img); ``perplexity``
        logs exp(loss), which means something only for a per-token cross-entropy."""
        self.cfg, self.runtime, self.model = cfg, runtime, model.to(runtime.device)
        self.unit, self.perplexity = unit, perplexity
        self.loss_fn, self.batches, self.validate_fn = loss_fn, batches, validate
        self.run_dir, self.meta = Path(run_dir), meta
        self.score_name, self.higher_is_better, self.on_step = score_name, higher_is_better, on_step
        self.folder = RunFolder(run_dir)
        self.parallel = DataParallel.current()
        self.logbook = Logbook(self.run_dir, enabled=self.parallel.is_main)
        self.report = reporter()  # Ray Train's report under ``--workers``, else None
        self.state = TrainState()  # before LambdaLR, whose constructor already calls the lambda
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        schedule = lr_multiplier(cfg.schedule, cfg.warmup_steps, cfg.max_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule(step) * self.state.lr_scale
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=runtime.needs_grad_scaler)
        self._clock_start: float | None = None  # end of this process's first update (checkpoint_every_s)
        self._next_mark = 1  # the multiple of checkpoint_every_s that writes the next timed checkpoint

    # ---- checkpoints -------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.folder.last

    @property
    def best_path(self) -> Path:
        return self.folder.best

    def _train_state(self) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "state": asdict(self.state),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
        }

    def save_last(self, why: str = "") -> None:
        """Write ``last.pt`` and log one line that names the step (``why`` says what asked for it)."""
        if self.parallel.is_main:
            save_checkpoint(self.last_path, Checkpoint(self.meta, self.model.state_dict(), self._train_state()))
            log(f"checkpoint at step {self.state.step}{f' ({why})' if why else ''}: {self.last_path}")
        if self.report is not None:  # every rank reports at the same steps; rank 0 attaches last.pt
            state = self.state
            metrics = {"step": state.step, "epoch": state.epoch, "best_" + self.score_name: state.best_score}
            self.report(metrics, self.last_path if self.parallel.is_main else None)

    def resume(self) -> bool:
        if not self.last_path.exists():
            return False
        ckpt = load_checkpoint(self.last_path)
        self.model.load_state_dict(ckpt.model)
        train = ckpt.train
        self.state = TrainState(**train["state"])
        self.optimizer.load_state_dict(train["optimizer"])
        self.scheduler.load_state_dict(train["scheduler"])
        self.scaler.load_state_dict(train["scaler"])
        torch.set_rng_state(train["rng"]["cpu"])
        if "cuda" in train["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(train["rng"]["cuda"])
        self.logbook.truncate_after(self.state.step)
        if not self.parallel.is_main:  # last.pt holds rank 0's generator: the others draw their own dropout
            torch.manual_seed(self._rank_seed())
        log(
            f"resumed from {self.last_path} at step {self.state.step} (epoch {self.state.epoch}, "
            f"batch {self.state.batch_in_epoch})"
        )
        return True

    # ---- loop --------------------------------------------------------------------
    def fit(self, resume: bool = True) -> TrainState:
        if not (resume and self.resume()):
            torch.manual_seed(self._rank_seed())
            self.logbook.reset()
        self.parallel.broadcast_parameters(self.model)
        cfg, state = self.cfg, self.state
        while state.epoch < cfg.max_epochs and not self._should_stop():
            batches = self.batches.epoch(state.epoch)
            meter = _Meter()
            while state.batch_in_epoch < len(batches) and not self._should_stop():
                meter.add(self._train_step(batches[state.batch_in_epoch]))
                state.step += 1
                self.parallel.check_replicas(self.model, state.step)
                state.batch_in_epoch += 1
                self._after_step(meter)
            if state.batch_in_epoch >= len(batches):
                state.epoch += 1
                state.batch_in_epoch = 0
                if cfg.validate_every is None:
                    self._validate()
        if self.validate_fn is not None and state.best_score is None:
            self._validate()
        self.save_last()
        self.logbook.plot()
        return state

    def _rank_seed(self) -> int:
        """The run's seed on rank 0 (a single process); distinct dropout streams on the other ranks."""
        return self.cfg.seed + 1_000_003 * self.parallel.rank + self.state.step

    def _should_stop(self) -> bool:
        max_steps = self.cfg.max_steps
        return self.state.stopped_early or (max_steps is not None and self.state.step >= max_steps)

    def _after_step(self, meter: _Meter) -> None:
        cfg, step = self.cfg, self.state.step
        if step % cfg.log_every == 0:
            row = meter.flush(self.parallel)
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            if self.perplexity:  # of the cross-entropy term alone when the loss also adds penalties
                row["ppl"] = math.exp(min(row.get("xent", row["loss"]), 50.0))
            self.logbook.write("train", step, epoch=self.state.epoch, **row)
            ppl = f" ppl {row['ppl']:.1f}" if self.perplexity else ""
            if self.parallel.is_main:
                log(
                    f"step {step} epoch {self.state.epoch} loss {row['loss']:.3f}{ppl} "
                    f"{row['tokens_per_s']:.0f} {self.unit}/s lr {row['lr']:.2e}"
                )
        if cfg.validate_every and step % cfg.validate_every == 0:
            self._validate()
        timed = self._timed_checkpoint()
        if timed or step % cfg.checkpoint_every == 0:
            self.save_last(timed or f"every {cfg.checkpoint_every} steps")
        if self.on_step is not None:
            self.on_step(step)

    def _timed_checkpoint(self) -> str:
        """With ``checkpoint_every_s``: a reason when this update closed one or more marks, else "".

        Rank 0's clock decides for every rank, since they all must write (and report) at the same steps.
        """
        every = self.cfg.checkpoint_every_s
        if every is None:
            return ""
        now = _clock()
        if self._clock_start is None:
            self._clock_start = now
        elapsed = now - self._clock_start
        marks = int(elapsed // every) if elapsed >= self._next_mark * every else 0
        marks = self.parallel.broadcast(marks)
        if not marks:
            return ""
        self._next_mark = marks + 1
        return f"{every:g} s mark {marks}, {elapsed:.3f} s"

    def _train_step(self, batch: Batch) -> tuple[float, int, dict[str, float]]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        out = self._forward_backward(self.parallel.shard(batch))
        self.parallel.reduce_gradients(self.model.parameters())
        if self.cfg.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return out

    def _forward_backward(self, batch: Batch | None) -> tuple[float, int, dict[str, float]]:
        """Loss and gradients of this rank's rows; under data parallelism each rank's per-token mean is
        weighted by its share of the global batch's tokens, so the summed gradients are the global mean's."""
        if batch is None:  # fewer rows than ranks: this rank adds nothing to the step
            self.parallel.sum([0.0])
            return 0.0, 0, {}
        batch = batch.to(self.runtime.device)
        with self.runtime.autocast():
            out = self.loss_fn(self.model, batch)
        (total,) = self.parallel.sum([float(out.n_tokens)])
        self.scaler.scale(out.loss * (out.n_tokens / max(total, 1.0))).backward()
        return float(out.loss.detach()) * out.n_tokens, out.n_tokens, out.extras or {}

    def _validate(self) -> None:
        if self.validate_fn is None:
            return
        state, cfg = self.state, self.cfg
        scores = None
        if self.parallel.is_main:
            self.model.eval()
            with torch.no_grad(), self.runtime.autocast():
                scores = self.validate_fn(self.model)
        scores = self.parallel.broadcast(scores)
        score = scores[self.score_name]
        better = state.best_score is None or (
            score > state.best_score if self.higher_is_better else score < state.best_score
        )
        if self.parallel.is_main and (cfg.keep_last or cfg.keep_best):
            self.folder.keep_snapshot(
                Checkpoint({**self.meta, "scores": scores, "step": state.step}, self.model.state_dict()),
                state.step, self.score_name, self.higher_is_better, cfg.keep_last, cfg.keep_best,
            )  # fmt: skip
        if better:
            state.best_score, state.bad_validations = score, 0
            if self.parallel.is_main:
                save_checkpoint(
                    self.best_path,
                    Checkpoint({**self.meta, "scores": scores, "step": state.step}, self.model.state_dict()),
                )
        else:
            state.bad_validations += 1
            if state.bad_validations % cfg.plateau_patience == 0:
                state.lr_scale = max(state.lr_scale * cfg.plateau_factor, cfg.min_lr_scale)
            if state.bad_validations >= cfg.early_stopping_patience:
                state.stopped_early = True
        self.logbook.write("valid", state.step, epoch=state.epoch, **scores)
        self.logbook.plot()
        shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        if self.parallel.is_main:
            log(f"validation at step {state.step}: {shown}{' (best)' if better else ''}")


def train_runtime(cfg: TrainConfig) -> Runtime:
    return resolve_runtime(cfg.device, cfg.precision, cfg.threads)


def fit_run(cfg: TaskConfig, meta: dict[str, Any], restart: bool = False, **trainer_args: Any) -> Path:
    """The run every supervised task trains: folder and config copy, then :class:`Trainer` on ``cfg.train``
    (``trainer_args``: the rest of its arguments, ``runtime``, ``model``, ``loss_fn``, ``batches``, ...).

    ``meta`` holds what the task's checkpoints carry besides the task and its config (vocabularies, shapes).
    """
    folder = RunFolder(cfg.run.dir).start(cfg)
    trainer = Trainer(cfg.train, run_dir=folder.path, meta=RunFolder.meta(cfg, **meta), **trainer_args)
    parameters = sum(p.numel() for p in trainer.model.parameters()) / 1e6
    main = trainer.parallel.is_main  # under --workers, rank 0 speaks for the group
    if main:
        log(f"model: {parameters:.2f}M parameters on {trainer.runtime.device} ({trainer.runtime.amp_dtype or 'fp32'})")
    started = time.perf_counter()
    state = trainer.fit(resume=not restart)
    if main:
        log(
            f"training finished at step {state.step} after {time.perf_counter() - started:.0f}s; best validation "
            f"{trainer.score_name} {state.best_score}{' (early stop)' if state.stopped_early else ''}"
        )
    return folder.path


class _Meter:
    """Token-weighted running loss and throughput between two log lines."""

    def __init__(self) -> None:
        self.loss_sum, self.tokens, self.start = 0.0, 0, time.perf_counter()
        self.extras: dict[str, float] = {}  # token-weighted sums of the loss's extra terms

    def add(self, item: tuple[float, int, dict[str, float]]) -> None:
        loss_sum, tokens, extras = item
        self.loss_sum += loss_sum
        self.tokens += tokens
        for name, value in extras.items():
            self.extras[name] = self.extras.get(name, 0.0) + value * tokens

    def flush(self, parallel: DataParallel) -> dict[str, float]:
        """The rows since the last flush, summed over the ranks (every rank flushes at the same step)."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        names = sorted(self.extras)
        loss_sum, all_tokens, *extras = parallel.sum([self.loss_sum, self.tokens, *(self.extras[n] for n in names)])
        tokens = max(all_tokens, 1)
        row = {
            "loss": loss_sum / tokens,
            "tokens_per_s": all_tokens / elapsed,
            **{name: total / tokens for name, total in zip(names, extras)},
        }
        self.__init__()
        return row
