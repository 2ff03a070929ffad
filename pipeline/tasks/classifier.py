"""Image classifiers (softmax regression, CNN) on MNIST / CIFAR-10 — the targets of the adversarial
attacks and the feature extractors of classifier-FID. ``evaluate`` scores test accuracy and the
attack table (success rate and distortion against ε for FGSM and PGD)."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from pipeline.adversarial.classifiers import ClassifierKind
from pipeline.adversarial.datasets import DatasetName
from pipeline.config import Config, RunConfig
from pipeline.data.batching import ShuffledTensorBatches
from pipeline.tasks import Task
from pipeline.training.trainer import LossOutput, TrainConfig


class ClassifierData(Config):
    dataset: DatasetName = "mnist"
    root: str | None = None  # local copy; default $PIPELINE_DATASETS/<dataset> or the public origin
    train_limit: int | None = None  # a seeded random N of the training images only (quick runs)
    valid_size: int = 5000  # a seeded random hold-out of the training split for model selection
    batch_size: int = 128


class ClassifierModel(Config):
    kind: ClassifierKind = "cnn"
    width: int = 32  # channels of the first conv block (doubled per block)
    depth: int = 2  # conv blocks, each halving the resolution
    hidden: int = 128  # dense layer before the classes; its activations are the FID features


class AttackConfig(Config):
    test_limit: int = 1000  # attack the first N test images
    steps: int = 40  # PGD iterations (step size 2.5·ε/steps)
    fgsm: list[float] = [0.05, 0.1, 0.25]  # ε values (pixel box [0, 1])
    pgd_linf: list[float] = [0.1, 0.3]
    pgd_l2: list[float] = [1.0, 2.0]
    batch_size: int = 250


class ClassifierConfig(Config):
    task: Literal["classifier"] = "classifier"
    run: RunConfig = RunConfig()
    data: ClassifierData = ClassifierData()
    model: ClassifierModel = ClassifierModel()
    train: TrainConfig = TrainConfig()
    attack: AttackConfig = AttackConfig()


@dataclass
class ImageBatch:
    images: torch.Tensor  # (B, C, H, W) in [0, 1]
    labels: torch.Tensor  # (B,)

    @property
    def n_tokens(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> ImageBatch:
        return ImageBatch(self.images.to(device), self.labels.to(device))


def classification_loss(model: torch.nn.Module, batch: ImageBatch) -> LossOutput:
    loss = F.cross_entropy(model(batch.images), batch.labels)
    return LossOutput(loss, batch.n_tokens)


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    from pipeline.adversarial.evaluation import predict

    model.eval()
    return float((predict(model, images.to(device)).cpu() == labels).float().mean())


def prepare(cfg: ClassifierConfig, force: bool = False):
    from pipeline.adversarial.datasets import load_images

    return load_images(cfg.data.dataset, "train", cfg.data.root, cfg.run.stages, cfg.data.train_limit)


def train(cfg: ClassifierConfig, args: argparse.Namespace) -> Path:
    from pipeline.adversarial.classifiers import build_classifier
    from pipeline.adversarial.datasets import class_names, holdout_split, image_shape
    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.training.trainer import Trainer

    runtime = resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    images, labels = prepare(cfg)
    train_rows, valid_rows = holdout_split(len(labels), cfg.data.valid_size)
    train_x, train_y = images[train_rows], labels[train_rows]
    valid_x, valid_y = images[valid_rows], labels[valid_rows]
    shape = image_shape(cfg.data.dataset)
    m = cfg.model
    model = build_classifier(m.kind, shape, 10, width=m.width, depth=m.depth, hidden=m.hidden)
    run_dir = Path(cfg.run.dir)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    meta = {"task": "classifier", "config": cfg.to_dict(), "image_shape": list(shape),
            "classes": list(class_names(cfg.data.dataset)), "dataset": cfg.data.dataset,
            "model": {"kind": m.kind, "n_classes": 10, "width": m.width, "depth": m.depth, "hidden": m.hidden}}
    trainer = Trainer(cfg.train, runtime, model, classification_loss,
                      ShuffledTensorBatches([train_x, train_y], cfg.data.batch_size, cfg.train.seed, ImageBatch),
                      lambda mdl: {"accuracy": accuracy(mdl, valid_x, valid_y, runtime.device)},
                      run_dir, meta, score_name="accuracy", unit="img", perplexity=False)
    trainer.fit(resume=not getattr(args, "restart", False))
    return run_dir


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    from pipeline.adversarial.classifiers import classifier_from_checkpoint
    from pipeline.adversarial.datasets import evaluation_subset, load_images
    from pipeline.adversarial.evaluation import attack_table
    from pipeline.device import resolve_runtime
    from pipeline.files import write_json
    from pipeline.progress import table

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    model, meta = classifier_from_checkpoint(path)
    cfg = ClassifierConfig.model_validate(meta["config"])
    limit = getattr(args, "limit", None) or cfg.attack.test_limit
    images, labels = load_images(cfg.data.dataset, "test", cfg.data.root, cfg.run.stages)
    report = {"checkpoint": str(path), "dataset": cfg.data.dataset, "model": meta["model"],
              "test_accuracy": accuracy(model, images, labels, torch.device("cpu")),
              "attack_images": f"{limit} (seeded random subset of the test split)"}
    started = time.perf_counter()
    grid = {"fgsm": cfg.attack.fgsm, "pgd_linf": cfg.attack.pgd_linf, "pgd_l2": cfg.attack.pgd_l2}
    pick = evaluation_subset(len(labels), limit)  # seeded random test images
    rows = attack_table(model, images[pick], labels[pick], grid, steps=cfg.attack.steps)
    report["attacks"] = [row.__dict__ for row in rows]
    report["attack_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(getattr(args, "report", None) or Path(path).parent.parent / "attack_report.json")
    write_json(out, report)
    print(f"test accuracy {report['test_accuracy']:.4f} ({cfg.data.dataset}, {meta['model']['kind']})")
    print(table([[r.attack, r.epsilon, r.clean_accuracy, r.adversarial_accuracy, r.success_rate, r.error_rate,
                  r.mean_l2, r.mean_linf] for r in rows],
                ["attack", "eps", "clean acc", "adv acc", "success", "error", "mean L2", "mean Linf"]))
    print(f"report: {out}")
    return report


TASK = Task("classifier", ClassifierConfig, prepare, train, evaluate,
            "softmax regression / CNN classifiers on MNIST and CIFAR-10, with FGSM/PGD attack tables")
