"""``pipeline attack-caption IMAGE... --checkpoint CAPTIONER [--target CAPTION]``: adversarial examples
against the captioning model (:mod:`pipeline.adversarial.captioning`).

Untargeted: a small L∞ (or L2) ΔI that changes the caption. Targeted: ΔI that pushes the caption toward
``--target``. ``test:N`` stands for the first N images of the Flickr8k test split. Prints one line per
image and the success rate, writes a JSON report and the lecture's picture (original + magnified ΔI =
adversarial, each with its caption) for the first images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("attack-caption", help="adversarial examples that change or steer a caption")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, or test:N for the first N Flickr8k test images"
    )
    p.add_argument("--checkpoint", required=True, help="a captioning checkpoint")
    p.add_argument("--target", help="target caption (targeted attack); omit to just change the caption")
    p.add_argument("--epsilon", type=float, default=2 / 255, help="perturbation budget (pixel box [0, 1])")
    p.add_argument("--norm", choices=["linf", "l2"], default="linf")
    p.add_argument("--steps", type=int, default=40, help="PGD iterations (step size 2.5·ε/steps)")
    p.add_argument("--batch-size", type=int, default=16, help="images attacked together")
    p.add_argument("--figures", type=int, default=3, help="draw the picture for the first N images")
    p.add_argument("--out", default="data/figures/attack_caption.png", help="figure path (-1, -2, ... per image)")
    p.add_argument("--report", help="JSON report (default: next to --out)")
    p.set_defaults(func=run)


def _image_paths(specs: list[str], captioner) -> list[Path]:
    from pipeline.data.flickr8k import load_flickr8k

    paths: list[Path] = []
    for spec in specs:
        if spec.startswith("test:"):
            count = spec.split(":", 1)[1]
            if not count.isdigit() or int(count) < 1:
                raise PipelineError(f"{spec!r}: write test:N with N ≥ 1")
            test = load_flickr8k(getattr(captioner.config.data, "root", None)).split("test")
            paths += [example.path for example in test[: int(count)]]
        else:
            paths.append(Path(spec))
    return paths


def run(args: argparse.Namespace) -> int:
    import textwrap
    from dataclasses import asdict

    import torch

    from pipeline.adversarial.captioning import attack_captions
    from pipeline.adversarial.figures import AttackPanel, fooling_figure
    from pipeline.files import write_json
    from pipeline.inference.captioner import Captioner
    from pipeline.plots import numbered_png
    from pipeline.progress import table

    if args.epsilon <= 0 or args.steps < 1:
        raise PipelineError("--epsilon must be > 0 and --steps ≥ 1")
    captioner = Captioner.from_checkpoint(args.checkpoint, device="cpu")
    paths = _image_paths(args.images, captioner)
    images = captioner.preprocess(paths)  # missing / damaged files: one clear error before any work
    advs, reports = [], []
    for start in range(0, len(images), args.batch_size):
        batch = images[start : start + args.batch_size]
        targets = None if args.target is None else [args.target] * len(batch)
        adv, rows = attack_captions(captioner, batch, args.epsilon, args.steps, targets=targets, norm=args.norm)
        advs.append(adv)
        reports += rows
    adv = torch.cat(advs)
    key = "changed" if args.target is None else "reached"
    print(
        table(
            [
                [
                    p.name,
                    r.clean,
                    r.adversarial,
                    getattr(r, key),
                    round(r.nll_before, 3),
                    round(r.nll_after, 3),
                    round(r.linf, 4),
                ]
                for p, r in zip(paths, reports, strict=True)
            ],
            ["image", "clean caption", "adversarial caption", key, "NLL before", "NLL after", "L∞"],
        )
    )
    rate = sum(bool(getattr(r, key)) for r in reports) / len(reports)
    what = "caption changed" if args.target is None else f"caption == {reports[0].target!r}"
    print(f"{what}: {rate:.1%} of {len(reports)} images at {args.norm} ε = {args.epsilon:.4g}, {args.steps} steps")

    def describe(x: torch.Tensor) -> str:
        words = captioner.text(captioner.caption_tensors(x[None], beam_size=1).best_tokens()[0])
        return "\n".join(textwrap.wrap(words, 34)[:3])

    out, shown = Path(args.out), min(args.figures, len(reports))
    name = "untargeted" if args.target is None else "targeted"
    figures = [
        str(
            fooling_figure(
                describe,
                images[i],
                [AttackPanel(adv[i], f"{name} ({args.norm} PGD)")],
                numbered_png(out, i, shown),
                width=9.0,
            )
        )
        for i in range(shown)
    ]
    report = {
        "checkpoint": str(args.checkpoint),
        "target": args.target,
        "epsilon": args.epsilon,
        "norm": args.norm,
        "steps": args.steps,
        "images": [str(p) for p in paths],
        "success_rate": rate,
        "success": key,
        "mean_linf": sum(r.linf for r in reports) / len(reports),
        "mean_l2": sum(r.l2 for r in reports) / len(reports),
        "attacks": [asdict(r) for r in reports],
        "figures": figures,
    }
    report_path = Path(args.report or out.with_suffix(".json"))
    write_json(report_path, report)
    for figure in figures:
        print(f"wrote {figure}")
    print(f"report: {report_path}")
    return 0
