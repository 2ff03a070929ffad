"""Load generator: N concurrent asyncio clients against 127.0.0.1, bounded in requests and seconds.

Each client sends its next request as soon as the previous one is answered (closed loop), so the
offered load is exactly ``clients`` requests in flight. Texts are real Multi30k test sentences, images
real Flickr8k test images. Reports throughput and p50/p95/p99 latency of the 200-answered requests,
counts every other status (and whether refusals carried ``Retry-After``), and, from ``/v1/stats``
before and after, the batches the model replicas formed during the run: per-batch histogram, median,
queue wait and decode time, and each replica's peak memory. On Linux it also reads, from ``/proc``,
the CPU time every process of the local Ray cluster and the load generator itself spent during the run,
grouped by role (proxy, each deployment, controller, Ray's own daemons, load generator): where each
request's CPU went, and so how much of it batching can save.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import numpy as np

from pipeline.errors import PipelineError


@dataclass
class LoadResult:
    endpoint: str
    batching: str
    clients: int
    requests: int
    ok: int
    errors: dict
    seconds: float
    throughput: float  # answered-200 requests per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    beam_size: int | None = None
    refused_without_retry_after: int = 0  # 429/503 answers that did not say when to come back
    batches: dict = field(default_factory=dict)  # the model's batches during the run (see batch_delta)
    peak_rss_mib: dict = field(default_factory=dict)  # replica → peak resident memory
    cpu_ms_per_request: dict = field(default_factory=dict)  # role → CPU ms per answered request (Linux)


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
_RAY_DAEMONS = ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py", "runtime_env", "ray::IDLE")


def process_role(cmdline: str, pid: int, own_pid: int) -> str | None:
    """Which part of the service a process is, from its command line (Ray sets ``ray::<actor class>``).

    ``ServeReplica:<app>:<deployment>`` → the deployment's name; the HTTP proxy, the Serve controller and
    Ray's daemons by name; this process → ``load generator``; anything else → None (not counted).
    """
    if pid == own_pid:
        return "load generator"
    if "ServeReplica:" in cmdline:
        return cmdline.split("ServeReplica:", 1)[1].split()[0].split(":")[-1].split(".")[0] or "replica"
    if "ProxyActor" in cmdline:
        return "proxy"
    if "ServeController" in cmdline:
        return "controller"
    if any(name in cmdline for name in _RAY_DAEMONS):
        return "ray daemons"
    return None


def cpu_seconds_by_role(proc: str = "/proc") -> dict[str, float]:
    """CPU seconds (user + system, all threads) used so far by each role's processes; {} off Linux."""
    own, totals = os.getpid(), Counter()
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        try:
            with open(f"{proc}/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"{proc}/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone, or not ours to read
        role = process_role(cmdline, int(entry), own)
        if role:
            totals[role] += (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime (stat fields 14, 15)
    return dict(totals)


def cpu_per_request(before: dict[str, float], after: dict[str, float], answered: int) -> dict[str, float]:
    """Role → CPU ms per answered request between two :func:`cpu_seconds_by_role` readings, plus ``total``.

    A process that started or ended in between counts from zero or not at all.
    """
    if not answered or not after:
        return {}
    per = {role: 1000 * (after[role] - before.get(role, 0.0)) / answered for role in after}
    per = {role: round(ms, 2) for role, ms in sorted(per.items(), key=lambda kv: -kv[1]) if ms >= 0}
    per["total"] = round(sum(per.values()), 2)
    return per


def check_local(url: str) -> None:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PipelineError(f"the load generator only sends traffic to this machine (127.0.0.1), not {host}")


def translate_request(texts: list[str], beam_size: int | None = None):
    cycle = itertools.cycle(texts)
    extra = {} if beam_size is None else {"beam_size": beam_size}
    return lambda: {"url": "/v1/translate", "json": {"text": next(cycle), "source": "en", "target": "de", **extra}}


def caption_request(images: list[bytes]):
    cycle = itertools.cycle(images)
    return lambda: {"url": "/v1/caption", "files": {"file": ("image.jpg", next(cycle), "image/jpeg")}}


def search_request(images: list[bytes], k: int = 10):
    cycle = itertools.cycle(images)
    return lambda: {"url": "/v1/search", "files": {"file": ("image.jpg", next(cycle), "image/jpeg")}, "data": {"k": k}}


async def _client(http, make_request, budget: dict, latencies: list, statuses: list, no_retry: list) -> None:
    import httpx

    while budget["left"] > 0 and time.monotonic() < budget["deadline"]:
        budget["left"] -= 1
        started = time.perf_counter()
        try:
            response = await http.post(**make_request())
        except httpx.HTTPError as err:  # connection refused/reset: count it, never crash the benchmark
            statuses.append(type(err).__name__)
            continue
        elapsed = time.perf_counter() - started
        statuses.append(response.status_code)
        if response.status_code == 200:
            latencies.append(elapsed)
        elif response.status_code in (429, 503) and not response.headers.get("retry-after"):
            no_retry.append(response.status_code)


def batch_delta(before: dict, after: dict, deployment: str) -> dict:
    """The batches ``deployment``'s replicas formed between two ``/v1/stats`` reads."""
    sizes: Counter[int] = Counter()
    for replica, now in after.get(deployment, {}).items():
        then = before.get(deployment, {}).get(replica, {}).get("histogram", {})
        for size, count in now["histogram"].items():
            sizes[int(size)] += count - then.get(size, 0)
    sizes = Counter({k: v for k, v in sizes.items() if v > 0})
    flat = np.repeat(np.array(list(sizes), dtype=float), list(sizes.values()))
    return {
        "batches": int(sum(sizes.values())),
        "median": float(np.median(flat)) if len(flat) else None,
        "mean": round(float(flat.mean()), 2) if len(flat) else None,
        "histogram": {str(k): v for k, v in sorted(sizes.items())},
        "queue_wait_ms_p50": _mean_of(after, deployment, "queue_wait_ms", "p50"),
        "decode_ms_p50": _mean_of(after, deployment, "decode_ms", "p50"),
        "decode_cpu_ms_p50": _mean_of(after, deployment, "decode_cpu_ms", "p50"),
    }


def _mean_of(stats: dict, deployment: str, key: str, field_name: str) -> float | None:
    values = [r[key][field_name] for r in stats.get(deployment, {}).values() if r[key][field_name] is not None]
    return round(float(np.mean(values)), 2) if values else None


async def read_stats(http) -> dict:
    response = await http.get("/v1/stats")
    return response.json() if response.status_code == 200 else {}


async def run_load(
    url: str,
    endpoint: str,
    make_request,
    clients: int,
    requests: int,
    max_seconds: float,
    batching: str = "",
    deployment: str | None = None,
    beam_size: int | None = None,
) -> LoadResult:
    import httpx

    check_local(url)
    latencies: list[float] = []
    statuses: list = []
    no_retry: list[int] = []
    budget = {"left": requests, "deadline": time.monotonic() + max_seconds}
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=max_seconds + 60, limits=limits, trust_env=False) as http:
        before = await read_stats(http) if deployment else {}
        cpu_before = cpu_seconds_by_role()
        started = time.perf_counter()
        await asyncio.gather(
            *(_client(http, make_request, budget, latencies, statuses, no_retry) for _ in range(clients))
        )
        seconds = time.perf_counter() - started
        cpu = cpu_per_request(cpu_before, cpu_seconds_by_role(), len(latencies))
        await asyncio.sleep(1.2)  # replicas push their stats twice a second
        after = await read_stats(http) if deployment else {}
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([float("nan")])
    errors = {str(code): statuses.count(code) for code in sorted(set(statuses), key=str) if code != 200}
    p50, p95, p99 = (round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99))
    batches = batch_delta(before, after, deployment) if deployment else {}
    memory = {r: v["memory"]["peak_rss_mib"] for d in after.values() for r, v in d.items()}
    return LoadResult(
        endpoint,
        batching,
        clients,
        len(statuses),
        len(latencies),
        errors,
        round(seconds, 2),
        round(len(latencies) / seconds, 2),
        p50,
        p95,
        p99,
        beam_size,
        len(no_retry),
        batches,
        memory,
        cpu,
    )


def markdown(results: list[LoadResult], machine: str) -> str:
    head = (
        "| endpoint | beam | batching | clients | requests | ok | req/s | p50 ms | p95 ms | p99 ms | batches "
        "| median batch | mean batch | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {r.endpoint} | {r.beam_size or 'default'} | {r.batching} | {r.clients} | {r.requests} | {r.ok} | "
        f"{r.throughput} | {r.p50_ms} | {r.p95_ms} | {r.p99_ms} | {r.batches.get('batches', '-')} | "
        f"{r.batches.get('median', '-')} | {r.batches.get('mean', '-')} | {r.errors or '-'} |\n"
        for r in results
    )
    return f"Machine: {machine}\n\n{head}{rows}{cpu_markdown(results)}"


def cpu_markdown(results: list[LoadResult]) -> str:
    """Per-run CPU ms per answered request by role (empty where /proc was not readable)."""
    measured = [r for r in results if r.cpu_ms_per_request]
    if not measured:
        return ""
    roles = sorted({k for r in measured for k in r.cpu_ms_per_request if k != "total"})
    roles.sort(key=lambda k: -max(r.cpu_ms_per_request.get(k, 0) for r in measured))
    head = "| endpoint | beam | batching | clients | " + " | ".join(roles) + " | total |\n"
    head += "|---" * (5 + len(roles)) + "|\n"
    rows = "".join(
        f"| {r.endpoint} | {r.beam_size or 'default'} | {r.batching} | {r.clients} | "
        + " | ".join(str(r.cpu_ms_per_request.get(k, "-")) for k in roles)
        + f" | {r.cpu_ms_per_request['total']} |\n"
        for r in measured
    )
    return f"\nCPU ms per answered request, by process (from /proc, during each run):\n\n{head}{rows}"


def as_dicts(results: list[LoadResult]) -> list[dict]:
    return [asdict(r) for r in results]
