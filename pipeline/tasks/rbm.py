"""RBMs as feature learners: train by CD-k or PCD on scikit-learn's digits or MNIST, monitor
reconstruction error and pseudo-likelihood, then score logistic regression on the hidden
probabilities against logistic regression on raw pixels.

The digits protocol is scikit-learn's example "Restricted Boltzmann Machine features for digit
classification": images nudged by one pixel in four directions (5× data), min-max scaled,
80/20 split with ``random_state=0``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from pipeline.config import Config, RunConfig
from pipeline.tasks import Task
from pipeline.unsupervised.contrastive_divergence import CDConfig
from pipeline.unsupervised.rbm import VisibleKind


class RBMDataConfig(Config):
    dataset: Literal["digits", "mnist"] = "digits"  # digits (sklearn's 8×8) | mnist
    root: str | None = None  # (mnist) local copy; default $PIPELINE_DATASETS/mnist, else the public origin
    train_limit: int | None = None  # (mnist) first N training images only
    nudge: bool = True  # (digits) add the 1-pixel shifts of scikit-learn's example
    test_size: float = 0.2  # (digits) held-out fraction, split with random_state=0
    monitor_size: int = 1000  # held-out examples for the per-epoch monitors


class RBMModelConfig(Config):
    n_hidden: int = 100  # hidden units = feature dimension
    visible: VisibleKind = "bernoulli"  # bernoulli (pixels in [0, 1] as probabilities) | gaussian (standardised)


class LogisticConfig(Config):
    C: float = 6000.0  # inverse L2 strength on RBM features (scikit-learn's example uses 6000)
    raw_C: float = 100.0  # … and on raw pixels (the example uses 100)
    max_iter: int = 1000  # solver iterations
    solver: Literal["lbfgs", "newton-cg"] = "lbfgs"  # scikit-learn solver (the example uses newton-cg)
    tol: float = 1e-4  # solver tolerance (the example uses 1)
    raw_baseline: bool = True  # also score logistic regression on raw pixels


class RBMTaskConfig(Config):
    task: Literal["rbm"] = "rbm"
    run: RunConfig = RunConfig()
    data: RBMDataConfig = RBMDataConfig()
    model: RBMModelConfig = RBMModelConfig()
    cd: CDConfig = CDConfig()
    logistic: LogisticConfig = LogisticConfig()


@dataclass
class FeatureData:
    train: np.ndarray  # (N, V) float32
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    image_shape: tuple[int, int]


def nudge(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Originals plus copies shifted by one pixel up, down, left and right (zeros shifted in)."""
    shifted = [images]
    for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = 0 if step == 1 else -1
        moved[tuple(edge)] = 0
        shifted.append(moved)
    return np.concatenate(shifted), np.tile(labels, 5)


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def load_features(data: RBMDataConfig, stages_dir: str) -> FeatureData:
    from pipeline.data.vision import load_digits, load_mnist

    if data.dataset == "mnist":
        train, train_y = load_mnist("train", data.root, stages_dir)
        test, test_y = load_mnist("test", data.root, stages_dir)
        if data.train_limit:
            train, train_y = train[:data.train_limit], train_y[:data.train_limit]
        return FeatureData(_flat(train), train_y, _flat(test), test_y, (28, 28))
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import minmax_scale

    images, labels = load_digits()
    images = images.astype(np.float32)
    if data.nudge:
        images, labels = nudge(images, labels)
    x = minmax_scale(images.reshape(len(images), -1), feature_range=(0, 1)).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, labels, test_size=data.test_size, random_state=0)
    return FeatureData(x_train, y_train, x_test, y_test, (8, 8))


def standardiser(train: np.ndarray, visible: VisibleKind) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean/std for Gaussian visibles (unit variance is what the energy assumes); identity otherwise."""
    if visible == "bernoulli":
        return np.zeros(train.shape[1], np.float32), np.ones(train.shape[1], np.float32)
    return train.mean(0), train.std(0) + 0.1  # +0.1 keeps near-constant border pixels from blowing up


def prepare(cfg: RBMTaskConfig, force: bool = False) -> FeatureData:
    return load_features(cfg.data, cfg.run.stages)


def train(cfg: RBMTaskConfig, args: argparse.Namespace) -> Path:
    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.progress import log
    from pipeline.training.logbook import Logbook
    from pipeline.unsupervised.contrastive_divergence import train_rbm
    from pipeline.unsupervised.rbm import RBM

    resolve_runtime("cpu", "fp32")  # sets the CPU thread count; CD on these sizes is fastest on the CPU
    data = prepare(cfg)
    run_dir = Path(cfg.run.dir)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    mean, std = standardiser(data.train, cfg.model.visible)
    train_x = torch.from_numpy((data.train - mean) / std)
    monitor = torch.from_numpy((data.test[:cfg.data.monitor_size] - mean) / std)
    torch.manual_seed(cfg.cd.seed)
    rbm = RBM(train_x.shape[1], cfg.model.n_hidden, cfg.model.visible)
    logbook = Logbook(run_dir)
    logbook.path.unlink(missing_ok=True)
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

    train_rbm(rbm, train_x, cfg.cd, on_epoch)
    logbook.plot()
    meta = {"task": "rbm", "config": cfg.to_dict(), "image_shape": list(data.image_shape),
            "train_seconds": round(time.perf_counter() - started, 1)}
    extra = {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std)}
    save_checkpoint(run_dir / "checkpoints" / "best.pt", Checkpoint(meta, rbm.state_dict(), extra=extra))
    return run_dir


def load_rbm(path: Path) -> tuple[Any, RBMTaskConfig, dict]:
    from pipeline.checkpoint import load_checkpoint
    from pipeline.unsupervised.rbm import RBM

    ckpt = load_checkpoint(path)
    cfg = RBMTaskConfig.model_validate(ckpt.meta["config"])
    weight = ckpt.model["weight"]
    rbm = RBM(weight.shape[0], weight.shape[1], cfg.model.visible)
    rbm.load_state_dict(ckpt.model)
    return rbm.eval(), cfg, {**ckpt.extra, "meta": ckpt.meta}


def logistic_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                      C: float, cfg: LogisticConfig) -> float:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=cfg.max_iter, solver=cfg.solver, tol=cfg.tol)
    clf.fit(train_x, train_y)
    return float((clf.predict(test_x) == test_y).mean())


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    from pipeline.files import write_json
    from pipeline.progress import table

    rbm, cfg, extra = load_rbm(path)
    data = load_features(cfg.data, cfg.run.stages)
    mean, std = extra["mean"].numpy(), extra["std"].numpy()
    with torch.no_grad():
        feats = [rbm.hidden_prob(torch.from_numpy((x - mean) / std)).numpy() for x in (data.train, data.test)]
        monitor = torch.from_numpy((data.test - mean) / std)
        recon = float(rbm.reconstruction_error(monitor))
    started = time.perf_counter()
    lg = cfg.logistic
    report: dict[str, Any] = {"checkpoint": str(path), "dataset": cfg.data.dataset, "n_hidden": cfg.model.n_hidden,
                              "visible": cfg.model.visible, "train_examples": len(data.train),
                              "test_examples": len(data.test), "test_reconstruction_error": recon,
                              "train_seconds": extra["meta"].get("train_seconds"),
                              "rbm_features_accuracy": logistic_accuracy(feats[0], data.train_labels, feats[1],
                                                                         data.test_labels, lg.C, lg)}
    rows = [["RBM features + logistic", report["rbm_features_accuracy"]]]
    if lg.raw_baseline:
        report["raw_pixels_accuracy"] = logistic_accuracy(data.train, data.train_labels, data.test,
                                                          data.test_labels, lg.raw_C, lg)
        rows.append(["raw pixels + logistic", report["raw_pixels_accuracy"]])
    report["logistic_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(getattr(args, "report", None) or Path(path).parent.parent / "evaluation.json")
    write_json(out, report)
    print(table(rows, [f"{cfg.data.dataset} ({len(data.test)} test)", "accuracy"]))
    print(f"report: {out}")
    return report


TASK = Task("rbm", RBMTaskConfig, prepare, train, evaluate,
            "Bernoulli / Gaussian RBMs trained by CD-k or PCD; hidden features + logistic regression")
