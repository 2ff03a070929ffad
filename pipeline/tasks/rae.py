"""Recursive autoencoder on Multi30k English (Socher et al. 2011), scored by caption retrieval on task 2.

A thin adapter: the data stages, word vectors, model, retrieval protocol and figure live in
``pipeline.data.multi30k_captions`` and ``pipeline.unsupervised.{word_vectors,rae,sentence_retrieval,tree_figure}``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.training.trainer import LossOutput, fit_run, train_runtime
from pipeline.unsupervised.rae import RecursiveAutoencoder, SentenceBatches, reconstruction_loss
from pipeline.unsupervised.rae_run import RAETaskConfig, TrainedRAE
from pipeline.unsupervised.sentence_retrieval import compare_systems, rae_validation, summary
from pipeline.unsupervised.tree_figure import greedy_tree_figure
from pipeline.unsupervised.word_vectors import CaptionCorpus, load_caption_corpus


def prepare(cfg: RAETaskConfig, force: bool = False) -> CaptionCorpus:
    return load_caption_corpus(cfg.data.root, cfg.data.train_limit, cfg.vectors, cfg.run.stages, force)


def _loss(model: torch.nn.Module, batch) -> LossOutput:
    return LossOutput(*reconstruction_loss(model, batch))


def train(cfg: RAETaskConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    corpus = prepare(cfg, options.force)
    runtime = train_runtime(cfg.train)
    torch.manual_seed(cfg.train.seed)
    model = RecursiveAutoencoder(cfg.model, torch.from_numpy(corpus.vectors.vectors))
    return fit_run(
        cfg,
        {"vocab": corpus.vectors.vocab},
        options.restart,
        runtime=runtime,
        model=model,
        loss_fn=_loss,
        batches=SentenceBatches(corpus.train_ids, cfg.data.batch_tokens, cfg.train.seed),
        validate=partial(rae_validation, corpus=corpus, cfg=cfg.retrieval),
        score_name="map",
        unit="merge",
        perplexity=False,
    )


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    """Caption retrieval on val and test for the RAE and every baseline; the tree figure of a few val captions."""
    started = time.perf_counter()
    trained = TrainedRAE.from_checkpoint(path)
    model, cfg, folder = trained.model, trained.config, RunFolder.of(path)
    corpus = replace(prepare(cfg), vectors=trained.vectors)  # baselines: the RAE's own word table
    report = {"checkpoint": str(path), **compare_systems(model, corpus, cfg.retrieval)}
    report["figure"] = str(
        greedy_tree_figure(model, corpus, cfg.retrieval.figure_sentences, folder.path / f"trees_{Path(path).stem}.png")
    )
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = folder.write_report(report, "evaluation.json", options.report)
    print(f"{summary(report)}\nfigure: {report['figure']}\nreport: {out}")
    return report


TASK = Task(
    "rae",
    RAETaskConfig,
    None,
    train,
    evaluate,
    "unsupervised recursive autoencoder (greedy trees) on Multi30k English, caption retrieval",
    prepare_config=prepare,
)
