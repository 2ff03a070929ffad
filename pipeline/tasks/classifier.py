"""Image classifiers (softmax regression, CNN) on MNIST / CIFAR-10 — the targets of the adversarial
attacks and the feature extractors of classifier-FID. ``evaluate`` scores test accuracy and the
attack table (success rate and distortion against ε for FGSM and PGD)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from pipeline.adversarial.classifiers import Classifier, ClassifierConfig, build_classifier
from pipeline.adversarial.evaluation import accuracy, attack_table
from pipeline.data.batching import ImageBatch, ShuffledTensorBatches
from pipeline.data.image_tensors import class_names, evaluation_subset, holdout_split, image_shape, load_train_images
from pipeline.device import resolve_runtime
from pipeline.losses import classification_loss
from pipeline.progress import table
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.training.trainer import fit_run, train_runtime


def train(cfg: ClassifierConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    runtime = train_runtime(cfg.train)
    images, labels = load_train_images(cfg.data, cfg.run.stages)
    train_rows, valid_rows = holdout_split(len(labels), cfg.data.valid_size)
    valid_x, valid_y = images[valid_rows], labels[valid_rows]
    shape = image_shape(cfg.data.dataset)
    model = build_classifier(cfg.model, shape, len(class_names(cfg.data.dataset)))
    batches = ShuffledTensorBatches(
        [images[train_rows], labels[train_rows]], cfg.train.batch_size, cfg.train.seed, ImageBatch
    )
    meta = {"image_shape": list(shape), "classes": list(class_names(cfg.data.dataset)), "dataset": cfg.data.dataset}
    return fit_run(
        cfg,
        meta,
        options.restart,
        runtime=runtime,
        model=model,
        loss_fn=classification_loss,
        batches=batches,
        validate=lambda mdl: {"accuracy": accuracy(mdl, valid_x, valid_y, runtime.device)},
        score_name="accuracy",
        unit="img",
        perplexity=False,
    )


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    classifier = Classifier.from_checkpoint(path)
    cfg = classifier.config
    limit = options.limit or cfg.attack.test_limit
    images, labels = classifier.test_images()
    report = {
        "checkpoint": str(path),
        "dataset": cfg.data.dataset,
        "model": cfg.model.to_dict(),
        "test_accuracy": accuracy(classifier.model, images, labels, torch.device("cpu")),
        "attack_images": f"{limit} (seeded random subset of the test split)",
    }
    started = time.perf_counter()
    grid = {"fgsm": cfg.attack.fgsm, "pgd_linf": cfg.attack.pgd_linf, "pgd_l2": cfg.attack.pgd_l2}
    pick = evaluation_subset(len(labels), limit)  # seeded random test images
    rows = attack_table(classifier.model, images[pick], labels[pick], grid, cfg.attack.steps, cfg.attack.batch_size)
    report["attacks"] = [row.__dict__ for row in rows]
    report["attack_seconds"] = round(time.perf_counter() - started, 1)
    out = RunFolder.of(path).write_report(report, "attack_report.json", options.report)
    print(f"test accuracy {report['test_accuracy']:.4f} ({cfg.data.dataset}, {cfg.model.kind})")
    print(
        table(
            [
                [
                    r.attack,
                    r.epsilon,
                    r.clean_accuracy,
                    r.adversarial_accuracy,
                    r.success_rate,
                    r.error_rate,
                    r.mean_l2,
                    r.mean_linf,
                ]
                for r in rows
            ],
            ["attack", "eps", "clean acc", "adv acc", "success", "error", "mean L2", "mean Linf"],
        )
    )
    print(f"report: {out}")
    return report


TASK = Task(
    "classifier",
    ClassifierConfig,
    load_train_images,
    train,
    evaluate,
    "softmax regression / CNN classifiers on MNIST and CIFAR-10, with FGSM/PGD attack tables",
)
