"""Encoder–decoder models: any encoder producing an EncoderOutput plus the shared Decoder."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from pipeline.config import Config
from pipeline.models.decoder import Decoder, DecoderConfig, DecoderOutput, EncoderOutput
from pipeline.models.encoder import EncoderConfig, RecurrentEncoder


class EncoderDecoder(nn.Module):
    """Glue only: ``encode(**inputs)`` then the decoder. Search uses ``encode`` and ``decoder.step``."""

    def __init__(self, encoder: nn.Module, decoder: Decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def encode(self, **inputs: torch.Tensor) -> EncoderOutput:
        return self.encoder(**inputs)

    def forward(
        self, tgt_in: torch.Tensor, select: torch.Tensor | None = None, **inputs: torch.Tensor
    ) -> DecoderOutput:
        """``select``: see :meth:`Decoder.forward` (logits at those positions only)."""
        return self.decoder(tgt_in, self.encode(**inputs), select)


class TranslationModelConfig(Config):
    """The ``model:`` section of a translation config."""

    encoder: EncoderConfig = Field(EncoderConfig(), description="the recurrent source encoder")
    decoder: DecoderConfig = Field(DecoderConfig(), description="the shared attention LSTM decoder")


def build_translation_model(
    cfg: TranslationModelConfig, src_vocab_size: int, tgt_vocab_size: int, pad_id: int = 0
) -> EncoderDecoder:
    encoder = RecurrentEncoder(cfg.encoder, src_vocab_size, pad_id)
    decoder = Decoder(
        cfg.decoder, tgt_vocab_size, memory_size=encoder.output_size, summary_size=encoder.output_size, pad_id=pad_id
    )
    return EncoderDecoder(encoder, decoder)
