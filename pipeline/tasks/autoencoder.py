"""Autoencoders on MNIST / CIFAR-10: the linear one (PCA as a network), deep, convolutional and sparse
variants, and binary-code autoencoders for retrieval (Krizhevsky & Hinton 2011).

``evaluate`` reports test reconstruction error next to closed-form PCA's at the same code size and,
for binary codes, the retrieval benchmark against pixel-space Euclidean ranking.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from pipeline.data.image_tensors import image_shape, load_splits
from pipeline.data.photo_crops import flickr8k_train_crops
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
    meta: dict = {"input_shape": list(shape)}
    if cfg.data.flickr8k_crops:
        if cfg.data.dataset != "cifar10":
            raise PipelineError("data.flickr8k_crops adds colour 32-px crops: it needs data.dataset=cifar10")
        crops = flickr8k_train_crops(
            cfg.data.flickr8k_crops,
            shape[-1],
            cfg.data.flickr8k_crop_side,
            cfg.train.seed,
            cfg.data.flickr8k_root,
            cfg.run.stages,
        )
        splits = dataclasses.replace(splits, train=torch.cat([splits.train, crops]))
        meta["training_images"] = {"cifar10_train": len(splits.train) - len(crops), "flickr8k_train_crops": len(crops)}
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
    return fit_reconstruction(cfg, model, splits, meta, options.restart)


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
