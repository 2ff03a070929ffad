"""Read, override and deploy a Serve config file exactly as ``serve run conf/serve.yaml`` does.

``pipeline serve`` and the tests use this so that the YAML's per-deployment settings (``user_config``,
``max_ongoing_requests``, ``max_queued_requests``, ``ray_actor_options``) are the ones that run.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.errors import PipelineError
from serving.body_limit import ENV_MAX_BODY, PROXY_CALLBACK
from serving.settings import AppArgs, Limits


def read_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"serve config not found: {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def with_overrides(
    config: dict,
    port: int | None = None,
    translators: dict | None = None,
    captioner: str | None = None,
    deployments: dict[str, dict] | None = None,
) -> dict:
    """A copy of ``config`` with the port, checkpoints and per-deployment fields replaced."""
    config = copy.deepcopy(config)
    if port is not None:
        config.setdefault("http_options", {})["port"] = port
    app = config["applications"][0]
    args = app.setdefault("args", {})
    if translators is not None:
        args["translators"] = translators
    if captioner is not None:
        args["captioner"] = captioner
    for name, fields in (deployments or {}).items():
        entries = app.setdefault("deployments", [])
        entry = next((d for d in entries if d["name"] == name), None)
        if entry is None:
            entries.append(entry := {"name": name})
        entry.update(fields)
    return config


TRAIN_HINT = {
    "en-de": "make run",
    "en-fr": "pipeline train conf/translate_en_fr.yaml --preset quick",
    "captioner": "pipeline train conf/caption_flickr8k.yaml --preset quick",
    "editor": "pipeline train conf/gan_mnist_dcgan.yaml",
    "search": "pipeline train conf/codes_cifar10.yaml, then pipeline build-index --checkpoint <its best.pt>",
}


# ``pipeline serve --best``: the runs whose best.pt may replace the configured checkpoint of each model, and
# the validation score that ranks them (the same val split and metric within a model).
BEST_RUNS = {
    "en-de": (
        ("data/runs/en_de", "data/runs/en_de_reference_cpu", "data/runs/en_de_cpu", "data/runs/en_de_quick"),
        "bleu",
    ),
    "en-fr": (
        ("data/runs/en_fr", "data/runs/en_fr_reference_cpu", "data/runs/en_fr_cpu", "data/runs/en_fr_quick"),
        "bleu",
    ),
    "captioner": (
        (
            "data/runs/caption_flickr8k_cpu_wide",
            "data/runs/caption_flickr8k_cpu",
            "data/runs/caption_flickr8k_cpu_sat",
            "data/runs/caption_flickr8k_quick",
        ),
        "CIDEr-D",
    ),
}


def best_checkpoints(runs: dict = BEST_RUNS, notice: Callable[[str], None] = print) -> dict[str, str]:
    """For each model, the ``best.pt`` among its runs with the highest validation score; models with no
    such checkpoint are absent (the config's own checkpoint stays)."""
    from pipeline.checkpoint import checkpoint_meta  # torch-backed

    chosen = {}
    for name, (folders, metric) in runs.items():
        scored = []
        for folder in folders:
            path = Path(folder) / "checkpoints" / "best.pt"
            if path.is_file():
                score = (checkpoint_meta(path).get("scores") or {}).get(metric)
                if score is not None:
                    scored.append((float(score), str(path)))
        if scored:
            score, chosen[name] = max(scored)
            notice(f"--best: {name} from {chosen[name]} (validation {metric} {score:g} of {len(scored)} runs)")
            system = val_chosen_system(Path(chosen[name]).parent.parent, notice)
            if system:
                chosen[name] = system
    return chosen


def val_chosen_system(run: Path, notice: Callable[[str], None] = print) -> str | None:
    """The single checkpoint ``scripts/choose_translation_system.py`` chose on val for ``run`` (e.g. an
    average of snapshots), when its ``systems.json`` names one that exists; None otherwise (an ensemble
    winner is not served: a translator replica loads one checkpoint per language pair)."""
    import json

    try:
        systems = json.loads((run / "systems.json").read_text())
    except (OSError, ValueError):
        return None
    paths = systems.get("winner_checkpoints") or []
    if len(paths) == 1 and Path(paths[0]).is_file():
        notice(f"--best: using {paths[0]}, chosen on val in {run / 'systems.json'} ({systems.get('winner')})")
        return paths[0]
    if len(paths) > 1:
        notice(f"--best: {run / 'systems.json'} chose an ensemble of {len(paths)}; serving best.pt instead")
    return None


def with_best(config: dict, runs: dict = BEST_RUNS, notice: Callable[[str], None] = print) -> dict:
    """``config`` with each model whose runs hold a scored ``best.pt`` switched to the best of them (a pair
    the config lacks, e.g. en-fr, is added); the other models keep their configured checkpoints."""
    best = best_checkpoints(runs, notice)
    args = config["applications"][0].get("args", {})
    translators = {**args.get("translators", {}), **{p: c for p, c in best.items() if p != "captioner"}}
    return with_overrides(config, translators=translators, captioner=best.get("captioner", args.get("captioner")))


def check_checkpoints(config: dict, notice: Callable[[str], None] = print) -> None:
    """Absolute checkpoint paths (replicas may run elsewhere); a model whose checkpoint does not exist is
    left out with a notice naming the command that trains it, and an application left with no model at
    all is a clear error."""
    for app in config["applications"]:
        args = AppArgs.model_validate(app.get("args") or {})
        models = {**args.translators, **({"captioner": args.captioner} if args.captioner else {})}
        if args.editor is not None:
            models["editor"] = args.editor.gan
        if args.search is not None:
            models["search"] = args.search.index
        missing = {name: path for name, path in models.items() if not Path(path).is_file()}
        for name, path in missing.items():
            hint = TRAIN_HINT.get(name, "train it first")
            notice(f"notice: {name} is not served: checkpoint {path} does not exist (train it: {hint})")
        if len(missing) == len(models):
            raise PipelineError(
                f"no checkpoint of application {app.get('name', 'default')!r} exists "
                f"({', '.join(map(str, models.values())) or 'none configured'}); train the quick models first: make run"
            )
        app["args"] = {**app.get("args", {}), **_present(args, missing, notice)}
        absent = {"translator"} if not app["args"]["translators"] else set()
        absent |= {"captioner"} if app["args"]["captioner"] is None else set()
        absent |= {"editor"} if app["args"].get("editor") is None else set()
        if "deployments" in app:  # Serve refuses settings for a deployment the app does not build
            app["deployments"] = [d for d in app["deployments"] if d.get("name") not in absent]


def _present(args: AppArgs, missing: dict, notice: Callable[[str], None]) -> dict:
    """The args' checkpoints that exist, as absolute paths (an editor without its encoder projects by
    optimisation alone)."""
    out = {
        "translators": {p: str(Path(c).resolve()) for p, c in args.translators.items() if p not in missing},
        "captioner": str(Path(args.captioner).resolve()) if args.captioner and "captioner" not in missing else None,
        "editor": None,
        "search": None,
    }
    if args.search is not None and "search" not in missing:
        checkpoint = args.search.checkpoint
        out["search"] = {
            "index": str(Path(args.search.index).resolve()),
            "checkpoint": checkpoint and str(Path(checkpoint).resolve()),
        }
    if args.editor is not None and "editor" not in missing:
        encoder = args.editor.encoder
        if encoder and not Path(encoder).is_file():
            notice(f"notice: the editor projects without its encoder: {encoder} does not exist (hint: train-encoder)")
            encoder = None
        out["editor"] = {
            "gan": str(Path(args.editor.gan).resolve()),
            "encoder": encoder and str(Path(encoder).resolve()),
        }
    return out


def set_proxy_environment(config: dict | None = None) -> None:
    """What Ray's HTTP proxy reads when it starts: the body-cap middleware and its cap (the largest of
    the applications' per-route caps). Must run before Ray starts on this machine; on a cluster, export
    the same two variables where ``ray start`` runs."""
    caps = []
    for app in (config or {}).get("applications", []):
        limits = Limits.model_validate((app.get("args") or {}).get("limits") or {})
        caps += [limits.max_json_bytes, limits.max_upload_bytes + limits.multipart_overhead_bytes]
    os.environ.setdefault("RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", PROXY_CALLBACK)
    if caps:
        os.environ.setdefault(ENV_MAX_BODY, str(max(caps)))


def deploy(config: dict, address: str | None = None, num_cpus: int | None = None, timeout_s: float = 300) -> None:
    """Start Ray (local, 127.0.0.1) and Serve if needed, deploy every application and wait until running."""
    import ray
    from ray import serve
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    schema = ServeDeploySchema.model_validate(config)
    set_proxy_environment(config)
    if not ray.is_initialized():
        local = {"include_dashboard": False, "_node_ip_address": "127.0.0.1", "num_cpus": num_cpus}
        ray.init(address=address, namespace="serve", log_to_driver=False, **({} if address else local))
    serve.start(proxy_location=schema.proxy_location, http_options=schema.http_options.model_dump())
    _get_global_client().deploy_apps(schema, _blocking=False)
    wait_running([app.name for app in schema.applications], timeout_s)


def wait_running(names: list[str], timeout_s: float) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    while True:
        status = serve.status().applications
        states = {name: status[name].status if name in status else "NOT_STARTED" for name in names}
        if all(s == "RUNNING" for s in states.values()):
            return
        failed = {n: status[n].message for n, s in states.items() if s in ("DEPLOY_FAILED", "UNHEALTHY")}
        if failed:
            raise PipelineError(f"Serve application failed to deploy: {failed}")
        if time.monotonic() > deadline:
            raise PipelineError(f"Serve applications not running after {timeout_s:.0f}s: {states}")
        time.sleep(1)
