"""``pipeline loadtest``: throughput and p50/p95/p99 latency of the Serve app at 1/8/32 clients.

Deploys ``conf/serve.yaml`` on a local Ray cluster (127.0.0.1), then for batching on (the config's
``user_config``) and off (``max_batch_size: 1``, applied through ``reconfigure`` without a restart)
drives ``/v1/translate`` (one series per ``--beam``) and ``/v1/caption`` with the asyncio client of
:mod:`serving.bench`; each point reports the batches the replicas formed (from ``/v1/stats``).
``--overload N`` ends with N clients for ``--overload-seconds``: only 200, 429 and 503 with
``Retry-After`` are acceptable there. Every run is bounded by ``--requests`` and ``--max-seconds``.
Writes ``results.json`` and ``table.md``.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("loadtest", help="benchmark the Serve app (batching on vs off, 1/8/32 clients)")
    p.add_argument("--config", default="conf/serve.yaml", help="Ray Serve config to deploy")
    p.add_argument("--port", type=int, default=8011, help="HTTP port for the benchmark deployment")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels")
    p.add_argument("--requests", type=int, default=600, help="requests per run at most")
    p.add_argument("--max-seconds", type=float, default=60, help="seconds per run at most")
    p.add_argument(
        "--endpoints",
        nargs="+",
        default=["translate", "caption", "search"],
        choices=["translate", "caption", "search"],
        help="search has no batching: it runs in the batching-on pass only",
    )
    p.add_argument(
        "--beam",
        type=int,
        nargs="+",
        default=[1, 5],
        help="beam_size of the translate requests, one series each (1 = greedy)",
    )
    p.add_argument(
        "--batching",
        nargs="+",
        default=["on", "off"],
        choices=["on", "off"],
        help="on: the config's user_config; off: max_batch_size 1 (same replicas, threads, quantize)",
    )
    p.add_argument(
        "--overload",
        type=int,
        metavar="CLIENTS",
        help="after the series, CLIENTS clients for --overload-seconds against /v1/translate",
    )
    p.add_argument("--overload-seconds", type=float, default=30)
    p.add_argument("--machine", default="2-core CPU", help="machine label for the table")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="DEPLOYMENT.FIELD=VALUE",
        help="override the Serve config for this benchmark, e.g. translator.num_replicas=1 "
        "translator.user_config.max_batch_size=16 args.threads=2 args.quantize=none (values are YAML)",
    )
    p.add_argument("--out", default="data/bench", help="output folder")
    p.set_defaults(func=run)


def _texts() -> list[str]:
    from pipeline.data import multi30k

    return multi30k.read_split("test_2016_flickr", "en")[:300]


def _images() -> list[bytes]:
    from pipeline.data.roots import dataset_root
    from pipeline.errors import PipelineError

    root = dataset_root("flickr8k", None)
    if root is None:
        raise PipelineError("the caption benchmark needs the Flickr8k images: set $PIPELINE_DATASETS")
    names = (root / "split_test.txt").read_text().split()[:50]
    return [(root / "images" / n).read_bytes() for n in names]


def _series(args) -> list[tuple[str, int | None]]:
    """(endpoint, beam) pairs: one translate series per --beam, one caption series (its default beam)."""
    out: list[tuple[str, int | None]] = []
    for endpoint in args.endpoints:
        out += [(endpoint, b) for b in args.beam] if endpoint == "translate" else [(endpoint, None)]
    return out


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
                raise PipelineError(
                    f"--set {item!r}: no deployment {parts[0]!r} in the Serve config "
                    f"(known: {', '.join(d['name'] for d in entries)})"
                )
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return config


def _run_series(args, url: str, batching: str, log) -> list:
    import asyncio

    from serving.bench import caption_request, run_load, search_request, translate_request

    results = []
    for endpoint, beam in _series(args):
        if endpoint == "search" and batching == "off":
            continue  # answered one by one either way
        if endpoint == "translate":
            make = translate_request(_texts(), beam)
        else:
            make = (caption_request if endpoint == "caption" else search_request)(_images())
        deployment = {"translate": "translator", "caption": "captioner"}.get(endpoint)
        asyncio.run(run_load(url, endpoint, make, 4, 16, 60, "warm-up"))
        for clients in args.clients:
            result = asyncio.run(
                run_load(
                    url, f"/v1/{endpoint}", make, clients, args.requests, args.max_seconds, batching, deployment, beam
                )
            )
            log(
                f"{endpoint} beam {beam or 'default'} batching {batching} clients {clients}: {result.throughput} "
                f"req/s, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, median batch "
                f"{result.batches.get('median')}, errors {result.errors or 'none'}"
            )
            results.append(result)
    return results


def run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from pipeline.files import write_json, write_text
    from pipeline.progress import log
    from serving.bench import as_dicts, markdown, run_load, translate_request
    from serving.launch import check_checkpoints, deploy, read_config, with_overrides

    base = apply_sets(with_overrides(read_config(args.config), args.port), args.set)
    check_checkpoints(base)
    url = f"http://127.0.0.1:{args.port}"
    off = {"user_config": {"max_batch_size": 1}}
    settings = {
        d["name"]: {k: d.get(k) for k in ("num_replicas", "user_config", "ray_actor_options")}
        for d in base["applications"][0].get("deployments", [])
    }
    results, overload = [], None
    for batching in args.batching:
        deploy(
            with_overrides(base, deployments={} if batching == "on" else {"translator": off, "captioner": off}),
            timeout_s=600,
        )
        results += _run_series(args, url, batching, log)
    if args.overload:
        overload = asyncio.run(
            run_load(
                url,
                "/v1/translate",
                translate_request(_texts()),
                args.overload,
                10**9,
                args.overload_seconds,
                args.batching[-1],
                "translator",
            )
        )
        log(
            f"overload {args.overload} clients {args.overload_seconds:.0f}s: statuses {overload.errors or 'all 200'}, "
            f"{overload.ok} ok, refusals without Retry-After {overload.refused_without_retry_after}, "
            f"peak RSS MiB {overload.peak_rss_mib}"
        )
    out = Path(args.out)
    app_args = base["applications"][0]["args"]
    write_json(
        out / "results.json",
        {
            "machine": args.machine,
            "config": args.config,
            "overrides": args.set,
            "deployments": settings,
            "threads": app_args.get("threads"),
            "quantize": app_args.get("quantize", "none"),
            "results": as_dicts(results),
            "overload": as_dicts([overload])[0] if overload else None,
        },
    )
    write_text(out / "table.md", markdown(results, args.machine))
    print(markdown(results, args.machine))
    from ray import serve

    serve.shutdown()
    return 0
