"""Unconditional GANs on MNIST / CIFAR-10: the MLP GAN with the lecture's costs and DCGAN.

``evaluate`` writes classifier-FID against the test split beside the real-vs-real floor (train vs
test), per-class coverage of the samples, a 10×10 sample grid, latent interpolations and latent
vector arithmetic (Radford et al. 2015, §6)."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.adversarial.classifiers import Classifier
from pipeline.data.image_tensors import evaluation_subset, load_images, load_train_images
from pipeline.device import resolve_runtime
from pipeline.errors import PipelineError
from pipeline.gan.coverage import class_coverage
from pipeline.gan.fid import classifier_fid
from pipeline.gan.figures import save_grid
from pipeline.gan.models import Gan, GanConfig, build_players, player_args
from pipeline.gan.representations import arithmetic_panel, interpolation_panel
from pipeline.gan.training import GanPlayers, GanTrainer
from pipeline.progress import table
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions


def train(cfg: GanConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    runtime = resolve_runtime(cfg.train.device, "fp32", cfg.train.threads)
    images, _ = load_train_images(cfg.data, cfg.run.stages, options.force)
    images = images * 2 - 1  # (N, C, H, W) in [−1, 1], the range of G's tanh
    folder = RunFolder(cfg.run.dir).start(cfg)
    margs = player_args(cfg)
    generator, discriminator = build_players(margs)
    trainer = GanTrainer(
        cfg.train,
        runtime,
        GanPlayers(generator, discriminator),
        lambda idx: (images[idx], None),
        len(images),
        folder.path,
        RunFolder.meta(cfg, model=margs),
        cfg.model.z_dim,
    )
    trainer.fit(resume=not options.restart)
    return folder.path


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    gan = Gan.from_checkpoint(path)
    cfg, ev, started = gan.config, gan.config.evaluate, time.perf_counter()
    n = options.limit or ev.n_samples
    classifier = Classifier.from_checkpoint(ev.classifier)
    if classifier.dataset != cfg.data.dataset:
        raise PipelineError(f"classifier {ev.classifier} was trained on {classifier.dataset}, not {cfg.data.dataset}")
    fake = gan.sample(n, ev.seed)
    train_x, _ = load_images(cfg.data.dataset, "train", cfg.data.root, cfg.run.stages)
    test_x, _ = load_images(cfg.data.dataset, "test", cfg.data.root, cfg.run.stages)
    real_train = train_x[evaluation_subset(len(train_x), n, ev.seed)]
    real_test = test_x[evaluation_subset(len(test_x), n, ev.seed)]  # random: CIFAR-10 is stored by class
    model, n_classes = classifier.model, len(classifier.classes)
    coverage = class_coverage(model, fake, n_classes)
    folder = RunFolder.of(path)
    report = {
        "checkpoint": str(path),
        "step": gan.meta.get("step"),
        "dataset": cfg.data.dataset,
        "n": n,
        "classifier": ev.classifier,
        "classifier_fid_generated_vs_test": classifier_fid(model, fake, real_test),
        "classifier_fid_train_vs_test_floor": classifier_fid(model, real_train, real_test),
        "coverage_generated": coverage.__dict__,
        "coverage_test": class_coverage(model, real_test, n_classes).__dict__,
        "note": "classifier-FID uses the project's own classifier features, NOT Inception: "
        "not comparable with published FIDs",
        "figures": write_figures(gan, model, folder.figures),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = folder.write_report(report, "gan_report.json", options.report)
    print(
        table(
            [
                [
                    cfg.data.dataset,
                    gan.meta.get("step"),
                    n,
                    report["classifier_fid_generated_vs_test"],
                    report["classifier_fid_train_vs_test_floor"],
                    coverage.covered,
                    coverage.entropy_ratio,
                    coverage.mean_confidence,
                ]
            ],
            ["data", "step", "n", "cFID gen-test", "cFID floor", "classes>=2%", "entropy/log10", "mean conf"],
        )
    )
    print("class shares of samples:", coverage.shares)
    print(f"report: {out}")
    return report


def write_figures(gan: Gan, classifier, out_dir: Path) -> dict:
    """10×10 samples, 8 latent interpolations of 10 steps, and a latent-arithmetic panel."""
    z_dim, generator = gan.z_dim, gan.generator
    samples = save_grid(gan.sample(100, gan.config.evaluate.seed), out_dir / "samples_10x10.png", nrow=10)
    interp = interpolation_panel(generator, z_dim, out_dir / "interpolation.png")
    arith = arithmetic_panel(generator, classifier, z_dim, out_dir / "arithmetic.png")
    return {
        "samples": str(samples),
        "interpolation": str(interp),
        "arithmetic": str(arith["path"]),
        "arithmetic_groups": arith["groups"],
    }


TASK = Task("gan", GanConfig, load_train_images, train, evaluate, "MLP GAN and DCGAN on MNIST / CIFAR-10")
