"""``pipeline robustness [--checkpoint CAPTIONER] [--images test:N]``: the ε at which half of the
captions change under PGD L∞ and under random noise of the same norm (:mod:`pipeline.adversarial.robustness`).

By default it measures the captioner that serving loads (``conf/serve.yaml``'s ``args.captioner``) on
the first 50 Flickr8k test images, and writes a JSON report and a figure (share changed against ε).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError

DEFAULT_EPSILONS = [0.25 / 255, 0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255]


def register(subparsers) -> None:
    p = subparsers.add_parser("robustness", help="ε at which half the captions change: PGD vs random noise")
    p.add_argument("--checkpoint", help="captioning checkpoint (default: the one conf/serve.yaml serves)")
    p.add_argument("--serve-config", default="conf/serve.yaml", help="where the default checkpoint is named")
    p.add_argument("--images", default="test:50", help="test:N (first N Flickr8k test images) or image files")
    p.add_argument(
        "--epsilons", type=float, nargs="+", help="L∞ budgets in the pixel box [0, 1] (default: 1/1020..16/255)"
    )
    p.add_argument("--steps", type=int, default=20, help="PGD iterations per ε")
    p.add_argument("--out", default="data/figures/robustness.png", help="figure path (the report goes beside it)")
    p.set_defaults(func=run)


def served_captioner(serve_config: str) -> str:
    import yaml

    path = Path(serve_config)
    if not path.is_file():
        raise PipelineError(f"serve config not found: {path}; give --checkpoint")
    apps = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("applications") or [{}]
    checkpoint = (apps[0].get("args") or {}).get("captioner")
    if not checkpoint:
        raise PipelineError(f"{path} serves no captioner; give --checkpoint")
    return checkpoint


def run(args: argparse.Namespace) -> int:
    from pipeline.adversarial.robustness import robustness_curve, robustness_figure, robustness_report
    from pipeline.commands.attack_caption import _image_paths
    from pipeline.files import write_json
    from pipeline.inference.captioner import Captioner
    from pipeline.progress import table

    epsilons = sorted(args.epsilons or DEFAULT_EPSILONS)
    if epsilons[0] <= 0 or args.steps < 1:
        raise PipelineError("every --epsilons value must be > 0 and --steps ≥ 1")
    checkpoint = args.checkpoint or served_captioner(args.serve_config)
    captioner = Captioner.from_checkpoint(checkpoint, device="cpu")
    images = captioner.preprocess(_image_paths(args.images.split(), captioner))
    points = robustness_curve(captioner, images, epsilons, args.steps)
    report = {"checkpoint": str(checkpoint), "images": len(images), "steps": args.steps, **robustness_report(points)}
    rows = [[f"{255 * p.epsilon:.3g}/255", p.pgd_changed, p.noise_changed] for p in points]
    print(table(rows, ["ε", "changed by PGD", "changed by random ±ε"]))
    for name in ("pgd", "noise"):
        half = report[f"{name}_half_epsilon"]
        shown = f"{255 * half:.3g}/255" if half is not None else f"not reached up to {255 * epsilons[-1]:.3g}/255"
        print(f"half of the captions change under {name} at ε = {shown}")
    figure = robustness_figure(points, args.out, f"{Path(checkpoint).parent.parent.name}: {len(images)} images")
    out = Path(args.out).with_suffix(".json")
    write_json(out, report)
    print(f"figure: {figure}\nreport: {out}")
    return 0
