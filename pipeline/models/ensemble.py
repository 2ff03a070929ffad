"""Ensembles of encoder-decoders that share a target vocabulary, decoded by the unchanged search.

An :class:`Ensemble` looks to the search like one model: ``encode`` returns one
:class:`EnsembleEncoding` (every member's memory), ``decoder.init_state`` one state per member, and
``decoder.step`` runs every member's :meth:`Decoder.step` and returns the **mean of the members'
log-probabilities** as its logits. The search normalises logits with a log-softmax, so the
distribution it ranks by is the normalised geometric mean of the members' (a product of experts,
Hinton 2002); with one member it is exactly that member's distribution. Attention weights shown to
users are the members' mean (each member attends over the same source positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline.models.decoder import Decoder, DecoderState, EncoderOutput, StepOutput


@dataclass
class EnsembleEncoding:
    members: list[EncoderOutput]

    @property
    def summary(self) -> torch.Tensor:  # the search reads the batch size and device from it
        return self.members[0].summary

    @property
    def mask(self) -> torch.Tensor:  # equal for all members: same source, same subwords
        return self.members[0].mask

    def select(self, index: torch.Tensor) -> EnsembleEncoding:
        return EnsembleEncoding([m.select(index) for m in self.members])


@dataclass
class EnsembleState:
    members: list[DecoderState]

    def select(self, index: torch.Tensor) -> EnsembleState:
        return EnsembleState([s.select(index) for s in self.members])

    def reorder_beams(self, index: torch.Tensor) -> EnsembleState:
        return EnsembleState([s.reorder_beams(index) for s in self.members])


class EnsembleDecoder(nn.Module):
    def __init__(self, decoders: list[Decoder]):
        super().__init__()
        sizes = {d.vocab_size for d in decoders}
        if len(sizes) != 1:
            raise ValueError(f"ensemble members need one target vocabulary, got sizes {sorted(sizes)}")
        self.members = nn.ModuleList(decoders)

    @property
    def attention(self):
        return self.members[0].attention

    @property
    def vocab_size(self) -> int:
        return self.members[0].vocab_size

    def init_state(self, enc: EnsembleEncoding) -> EnsembleState:
        return EnsembleState([d.init_state(e) for d, e in zip(self.members, enc.members, strict=True)])

    def step(self, prev_tokens: torch.Tensor, state: EnsembleState, enc: EnsembleEncoding) -> StepOutput:
        outs = [d.step(prev_tokens, s, e) for d, s, e in zip(self.members, state.members, enc.members, strict=True)]
        log_probs = torch.stack([torch.log_softmax(o.logits.float(), dim=-1) for o in outs]).mean(0)  # (B, V)
        attention = None if outs[0].attention is None else torch.stack([o.attention for o in outs]).mean(0)
        return StepOutput(log_probs, EnsembleState([o.state for o in outs]), attention)


class Ensemble(nn.Module):
    """Members are :class:`~pipeline.models.seq2seq.EncoderDecoder` models (inference only)."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.models = nn.ModuleList(models)
        self.decoder = EnsembleDecoder([m.decoder for m in models])

    @property
    def encoder(self):  # what captioning asks of its encoder (grid shape) is the same for all members
        return self.models[0].encoder

    def encode(self, **inputs: torch.Tensor) -> EnsembleEncoding:
        return EnsembleEncoding([m.encode(**inputs) for m in self.models])


def one_or_ensemble(models: list[nn.Module], meta: dict, paths) -> tuple[nn.Module, dict]:
    """The model to decode with for ``paths`` (loaded as ``models``): the model itself for one checkpoint,
    else their :class:`Ensemble`, with the members' paths added to the first checkpoint's ``meta``."""
    if len(models) == 1:
        return models[0], meta
    return Ensemble(models), {**meta, "ensemble": [str(p) for p in paths]}
