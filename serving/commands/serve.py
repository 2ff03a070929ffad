"""``pipeline serve [--config conf/serve.yaml] [--port N]``: translation + captioning over HTTP with Ray Serve.

Deploys the Serve config exactly as ``serve run conf/serve.yaml`` would (same YAML, same per-deployment
settings), on a local Ray cluster bound to 127.0.0.1 unless ``--address`` names an existing one, then
blocks until Ctrl-C. Endpoints: ``/`` (web page), ``/docs``, ``/v1/translate``, ``/v1/caption``,
``/v1/models``, ``/v1/stats``, ``/healthz``, ``/readyz``.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve translation and captioning over HTTP (Ray Serve)")
    p.add_argument("--config", default="conf/serve.yaml", help="Ray Serve config file (default: conf/serve.yaml)")
    p.add_argument("--port", type=int, help="HTTP port (default: the config's http_options.port)")
    p.add_argument(
        "--translator",
        action="append",
        default=[],
        metavar="PAIR=CHECKPOINT",
        help="serve this translation checkpoint for PAIR (e.g. en-fr=data/runs/en_fr/checkpoints/best.pt); "
        "repeatable; replaces the config's translators",
    )
    p.add_argument("--captioner", metavar="CHECKPOINT", help="captioning checkpoint (replaces the config's)")
    p.add_argument(
        "--best",
        action="store_true",
        help="serve each model's best trained run by validation score (reference, cpu or quick preset) where "
        "one exists; --translator/--captioner still win",
    )
    p.add_argument("--address", help="existing Ray cluster to deploy on (default: start a local one)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the deployments to start")
    p.set_defaults(func=run)


def _translators(items: list[str]) -> dict[str, str] | None:
    from pipeline.errors import PipelineError

    if not items:
        return None
    out = {}
    for item in items:
        pair, sep, path = item.partition("=")
        if not sep or not path:
            raise PipelineError(f"--translator {item!r}: expected PAIR=CHECKPOINT, e.g. en-de=path/to/best.pt")
        out[pair] = path
    return out


def run(args: argparse.Namespace) -> int:
    import time

    from pipeline.progress import log
    from serving.launch import check_checkpoints, deploy, read_config, with_best, with_overrides

    config = read_config(args.config)
    if args.best:
        config = with_best(config, notice=log)
    config = with_overrides(config, args.port, _translators(args.translator), args.captioner)
    check_checkpoints(config, notice=log)
    deploy(config, address=args.address, timeout_s=args.timeout)
    http = config.get("http_options", {})
    log(f"serving on http://{http.get('host', '127.0.0.1')}:{http.get('port', 8000)}/  (docs: /docs; Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
    return 0
