"""Recursive autoencoder on Multi30k English (Socher et al. 2011), scored by caption retrieval on task 2.

A thin adapter: the data stages, word vectors, model, retrieval protocol and figure live in
``pipeline.data.multi30k_captions`` and ``pipeline.unsupervised.{word_vectors,rae,sentence_retrieval,tree_figure}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import torch

from pipeline.config import Config, RunConfig
from pipeline.data.multi30k_captions import CaptionDataConfig
from pipeline.tasks import Task
from pipeline.training.trainer import LossOutput, TrainConfig
from pipeline.unsupervised.rae import RAEConfig, RecursiveAutoencoder
from pipeline.unsupervised.sentence_retrieval import RetrievalConfig
from pipeline.unsupervised.word_vectors import CaptionCorpus, WordVectorConfig, WordVectors


class RAETaskConfig(Config):
    task: Literal["rae"] = "rae"
    run: RunConfig = RunConfig()
    data: CaptionDataConfig = CaptionDataConfig()
    vectors: WordVectorConfig = WordVectorConfig()
    model: RAEConfig = RAEConfig()
    train: TrainConfig = TrainConfig()
    retrieval: RetrievalConfig = RetrievalConfig()


def prepare(cfg: RAETaskConfig, force: bool = False) -> CaptionCorpus:
    from pipeline.unsupervised.word_vectors import load_caption_corpus

    return load_caption_corpus(cfg.data.root, cfg.data.train_limit, cfg.vectors, cfg.run.stages, force)


def _loss(model: torch.nn.Module, batch) -> LossOutput:
    from pipeline.unsupervised.rae import reconstruction_loss

    return LossOutput(*reconstruction_loss(model, batch))


def train(cfg: RAETaskConfig, args: argparse.Namespace) -> Path:
    from functools import partial

    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.training.trainer import Trainer
    from pipeline.unsupervised.rae import SentenceBatches
    from pipeline.unsupervised.sentence_retrieval import rae_validation

    corpus = prepare(cfg, getattr(args, "force", False))
    runtime = resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    model = RecursiveAutoencoder(cfg.model, torch.from_numpy(corpus.vectors.vectors))
    write_text(Path(cfg.run.dir) / "config.yaml", dump_yaml(cfg))
    batches = SentenceBatches(corpus.train_ids, cfg.data.batch_tokens, cfg.train.seed)
    meta = {"task": "rae", "config": cfg.to_dict(), "vocab": corpus.vectors.vocab}
    trainer = Trainer(
        cfg.train,
        runtime,
        model,
        _loss,
        batches,
        partial(rae_validation, corpus=corpus, cfg=cfg.retrieval),
        Path(cfg.run.dir),
        meta,
        score_name="map",
        unit="merge",
        perplexity=False,
    )
    trainer.fit(resume=not getattr(args, "restart", False))
    return Path(cfg.run.dir)


def load_rae(path: Path) -> tuple[RecursiveAutoencoder, RAETaskConfig, WordVectors]:
    """Rebuild a trained RAE and its word table from the checkpoint alone (eval mode, CPU)."""
    from pipeline.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, task="rae")
    cfg = RAETaskConfig.model_validate(ckpt.meta["config"])
    model = RecursiveAutoencoder(cfg.model, ckpt.model["vectors"])
    model.load_state_dict(ckpt.model)
    return model.eval(), cfg, WordVectors(ckpt.meta["vocab"], ckpt.model["vectors"].numpy())


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    """Caption retrieval on val and test for the RAE and every baseline; the tree figure of a few val captions."""
    import time
    from dataclasses import replace

    from pipeline.files import write_json
    from pipeline.unsupervised.sentence_retrieval import compare_systems, summary
    from pipeline.unsupervised.tree_figure import greedy_tree_figure

    started = time.perf_counter()
    model, cfg, vectors = load_rae(path)
    if getattr(args, "config", None):  # the protocol is not part of the model: --config and overrides may change it
        from pipeline.tasks import load_task_config

        cfg = cfg.model_copy(
            update={"retrieval": load_task_config(args.config, args.preset, args.overrides)[1].retrieval}
        )
    corpus, run_dir = replace(prepare(cfg), vectors=vectors), Path(path).parent.parent  # baselines: the RAE's table
    report = {"checkpoint": str(path), **compare_systems(model, corpus, cfg.retrieval)}
    report["figure"] = str(
        greedy_tree_figure(model, corpus, cfg.retrieval.figure_sentences, run_dir / f"trees_{Path(path).stem}.png")
    )
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(getattr(args, "report", None) or run_dir / "evaluation.json")
    write_json(out, report)
    print(f"{summary(report)}\nfigure: {report['figure']}\nreport: {out}")
    return report


TASK = Task(
    "rae",
    RAETaskConfig,
    prepare,
    train,
    evaluate,
    "unsupervised recursive autoencoder (greedy trees) on Multi30k English, caption retrieval",
)
