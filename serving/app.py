"""Typed application builder: ``serve run conf/serve.yaml`` calls ``build_app(args)`` with the YAML's ``args:``.

One application, one graph: ``ingress`` holds a ``DeploymentHandle`` to each model deployment
(``translator``, serving every configured pair, and ``captioner``), so a German caption is a
captioner call composed with a translator call without leaving the application.
"""

from __future__ import annotations

from ray.serve import Application

from serving.ingress import Ingress
from serving.models import CaptionerModel, EditorModel, TranslatorModel
from serving.settings import AppArgs
from serving.stats import StatsBoard


def _gpus(args: AppArgs) -> float:
    """A GPU share per model replica when the cluster has GPUs (ingress stays on CPU)."""
    if args.device == "cpu":
        return 0.0
    import ray

    if not ray.is_initialized():
        return 0.0
    return 0.5 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def build_app(args: dict | AppArgs) -> Application:
    args = args if isinstance(args, AppArgs) else AppArgs.model_validate(args or {})
    gpus = _gpus(args)
    actor = {"num_cpus": 0.4, "num_gpus": gpus} if gpus else None
    stats = StatsBoard.bind()  # every model replica reports here; /v1/stats reads it
    translator = None
    if args.translators:
        deployment = TranslatorModel.options(ray_actor_options=actor) if actor else TranslatorModel
        translator = deployment.bind(dict(args.translators), args.device, args.threads, args.quantize, stats)
    captioner = None
    if args.captioner:
        deployment = CaptionerModel.options(ray_actor_options=actor) if actor else CaptionerModel
        captioner = deployment.bind(args.captioner, args.device, args.threads, args.quantize, stats)
    editor = None
    if args.editor is not None:
        editor = EditorModel.bind(args.editor.gan, args.editor.encoder, args.threads)
    search = None  # built inside the ingress replica
    if args.search is not None:
        search = {"index": args.search.index, "checkpoint": args.search.checkpoint, "threads": args.threads}
    limits = args.limits.model_dump()
    return Ingress.bind(translator, sorted(args.translators), captioner, limits, stats, editor, search)
