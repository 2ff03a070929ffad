"""Deep belief net pretraining of a deep autoencoder (Hinton & Salakhutdinov 2006): greedy RBM stack,
unrolled, then fine-tuned by backpropagation — against the same autoencoder from random initialisation
with the same fine-tuning budget (``init: random``). ``evaluate`` is the autoencoder task's."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import model_validator

from pipeline.config import Config, RunConfig
from pipeline.tasks import Task
from pipeline.tasks._unsup_common import ImageDataConfig, RetrievalConfig
from pipeline.training.trainer import TrainConfig
from pipeline.unsupervised.autoencoder import AutoencoderConfig
from pipeline.unsupervised.contrastive_divergence import CDConfig


class DBNTaskConfig(Config):
    task: Literal["dbn"] = "dbn"
    run: RunConfig = RunConfig()
    data: ImageDataConfig = ImageDataConfig()
    model: AutoencoderConfig = AutoencoderConfig(activation="sigmoid", code="sigmoid")
    init: Literal["dbn", "random"] = "dbn"  # dbn: unrolled RBM stack; random: PyTorch's default init
    pretrain: CDConfig = CDConfig()  # the learning rule of every RBM in the stack
    train: TrainConfig = TrainConfig()  # fine-tuning (identical for both inits)
    retrieval: RetrievalConfig = RetrievalConfig()  # unused; keeps the autoencoder evaluation's shape

    @model_validator(mode="after")
    def _logistic_everywhere(self) -> DBNTaskConfig:
        m = self.model
        if m.kind != "deep" or m.activation != "sigmoid" or m.code != "sigmoid":
            raise ValueError("a DBN unrolls into model.kind=deep with activation=sigmoid and code=sigmoid")
        return self


def prepare(cfg: DBNTaskConfig, force: bool = False):
    from pipeline.tasks._unsup_common import load_splits

    return load_splits(cfg.data, cfg.run.stages)


def pretrained_autoencoder(cfg: DBNTaskConfig, train_images: torch.Tensor, shape: tuple[int, ...]) -> torch.nn.Module:
    from pipeline.progress import log
    from pipeline.unsupervised.dbn import train_stack, unroll

    flat = train_images.flatten(1)
    sizes = [flat.shape[1], *cfg.model.hidden, cfg.model.code_size]
    started = time.perf_counter()

    def on_layer(i: int, rbm) -> None:
        log(f"RBM {i + 1}/{len(sizes) - 1} ({rbm.n_visible}→{rbm.n_hidden}) trained, "
            f"{time.perf_counter() - started:.0f}s so far")

    return unroll(train_stack(flat, sizes, cfg.pretrain, on_layer), shape)


def train(cfg: DBNTaskConfig, args: argparse.Namespace) -> Path:
    from pipeline.adversarial.datasets import image_shape
    from pipeline.device import resolve_runtime
    from pipeline.tasks.autoencoder import fit_autoencoder
    from pipeline.unsupervised.autoencoder import build_autoencoder

    resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    splits = prepare(cfg)
    shape = image_shape(cfg.data.dataset)
    torch.manual_seed(cfg.train.seed)
    started = time.perf_counter()
    if cfg.init == "dbn":
        model = pretrained_autoencoder(cfg, splits.train, shape)
    else:
        model = build_autoencoder(cfg.model, shape)
    meta = {"task": "dbn", "config": cfg.to_dict(), "input_shape": list(shape),
            "pretrain_seconds": round(time.perf_counter() - started, 1)}
    return fit_autoencoder(cfg, model, splits, meta, getattr(args, "restart", False))


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    from pipeline.checkpoint import load_checkpoint
    from pipeline.tasks.autoencoder import evaluate_reconstruction
    from pipeline.unsupervised.autoencoder import build_autoencoder

    ckpt = load_checkpoint(path)
    cfg = DBNTaskConfig.model_validate(ckpt.meta["config"])
    model = build_autoencoder(cfg.model, tuple(ckpt.meta["input_shape"]))
    model.load_state_dict(ckpt.model)
    report = evaluate_reconstruction(model.eval(), cfg, path, args)
    print(f"init: {cfg.init}")
    return report


TASK = Task("dbn", DBNTaskConfig, prepare, train, evaluate,
            "deep autoencoder pretrained as a stack of RBMs (DBN) vs random initialisation")
