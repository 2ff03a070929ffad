"""``build-index`` and ``retrieve``: content-based image retrieval with a binary-code autoencoder.

pipeline build-index --checkpoint data/runs/codes_cifar10_256/checkpoints/best.pt
pipeline retrieve photo.jpg --index data/runs/codes_cifar10_256/index.npz --top-k 10 --out hits.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError
from pipeline.runs import RunFolder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build-index", help="encode a dataset to packed binary codes with a code autoencoder")
    p.add_argument("--checkpoint", required=True, help="binary-code autoencoder checkpoint (model.code: binary)")
    p.add_argument(
        "--splits",
        nargs="+",
        default=["train", "test"],
        choices=["train", "test"],
        help="dataset splits to index (default: both)",
    )
    p.add_argument("--out", help="index file (default: <run>/index.npz)")
    p.set_defaults(func=build_index)

    p = subparsers.add_parser("retrieve", help="nearest images to IMAGE by Hamming distance in an index")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="query image files (any size; resized to the model's)")
    p.add_argument("--index", required=True, help="index built by build-index")
    p.add_argument("--top-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--out", help="also save a PNG: each query followed by its results")
    p.set_defaults(func=retrieve)


def build_index(args: argparse.Namespace) -> int:
    import torch

    from pipeline.data.image_tensors import load_images
    from pipeline.files import atomic_path
    from pipeline.progress import log
    from pipeline.unsupervised.binary_codes import pack_bits, to_bits
    from pipeline.unsupervised.evaluation import encode_pre
    from pipeline.unsupervised.trained import Autoencoder

    autoencoder = Autoencoder.from_checkpoint(args.checkpoint)
    model, cfg = autoencoder.model, autoencoder.config
    if autoencoder.code != "binary":
        raise PipelineError(f"{args.checkpoint} has model.code={autoencoder.code}; build-index needs binary codes")
    codes, labels, splits, positions = [], [], [], []
    for split in args.splits:
        images, split_labels = load_images(cfg.data.dataset, split, cfg.data.root, cfg.run.stages)
        codes.append(pack_bits(to_bits(encode_pre(model, images, torch.device("cpu"))).numpy()))
        labels.append(split_labels.numpy())
        splits += [split] * len(images)
        positions.append(np.arange(len(images)))
    out = Path(args.out or RunFolder.of(args.checkpoint).path / "index.npz")
    meta = {
        "checkpoint": str(Path(args.checkpoint).resolve()),
        "dataset": cfg.data.dataset,
        "bits": cfg.model.code_size,
        "splits": args.splits,
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            codes=np.concatenate(codes),
            labels=np.concatenate(labels),
            split=np.array(splits),
            position=np.concatenate(positions),
            meta=np.array(json.dumps(meta)),
        )
    log(f"indexed {sum(len(c) for c in codes)} images as {cfg.model.code_size}-bit codes")
    print(out)
    return 0


def retrieve(args: argparse.Namespace) -> int:
    import torch

    from pipeline.data.image_tensors import class_names, image_shape
    from pipeline.progress import table
    from pipeline.unsupervised.binary_codes import hamming_distances, pack_bits, to_bits
    from pipeline.unsupervised.retrieval import top_k_by_distance
    from pipeline.unsupervised.trained import Autoencoder

    if args.top_k < 1:
        raise PipelineError(f"--top-k must be at least 1, got {args.top_k}")
    from pipeline.data.images import image_array
    from pipeline.unsupervised.image_search import load_index

    index = load_index(args.index)
    autoencoder = Autoencoder.from_checkpoint(index["meta"]["checkpoint"])
    model, cfg = autoencoder.model, autoencoder.config
    shape = image_shape(cfg.data.dataset)
    queries = np.stack([image_array(p, shape) for p in args.images])  # (Q, C, H, W)
    with torch.no_grad():
        bits = to_bits(model.encode_pre(torch.from_numpy(queries))).numpy()
    distances = hamming_distances(pack_bits(bits), index["codes"])
    ranked = top_k_by_distance(distances, args.top_k)
    names = class_names(cfg.data.dataset)
    for q, path in enumerate(args.images):
        rows = [
            [
                r + 1,
                int(distances[q, i]),
                str(index["split"][i]),
                int(index["position"][i]),
                names[int(index["labels"][i])],
            ]
            for r, i in enumerate(ranked[q])
        ]
        print(f"{path}:")
        print(table(rows, ["rank", "hamming", "split", "position", "class"]))
    if args.out:
        save_results(queries, ranked, index, cfg, Path(args.out))
        print(f"figure: {args.out}")
    return 0


def save_results(queries: np.ndarray, ranked: np.ndarray, index: dict, cfg, out: Path) -> None:
    from pipeline.data.image_tensors import load_images
    from pipeline.unsupervised.figures import image_grid

    pools = {s: load_images(cfg.data.dataset, s, cfg.data.root, cfg.run.stages)[0] for s in set(index["split"])}
    rows = []
    for q, hits in enumerate(ranked):
        found = np.stack([pools[str(index["split"][i])][int(index["position"][i])].numpy() for i in hits])
        rows.append(np.concatenate([queries[q : q + 1], found]))
    image_grid(rows, out, [f"query {q + 1}" for q in range(len(rows))], title="query, then nearest by Hamming distance")
