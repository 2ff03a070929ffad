"""Unconditional GANs on MNIST / CIFAR-10: the MLP GAN with the lecture's costs and DCGAN.

``evaluate`` writes classifier-FID against the test split beside the real-vs-real floor (train vs
test), per-class coverage of the samples, a 10×10 sample grid, latent interpolations and latent
vector arithmetic (Radford et al. 2015, §6)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

import torch

from pipeline.adversarial.datasets import DatasetName
from pipeline.config import Config, RunConfig
from pipeline.errors import PipelineError
from pipeline.gan.training import GanTrainConfig
from pipeline.tasks import Task


class GanData(Config):
    dataset: DatasetName = "mnist"
    root: str | None = None  # local copy; default $PIPELINE_DATASETS/<dataset> or the public origin
    train_limit: int | None = None  # a seeded random N of the training images only (quick runs)


class GanModel(Config):
    architecture: Literal["mlp", "dcgan"] = "dcgan"
    z_dim: int = 100  # latent size, z ~ N(0, I)
    width: int = 64  # (dcgan) channels of D's first conv; G mirrors it
    hidden: int = 256  # (mlp) hidden width


class GanEvaluate(Config):
    classifier: str = "data/runs/classifier_mnist_cnn/checkpoints/best.pt"  # feature extractor for FID/coverage
    n_samples: int = 5000  # generated and real images per FID estimate
    seed: int = 7  # latent seed of the evaluated samples


class GanConfig(Config):
    task: Literal["gan"] = "gan"
    run: RunConfig = RunConfig()
    data: GanData = GanData()
    model: GanModel = GanModel()
    train: GanTrainConfig = GanTrainConfig()
    evaluate: GanEvaluate = GanEvaluate()


def prepare(cfg: GanConfig, force: bool = False):
    from pipeline.adversarial.datasets import load_images

    return load_images(cfg.data.dataset, "train", cfg.data.root, cfg.run.stages, cfg.data.train_limit)


def model_args(cfg: GanConfig) -> dict:
    from pipeline.adversarial.datasets import image_shape

    m = cfg.model
    return {"architecture": m.architecture, "image_shape": list(image_shape(cfg.data.dataset)), "z_dim": m.z_dim,
            "width": m.width, "hidden": m.hidden}


def train(cfg: GanConfig, args: argparse.Namespace) -> Path:
    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.gan.models import build_players
    from pipeline.gan.training import GanPlayers, GanTrainer

    runtime = resolve_runtime(cfg.train.device, "fp32", cfg.train.threads)
    images, _ = prepare(cfg)
    images = images * 2 - 1  # (N, C, H, W) in [−1, 1], the range of G's tanh
    run_dir = Path(cfg.run.dir)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    margs = model_args(cfg)
    meta = {"task": "gan", "config": cfg.to_dict(), "model": margs}
    generator, discriminator = build_players(margs)
    trainer = GanTrainer(cfg.train, runtime, GanPlayers(generator, discriminator),
                         lambda idx: (images[idx], None), len(images), run_dir, meta, cfg.model.z_dim)
    trainer.fit(resume=not getattr(args, "restart", False))
    return run_dir


def generate(generator: torch.nn.Module, n: int, z_dim: int, seed: int, batch_size: int = 500) -> torch.Tensor:
    """n samples in the pixel box [0, 1] from latents seeded by ``seed``."""
    from pipeline.gan.figures import to_unit

    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return torch.cat([to_unit(generator(z[i:i + batch_size])) for i in range(0, n, batch_size)])


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    from pipeline.adversarial.classifiers import classifier_from_checkpoint
    from pipeline.adversarial.datasets import evaluation_subset, load_images
    from pipeline.device import resolve_runtime
    from pipeline.files import write_json
    from pipeline.gan.coverage import class_coverage
    from pipeline.gan.fid import classifier_fid
    from pipeline.gan.models import players_from_checkpoint
    from pipeline.progress import table

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    generator, _, meta = players_from_checkpoint(path)
    cfg = GanConfig.model_validate(meta["config"])
    ev, started = cfg.evaluate, time.perf_counter()
    n = getattr(args, "limit", None) or ev.n_samples
    classifier, cmeta = classifier_from_checkpoint(ev.classifier)
    if cmeta["dataset"] != cfg.data.dataset:
        raise PipelineError(f"classifier {ev.classifier} was trained on {cmeta['dataset']}, not {cfg.data.dataset}")
    fake = generate(generator, n, cfg.model.z_dim, ev.seed)
    train_x, _ = load_images(cfg.data.dataset, "train", cfg.data.root, cfg.run.stages)
    test_x, _ = load_images(cfg.data.dataset, "test", cfg.data.root, cfg.run.stages)
    real_train = train_x[evaluation_subset(len(train_x), n, ev.seed)]
    real_test = test_x[evaluation_subset(len(test_x), n, ev.seed)]  # random: CIFAR-10 is stored by class
    coverage = class_coverage(classifier, fake, len(cmeta["classes"]))
    report = {"checkpoint": str(path), "step": meta.get("step"), "dataset": cfg.data.dataset, "n": n,
              "classifier": ev.classifier,
              "classifier_fid_generated_vs_test": classifier_fid(classifier, fake, real_test),
              "classifier_fid_train_vs_test_floor": classifier_fid(classifier, real_train, real_test),
              "coverage_generated": coverage.__dict__,
              "coverage_test": class_coverage(classifier, real_test, len(cmeta["classes"])).__dict__,
              "note": "classifier-FID uses the project's own classifier features, NOT Inception: "
                      "not comparable with published FIDs"}
    report["figures"] = write_figures(generator, classifier, cfg, Path(path).parent.parent / "figures")
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(getattr(args, "report", None) or Path(path).parent.parent / "gan_report.json")
    write_json(out, report)
    print(table([[cfg.data.dataset, meta.get("step"), n, report["classifier_fid_generated_vs_test"],
                  report["classifier_fid_train_vs_test_floor"], coverage.covered, coverage.entropy_ratio,
                  coverage.mean_confidence]],
                ["data", "step", "n", "cFID gen-test", "cFID floor", "classes>=2%", "entropy/log10", "mean conf"]))
    print("class shares of samples:", coverage.shares)
    print(f"report: {out}")
    return report


def write_figures(generator: torch.nn.Module, classifier: torch.nn.Module, cfg: GanConfig, out_dir: Path) -> dict:
    """10×10 samples, 8 latent interpolations of 10 steps, and a latent-arithmetic panel."""
    from pipeline.gan.figures import save_grid
    from pipeline.gan.representations import arithmetic_panel, interpolation_panel

    z_dim = cfg.model.z_dim
    samples = save_grid(generate(generator, 100, z_dim, cfg.evaluate.seed), out_dir / "samples_10x10.png", nrow=10)
    interp = interpolation_panel(generator, z_dim, out_dir / "interpolation.png")
    arith = arithmetic_panel(generator, classifier, z_dim, out_dir / "arithmetic.png")
    return {"samples": str(samples), "interpolation": str(interp), "arithmetic": str(arith["path"]),
            "arithmetic_groups": arith["groups"]}


TASK = Task("gan", GanConfig, prepare, train, evaluate, "MLP GAN and DCGAN on MNIST / CIFAR-10")
