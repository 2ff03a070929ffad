"""Tiny real checkpoints for the serving and Ray tests, built in seconds from the shared datasets.

The weights are untrained (random but seeded): the tests check serving, batching and parity, which
do not depend on translation quality; the checkpoint files have exactly the production format.
"""

from __future__ import annotations

import csv
import itertools
import os
import socket
from pathlib import Path

import torch

from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.data import multi30k
from pipeline.data.subwords import SubwordModel
from pipeline.data.tokenization import normalize, tokenize
from pipeline.data.vocabulary import Vocabulary
from pipeline.models.captioner import build_caption_model
from pipeline.models.seq2seq import build_translation_model
from pipeline.tasks import load_task_config

REPO = Path(__file__).resolve().parents[1]
TINY_TRANSLATION = [
    "model.encoder.embedding_size=16",
    "model.encoder.hidden_size=16",
    "model.decoder.embedding_size=16",
    "model.decoder.hidden_size=32",
    "search.beam_size=2",
    "search.batch_size=4",
]
# The tiny EN→DE model trained on real Multi30k stages (BPE 400/400) by the tests that run `train`.
TINY_TRAINED_TRANSLATION = [
    "data.src_vocab_size=400",
    "data.tgt_vocab_size=400",
    "model.encoder.embedding_size=16",
    "model.encoder.hidden_size=16",
    "model.decoder.embedding_size=16",
    "model.decoder.hidden_size=32",
]
TINY_CAPTION = [
    "model.encoder.widths=[8,16]",
    "model.encoder.blocks=[1,1]",
    "model.decoder.embedding_size=16",
    "model.decoder.hidden_size=32",
    "model.decoder.attention_size=16",
    "data.images.size=64",
    "search.batch_size=4",
    "search.max_output_len=8",
]


def multi30k_sentences(split: str, lang: str, n: int) -> list[str]:
    return multi30k.read_split(split, lang)[:n]


def make_translation_checkpoint(path: Path, tgt_lang: str = "de", seed: int = 0, overrides: tuple = ()) -> Path:
    """A tiny en→tgt model with BPE trained on 300 real Multi30k sentence pairs."""
    _, cfg = load_task_config(
        REPO / "conf/translate_en_de.yaml", "quick", [*TINY_TRANSLATION, f"data.tgt_lang={tgt_lang}", *overrides]
    )
    src_text = multi30k_sentences("train", "en", 300)
    tgt_text = multi30k_sentences("train", tgt_lang, 300)
    src_words = tokenize([normalize(t, "en") for t in src_text], "en", mark_joins=True)
    tgt_words = tokenize([normalize(t, tgt_lang, punctuation=False) for t in tgt_text], tgt_lang, mark_joins=True)
    src_sw, tgt_sw = SubwordModel.train(src_words, 400, 1), SubwordModel.train(tgt_words, 400, 1)
    torch.manual_seed(seed)
    model = build_translation_model(cfg.model, len(src_sw), len(tgt_sw))
    meta = {
        "task": "translation",
        "config": cfg.to_dict(),
        "src_subwords": src_sw.to_json(),
        "tgt_subwords": tgt_sw.to_json(),
        "step": 0,
        "scores": {"bleu": 0.0},
    }
    save_checkpoint(path, Checkpoint(meta=meta, model=model.state_dict()))
    return path


def flickr8k_test_images(n: int) -> list[Path]:
    root = Path(os.environ["PIPELINE_DATASETS"]) / "flickr8k"
    names = (root / "split_test.txt").read_text().split()[:n]
    return [root / "images" / name for name in names]


def make_caption_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny attention captioner whose vocabulary comes from 500 real Flickr8k captions."""
    _, cfg = load_task_config(REPO / "conf/caption_flickr8k.yaml", "quick", TINY_CAPTION)
    root = Path(os.environ["PIPELINE_DATASETS"]) / "flickr8k"
    with open(root / "captions.txt", encoding="utf-8") as handle:
        rows = itertools.islice(csv.DictReader(handle), 500)
        captions = [row["caption"].lower().split() for row in rows]
    vocab = Vocabulary.build(captions, min_freq=2)
    torch.manual_seed(seed)
    model = build_caption_model(cfg.model, len(vocab), load_init=False)
    meta = {
        "task": "captioning",
        "config": cfg.to_dict(),
        "vocab": vocab.to_json(),
        "step": 0,
        "scores": {"CIDEr-D": 0.0},
    }
    save_checkpoint(path, Checkpoint(meta=meta, model=model.state_dict()))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_gan_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny untrained DCGAN (16×16 grey, z of 8) in the ``gan`` checkpoint format, for the editor; its
    weights are drawn large (N(0, 0.3)) so that G(z) varies with z (DCGAN's N(0, 0.02) gives flat grey)."""
    from pipeline.gan.models import build_players
    from pipeline.tasks.gan import GanConfig

    model = {"architecture": "dcgan", "image_shape": [1, 16, 16], "z_dim": 8, "width": 8, "hidden": 0}
    torch.manual_seed(seed)
    generator, discriminator = build_players(model)
    for module in generator.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.3)
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    meta = {"task": "gan", "config": GanConfig().to_dict(), "step": 0, "model": model}
    save_checkpoint(path, Checkpoint(meta, state))
    return path


def make_search_index(root: Path) -> Path:
    """A tiny 32-bit code autoencoder trained on a synthetic class-coloured CIFAR-10 (100 train, 40 test
    images) through the CLI, and its ``build-index`` index of both splits."""
    from pipeline.cli import main
    from tests.synthetic import cifar_pickles

    data = cifar_pickles(root / "cifar10")
    run = root / "codes"
    overrides = [
        f"run.dir={run}",
        f"run.stages={root / 'stages'}",
        f"data.root={data}",
        "data.valid_size=20",
        "train.batch_size=20",
        "model.code_size=32",
        "model.hidden=[32]",
        "model.noise_std=0",  # 2 epochs with the default code noise leave 4 distinct codes of 140; this, 11
        "train.max_epochs=2",
        "train.device=cpu",
        "retrieval.queries=10",
        "retrieval.map_k=20",
        "retrieval.precision_k=[5]",
    ]
    assert main(["train", str(REPO / "conf" / "codes_cifar10.yaml"), *overrides]) == 0
    index = root / "index.npz"
    assert main(["build-index", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--out", str(index)]) == 0
    return index
