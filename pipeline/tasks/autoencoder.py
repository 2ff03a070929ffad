"""Autoencoders on MNIST / CIFAR-10: the linear one (PCA as a network), deep, convolutional and sparse
variants, and binary-code autoencoders for retrieval (Krizhevsky & Hinton 2011).

``evaluate`` reports test reconstruction error next to closed-form PCA's at the same code size and,
for binary codes, the retrieval benchmark against pixel-space Euclidean ranking.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.data.image_tensors import image_shape, load_splits
from pipeline.errors import PipelineError
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.unsupervised.autoencoder import LinearAutoencoderConfig, build_autoencoder
from pipeline.unsupervised.pca import pca_stage
from pipeline.unsupervised.trained import (
    Autoencoder,
    AutoencoderTaskConfig,
    fit_reconstruction,
    reconstruction_report,
    show_reconstruction_report,
)


def train(cfg: AutoencoderTaskConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    splits = load_splits(cfg.data, cfg.run.stages, options.force)
    shape = image_shape(cfg.data.dataset)
    torch.manual_seed(cfg.train.seed)
    model = build_autoencoder(cfg.model, shape)
    if isinstance(cfg.model, LinearAutoencoderConfig):
        model.mean.copy_(splits.train.flatten(1).mean(0))  # PCA centres the data; so does its network twin
    elif cfg.model.shortcut != "none":  # start at PCA's solution (the cached closed-form stage)
        stage = pca_stage(cfg.data, splits.train, cfg.run.stages)
        components = np.load(stage / "components.npy")
        if components.shape[1] < cfg.model.code_size:
            raise PipelineError(
                f"shortcut: pca needs {cfg.model.code_size} components; the PCA stage keeps {components.shape[1]}"
            )
        model.init_from_pca(
            torch.from_numpy(np.load(stage / "mean.npy")).float(),
            torch.from_numpy(components[:, : cfg.model.code_size]).float(),
        )
    return fit_reconstruction(cfg, model, splits, {"input_shape": list(shape)}, options.restart)


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    report = reconstruction_report(Autoencoder.from_checkpoint(path), path, options.limit)
    out = RunFolder.of(path).write_report(report, "evaluation.json", options.report)
    show_reconstruction_report(report)
    print(f"report: {out}")
    return report


TASK = Task(
    "autoencoder",
    AutoencoderTaskConfig,
    load_splits,
    train,
    evaluate,
    "linear (PCA), deep, convolutional, sparse and binary-code autoencoders on MNIST / CIFAR-10",
)
