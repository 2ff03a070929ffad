"""Autoencoders on MNIST / CIFAR-10: the linear one (PCA as a network), deep, convolutional and sparse
variants, and binary-code autoencoders for retrieval (Krizhevsky & Hinton 2011).

``evaluate`` reports test reconstruction error next to closed-form PCA's at the same code size and,
for binary codes, the retrieval benchmark against pixel-space Euclidean ranking.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import torch

from pipeline.config import Config, RunConfig
from pipeline.data.batching import ShuffledTensorBatches
from pipeline.tasks import Task
from pipeline.tasks._unsup_common import ImageDataConfig, ImageSplits, RetrievalConfig
from pipeline.training.trainer import LossOutput, TrainConfig
from pipeline.unsupervised.autoencoder import AutoencoderConfig, SparsityConfig


class AutoencoderTaskConfig(Config):
    task: Literal["autoencoder"] = "autoencoder"
    run: RunConfig = RunConfig()
    data: ImageDataConfig = ImageDataConfig()
    model: AutoencoderConfig = AutoencoderConfig()
    train: TrainConfig = TrainConfig()
    retrieval: RetrievalConfig = RetrievalConfig()


class ReconstructionBatch:
    """Images only; ``n_tokens`` is the number of images, so the trainer's rates are images/s."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    @property
    def n_tokens(self) -> int:
        return len(self.images)

    def to(self, device: torch.device) -> ReconstructionBatch:
        return ReconstructionBatch(self.images.to(device))


def reconstruction_loss(sparsity: SparsityConfig):
    """Squared error summed over pixels, per image (Hinton & Salakhutdinov 2006), plus the sparsity penalty."""
    from pipeline.unsupervised.sparsity import sparsity_penalty

    def loss_fn(model: torch.nn.Module, batch: ReconstructionBatch) -> LossOutput:
        out = model(batch.images)
        error = ((out.reconstruction.float() - batch.images) ** 2).flatten(1).sum(1).mean()
        loss = error
        if sparsity.kind != "none" and sparsity.weight > 0:
            loss = loss + sparsity.weight * sparsity_penalty(out.code.float(), sparsity.kind, sparsity.target)
        return LossOutput(loss, batch.n_tokens)

    return loss_fn


def prepare(cfg: AutoencoderTaskConfig, force: bool = False) -> ImageSplits:
    from pipeline.tasks._unsup_common import load_splits

    return load_splits(cfg.data, cfg.run.stages)


def fit_autoencoder(cfg: Any, model: torch.nn.Module, splits: ImageSplits, meta: dict, restart: bool) -> Path:
    """Train ``model`` with the shared trainer; best checkpoint by validation reconstruction error."""
    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.tasks._unsup_common import reconstruction_mse
    from pipeline.training.trainer import Trainer

    runtime = resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    run_dir = Path(cfg.run.dir)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    trainer = Trainer(cfg.train, runtime, model, reconstruction_loss(cfg.model.sparsity),
                      ShuffledTensorBatches([splits.train], cfg.data.batch_size, cfg.train.seed, ReconstructionBatch),
                      lambda mdl: {"mse": reconstruction_mse(mdl, splits.valid, runtime.device)},
                      run_dir, meta, score_name="mse", higher_is_better=False, unit="img", perplexity=False)
    trainer.fit(resume=not restart)
    return run_dir


def train(cfg: AutoencoderTaskConfig, args: argparse.Namespace) -> Path:
    from pipeline.adversarial.datasets import image_shape
    from pipeline.unsupervised.autoencoder import build_autoencoder

    splits = prepare(cfg)
    shape = image_shape(cfg.data.dataset)
    torch.manual_seed(cfg.train.seed)
    model = build_autoencoder(cfg.model, shape)
    if cfg.model.kind == "linear":
        model.mean.copy_(splits.train.flatten(1).mean(0))  # PCA centres the data; so does its network twin
    if cfg.model.shortcut != "none":  # start at PCA's solution (the cached closed-form stage)
        import numpy as np

        from pipeline.errors import PipelineError
        from pipeline.tasks._unsup_common import pca_stage

        stage = pca_stage(cfg.data, splits.train, cfg.run.stages)
        components = np.load(stage / "components.npy")
        if components.shape[1] < cfg.model.code_size:
            raise PipelineError(f"shortcut: pca needs {cfg.model.code_size} components; the PCA stage keeps "
                                f"{components.shape[1]}")
        model.init_from_pca(torch.from_numpy(np.load(stage / "mean.npy")).float(),
                            torch.from_numpy(components[:, : cfg.model.code_size]).float())
    meta = {"task": "autoencoder", "config": cfg.to_dict(), "input_shape": list(shape)}
    return fit_autoencoder(cfg, model, splits, meta, getattr(args, "restart", False))


def load_autoencoder(path: Path) -> tuple[torch.nn.Module, AutoencoderTaskConfig]:
    """Rebuild a trained autoencoder from its checkpoint alone (eval mode, CPU)."""
    from pipeline.checkpoint import load_checkpoint
    from pipeline.unsupervised.autoencoder import build_autoencoder

    ckpt = load_checkpoint(path)
    cfg = AutoencoderTaskConfig.model_validate({**ckpt.meta["config"], "task": "autoencoder"})
    model = build_autoencoder(cfg.model, tuple(ckpt.meta["input_shape"]))
    model.load_state_dict(ckpt.model)
    return model.eval(), cfg


def evaluate_reconstruction(model: torch.nn.Module, cfg: Any, path: Path, args: argparse.Namespace) -> dict:
    """Test reconstruction error vs PCA at the same code size; retrieval for binary codes on CIFAR-10."""
    import time

    from pipeline.files import write_json
    from pipeline.progress import table
    from pipeline.tasks._unsup_common import code_activity, load_splits, pca_mse, pca_stage, reconstruction_mse

    device = torch.device("cpu")
    splits = load_splits(cfg.data, cfg.run.stages)
    test = splits.test[: args.limit] if getattr(args, "limit", None) else splits.test
    started = time.perf_counter()
    report: dict[str, Any] = {"checkpoint": str(path), "dataset": cfg.data.dataset, "model": cfg.model.to_dict(),
                              "test_images": len(test), "test_mse": reconstruction_mse(model, test, device)}
    report["pca_test_mse"] = pca_mse(pca_stage(cfg.data, splits.train, cfg.run.stages), cfg.model.code_size, test)
    report["beats_pca"] = report["test_mse"] < report["pca_test_mse"]
    if cfg.model.sparsity.kind != "none":
        report["code_activity"] = {**code_activity(model, test, device), "penalty": cfg.model.sparsity.to_dict()}
    rows = [["autoencoder", cfg.model.kind, cfg.model.code_size, report["test_mse"]],
            ["PCA", "closed form", cfg.model.code_size, report["pca_test_mse"]]]
    if getattr(cfg.model, "code", "linear") == "binary" and cfg.data.dataset == "cifar10":
        report["retrieval"] = evaluate_retrieval(model, cfg, Path(path).parent.parent)
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(getattr(args, "report", None) or Path(path).parent.parent / "evaluation.json")
    write_json(out, report)
    print(table(rows, ["model", "kind", "code size", "test MSE/pixel"]))
    if "code_activity" in report:
        act = report["code_activity"]
        print(f"code activity: mean {act['mean_activation']:.4f}, mean |c| {act['mean_abs']:.4f}, "
              f"{100 * act['share_below_0.05']:.1f}% of units below 0.05")
    if "retrieval" in report:
        ret = report["retrieval"]
        keys = [k for k in ret["codes"] if k not in ("shown", "bits")]
        print(table([[f"{ret['codes']['bits']}-bit codes (Hamming)", *(ret["codes"][k] for k in keys)],
                     ["pixels (Euclidean)", *(ret["pixels"][k] for k in keys)]], ["ranking", *keys]))
    print(f"report: {out}")
    return report


def evaluate_retrieval(model: torch.nn.Module, cfg: AutoencoderTaskConfig, run_dir: Path) -> dict:
    from pipeline.tasks._retrieval_benchmark import code_retrieval, load_benchmark, pixel_baseline

    bench = load_benchmark(cfg.data, cfg.retrieval, cfg.run.stages)
    return {"protocol": {**cfg.retrieval.to_dict(), "database": len(bench.database)},
            "codes": code_retrieval(model, torch.device("cpu"), bench, cfg.retrieval, run_dir),
            "pixels": pixel_baseline(bench, cfg.data, cfg.retrieval, cfg.run.stages)}


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    model, cfg = load_autoencoder(path)
    return evaluate_reconstruction(model, cfg, path, args)


TASK = Task("autoencoder", AutoencoderTaskConfig, prepare, train, evaluate,
            "linear (PCA), deep, convolutional, sparse and binary-code autoencoders on MNIST / CIFAR-10")
