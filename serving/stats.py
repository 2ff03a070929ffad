"""Batching statistics of every model replica, not just the one a handle call happens to reach.

A handle call goes to one replica of its choice, so asking the models themselves shows one replica
at a time. Instead every model replica pushes a snapshot (batch-size histogram, queue wait, decode
time, queue length, memory) to the one-replica ``stats`` deployment twice a second while it works and
every few seconds while idle; ``/v1/stats`` reads them all. A replica that stops reporting (killed)
drops out after ``STALE_S``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable

from ray import serve

STALE_S = 10.0
PUSH_EVERY_S = 0.5
HEARTBEAT_S = 3.0
log = logging.getLogger("ray.serve")


@serve.deployment(name="stats", num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0})
class StatsBoard:
    def __init__(self):
        self.replicas: dict[tuple[str, str], tuple[float, dict]] = {}

    def update(self, deployment: str, replica: str, snapshot: dict) -> None:
        self.replicas[(deployment, replica)] = (time.monotonic(), snapshot)

    def read(self) -> dict:
        now = time.monotonic()
        self.replicas = {k: v for k, v in self.replicas.items() if now - v[0] < STALE_S}
        out: dict[str, dict] = {}
        for (deployment, replica), (seen, snapshot) in sorted(self.replicas.items()):
            out.setdefault(deployment, {})[replica] = {**snapshot, "reported_s_ago": round(now - seen, 2)}
        return out


def memory() -> dict:
    """This process's resident set now and at its peak, in MiB."""
    with open("/proc/self/statm") as handle:
        rss_pages = int(handle.read().split()[1])
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rss_mib = rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {"rss_mib": round(rss_mib, 1), "peak_rss_mib": round(peak_kib / 1024, 1)}


class StatsReporter:
    """Runs in a model replica: pushes ``snapshot()`` to the board (if any) in the background."""

    def __init__(self, board, deployment: str, snapshot: Callable[[], dict]):
        self.board, self.deployment, self.snapshot = board, deployment, snapshot
        self.replica = _replica_id()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Idempotent; a no-op outside a running event loop (the first request starts it then)."""
        if self.board is None or (self._task is not None and not self._task.done()):
            return
        try:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        except RuntimeError:
            pass

    async def _loop(self) -> None:
        last, sent = None, 0.0
        while True:
            snapshot = self.snapshot()
            counters = {k: v for k, v in snapshot.items() if k != "memory"}  # memory alone is no news
            if counters != last or time.monotonic() - sent > HEARTBEAT_S:
                try:
                    await self.board.update.remote(self.deployment, self.replica, snapshot)
                    last, sent = counters, time.monotonic()
                except Exception as err:  # noqa: BLE001 - stats must never hurt serving; retry next round
                    log.warning("stats push failed: %s", err)
            await asyncio.sleep(PUSH_EVERY_S)


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - outside Serve (unit tests)
        return f"pid{os.getpid()}"
