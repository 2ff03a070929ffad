"""Attention scoring functions over an encoder memory.

All take queries for several target positions at once, so the vectorised training path
(no Python loop over time) and the single decoder step share one implementation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

AttentionName = Literal["bahdanau", "luong_dot", "luong_general", "none"]


class Attention(nn.Module):
    """Base: ``forward(query, keys, values, mask)`` → context and weights.

    Shapes: query (B, T, Dq), keys (B, S, Dk) as returned by :meth:`project_keys`,
    values (B, S, Dv), mask (B, S) bool with True at real positions.
    Returns context (B, T, Dv) and weights (B, T, S); padded positions get weight 0.
    """

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Precompute whatever depends on the memory alone (once per sentence, not per step)."""
        return memory

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.scores(query, keys)  # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(values.dtype)  # (B, T, S)
        return torch.bmm(weights, values), weights  # (B, T, Dv)


class BahdanauAttention(Attention):
    """Additive attention, score = vᵀ tanh(W q + U k) (Bahdanau et al. 2015, §3.1 and App. A.1.2)."""

    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        self.key_proj = nn.Linear(key_size, hidden_size, bias=False)
        self.query_proj = nn.Linear(query_size, hidden_size, bias=False)
        self.energy = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory)  # (B, S, A)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q = self.query_proj(query)  # (B, T, A)
        return self.energy(torch.tanh(q[:, :, None, :] + keys[:, None, :, :])).squeeze(-1)  # (B, T, S)


class LuongAttention(Attention):
    """Multiplicative attention: score = qᵀk ("dot") or qᵀ W k ("general") (Luong et al. 2015, §3.1)."""

    def __init__(self, query_size: int, key_size: int, general: bool):
        super().__init__()
        if not general and query_size != key_size:
            raise ValueError(
                f"dot attention needs query size {query_size} == memory size {key_size}; use luong_general or bahdanau"
            )
        self.key_proj = nn.Linear(key_size, query_size, bias=False) if general else None

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key_proj(memory) if self.key_proj is not None else memory  # (B, S, Dq)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)


def build_attention(name: AttentionName, query_size: int, key_size: int, hidden_size: int) -> Attention | None:
    if name == "none":
        return None
    if name == "bahdanau":
        return BahdanauAttention(query_size, key_size, hidden_size)
    return LuongAttention(query_size, key_size, general=(name == "luong_general"))
