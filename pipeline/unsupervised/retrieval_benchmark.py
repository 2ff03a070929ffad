"""The CIFAR-10 retrieval benchmark: ``queries`` random test images against the other 59,000 images,
class labels as relevance, ranked by Hamming distance on an autoencoder's bits or by Euclidean
distance in pixel space. Both rankings see the same queries and the same database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from pipeline.config import Config
from pipeline.data.image_tensors import ImageDataConfig, load_images
from pipeline.files import write_json
from pipeline.stages import run_stage
from pipeline.unsupervised.autoencoder import contrast_normalise
from pipeline.unsupervised.binary_codes import pack_bits, to_bits
from pipeline.unsupervised.evaluation import encode_pre
from pipeline.unsupervised.retrieval import (
    query_split,
    rank_euclidean,
    rank_hamming,
    relevance,
    retrieval_scores,
    timed,
)

SHOWN = 16  # retrieved items kept per query for the figures


class RetrievalConfig(Config):
    """The ``retrieval:`` section: the benchmark protocol for binary codes on CIFAR-10 (class labels as relevance)."""

    queries: int = Field(
        1000, description="random test images used as queries; the other 59,000 images are the database"
    )
    seed: int = Field(0, description="which queries")
    map_k: int = Field(1000, description="k of mAP@k")
    precision_k: list[int] = Field([10, 100, 1000], description="the k of each precision@k")
    tie_seed: int = Field(
        0,
        description="seeded shuffle of the database order: distance ties are broken in this random order, "
        "not by the class-sorted order of the files",
    )


@dataclass
class Benchmark:
    images: torch.Tensor  # (60000, C, H, W) in [0, 1]: train then test
    labels: np.ndarray  # (60000,)
    queries: np.ndarray  # (Q,) indices into images
    database: np.ndarray  # (N,) the rest


def load_benchmark(data: ImageDataConfig, retrieval: RetrievalConfig, stages_dir: str) -> Benchmark:
    train, train_labels = load_images(data.dataset, "train", data.root, stages_dir)
    test, test_labels = load_images(data.dataset, "test", data.root, stages_dir)
    images = torch.cat([train, test])
    labels = torch.cat([train_labels, test_labels]).numpy()
    queries, database = query_split(
        len(images), retrieval.queries, retrieval.seed, pool=np.arange(len(train), len(images))
    )
    # Rankings break distance ties by database position. CIFAR-10's files are sorted by class, so in file
    # order a tie favours the first classes; a seeded shuffle makes the order random but reproducible.
    database = np.random.default_rng(retrieval.tie_seed).permutation(database)
    return Benchmark(images, labels, queries, database)


def score(bench: Benchmark, ranked: np.ndarray, retrieval: RetrievalConfig, ms_per_query: float) -> dict:
    rel = relevance(bench.labels[bench.queries], bench.labels[bench.database], ranked)
    return {**retrieval_scores(rel, retrieval.map_k, retrieval.precision_k), "ms_per_query": round(ms_per_query, 3)}


def pixel_baseline(
    bench: Benchmark, data: ImageDataConfig, retrieval: RetrievalConfig, stages_dir: str, contrast: bool = False
) -> dict:
    """Euclidean ranking on pixels, raw or contrast-normalised as the codes' encoder sees them
    (``contrast``), cached as a stage (scores, timing and the top items per query)."""

    def build(out: Path) -> dict:
        images = contrast_normalise(bench.images) if contrast else bench.images
        flat = images.flatten(1).numpy()
        result = timed(
            lambda: rank_euclidean(flat[bench.queries], flat[bench.database], retrieval.map_k), len(bench.queries)
        )
        scores = score(bench, result.ranked, retrieval, result.ms_per_query)
        np.save(out / "shown.npy", bench.database[result.ranked[:, :SHOWN]])
        write_json(out / "scores.json", scores)
        return scores

    params = {"dataset": data.dataset, **retrieval.to_dict(), "database_order": "shuffled", "contrast": contrast}
    name = f"retrieval-pixels{'-contrast' if contrast else ''}-{data.dataset}"
    stage = run_stage(Path(stages_dir), name, params, {}, build)
    return {**json.loads((stage.path / "scores.json").read_text()), "shown": str(stage.path / "shown.npy")}


def code_retrieval(
    model: torch.nn.Module, device: torch.device, bench: Benchmark, retrieval: RetrievalConfig, out_dir: Path
) -> dict:
    """Hamming ranking on the model's thresholded codes; the top items are saved for the figures."""
    pre = encode_pre(model, bench.images, device)  # (60000, bits)
    codes = pack_bits(to_bits(pre).numpy())  # (60000, bits/8)
    result = timed(
        lambda: rank_hamming(codes[bench.queries], codes[bench.database], retrieval.map_k), len(bench.queries)
    )
    shown = out_dir / "retrieval_shown.npy"
    np.save(shown, bench.database[result.ranked[:, :SHOWN]])
    np.save(out_dir / "retrieval_queries.npy", bench.queries)
    return {
        **score(bench, result.ranked, retrieval, result.ms_per_query),
        "bits": int(pre.shape[1]),
        "shown": str(shown),
    }
