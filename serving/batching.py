"""Dynamic batching with one consumer per model replica: a batch is formed when the model is free.

Why not ``@serve.batch``: in Ray 2.60 its queue forms a batch, starts it as a task and at once forms
the next one (``_BatchQueue._process_batches``; the ``max_concurrent_batches`` semaphore is taken only
inside the task, since ray PR #53096). A batch then holds only what arrived within
``batch_wait_timeout_s``; the requests that queued while the model was busy are not gathered, and
under load batches stayed at 2–3 of a possible 32. Here a single consumer loop takes *everything
waiting* (up to ``max_batch_size`` items and ``max_batch_cost`` cost units, e.g. source subwords)
each time the previous batch has finished: the batch size follows the load, and a request that
arrives at an idle model starts at once (no timer).

Each waiting item carries a deadline and an ``abandoned`` flag (its caller was cancelled). Items
already dead when a batch is formed never reach the model; items that die while their batch decodes
are reported by :meth:`Waiting.wanted`, which the search asks between decoder steps so their rows
leave the batch (``pipeline.search``'s ``keep``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Waiting:
    """One queued item and the future its caller awaits."""

    item: Any
    cost: int
    deadline: float  # time.monotonic() after which nobody waits for the answer
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # set on the event loop when the caller is cancelled

    def wanted(self) -> bool:
        """Still worth decoding? Read from the decode thread (a bool and a clock: no lock needed)."""
        return not self.abandoned and time.monotonic() < self.deadline


class BatchStats:
    """What the batches held and cost: the evidence that batching happens and what it buys."""

    def __init__(self, window: int = 4096):
        self.sizes: Counter[int] = Counter()
        self.queue_wait_s: deque[float] = deque(maxlen=window)  # per item: enqueued → its batch starts
        self.decode_s: deque[float] = deque(maxlen=window)  # per batch, wall clock
        self.decode_cpu_s: deque[float] = deque(maxlen=window)  # per batch, CPU time of the decoding thread
        self.items = self.batches = 0
        self.dropped_waiting = 0  # dead before their batch started: never reached the model
        self.dropped_decoding = 0  # nobody waited any more when their batch ended (rows dropped mid-search)
        self.failed_items = 0  # answered with a per-item error

    def record(self, size: int, waits: list[float], seconds: float, cpu_seconds: float) -> None:
        self.sizes[size] += 1
        self.items += size
        self.batches += 1
        self.queue_wait_s.extend(waits)
        self.decode_s.append(seconds)
        self.decode_cpu_s.append(cpu_seconds)

    def summary(self) -> dict:
        sizes = np.repeat(np.array(list(self.sizes), dtype=float), list(self.sizes.values()))
        return {
            "batches": self.batches,
            "items": self.items,
            "max_batch": max(self.sizes, default=0),
            "median_batch": float(np.median(sizes)) if len(sizes) else 0.0,
            "mean_batch": round(self.items / self.batches, 2) if self.batches else 0.0,
            "histogram": {str(k): v for k, v in sorted(self.sizes.items())},
            "queue_wait_ms": _percentiles(self.queue_wait_s),
            "decode_ms": _percentiles(self.decode_s),
            "decode_cpu_ms": _percentiles(self.decode_cpu_s),
            "dropped_waiting": self.dropped_waiting,
            "dropped_decoding": self.dropped_decoding,
            "failed_items": self.failed_items,
        }


def _percentiles(values) -> dict:
    if not values:
        return {"mean": None, "p50": None, "p99": None}
    ms = np.asarray(values) * 1000
    return {
        "mean": round(float(ms.mean()), 2),
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
    }


class BatchQueue:
    """``await submit(item)`` → the result ``process`` computed for it, batched with whatever waited.

    ``process(batch: list[Waiting]) -> list`` runs in a worker thread (the event loop stays free to
    accept requests) and returns one entry per item: a result, or an ``Exception`` for that item
    alone. An exception escaping ``process`` fails only that batch's items, never the loop.
    """

    def __init__(
        self,
        process: Callable[[list[Waiting]], list],
        max_batch_size: int = 32,
        max_batch_cost: int | None = None,
        wait_s: float = 0.0,
    ):
        self.process, self.stats = process, BatchStats()
        self.configure(max_batch_size, max_batch_cost, wait_s)
        self._waiting: deque[Waiting] = deque()
        self._ready: asyncio.Event | None = None
        self._consumer: asyncio.Task | None = None
        self.busy = False

    def configure(self, max_batch_size: int, max_batch_cost: int | None = None, wait_s: float = 0.0) -> None:
        """``wait_s`` > 0 lets a batch that is not full wait that long for more items (off by default:
        under load the queue fills while the model works, so waiting only adds latency)."""
        if max_batch_size < 1 or wait_s < 0 or (max_batch_cost is not None and max_batch_cost < 1):
            raise ValueError(
                f"need max_batch_size >= 1, max_batch_cost >= 1 or None, wait_s >= 0; got "
                f"{max_batch_size}, {max_batch_cost}, {wait_s}"
            )
        self.max_batch_size, self.max_batch_cost, self.wait_s = max_batch_size, max_batch_cost, wait_s

    def __len__(self) -> int:
        return len(self._waiting)

    async def submit(self, item: Any, timeout_s: float, cost: int = 1) -> Any:
        loop = asyncio.get_running_loop()
        if self._consumer is None or self._consumer.done():
            self._ready = asyncio.Event()
            self._consumer = loop.create_task(self._consume())
        entry = Waiting(item, cost, time.monotonic() + timeout_s, loop.create_future())
        self._waiting.append(entry)
        self._ready.set()
        try:
            return await entry.future
        except asyncio.CancelledError:
            entry.abandoned = True  # the decode thread sees it between steps
            raise

    def _take(self) -> list[Waiting]:
        batch, cost = [], 0
        while self._waiting and len(batch) < self.max_batch_size:
            entry = self._waiting[0]
            if not entry.wanted() or entry.future.done():
                self._waiting.popleft()
                self.stats.dropped_waiting += 1
                if not entry.future.done():
                    entry.future.set_exception(TimeoutError("waited past its deadline"))
                continue
            if batch and self.max_batch_cost is not None and cost + entry.cost > self.max_batch_cost:
                break
            batch.append(self._waiting.popleft())
            cost += entry.cost
        return batch

    async def _consume(self) -> None:
        while True:
            await self._ready.wait()
            if self.wait_s and len(self._waiting) < self.max_batch_size:
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            if not self._waiting:
                self._ready.clear()
            if batch:
                await self._run(batch)

    def _timed(self, batch: list[Waiting], cpu: list[float]) -> list:
        """``process`` in the worker thread, its CPU time in ``cpu[0]`` (wall ≫ CPU: the thread waited)."""
        started = time.thread_time()
        try:
            return self.process(batch)
        finally:
            cpu[0] = time.thread_time() - started

    async def _run(self, batch: list[Waiting]) -> None:
        started = time.monotonic()
        self.busy = True
        cpu = [0.0]
        try:
            results = await asyncio.to_thread(self._timed, batch, cpu)
        except Exception as err:  # noqa: BLE001 - a fault of this batch; the queue must go on serving
            results = [err] * len(batch)
        finally:
            self.busy = False
        self.stats.record(len(batch), [started - e.enqueued for e in batch], time.monotonic() - started, cpu[0])
        self.stats.dropped_decoding += sum(not e.wanted() for e in batch)
        self.stats.failed_items += sum(isinstance(r, Exception) for r in results)
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():  # cancelled by its caller meanwhile
                continue
            if isinstance(result, Exception):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)
