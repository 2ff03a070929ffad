"""What one Serve hop less would buy: the translator inside the ingress, against the service's two hops.

Deploys a stripped-down ``/v1/translate`` whose ingress replicas each hold the EN→DE translator and a
:class:`~serving.batching.BatchQueue` (proxy → ingress, no handle call), two replicas of 0.4 CPU like
``conf/serve.yaml``'s translators, int8, one torch thread; then drives it with ``serving.bench`` at 1 and
32 clients, greedy and beam 5, batching on (32 sentences, 1,200 subwords) and off (``max_batch_size`` 1).
It has none of the service's checks or error handling: it measures the topology, nothing else. Compare
with ``pipeline loadtest --endpoints translate --clients 1 32 --beam 1 5 --batching on off`` run in the
same sitting.

    PYTHONPATH=. python scripts/serve_one_hop.py [--checkpoint data/runs/en_de_quick/checkpoints/best.pt]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
from pathlib import Path

from fastapi import FastAPI
from ray import serve

from serving.bench import run_load, translate_request

app = FastAPI()


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.4})
@serve.ingress(app)
class OneHop:
    def __init__(self, checkpoint: str, max_batch_size: int):
        from pipeline.inference.source import SourceEncoder, warm_up_text
        from pipeline.inference.translator import Translator
        from serving.batching import BatchQueue
        from serving.validation import split_sentences

        self.split = split_sentences
        self.translator = Translator.from_checkpoint(checkpoint, device="cpu", threads=1, quantize="int8")
        self.encoder = SourceEncoder.from_dict(self.translator.source.to_dict())
        warm_up_text("en")
        split_sentences("A dog. A cat.", "en")
        self.queue = BatchQueue(self._decode, max_batch_size=max_batch_size, max_batch_cost=1200)

    def _decode(self, batch) -> list[dict]:
        import numpy as np

        src = [np.asarray(w.item[0], dtype=np.int64) for w in batch]
        keep = lambda positions: [batch[p].wanted() for p in positions]  # noqa: E731
        found = self.translator.translate_ids(src, batch[0].item[1], keep=keep)
        return [
            {"text": self.translator.translation(w.item[0], hyps, False).text, "batch_size": len(batch)}
            for w, hyps in zip(batch, found, strict=True)
        ]

    @app.post("/v1/translate")
    async def translate(self, body: dict) -> dict:
        ids = [tuple(seq) for seq in self.encoder.encode(self.split(body["text"], "en"))]
        beam = body.get("beam_size")
        found = await asyncio.gather(*(self.queue.submit((seq, beam), 30, len(seq)) for seq in ids))
        return {"translations": [{"text": " ".join(r["text"] for r in found), "sentences": found}]}


def main() -> None:
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/runs/en_de_quick/checkpoints/best.pt")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--max-seconds", type=float, default=30)
    args = parser.parse_args()
    root = Path(os.environ.get("PIPELINE_DATASETS", "../shared/datasets")) / "multi30k/data/task1/raw"
    with gzip.open(root / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        texts = [line.strip() for line in f]
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8013})
    for batching, max_batch_size in (("on", 32), ("off", 1)):
        serve.run(OneHop.options(num_replicas=2).bind(str(Path(args.checkpoint).resolve()), max_batch_size))
        for beam in (1, 5):
            for clients in (1, 32):
                request = translate_request(texts, beam_size=beam)
                result = asyncio.run(
                    run_load(
                        "http://127.0.0.1:8013", "/v1/translate", request, clients, args.requests, args.max_seconds
                    )
                )
                print(
                    f"batching {batching:>3}  beam {beam}  {clients:>2} clients  {result.throughput:6.1f} req/s"
                    f"  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:7.1f} ms",
                    flush=True,
                )
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
