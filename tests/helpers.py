"""Small builders shared by the test modules."""

from __future__ import annotations

import torch
from pydantic import TypeAdapter

from pipeline.config import prune
from pipeline.models.decoder import DecoderConfig
from pipeline.models.encoder import EncoderConfig
from pipeline.models.seq2seq import TranslationModelConfig, build_translation_model
from pipeline.unsupervised.autoencoder import AutoencoderConfig


def tiny_model(
    attention: str = "bahdanau",
    input_feeding: bool = False,
    src_vocab: int = 30,
    tgt_vocab: int = 25,
    seed: int = 0,
    dropout: float = 0.0,
    hidden: int = 32,
):
    torch.manual_seed(seed)
    cfg = TranslationModelConfig(
        encoder=EncoderConfig(embedding_size=16, hidden_size=hidden // 2, num_layers=1, dropout=dropout),
        decoder=DecoderConfig(
            embedding_size=16,
            hidden_size=hidden,
            attention=attention,
            input_feeding=input_feeding,
            dropout=dropout,
            tie_embeddings=True,
        ),
    )
    return build_translation_model(cfg, src_vocab, tgt_vocab)


def padded_batch(lengths: list[int], vocab: int = 30, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=gen)
    for i, n in enumerate(lengths):
        src[i, n:] = 0
    return src, torch.tensor(lengths)


def autoencoder_config(**fields):
    """The autoencoder variant ``kind`` names (deep by default), given only the keys that variant has."""
    variant = TypeAdapter(AutoencoderConfig).validate_python({"kind": fields.get("kind", "deep")})
    kept = prune(fields, type(variant)) if fields else {}
    return TypeAdapter(AutoencoderConfig).validate_python(kept or {"kind": "deep"})
