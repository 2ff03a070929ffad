"""``pipeline caption IMAGE... [--attention-png PATH]``: caption images with a trained captioning checkpoint.

Prints one line per image, ``<file>\\t<caption>``. JPEG, PNG, WebP, GIF, BMP and TIFF of any size are
accepted; greyscale, CMYK, palette and transparent images are converted to RGB (with a note on
stderr). A missing file, a non-image, a damaged/truncated file or an image smaller than 16x16 is
one ``error:`` line and exit status 2, before anything is captioned.
"""

from __future__ import annotations

import argparse

from pipeline.commands import OVERRIDE, add_config_args, resolve_checkpoint
from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("caption", help="caption images with a trained captioning model")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, ...)")
    add_config_args(p, required=False)
    p.add_argument("--checkpoint", help="captioning checkpoint (default: the config's run's best.pt)")
    p.add_argument("--beam-size", type=int, help="beam size (default: the config's search.beam_size; 1 = greedy)")
    p.add_argument(
        "--attention-png",
        metavar="PATH",
        help="save the attention maps (image + one heatmap per word); with several images, "
        "PATH gets -1, -2, ... before its suffix",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=run)


def _load_all(paths: list[str]) -> list:
    """Decode every image first, so bad input fails before any work (one clear line)."""
    from PIL import Image

    from pipeline.data.images import load_rgb
    from pipeline.progress import log

    images = []
    for path in paths:
        image = load_rgb(path)  # raises PipelineError naming the file and the problem
        with Image.open(path) as original:
            if original.mode not in ("RGB", "RGBA"):
                log(f"note: {path} is a {original.mode} image; converted to RGB")
        images.append(image)
    return images


def split_images(args: argparse.Namespace) -> None:
    """argparse gives every positional to IMAGE..., so ``key=value`` overrides after the images are moved
    back to the overrides (a file of that name, if one exists, stays an image)."""
    from pathlib import Path

    overrides = [p for p in args.images if OVERRIDE.match(p) and not Path(p).exists()]
    args.images = [p for p in args.images if p not in overrides]
    args.overrides = [*(args.overrides or []), *overrides]
    if not args.images:
        raise PipelineError("give at least one image file before the key=value overrides")


def run(args: argparse.Namespace) -> int:
    from pipeline.data.images import prepare_image
    from pipeline.inference.caption_figure import save_attention_figure
    from pipeline.inference.captioner import Captioner
    from pipeline.plots import numbered_png
    from pipeline.progress import log

    if args.beam_size is not None and args.beam_size < 1:
        raise PipelineError("--beam-size must be at least 1")
    split_images(args)
    images = _load_all(args.images)
    captioner = Captioner.from_checkpoint(resolve_checkpoint(args), device=args.device)
    want_attention = bool(args.attention_png)
    if want_attention and not captioner.has_attention:
        raise PipelineError("this checkpoint has no attention (Show-and-Tell baseline); drop --attention-png")
    results = captioner.caption(images, beam_size=args.beam_size, return_attention=want_attention)
    for index, (path, image, result) in enumerate(zip(args.images, images, results, strict=True)):
        print(f"{path}\t{result.text}")
        if want_attention:
            pixels = prepare_image(image, captioner.images.size, captioner.images.resize)
            out = save_attention_figure(
                numbered_png(args.attention_png, index, len(images)),
                pixels,
                result.words,
                result.attention_grids(),
                caption=result.text,
            )
            log(f"attention maps: {out}")
    return 0
