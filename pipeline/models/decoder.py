"""LSTM decoder with attention, built around one ``step`` shared by training and search.

The decoder never looks at what produced the memory: a text encoder (biLSTM states) and
an image encoder (a CNN's spatial grid) both hand it an :class:`EncoderOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pipeline.config import Config
from pipeline.models.attention import AttentionName, build_attention
from pipeline.models.recurrent import run_lstm


@dataclass
class EncoderOutput:
    """What any encoder hands the decoder."""

    memory: torch.Tensor  # (B, S, D_mem): positions attention looks at (tokens, or H*W grid cells)
    mask: torch.Tensor  # (B, S) bool, True at real positions
    summary: torch.Tensor  # (B, D_sum): one vector per example that initialises the decoder

    def select(self, index: torch.Tensor) -> EncoderOutput:
        """Rows ``index`` (reorder, repeat for beams)."""
        return EncoderOutput(self.memory[index], self.mask[index], self.summary[index])


@dataclass
class DecoderState:
    hidden: torch.Tensor  # (L, B, H)
    cell: torch.Tensor  # (L, B, H)
    feed: torch.Tensor | None  # (B, H) previous attentional vector, with input feeding
    keys: torch.Tensor | None  # (B, S, A) attention keys projected once per example

    def select(self, index: torch.Tensor) -> DecoderState:
        return DecoderState(
            self.hidden[:, index],
            self.cell[:, index],
            None if self.feed is None else self.feed[index],
            None if self.keys is None else self.keys[index],
        )

    def reorder_beams(self, index: torch.Tensor) -> DecoderState:
        """Like :meth:`select` for an ``index`` that only moves rows among the beams of one example:
        the keys, equal for all beams of an example, stay where they are (no copy per step)."""
        return DecoderState(
            self.hidden[:, index], self.cell[:, index], None if self.feed is None else self.feed[index], self.keys
        )


@dataclass
class StepOutput:
    logits: torch.Tensor  # (B, V)
    state: DecoderState
    attention: torch.Tensor | None  # (B, S)


@dataclass
class DecoderOutput:
    logits: torch.Tensor  # (B, T, V)
    attention: torch.Tensor | None  # (B, T, S)


class DecoderConfig(Config):
    """The ``model.decoder:`` section."""

    embedding_size: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.3
    attention: AttentionName = "bahdanau"
    attention_size: int | None = None  # additive attention's hidden size; default hidden_size
    input_feeding: bool = False
    tie_embeddings: bool = False
    init: Literal["bridge", "feed", "zeros"] = "bridge"


class Decoder(nn.Module):
    """Conditional LSTM language model with attention after the recurrence.

    At step t: hₜ = LSTM([E yₜ₋₁ ; h̃ₜ₋₁], sₜ₋₁) (the h̃ term only with input feeding),
    cₜ = attention(hₜ, memory), h̃ₜ = tanh(W[hₜ; cₜ]), p(yₜ) = softmax(V h̃ₜ)
    (Luong et al. 2015, §3 and §3.3 for input feeding; the scoring function may be Bahdanau's).
    Without input feeding the recurrence does not depend on attention, so training runs the
    LSTM over the whole target in one call (``forward``'s vectorised path).

    ``init``: "bridge" maps the encoder summary through tanh(W·) to every layer's (h₀, c₀);
    "feed" feeds the projected summary once as the first LSTM input (Vinyals et al. 2015,
    Show and Tell); "zeros" starts from zeros.
    """

    def __init__(self, cfg: DecoderConfig, vocab_size: int, memory_size: int, summary_size: int, pad_id: int = 0):
        super().__init__()
        self.cfg = cfg
        hidden, emb = cfg.hidden_size, cfg.embedding_size
        self.embed = nn.Embedding(vocab_size, emb, padding_idx=pad_id)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = nn.LSTM(
            emb + (hidden if cfg.input_feeding else 0),
            hidden,
            cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.attention = build_attention(cfg.attention, hidden, memory_size, cfg.attention_size or hidden)
        self.combine = nn.Linear(hidden + memory_size, hidden, bias=False) if self.attention else None
        self.bridge = nn.Linear(summary_size, 2 * cfg.num_layers * hidden) if cfg.init == "bridge" else None
        self.summary_proj = nn.Linear(summary_size, emb) if cfg.init == "feed" else None
        self.pre_output = nn.Linear(hidden, emb) if cfg.tie_embeddings and hidden != emb else None
        self.output = nn.Linear(emb if cfg.tie_embeddings else hidden, vocab_size)
        if cfg.tie_embeddings:
            self.output.weight = self.embed.weight  # Press & Wolf 2017

    @property
    def vocab_size(self) -> int:
        return self.output.out_features

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        cfg, batch = self.cfg, enc.summary.size(0)
        shape = (cfg.num_layers, batch, cfg.hidden_size)
        if self.bridge is not None:
            init = torch.tanh(self.bridge(enc.summary)).view(batch, 2 * cfg.num_layers, cfg.hidden_size)
            init = init.transpose(0, 1).contiguous()  # (2L, B, H)
            hidden, cell = init[: cfg.num_layers].contiguous(), init[cfg.num_layers :].contiguous()
        else:
            hidden = enc.summary.new_zeros(shape)
            cell = enc.summary.new_zeros(shape)
        feed = enc.summary.new_zeros(batch, cfg.hidden_size) if cfg.input_feeding else None
        keys = self.attention.project_keys(enc.memory) if self.attention is not None else None
        if self.summary_proj is not None:
            first = self.dropout(self.summary_proj(enc.summary))[:, None, :]  # (B, 1, E)
            if feed is not None:
                first = torch.cat([first, feed[:, None, :]], dim=-1)
            _, (hidden, cell) = run_lstm(self.rnn, first, (hidden, cell))
        return DecoderState(hidden, cell, feed, keys)

    def _attend(self, rnn_out: torch.Tensor, enc: EncoderOutput, keys: torch.Tensor | None):
        """rnn_out (B, T, H) → attentional vectors (B, T, H) and weights (B, T, S) or None."""
        if self.attention is None:
            return rnn_out, None
        context, weights = self.attention(rnn_out, keys, enc.memory, enc.mask)  # (B, T, D_mem), (B, T, S)
        return torch.tanh(self.combine(torch.cat([rnn_out, context], dim=-1))), weights

    def _logits(self, attentional: torch.Tensor) -> torch.Tensor:
        out = self.dropout(attentional)
        if self.pre_output is not None:
            out = self.pre_output(out)
        return self.output(out)

    def step(self, prev_tokens: torch.Tensor, state: DecoderState, enc: EncoderOutput) -> StepOutput:
        """One target position for every row: prev_tokens (B,) → logits (B, V)."""
        inputs = self.dropout(self.embed(prev_tokens))[:, None, :]  # (B, 1, E)
        if state.feed is not None:
            inputs = torch.cat([inputs, state.feed[:, None, :]], dim=-1)
        rnn_out, (hidden, cell) = run_lstm(self.rnn, inputs, (state.hidden, state.cell))  # (B, 1, H)
        attentional, weights = self._attend(rnn_out, enc, state.keys)
        feed = attentional[:, 0] if state.feed is not None else None
        return StepOutput(
            self._logits(attentional)[:, 0],
            DecoderState(hidden, cell, feed, state.keys),
            None if weights is None else weights[:, 0],
        )

    def forward(self, tgt_in: torch.Tensor, enc: EncoderOutput, select: torch.Tensor | None = None) -> DecoderOutput:
        """Teacher forcing: tgt_in (B, T) starting with <s> → logits (B, T, V).

        ``select`` (B, T) bool: compute logits only at those positions → (N, V), N = select.sum(); the
        loss needs none at padding, and the output layer is the largest matrix product of a step.
        """
        state = self.init_state(enc)
        if self.cfg.input_feeding:
            attentional, weights = self._forward_stepwise(tgt_in, state, enc)
        else:
            inputs = self.dropout(self.embed(tgt_in))  # (B, T, E)
            rnn_out, _ = run_lstm(self.rnn, inputs, (state.hidden, state.cell))  # (B, T, H), all steps in one call
            attentional, weights = self._attend(rnn_out, enc, state.keys)
        return DecoderOutput(self._logits(attentional if select is None else attentional[select]), weights)

    def _forward_stepwise(self, tgt_in: torch.Tensor, state: DecoderState, enc: EncoderOutput):
        """Input feeding forces one step at a time; the steps compute only what depends on the previous
        step. The embedding half of the LSTM's input product runs for all positions in one matrix product,
        and the output layer runs once afterwards (in ``forward``), so no per-step weight gradients pile up.
        Returns attentional vectors (B, T, H) and attention weights (B, T, S) or None.
        """
        inputs = self.dropout(self.embed(tgt_in))  # (B, T, E)
        if self.cfg.num_layers != 1:
            return self._forward_stepwise_generic(inputs, state, enc)
        emb = inputs.size(-1)
        w_ih, w_hh = self.rnn.weight_ih_l0, self.rnn.weight_hh_l0  # (4H, E + H), (4H, H)
        gates_in = torch.nn.functional.linear(inputs, w_ih[:, :emb], self.rnn.bias_ih_l0 + self.rnn.bias_hh_l0)
        w_feed = torch.cat([w_ih[:, emb:], w_hh], dim=1).t()  # (2H, 4H): [feed ; h] → gates
        h, c, feed = state.hidden[0], state.cell[0], state.feed
        outputs, weights = [], []
        for t in range(tgt_in.size(1)):
            h, c, feed, step_weights = self._feed_step(gates_in[:, t], feed, h, c, w_feed, enc, state.keys)
            outputs.append(feed)
            weights.append(step_weights)
        attention = torch.cat(weights, dim=1) if self.attention is not None else None
        return torch.stack(outputs, dim=1), attention

    def _feed_step(self, gates_in, feed, h, c, w_feed, enc: EncoderOutput, keys):
        """One position of the input-feeding recurrence: the [h̃ₜ₋₁ ; hₜ₋₁] half of the gate product, the
        LSTM cell, attention. gates_in (B, 4H) holds the embedding half and both biases → h, c, h̃ (B, H)
        and the attention weights (B, 1, S) or None."""
        gates = torch.addmm(gates_in, torch.cat([feed, h], dim=1), w_feed)  # (B, 4H), PyTorch order
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        attentional, step_weights = self._attend(h[:, None], enc, keys)  # (B, 1, H)
        return h, c, attentional[:, 0], step_weights

    def _forward_stepwise_generic(self, inputs: torch.Tensor, state: DecoderState, enc: EncoderOutput):
        outputs, weights = [], []
        for t in range(inputs.size(1)):
            rnn_out, (hidden, cell) = run_lstm(
                self.rnn, torch.cat([inputs[:, t : t + 1], state.feed[:, None]], dim=-1), (state.hidden, state.cell)
            )  # (B, 1, H)
            attentional, step_weights = self._attend(rnn_out, enc, state.keys)
            state = DecoderState(hidden, cell, attentional[:, 0], state.keys)
            outputs.append(attentional[:, 0])
            weights.append(step_weights)
        attention = torch.cat(weights, dim=1) if self.attention is not None else None
        return torch.stack(outputs, dim=1), attention
