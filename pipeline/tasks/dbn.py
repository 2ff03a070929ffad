"""Deep belief net pretraining of a deep autoencoder (Hinton & Salakhutdinov 2006): greedy RBM stack,
unrolled, then fine-tuned by backpropagation — against the same autoencoder from random initialisation
with the same fine-tuning budget (``pretrain.init: random``). ``evaluate`` is the autoencoder task's."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from pipeline.data.image_tensors import image_shape, load_splits
from pipeline.device import resolve_runtime
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.unsupervised.autoencoder import build_autoencoder
from pipeline.unsupervised.dbn import pretrained_autoencoder
from pipeline.unsupervised.trained import (
    Autoencoder,
    DBNTaskConfig,
    fit_reconstruction,
    reconstruction_report,
    show_reconstruction_report,
)


def train(cfg: DBNTaskConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    splits = load_splits(cfg.data, cfg.run.stages, options.force)
    shape = image_shape(cfg.data.dataset)
    torch.manual_seed(cfg.train.seed)
    started = time.perf_counter()
    if cfg.pretrain.init == "dbn":
        model = pretrained_autoencoder(splits.train, cfg.model.hidden, cfg.model.code_size, cfg.pretrain, shape)
    else:
        model = build_autoencoder(cfg.model, shape)
    meta = {"input_shape": list(shape), "pretrain_seconds": round(time.perf_counter() - started, 1)}
    return fit_reconstruction(cfg, model, splits, meta, options.restart)


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    autoencoder = Autoencoder.from_checkpoint(path)
    report = reconstruction_report(autoencoder, path, options.limit)
    out = RunFolder.of(path).write_report(report, "evaluation.json", options.report)
    show_reconstruction_report(report)
    print(f"report: {out}")
    print(f"init: {autoencoder.config.pretrain.init}")
    return report


TASK = Task(
    "dbn",
    DBNTaskConfig,
    load_splits,
    train,
    evaluate,
    "deep autoencoder pretrained as a stack of RBMs (DBN) vs random initialisation",
)
