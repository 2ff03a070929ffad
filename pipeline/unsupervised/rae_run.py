"""The recursive autoencoder's runs: its task config and the trained RAE rebuilt from a checkpoint alone
(:meth:`TrainedRAE.from_checkpoint`), with the word table it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.checkpoint import load_checkpoint
from pipeline.config import task_config
from pipeline.data.multi30k_captions import CaptionDataConfig
from pipeline.training.trainer import TrainConfig
from pipeline.unsupervised.rae import RAEConfig, RecursiveAutoencoder
from pipeline.unsupervised.sentence_retrieval import RetrievalConfig
from pipeline.unsupervised.word_vectors import WordVectorConfig, WordVectors

RAETaskConfig = task_config(
    "rae",
    "A recursive autoencoder run: word2vec vectors, greedy trees trained on reconstruction, caption retrieval.",
    data=CaptionDataConfig,
    vectors=WordVectorConfig,
    model=RAEConfig,
    train=TrainConfig,
    retrieval=RetrievalConfig,
)


@dataclass
class TrainedRAE:
    """A trained RAE (eval mode, CPU), its config and the word table of its checkpoint."""

    model: RecursiveAutoencoder
    config: RAETaskConfig
    vectors: WordVectors

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> TrainedRAE:
        ckpt = load_checkpoint(path, RAETaskConfig)
        model = RecursiveAutoencoder(ckpt.config.model, ckpt.model["vectors"])
        model.load_state_dict(ckpt.model)
        return cls(model.eval(), ckpt.config, WordVectors(ckpt.meta["vocab"], ckpt.model["vectors"].numpy()))
