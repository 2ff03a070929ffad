"""Ray Serve's own per-request cost on this machine: the serving topology with a model that does nothing.

Deploys a FastAPI ingress that makes one handle call to a deployment returning its input reversed
(the shape of ``/v1/translate``: proxy → ingress → model), and the same FastAPI endpoint on plain
uvicorn without Ray, then drives both with ``serving.bench`` at 1 and 32 clients. The difference is
what Serve costs per request, whatever the model does.

    python scripts/serve_ceiling.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

from fastapi import FastAPI
from ray import serve

from serving.bench import run_load, translate_request

app = FastAPI()


@serve.deployment(max_ongoing_requests=256)
class Reverse:
    async def __call__(self, text: str) -> dict:
        return {"text": text[::-1], "batch_size": 1}


@serve.deployment(max_ongoing_requests=256)
@serve.ingress(app)
class Ingress:
    def __init__(self, model):
        self.model = model

    @app.post("/v1/translate")
    async def translate(self, body: dict) -> dict:
        return {"translations": [{"sentences": [await self.model.remote(body["text"])]}]}


plain = FastAPI()


@plain.post("/v1/translate")
async def plain_translate(body: dict) -> dict:
    return {"translations": [{"sentences": [{"text": body["text"][::-1], "batch_size": 1}]}]}


def _drive(url: str, label: str, seconds: float) -> None:
    for clients in (1, 32):
        result = asyncio.run(
            run_load(url, "/v1/translate", translate_request(["A dog runs."]), clients, 10**6, seconds)
        )
        print(f"{label:>20}  {clients:>2} clients  {result.throughput:7.1f} req/s  p50 {result.p50_ms:6.1f} ms")


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
    serve.run(Ingress.bind(Reverse.bind()), route_prefix="/")
    _drive("http://127.0.0.1:8013", "ray serve, 2 hops", args.seconds)
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
