"""iGAN verbs (Zhu et al. 2016): project real images onto a DCGAN's manifold and edit them there.

    pipeline train-encoder --checkpoint data/runs/gan_mnist_dcgan/checkpoints/last.pt
    pipeline project test:0 --checkpoint GAN --encoder ENC --method all --out data/figures/igan
    pipeline edit test:0 --checkpoint GAN --encoder ENC --stroke 14,10,3,white --out data/figures/igan
    pipeline igan-evaluate --checkpoint GAN --encoder ENC --limit 500 --edits 100

IMAGE is an image file (resized to the GAN's resolution, grey for MNIST) or ``test:N``, the N-th test
image of the GAN's dataset. The logic lives in ``pipeline/gan/{projection,editing,encoder,igan_evaluation}.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("train-encoder", help="iGAN: train an encoder E(x) ≈ z against a DCGAN checkpoint")
    p.add_argument("--checkpoint", required=True, help="a DCGAN checkpoint (task: gan)")
    p.add_argument("--out", help="run folder (default: data/runs/<gan run>_encoder)")
    p.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    p.add_argument("--batch-size", type=int, default=64, help="generated samples (and real images) per step")
    p.add_argument("--width", type=int, default=32, help="channels of the encoder's first conv")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.set_defaults(func=train_encoder)

    p = subparsers.add_parser("project", help="iGAN: project an image onto a DCGAN's manifold, as a PNG")
    _add_common(p)
    p.add_argument(
        "--method",
        choices=["optimize", "encoder", "hybrid", "all"],
        help="default: hybrid with --encoder, else optimize; all = the three side by side",
    )
    p.set_defaults(func=project)

    p = subparsers.add_parser("edit", help="iGAN: edit an image with colour strokes / a sketch; PNG strip + GIF")
    _add_common(p)
    p.add_argument(
        "--stroke",
        action="append",
        default=[],
        metavar="x,y,r,colour",
        help="a disc of colour (name, #rrggbb or grey 0..1) at pixel (x, y) of the GAN's resolution; repeatable",
    )
    p.add_argument("--sketch", help="an edge map (white lines on black), resized to the GAN's resolution")
    p.add_argument(
        "--line",
        action="append",
        default=[],
        metavar="x0,y0,x1,y1",
        help="a sketch line from (x0, y0) to (x1, y1) in the GAN's pixel grid; repeatable, drawn over --sketch",
    )
    p.add_argument("--frames", type=int, default=8, help="morph frames from projection to edit (default 8)")
    p.add_argument("--edit-steps", type=int, default=150, help="optimisation steps of the edit (default 150)")
    p.add_argument("--prior-weight", type=float, default=0.05, help="λ of λ‖z − z0‖²/d (default 0.05)")
    p.set_defaults(func=edit)

    p = subparsers.add_parser("igan-evaluate", help="iGAN: projection error of the 3 methods and edit success")
    p.add_argument("--checkpoint", required=True, help="a DCGAN checkpoint (task: gan)")
    p.add_argument("--encoder", required=True, help="an igan_encoder checkpoint trained against it")
    p.add_argument("--limit", type=int, default=500, help="seeded random test images to project (default 500)")
    p.add_argument("--edits", type=int, default=100, help="random-stroke edits (default 100)")
    p.add_argument("--steps", type=int, default=200, help="projection steps per start (default 200)")
    p.add_argument("--restarts", type=int, default=4, help="random starts of 'optimize' (default 4)")
    p.add_argument("--edit-steps", type=int, default=150, help="edit optimisation steps (default 150)")
    p.add_argument("--prior-weight", type=float, default=0.05, help="λ of the edit objective (default 0.05)")
    p.add_argument("--report", help="JSON report (default: <gan run>/igan_report.json)")
    p.set_defaults(func=evaluate)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="an image file, or test:N for the N-th test image of the GAN's dataset")
    p.add_argument("--checkpoint", required=True, help="a DCGAN checkpoint (task: gan)")
    p.add_argument("--encoder", help="an igan_encoder checkpoint trained against that GAN")
    p.add_argument("--steps", type=int, default=200, help="projection steps per start (default 200)")
    p.add_argument("--restarts", type=int, default=4, help="random starts of 'optimize' (default 4)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="wall-time cap of each optimisation")
    p.add_argument("--out", default="data/figures/igan", help="output folder (default data/figures/igan)")


def _runtime_and_meta(checkpoint: str) -> dict:
    from pipeline.device import resolve_runtime
    from pipeline.gan.models import Gan

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    return Gan.from_checkpoint(checkpoint).meta


def _test_images(meta: dict, limit: int | None = None):
    from pipeline.data.image_tensors import evaluation_subset, load_images

    cfg = meta["config"]
    images, _ = load_images(cfg["data"]["dataset"], "test", cfg["data"]["root"], cfg["run"]["stages"])
    return images if limit is None else images[evaluation_subset(len(images), limit)]


def load_input(spec: str, meta: dict, shape: tuple[int, int, int]):
    """``test:N`` or an image file → (C, H, W) in [0, 1] at the GAN's resolution."""
    from pipeline.gan.editing import load_image

    if spec.startswith("test:"):
        index = spec.split(":", 1)[1]
        images = _test_images(meta)
        if not index.isdigit() or int(index) >= len(images):
            raise PipelineError(f"bad test image {spec!r}: expected test:N with N in 0..{len(images) - 1}")
        return images[int(index)]
    return load_image(spec, shape)


def _editor(args: argparse.Namespace, **edit):
    from pipeline.gan.editing import EditBudget, Editor
    from pipeline.gan.projection import ProjectionBudget

    budget = ProjectionBudget(args.steps, args.restarts, max_seconds=args.max_seconds)
    edit_budget = EditBudget(max_seconds=args.max_seconds, **edit)
    return Editor.from_checkpoint(args.checkpoint, args.encoder, projection_budget=budget, edit_budget=edit_budget)


def project(args: argparse.Namespace) -> int:
    import torch

    from pipeline.gan.figures import save_grid
    from pipeline.gan.projection import METHODS

    meta = _runtime_and_meta(args.checkpoint)
    editor = _editor(args)
    image = load_input(args.image, meta, editor.shape)
    methods = list(METHODS) if args.method == "all" else [args.method or editor.default_method]
    tiles = [image]
    for method in methods:
        projection = editor.project(image, method)
        tiles.append(projection.image[0])
        print(f"{method}: mse {float(projection.error[0]):.5f} ({projection.steps} steps, {projection.seconds:.1f} s)")
    out = save_grid(torch.stack(tiles), Path(args.out) / "projection.png", nrow=len(tiles), scale=4)
    print(f"wrote {out} (original | {' | '.join(methods)})")
    return 0


def edit(args: argparse.Namespace) -> int:
    import torch

    from pipeline.gan.constraints import rasterise_lines
    from pipeline.gan.editing import load_image, paint_constraints, save_morph
    from pipeline.gan.figures import save_grid

    meta = _runtime_and_meta(args.checkpoint)
    editor = _editor(args, steps=args.edit_steps, prior_weight=args.prior_weight)
    image = load_input(args.image, meta, editor.shape)
    sketch = None if args.sketch is None else load_image(args.sketch, (1, *editor.shape[1:]))[0]
    if args.line:
        lines = rasterise_lines(args.line, editor.shape)
        sketch = lines if sketch is None else torch.maximum(sketch, lines)
    constraints = editor.constraints(args.stroke, sketch)  # bad strokes fail before any optimisation
    result = editor.edit(image, constraints, frames=args.frames)
    painted = paint_constraints(result.projection.image[0], constraints)
    out = Path(args.out)
    figure = save_grid(
        torch.cat([image[None], painted[None], result.frames]), out / "edit.png", nrow=2 + len(result.frames), scale=4
    )
    strip, gif = save_morph(result.frames, out / "morph.png", out / "morph.gif")
    if result.colour_error_before is not None:
        print(
            f"colour error inside the strokes: projection {result.colour_error_before:.3f} → "
            f"edit {result.colour_error_after:.3f}"
        )
    if result.edge_error_before is not None:
        print(
            f"edge error on the sketch lines: projection {result.edge_error_before:.3f} → "
            f"edit {result.edge_error_after:.3f}"
        )
    print(f"{result.steps} edit steps, {result.seconds:.1f} s; losses {result.losses[0]} → {result.losses[-1]}")
    print(f"wrote {figure} (original | strokes on the projection | morph), {strip}, {gif}")
    return 0


def train_encoder(args: argparse.Namespace) -> int:
    from pipeline.data.image_tensors import load_images
    from pipeline.gan.encoder import EncoderTrainConfig
    from pipeline.gan.encoder import train_encoder as fit
    from pipeline.gan.models import Gan

    meta = _runtime_and_meta(args.checkpoint)
    if args.steps < 1 or args.batch_size < 2:
        raise PipelineError("--steps must be ≥ 1 and --batch-size ≥ 2")
    generator = Gan.from_checkpoint(args.checkpoint).generator
    cfg = meta["config"]
    images, _ = load_images(cfg["data"]["dataset"], "train", cfg["data"]["root"], cfg["run"]["stages"])
    run_dir = Path(args.out or f"{cfg['run']['dir']}_encoder")
    train_cfg = EncoderTrainConfig(width=args.width, batch_size=args.batch_size, max_steps=args.steps)
    best = fit(generator, args.checkpoint, images, train_cfg, run_dir, resume=not args.restart)
    print(f"run folder: {run_dir}\nbest encoder: {best}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import time

    from pipeline.files import write_json
    from pipeline.gan import igan_evaluation as ev
    from pipeline.gan.editing import EditBudget
    from pipeline.gan.projection import ProjectionBudget
    from pipeline.progress import log, table

    meta = _runtime_and_meta(args.checkpoint)
    started = time.perf_counter()
    args.max_seconds = None  # the evaluation is bounded by steps; wall time is reported instead
    editor = _editor(args)
    images = _test_images(meta, args.limit)
    budget = ProjectionBudget(args.steps, args.restarts, max_seconds=None)
    projections = ev.project_all(editor, images, budget)
    report = {
        "gan": args.checkpoint,
        "gan_step": meta.get("step"),
        "encoder": args.encoder,
        "dataset": meta["config"]["data"]["dataset"],
        "projection": ev.projection_report(projections),
    }
    log(f"projection done ({time.perf_counter() - started:.0f} s)")
    edits = ev.random_strokes(args.edits, editor.shape)
    edit_budget = EditBudget(args.edit_steps, prior_weight=args.prior_weight, max_seconds=None)
    report["edits"], frames, constraints = ev.edit_report(editor, projections["hybrid"], edits, edit_budget)
    run = Path(args.checkpoint).parent.parent
    report["figures"] = {
        "projection": str(ev.projection_figure(images, projections, run / "igan" / "projection.png")),
        "edits": str(ev.edit_figure(images, frames, constraints, run / "igan" / "edits.png")),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.report or run / "igan_report.json")
    write_json(out, report)
    methods = report["projection"]["methods"]
    print(
        table(
            [
                [m, report["projection"]["n"], row["mse"], row["mse_se"], row["steps"], row["seconds"]]
                for m, row in methods.items()
            ],
            ["method", "n", "mean MSE", "± s.e.", "steps", "seconds"],
        )
    )
    e = report["edits"]
    print(
        f"edits: n {e['n']}, colour error inside strokes {e['colour_error_projection']:.4f} → "
        f"{e['colour_error_edit']:.4f} (ratio {e['ratio_of_means']:.3f}; median {e['median_ratio']:.3f}; "
        f"≤ 0.5 for {100 * e['share_at_most_half']:.0f} %)"
    )
    print(f"report: {out}")
    return 0
