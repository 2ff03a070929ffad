"""``pipeline loadtest``: throughput and p50/p95/p99 latency of the Serve app at 1/8/32 clients.

Deploys ``conf/serve.yaml`` on a local Ray cluster (127.0.0.1), then for batching on (the config's
``user_config``) and off (``max_batch_size: 1``, applied through ``reconfigure`` without a restart)
drives ``/v1/translate`` and ``/v1/caption`` with the asyncio client of :mod:`serving.bench`. Every
run is bounded by ``--requests`` and ``--max-seconds``. Writes ``results.json`` and ``table.md``.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("loadtest", help="benchmark the Serve app (batching on vs off, 1/8/32 clients)")
    p.add_argument("--config", default="conf/serve.yaml", help="Ray Serve config to deploy")
    p.add_argument("--port", type=int, default=8011, help="HTTP port for the benchmark deployment")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels")
    p.add_argument("--requests", type=int, default=200, help="requests per run at most")
    p.add_argument("--max-seconds", type=float, default=40, help="seconds per run at most")
    p.add_argument("--endpoints", nargs="+", default=["translate", "caption"], choices=["translate", "caption"])
    p.add_argument("--machine", default="2-core CPU, shared with other jobs", help="machine label for the table")
    p.add_argument("--set", nargs="+", default=[], metavar="DEPLOYMENT.FIELD=VALUE",
                   help="override the Serve config for this benchmark, e.g. translator.num_replicas=1 "
                        "translator.user_config.batch_wait_timeout_s=0.1 args.threads=2 (values are YAML)")
    p.add_argument("--out", default="data/bench", help="output folder")
    p.set_defaults(func=run)


def _requests(endpoint: str):
    from pipeline.data import multi30k
    from serving.bench import caption_request, translate_request

    if endpoint == "translate":
        return translate_request(multi30k.read_split("test_2016_flickr", "en")[:200])
    from pipeline.data.roots import dataset_root
    from pipeline.errors import PipelineError

    root = dataset_root("flickr8k", None)
    if root is None:
        raise PipelineError("the caption benchmark needs the Flickr8k images: set $PIPELINE_DATASETS")
    names = (root / "split_test.txt").read_text().split()[:50]
    return caption_request([(root / "images" / n).read_bytes() for n in names])


def apply_sets(config: dict, sets: list[str]) -> dict:
    """``deployment.field[.sub]=value`` edits a deployment entry; ``args.field=value`` the app's args."""
    import copy

    import yaml

    from pipeline.errors import PipelineError

    config = copy.deepcopy(config)
    app = config["applications"][0]
    for item in sets:
        key, sep, raw = item.partition("=")
        parts = key.split(".")
        if not sep or len(parts) < 2:
            raise PipelineError(f"--set expects DEPLOYMENT.FIELD=VALUE or args.FIELD=VALUE, got {item!r}")
        if parts[0] == "args":
            node = app.setdefault("args", {})
        else:
            entries = app.setdefault("deployments", [])
            node = next((d for d in entries if d["name"] == parts[0]), None)
            if node is None:
                raise PipelineError(f"--set {item!r}: no deployment {parts[0]!r} in the Serve config "
                                    f"(known: {', '.join(d['name'] for d in entries)})")
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return config


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from pipeline.files import write_json, write_text
    from pipeline.progress import log
    from serving.bench import as_dicts, markdown, run_load
    from serving.launch import check_checkpoints, deploy, read_config, with_overrides

    base = apply_sets(with_overrides(read_config(args.config), args.port), args.set)
    check_checkpoints(base)
    url = f"http://127.0.0.1:{args.port}"
    off = {"user_config": {"max_batch_size": 1, "batch_wait_timeout_s": 0.0}}
    settings = {d["name"]: {k: d.get(k) for k in ("num_replicas", "user_config", "ray_actor_options")}
                for d in base["applications"][0].get("deployments", [])}
    results = []
    for batching, overrides in (("on", {}), ("off", {"translator": off, "captioner": off})):
        deploy(with_overrides(base, deployments=overrides), timeout_s=600)
        for endpoint in args.endpoints:
            make_request = _requests(endpoint)
            asyncio.run(run_load(url, endpoint, make_request, 2, 4, 60, "warm-up"))
            for clients in args.clients:
                result = asyncio.run(run_load(url, f"/v1/{endpoint}", make_request, clients, args.requests,
                                              args.max_seconds, batching))
                log(f"{endpoint} batching {batching} clients {clients}: {result.throughput} req/s, "
                    f"p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, mean batch {result.mean_batch}, "
                    f"errors {result.errors or 'none'}")
                results.append(result)
    out = Path(args.out)
    threads = base["applications"][0]["args"].get("threads")
    write_json(out / "results.json", {"machine": args.machine, "config": args.config, "overrides": args.set,
                                      "deployments": settings, "threads": threads, "results": as_dicts(results)})
    write_text(out / "table.md", markdown(results, args.machine))
    print(markdown(results, args.machine))
    from ray import serve

    serve.shutdown()
    return 0
