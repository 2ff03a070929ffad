"""Ray Serve's own per-request cost on this machine: the serving topology with a model that does nothing.

Deploys FastAPI endpoints shaped like ``/v1/translate`` whose "model" returns its input reversed, and
drives each with ``serving.bench`` at 1 and 32 clients:

- ``plain uvicorn``: the same FastAPI endpoint without Ray (what FastAPI itself costs);
- ``1 hop``: proxy → ingress, answered in the ingress (no handle call);
- ``2 hops``: proxy → ingress → one handle call per request to a 2-replica model deployment (the shape
  of ``serving.ingress``);
- ``2 hops, coalesced``: the same, but the ingress gathers the requests waiting while a model call is
  in flight (at most one call per model replica) and sends them as one call.

The differences are what Serve costs per request and per hop, whatever the model does.

    PYTHONPATH=. python scripts/serve_ceiling.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

from fastapi import FastAPI
from ray import serve

from serving.bench import run_load, translate_request

SMALL = {"num_cpus": 0.1}


def _reverse(text: str, batch_size: int = 1) -> dict:
    return {"text": text[::-1], "batch_size": batch_size}


@serve.deployment(max_ongoing_requests=256, ray_actor_options=SMALL)
class Reverse:
    async def __call__(self, text: str) -> dict:
        return _reverse(text)

    async def many(self, texts: list[str]) -> list[dict]:
        return [_reverse(t, len(texts)) for t in texts]


class Coalescer:
    """At most ``slots`` calls in flight; whatever arrives meanwhile leaves as one call when a slot frees."""

    def __init__(self, send, slots: int, max_items: int = 32):
        self.send, self.slots, self.max_items = send, slots, max_items
        self.waiting: list[tuple[str, asyncio.Future]] = []
        self.sizes: list[int] = []

    async def submit(self, item: str) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self.slots and self.waiting:
            batch, self.waiting = self.waiting[: self.max_items], self.waiting[self.max_items :]
            self.slots -= 1
            self.sizes.append(len(batch))
            asyncio.get_running_loop().create_task(self._go(batch))

    async def _go(self, batch) -> None:
        try:
            results = await self.send([item for item, _ in batch])
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
        except Exception as err:  # noqa: BLE001 - hand the failure to every caller of this call
            for _, future in batch:
                future.set_exception(err)
        finally:
            self.slots += 1
            self._pump()


one_hop, two_hops, coalesced = FastAPI(), FastAPI(), FastAPI()


@serve.deployment(max_ongoing_requests=256, ray_actor_options=SMALL)
@serve.ingress(one_hop)
class OneHop:
    @one_hop.post("/v1/translate")
    async def translate(self, body: dict) -> dict:
        return {"translations": [{"sentences": [_reverse(body["text"])]}]}


@serve.deployment(max_ongoing_requests=256, ray_actor_options=SMALL)
@serve.ingress(two_hops)
class TwoHops:
    def __init__(self, model):
        self.model = model

    @two_hops.post("/v1/translate")
    async def translate(self, body: dict) -> dict:
        return {"translations": [{"sentences": [await self.model.remote(body["text"])]}]}


@serve.deployment(max_ongoing_requests=256, ray_actor_options=SMALL)
@serve.ingress(coalesced)
class Coalesced:
    def __init__(self, model, slots: int):
        self.model = model
        self.coalescer = Coalescer(lambda texts: self.model.many.remote(texts), slots)

    @coalesced.post("/v1/translate")
    async def translate(self, body: dict) -> dict:
        return {"translations": [{"sentences": [await self.coalescer.submit(body["text"])]}]}


plain = FastAPI()


@plain.post("/v1/translate")
async def plain_translate(body: dict) -> dict:
    return {"translations": [{"sentences": [_reverse(body["text"])]}]}


def _drive(url: str, label: str, seconds: float) -> None:
    for clients in (1, 32):
        result = asyncio.run(
            run_load(url, "/v1/translate", translate_request(["A dog runs."]), clients, 10**6, seconds)
        )
        print(
            f"{label:>20}  {clients:>2} clients  {result.throughput:7.1f} req/s  p50 {result.p50_ms:6.1f} ms"
            f"  p99 {result.p99_ms:6.1f} ms",
            flush=True,
        )


def main() -> None:
    import ray
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    server = uvicorn.Server(uvicorn.Config(plain, host="127.0.0.1", port=8014, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    time.sleep(2)
    _drive("http://127.0.0.1:8014", "plain uvicorn", args.seconds)
    server.should_exit = True
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8013})
    model = Reverse.options(num_replicas=2).bind()
    for label, ingress in (
        ("1 hop", OneHop.bind()),
        ("2 hops", TwoHops.bind(model)),
        ("2 hops, coalesced", Coalesced.bind(model, 2)),
    ):
        serve.run(ingress, route_prefix="/")
        _drive("http://127.0.0.1:8013", label, args.seconds)
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
