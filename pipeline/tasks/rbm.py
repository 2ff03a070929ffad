"""RBMs as feature learners: train by CD-k or PCD on scikit-learn's digits or MNIST, monitor
reconstruction error and pseudo-likelihood, then score logistic regression on the hidden
probabilities against logistic regression on raw pixels (:mod:`pipeline.unsupervised.rbm_features`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.device import resolve_runtime
from pipeline.progress import log, table
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.training.logbook import Logbook
from pipeline.unsupervised.contrastive_divergence import train_rbm
from pipeline.unsupervised.rbm import RBM
from pipeline.unsupervised.rbm_features import (
    RBMTaskConfig,
    TrainedRBM,
    load_features,
    logistic_accuracy,
    standardiser,
)


def train(cfg: RBMTaskConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    resolve_runtime("cpu", "fp32")  # sets the CPU thread count; CD on these sizes is fastest on the CPU
    data = load_features(cfg.data, cfg.run.stages, options.force)
    folder = RunFolder(cfg.run.dir).start(cfg)
    mean, std = standardiser(data.train, cfg.model.visible)
    train_x = torch.from_numpy((data.train - mean) / std)
    monitor = torch.from_numpy((data.test[: cfg.data.monitor_size] - mean) / std)
    torch.manual_seed(cfg.train.seed)
    rbm = RBM(train_x.shape[1], cfg.model.n_hidden, cfg.model.visible)
    logbook = Logbook(folder.path)
    logbook.reset()
    started = time.perf_counter()

    def on_epoch(epoch: int, model: RBM) -> None:
        with torch.no_grad():
            row = {"reconstruction_error": float(model.reconstruction_error(monitor))}
            if model.visible == "bernoulli":
                gen = torch.Generator().manual_seed(0)
                row["pseudo_log_likelihood"] = float(model.pseudo_log_likelihood(monitor, gen).mean())
        logbook.write("train", epoch + 1, loss=row["reconstruction_error"])
        logbook.write("valid", epoch + 1, epoch=epoch + 1, **row)
        log(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))

    train_rbm(rbm, train_x, cfg.train, on_epoch)
    logbook.plot()
    meta = RunFolder.meta(
        cfg, image_shape=list(data.image_shape), train_seconds=round(time.perf_counter() - started, 1)
    )
    extra = {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std)}
    save_checkpoint(folder.best, Checkpoint(meta, rbm.state_dict(), extra=extra))
    return folder.path


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    trained = TrainedRBM.from_checkpoint(path)
    cfg = trained.config
    data = load_features(cfg.data, cfg.run.stages)
    feats = [trained.features(x) for x in (data.train, data.test)]
    with torch.no_grad():
        recon = float(trained.rbm.reconstruction_error(trained.standardise(data.test)))
    started = time.perf_counter()
    lg = cfg.logistic
    report: dict[str, Any] = {
        "checkpoint": str(path),
        "dataset": cfg.data.dataset,
        "n_hidden": cfg.model.n_hidden,
        "visible": cfg.model.visible,
        "train_examples": len(data.train),
        "test_examples": len(data.test),
        "test_reconstruction_error": recon,
        "train_seconds": trained.meta.get("train_seconds"),
        "rbm_features_accuracy": logistic_accuracy(feats[0], data.train_labels, feats[1], data.test_labels, lg.C, lg),
    }
    rows = [["RBM features + logistic", report["rbm_features_accuracy"]]]
    if lg.raw_baseline:
        report["raw_pixels_accuracy"] = logistic_accuracy(
            data.train, data.train_labels, data.test, data.test_labels, lg.raw_C, lg
        )
        rows.append(["raw pixels + logistic", report["raw_pixels_accuracy"]])
    report["logistic_seconds"] = round(time.perf_counter() - started, 1)
    out = RunFolder.of(path).write_report(report, "evaluation.json", options.report)
    print(table(rows, [f"{cfg.data.dataset} ({len(data.test)} test)", "accuracy"]))
    print(f"report: {out}")
    return report


TASK = Task(
    "rbm",
    RBMTaskConfig,
    load_features,
    train,
    evaluate,
    "Bernoulli / Gaussian RBMs trained by CD-k or PCD; hidden features + logistic regression",
)
