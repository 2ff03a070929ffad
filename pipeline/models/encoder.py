"""Recurrent text encoder: embeddings and a (bidirectional) LSTM over the source."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from pipeline.config import Config
from pipeline.models.decoder import EncoderOutput
from pipeline.models.recurrent import run_lstm


class EncoderConfig(Config):
    """The ``model.encoder:`` section."""

    embedding_size: int = Field(256, description="source embedding size")
    hidden_size: int = Field(256, description="LSTM size per direction")
    num_layers: int = Field(2, description="stacked LSTM layers")
    dropout: float = Field(0.3, description="on embeddings, between layers and on the outputs")
    bidirectional: bool = Field(True, description="biLSTM (the memory is both directions concatenated)")


class RecurrentEncoder(nn.Module):
    """Bidirectional LSTM encoder (Bahdanau et al. 2015, §3.2): memory = [h→ ; h←] per token,
    summary = the top layer's final forward and backward states."""

    def __init__(self, cfg: EncoderConfig, vocab_size: int, pad_id: int = 0):
        super().__init__()
        self.cfg, self.pad_id = cfg, pad_id
        self.embed = nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = nn.LSTM(
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.num_layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )

    @property
    def output_size(self) -> int:
        return self.cfg.hidden_size * (2 if self.cfg.bidirectional else 1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> EncoderOutput:
        """src (B, S) padded with pad_id, src_lengths (B,) → memory (B, S, D)."""
        embedded = self.dropout(self.embed(src))  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (hidden, _) = run_lstm(self.rnn, packed)
        memory, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.size(1))  # (B, S, D)
        if self.cfg.bidirectional:
            summary = torch.cat([hidden[-2], hidden[-1]], dim=-1)  # (B, 2H): top layer, both directions
        else:
            summary = hidden[-1]  # (B, H)
        return EncoderOutput(self.dropout(memory), src != self.pad_id, summary)
