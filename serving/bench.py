"""Load generator: N concurrent asyncio clients against 127.0.0.1, bounded in requests and seconds.

Each client sends its next request as soon as the previous one is answered (closed loop), so the
offered load is exactly ``clients`` requests in flight. Texts are real Multi30k test sentences, images
real Flickr8k test images. Reports throughput and p50/p95/p99 latency of the 200-answered requests,
and counts every other status.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import asdict, dataclass
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
    mean_batch: float | None  # mean batch size the model replica reported for these requests


def check_local(url: str) -> None:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PipelineError(f"the load generator only sends traffic to this machine (127.0.0.1), not {host}")


def translate_request(texts: list[str]):
    cycle = itertools.cycle(texts)
    return lambda: {"url": "/v1/translate", "json": {"text": next(cycle), "source": "en", "target": "de"}}


def caption_request(images: list[bytes]):
    cycle = itertools.cycle(images)
    return lambda: {"url": "/v1/caption", "files": {"file": ("image.jpg", next(cycle), "image/jpeg")}}


def _batch_size(body: dict) -> int | None:
    if "translations" in body:
        return body["translations"][0]["sentences"][0].get("batch_size")
    return body.get("batch_size")


async def _client(http, make_request, budget: dict, latencies: list, statuses: list, batches: list) -> None:
    while budget["left"] > 0 and time.monotonic() < budget["deadline"]:
        budget["left"] -= 1
        started = time.perf_counter()
        response = await http.post(**make_request())
        elapsed = time.perf_counter() - started
        statuses.append(response.status_code)
        if response.status_code == 200:
            latencies.append(elapsed)
            batches.append(_batch_size(response.json()))


async def run_load(url: str, endpoint: str, make_request, clients: int, requests: int, max_seconds: float,
                   batching: str = "") -> LoadResult:
    import httpx

    check_local(url)
    latencies: list[float] = []
    statuses: list[int] = []
    batches: list = []
    budget = {"left": requests, "deadline": time.monotonic() + max_seconds}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=max_seconds + 60, limits=limits, trust_env=False) as http:
        started = time.perf_counter()
        await asyncio.gather(*(_client(http, make_request, budget, latencies, statuses, batches)
                               for _ in range(clients)))
        seconds = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([float("nan")])
    errors = {str(code): statuses.count(code) for code in sorted(set(statuses)) if code != 200}
    sizes = [b for b in batches if b is not None]
    p50, p95, p99 = (round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99))
    return LoadResult(endpoint, batching, clients, len(statuses), len(latencies), errors, round(seconds, 2),
                      round(len(latencies) / seconds, 2), p50, p95, p99,
                      round(float(np.mean(sizes)), 2) if sizes else None)


def markdown(results: list[LoadResult], machine: str) -> str:
    head = ("| endpoint | batching | clients | requests | ok | req/s | p50 ms | p95 ms | p99 ms | mean batch "
            "| errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = "".join(f"| {r.endpoint} | {r.batching} | {r.clients} | {r.requests} | {r.ok} | {r.throughput} | "
                   f"{r.p50_ms} | {r.p95_ms} | {r.p99_ms} | {r.mean_batch} | {r.errors or '-'} |\n" for r in results)
    return f"Machine: {machine}\n\n{head}{rows}"


def as_dicts(results: list[LoadResult]) -> list[dict]:
    return [asdict(r) for r in results]
