"""``pipeline generate [TEXT ...] --checkpoint PATH``: sample a GAN into a PNG grid.

A text-to-image checkpoint needs TEXT (one grid row per caption, the same z in every column); an
unconditional GAN checkpoint takes none.
"""

from __future__ import annotations

import argparse

from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="sample a trained GAN (text-to-image: one row per caption) to a PNG")
    p.add_argument("text", nargs="*", help='captions for a text-to-image checkpoint, e.g. "a dog runs on the grass"')
    p.add_argument("--checkpoint", required=True, help="a gan or text_to_image checkpoint (e.g. .../last.pt)")
    p.add_argument("--n", type=int, default=8, help="images per caption (or n×n for an unconditional GAN)")
    p.add_argument("--seed", type=int, default=0, help="latent seed")
    p.add_argument("--out", default="data/figures/generated.png", help="PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.checkpoint import checkpoint_task
    from pipeline.device import resolve_runtime
    from pipeline.gan.figures import captioned_grid, save_grid
    from pipeline.gan.models import Gan
    from pipeline.gan.text_to_image import TextToImage

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    if args.n < 1:
        raise PipelineError("--n must be at least 1")
    task = checkpoint_task(args.checkpoint)
    if task == "text_to_image":
        if not args.text or not all(t.strip() for t in args.text):
            raise PipelineError('a text-to-image checkpoint needs captions: generate "a dog runs on the grass" ...')
        model = TextToImage.from_checkpoint(args.checkpoint)
        z = model.latents(args.n, args.seed)
        images = model.generate(model.embed(list(args.text)).repeat_interleave(args.n, 0), z.repeat(len(args.text), 1))
        out = captioned_grid(images, list(args.text), args.out)
    elif task == "gan":
        if args.text:
            raise PipelineError("this is an unconditional GAN checkpoint: it takes no text")
        out = save_grid(Gan.from_checkpoint(args.checkpoint).sample(args.n * args.n, args.seed), args.out, nrow=args.n)
    else:
        raise PipelineError(f"{args.checkpoint} is a {task!r} checkpoint; generate takes gan or text_to_image")
    print(f"wrote {out}")
    return 0
