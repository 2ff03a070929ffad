"""The autoencoder family's runs: the autoencoder and DBN task configs, training a model on reconstruction,
rebuilding it from a checkpoint (:meth:`Autoencoder.from_checkpoint`), and its evaluation report — test
reconstruction error next to closed-form PCA's at the same code size, code sparsity, and for binary codes
on CIFAR-10 the retrieval benchmark against pixel-space ranking."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from pipeline.checkpoint import load_checkpoint
from pipeline.config import task_config
from pipeline.data.batching import ReconstructionBatch, ShuffledTensorBatches
from pipeline.data.image_tensors import HeldOutImageDataConfig, ImageSplits, load_splits
from pipeline.losses import reconstruction_loss
from pipeline.progress import table
from pipeline.runs import RunFolder
from pipeline.training.trainer import TrainConfig, fit_run, train_runtime
from pipeline.unsupervised.autoencoder import AutoencoderConfig, DeepAutoencoderConfig, build_autoencoder
from pipeline.unsupervised.contrastive_divergence import CDConfig
from pipeline.unsupervised.evaluation import code_activity, reconstruction_mse
from pipeline.unsupervised.pca import pca_mse, pca_stage
from pipeline.unsupervised.retrieval_benchmark import RetrievalConfig, code_retrieval, load_benchmark, pixel_baseline

CPU = torch.device("cpu")


class AutoencoderDataConfig(HeldOutImageDataConfig):
    """The autoencoder's ``data:`` section: :class:`HeldOutImageDataConfig` plus unlabelled photo crops."""

    flickr8k_crops: int = Field(
        0,
        description="random crops of Flickr8k train photos added to the training images (cifar10 only; "
        "never a dev or test photo): the captioner's own domain for pretraining its CNN",
    )
    flickr8k_root: str | None = Field(None, description="Flickr8k local copy (null: $PIPELINE_DATASETS/flickr8k)")
    flickr8k_crop_side: tuple[int, int] = Field(
        (32, 64), description="crop side range in pixels of the 96-px photo (32: the captioner's pixel scale)"
    )


AutoencoderTaskConfig = task_config(
    "autoencoder",
    "An autoencoder run on MNIST / CIFAR-10.",
    data=AutoencoderDataConfig,
    model=(AutoencoderConfig, DeepAutoencoderConfig()),
    train=TrainConfig,
    retrieval=RetrievalConfig,
)


class DBNPretrainConfig(CDConfig):
    """The ``pretrain:`` section of a DBN run: how the autoencoder starts, and the learning rule of every RBM."""

    init: Literal["dbn", "random"] = Field(
        "dbn", description="dbn: the unrolled greedy RBM stack; random: PyTorch's default initialisation (the baseline)"
    )


def _logistic_everywhere(cfg) -> None:
    if cfg.model.activation != "sigmoid" or cfg.model.code != "sigmoid":
        raise ValueError("a DBN unrolls into model.kind=deep with activation=sigmoid and code=sigmoid")


DBNTaskConfig = task_config(
    "dbn",
    "A deep autoencoder pretrained as a stack of RBMs, or from random weights, then fine-tuned.",
    data=HeldOutImageDataConfig,
    pretrain=DBNPretrainConfig,
    train=TrainConfig,
    check=_logistic_everywhere,
    model=(DeepAutoencoderConfig, DeepAutoencoderConfig(activation="sigmoid", code="sigmoid")),
)


@dataclass
class Autoencoder:
    """A trained autoencoder (eval mode, CPU) with its run's config."""

    model: torch.nn.Module
    config: AutoencoderTaskConfig | DBNTaskConfig
    meta: dict

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Autoencoder:
        """An autoencoder or DBN checkpoint (a DBN fine-tunes into an autoencoder)."""
        ckpt = load_checkpoint(path, (AutoencoderTaskConfig, DBNTaskConfig))
        model = build_autoencoder(ckpt.config.model, tuple(ckpt.meta["input_shape"]))
        model.load_state_dict(ckpt.model)
        return cls(model.eval(), ckpt.config, ckpt.meta)

    @property
    def code(self) -> str:
        return getattr(self.config.model, "code", "linear")


def fit_reconstruction(
    cfg: AutoencoderTaskConfig | DBNTaskConfig, model: torch.nn.Module, splits: ImageSplits, meta: dict, restart: bool
) -> Path:
    """Train ``model`` with the shared trainer; best checkpoint by validation reconstruction error."""
    runtime = train_runtime(cfg.train)
    batches = ShuffledTensorBatches([splits.train], cfg.train.batch_size, cfg.train.seed, ReconstructionBatch)
    return fit_run(
        cfg,
        meta,
        restart,
        runtime=runtime,
        model=model,
        loss_fn=reconstruction_loss(cfg.model.sparsity),
        batches=batches,
        validate=lambda mdl: {"mse": reconstruction_mse(mdl, splits.valid, runtime.device)},
        score_name="mse",
        higher_is_better=False,
        unit="img",
        perplexity=False,
    )


def reconstruction_report(autoencoder: Autoencoder, checkpoint: Path, limit: int | None = None) -> dict[str, Any]:
    """Test reconstruction error vs PCA at the same code size; retrieval for binary codes on CIFAR-10."""
    cfg, model = autoencoder.config, autoencoder.model
    splits = load_splits(cfg.data, cfg.run.stages)
    test = splits.test[:limit] if limit else splits.test
    started = time.perf_counter()
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": cfg.data.dataset,
        "model": cfg.model.to_dict(),
        "test_images": len(test),
        "test_mse": reconstruction_mse(model, test, CPU),
    }
    report["pca_test_mse"] = pca_mse(pca_stage(cfg.data, splits.train, cfg.run.stages), cfg.model.code_size, test)
    report["beats_pca"] = report["test_mse"] < report["pca_test_mse"]
    if cfg.model.sparsity.kind != "none":
        report["code_activity"] = {**code_activity(model, test, CPU), "penalty": cfg.model.sparsity.to_dict()}
    if autoencoder.code == "binary" and cfg.data.dataset == "cifar10":
        bench = load_benchmark(cfg.data, cfg.retrieval, cfg.run.stages)
        report["retrieval"] = {
            "protocol": {**cfg.retrieval.to_dict(), "database": len(bench.database)},
            "codes": code_retrieval(model, CPU, bench, cfg.retrieval, RunFolder.of(checkpoint).path),
            "pixels": pixel_baseline(bench, cfg.data, cfg.retrieval, cfg.run.stages),
        }
        if getattr(cfg.model, "input_norm", "none") == "contrast":  # the same input the codes' encoder sees
            report["retrieval"]["pixels_contrast"] = pixel_baseline(
                bench, cfg.data, cfg.retrieval, cfg.run.stages, contrast=True
            )
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def show_reconstruction_report(report: dict[str, Any]) -> None:
    model = report["model"]
    print(
        table(
            [
                ["autoencoder", model["kind"], model["code_size"], report["test_mse"]],
                ["PCA", "closed form", model["code_size"], report["pca_test_mse"]],
            ],
            ["model", "kind", "code size", "test MSE/pixel"],
        )
    )
    if "code_activity" in report:
        act = report["code_activity"]
        print(
            f"code activity: mean {act['mean_activation']:.4f}, mean |c| {act['mean_abs']:.4f}, "
            f"{100 * act['share_below_0.05']:.1f}% of units below 0.05"
        )
    if "retrieval" in report:
        ret = report["retrieval"]
        keys = [k for k in ret["codes"] if k not in ("shown", "bits")]
        rows = [
            [f"{ret['codes']['bits']}-bit codes (Hamming)", *(ret["codes"][k] for k in keys)],
            ["pixels (Euclidean)", *(ret["pixels"][k] for k in keys)],
        ]
        if "pixels_contrast" in ret:
            rows.append(["contrast-normalised pixels (Euclidean)", *(ret["pixels_contrast"][k] for k in keys)])
        print(table(rows, ["ranking", *keys]))
