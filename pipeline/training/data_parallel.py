"""Synchronous data parallelism for :class:`~pipeline.training.trainer.Trainer` over ``torch.distributed``.

Every rank builds the same deterministic epoch of global batches; at each step rank ``r`` of ``W`` takes its
share of the rows of the global batch (``batch.shard(r, W)``), computes its loss, and the gradients are
summed across ranks before the optimizer step. Each rank's per-token mean loss is rescaled by
``local_tokens / global_tokens`` so that the summed gradient is the gradient of the global batch's
per-token mean — the same step a single process takes on the whole batch (Goyal et al. 2017, "Accurate,
Large Minibatch SGD", keep the global batch and its normalisation when spreading it over workers). The
optimizer, the schedule and gradient clipping then act on identical gradients on every rank, so the
replicas stay equal without broadcasting weights after the first step.

Gradients are reduced by one all-reduce of a flat buffer after ``backward`` (as Horovod does), rather than
through ``DistributedDataParallel``: the task's loss function may call any sub-module of the model, and
the reduction does not depend on going through the wrapper's ``forward``.

Rank 0 validates, writes checkpoints and the logbook; it broadcasts the validation scores so that the
learning-rate plateau and early stopping decide the same on every rank. ``gloo`` on the CPU, ``nccl``
on CUDA; Ray Train (:mod:`pipeline.training.ray_train`) creates the process group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class DataParallel:
    """This process's place in the group; ``world == 1`` means a plain single-process run."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> DataParallel:
        """The group ``torch.distributed`` was initialised with, or a single process."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch):
        """This rank's rows of the global batch (None when the batch has fewer rows than there are ranks)."""
        if not self.active:
            return batch
        if not hasattr(batch, "shard"):
            raise PipelineError(f"{type(batch).__name__} cannot be split across workers (it has no shard method)")
        return batch.shard(self.rank, self.world)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (in float64)."""
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=_device())
        dist.all_reduce(tensor)
        return tensor.tolist()

    def broadcast_parameters(self, model: torch.nn.Module) -> None:
        """Rank 0's weights everywhere (the ranks built the model from the same seed; this makes it certain)."""
        if self.active:
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def reduce_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Sum every gradient over the ranks in one flat all-reduce (a missing gradient counts as zero)."""
        if not self.active:
            return
        params = [p for p in parameters if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            reduced = flat[offset : offset + g.numel()].view_as(g)
            if p.grad is None:
                p.grad = reduced.clone()
            else:
                p.grad.copy_(reduced)
            offset += g.numel()

    def check_replicas(self, model: torch.nn.Module, step: int) -> None:
        """Fail loudly unless every rank holds bit-identical weights (they take identical steps, so any
        difference is a bug or nondeterminism, and would silently grow)."""
        if not self.active:
            return
        with torch.no_grad():
            params = list(model.parameters())
            sums = torch.stack(
                [
                    torch.stack([p.double().sum() for p in params]).sum(),
                    torch.stack([p.double().abs().sum() for p in params]).sum(),
                ]
            )
        sums = sums.to(_device())
        high, low = sums.clone(), -sums
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MAX)
        if not torch.equal(high, -low):
            raise PipelineError(
                f"data-parallel replicas diverged at step {step}: weight sums {(-low).tolist()} .. {high.tolist()}"
            )

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (a small picklable value, e.g. validation scores)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


Reporter = Callable[[dict, "Path | None"], None]  # (metrics, rank 0's last.pt or None)
_REPORTER: list[Reporter | None] = [None]


def reporter() -> Reporter | None:
    """What the trainer calls at each checkpoint besides writing ``last.pt`` (Ray Train's report), if set."""
    return _REPORTER[0]


def set_reporter(report: Reporter | None) -> None:
    _REPORTER[0] = report
