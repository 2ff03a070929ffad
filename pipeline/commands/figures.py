"""``figures``: every PNG of the unsupervised-models results, from the trained runs, in one command.

    pipeline figures --out data/figures

A figure whose run is missing is reported (``skipped …``) and the others are still drawn.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.runs import RunFolder

RUNS = Path("data/runs")
CODES_RUN = "codes_cifar10_256_contrast"  # the best measured 256-bit run (contrast-normalised inputs)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("figures", help="draw all unsupervised-model figures (PNG) from the trained runs")
    p.add_argument("--out", default="data/figures", help="output folder (default data/figures)")
    p.add_argument("--runs", default=str(RUNS), help="folder holding the run folders (default data/runs)")
    p.add_argument("--count", type=int, default=10, help="images per row (default 10)")
    p.set_defaults(func=figures)


def figures(args: argparse.Namespace) -> int:
    from pipeline.progress import log

    out, runs = Path(args.out), Path(args.runs)
    makers: list[tuple[str, Callable[[Path, Path, int], Path]]] = [
        ("codes reconstructions", codes_reconstructions),
        ("retrieval codes vs pixels", retrieval_results),
        ("MNIST reconstructions", lambda o, r, n: reconstructions(o, r, n, "mnist")),
        ("CIFAR-10 reconstructions", lambda o, r, n: reconstructions(o, r, n, "cifar10")),
        ("RBM Gibbs chains", gibbs_chains),
        ("RBM filters", rbm_filters),
    ]
    for name, make in makers:
        try:
            print(make(out, runs, args.count))
        except FileNotFoundError as err:
            log(f"skipped {name}: {err}")
    return 0


def _spread(images, count: int):
    """``count`` images evenly spaced through the split (ImageFolder order is sorted by class)."""
    return images[:: max(len(images) // count, 1)][:count]


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"no {path}")
    return path


def codes_reconstructions(out: Path, runs: Path, count: int) -> Path:
    """Test images, their reconstructions from 256-bit codes, and PCA's from 256 components."""
    import torch

    from pipeline.data.image_tensors import load_images
    from pipeline.unsupervised.figures import image_grid
    from pipeline.unsupervised.trained import Autoencoder

    autoencoder = Autoencoder.from_checkpoint(_need(RunFolder(runs / CODES_RUN).best))
    cfg = autoencoder.config
    images = _spread(load_images(cfg.data.dataset, "test", cfg.data.root, cfg.run.stages)[0], count)
    with torch.no_grad():
        recon = autoencoder.model(images).reconstruction.numpy()
    k = cfg.model.code_size
    return image_grid(
        [images.numpy(), recon, _pca_reconstruction(cfg, images)],
        out / "codes_reconstructions.png",
        ["original", f"{k}-bit code", f"PCA {k}"],
        title="CIFAR-10 test images",
    )


def retrieval_results(out: Path, runs: Path, count: int) -> Path:
    """For a few queries: the top results by 256-bit codes (Hamming) and by pixels (Euclidean)."""
    from pipeline.unsupervised.figures import image_grid
    from pipeline.unsupervised.retrieval_benchmark import load_benchmark
    from pipeline.unsupervised.trained import Autoencoder

    run = runs / CODES_RUN
    report = json.loads(_need(run / "evaluation.json").read_text())["retrieval"]
    cfg = Autoencoder.from_checkpoint(_need(RunFolder(run).best)).config
    bench = load_benchmark(cfg.data, cfg.retrieval, cfg.run.stages)
    by_codes, by_pixels = np.load(report["codes"]["shown"]), np.load(report["pixels"]["shown"])
    rows, labels = [], []
    for q in range(0, 50, 10):  # five queries, spread over the query list
        query = bench.images[bench.queries[q]].numpy()[None]
        for name, shown in (("codes", by_codes), ("pixels", by_pixels)):
            rows.append(np.concatenate([query, bench.images[shown[q, :count]].numpy()]))
            labels.append(f"q{q // 10 + 1} {name}")
    return image_grid(
        rows,
        out / "retrieval_codes_vs_pixels.png",
        labels,
        title="query (first column), then the nearest by 256-bit codes or by pixels",
    )


def reconstructions(out: Path, runs: Path, count: int, dataset: str) -> Path:
    """Originals, PCA and each autoencoder variant (deep, conv, sparse, DBN-pretrained) at its code size."""
    import torch

    from pipeline.data.image_tensors import load_images
    from pipeline.unsupervised.figures import image_grid
    from pipeline.unsupervised.trained import Autoencoder

    names = [
        f"ae_{dataset}_deep",
        f"ae_{dataset}_conv",
        f"ae_{dataset}_sparse",
        f"dbn_{dataset}",
        f"dbn_{dataset}_random",
    ]
    found = [n for n in names if (RunFolder(runs / n).best).is_file()]
    if not found:
        raise FileNotFoundError(f"no {dataset} autoencoder runs under {runs}")
    rows, labels = [], []
    images = None
    for name in found:
        autoencoder = Autoencoder.from_checkpoint(RunFolder(runs / name).best)
        cfg = autoencoder.config
        if images is None:
            images = _spread(load_images(dataset, "test", cfg.data.root, cfg.run.stages)[0], count)
            rows.append(images.numpy())
            labels.append("original")
        with torch.no_grad():
            rows.append(autoencoder.model(images).reconstruction.numpy())
        labels.append(f"{name.split('_', 2)[-1] if name.startswith('ae_') else name} ({cfg.model.code_size})")
        if len(rows) == 2:  # PCA at the first model's code size, right under the originals
            rows.insert(1, _pca_reconstruction(cfg, images))
            labels.insert(1, f"PCA ({cfg.model.code_size})")
    return image_grid(rows, out / f"reconstructions_{dataset}.png", labels, title=f"{dataset} test reconstructions")


def _pca_reconstruction(cfg, images):
    """Closed-form PCA (fitted on the model's training images) reconstructions of ``images``."""
    from pipeline.data.image_tensors import load_splits
    from pipeline.unsupervised.pca import pca_reconstruction, pca_stage

    stage = pca_stage(cfg.data, load_splits(cfg.data, cfg.run.stages).train, cfg.run.stages)
    return pca_reconstruction(stage, cfg.model.code_size, images)


def gibbs_chains(out: Path, runs: Path, count: int) -> Path:
    """Gibbs chains of the MNIST RBM started from test digits: a snapshot every 100 steps, E[v | h] shown."""
    import torch

    from pipeline.unsupervised.figures import image_grid
    from pipeline.unsupervised.rbm_features import TrainedRBM, load_features

    trained = TrainedRBM.from_checkpoint(_need(RunFolder(runs / "rbm_mnist").best))
    rbm, cfg = trained.rbm, trained.config
    data = load_features(cfg.data, cfg.run.stages)
    torch.manual_seed(0)
    v = torch.from_numpy(data.test[np.arange(count) * 37])  # (count, V) different digits
    snapshots = [v.numpy()]
    with torch.no_grad():
        for _ in range(count - 1):
            v = rbm.gibbs(v, 100)
            snapshots.append(rbm.visible_mean(rbm.hidden_prob(v)).numpy())
    chains = np.stack(snapshots, 1).reshape(count, count, *data.image_shape)  # (chain, step, H, W)
    return image_grid(
        list(chains),
        out / "rbm_gibbs_chains.png",
        [f"chain {i + 1}" for i in range(count)],
        title="RBM Gibbs chains from test digits (columns: every 100 steps)",
    )


def rbm_filters(out: Path, runs: Path, count: int) -> Path:
    from pipeline.unsupervised.figures import image_grid, tile_filters
    from pipeline.unsupervised.rbm_features import TrainedRBM

    trained = TrainedRBM.from_checkpoint(_need(RunFolder(runs / "rbm_mnist").best))
    filters = tile_filters(trained.rbm.weight.detach().numpy(), trained.image_shape, count * count)
    return image_grid(
        [filters[i * count : (i + 1) * count] for i in range(count)],
        out / "rbm_filters.png",
        title="RBM weights of the first hidden units (MNIST)",
    )
