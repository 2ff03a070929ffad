"""Unsupervised recursive autoencoder with greedy tree construction.

Socher, Pennington, Huang, Ng & Manning (2011), "Semi-Supervised Recursive Autoencoders for Predicting
Sentiment Distributions", EMNLP, §2 (the unsupervised RAE and its reconstruction objective; the
sentiment softmax of the semi-supervised model is not used here). ``objective: unfolding`` takes the
unfolding RAE's objective instead: Socher, Huang, Pennington, Ng & Manning (2011), "Dynamic Pooling and
Unfolding Recursive Autoencoders for Paraphrase Detection", NIPS, §2.2 — every parent rebuilds all the
words under it, not only its two children.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import Config
from pipeline.data.batching import TokenBucketBatches

REPRESENTATIONS = ("root", "mean", "root_mean")  # sentence vectors read off a tree (see GreedyTrees)


class RAEConfig(Config):
    """The ``model:`` section (the node size is the word vectors' size)."""

    normalize_parents: bool = True  # p ← p / ‖p‖, the paper's length normalisation
    normalize_leaves: bool = True  # word vectors scaled to unit length, so leaves and parents share a scale
    weighted: bool = True  # weight each child's error by the leaves under it (the paper's weighted variant)
    target_gradient: bool = True  # children as reconstruction targets pass gradient to their subtrees (the
    # paper's backprop through structure); false stops it there, see RecursiveAutoencoder on why one might
    objective: Literal["standard", "unfolding"] = "standard"  # the loss: each merge's error on its two
    # children (EMNLP 2011), or each parent's error on all its words, decoded down its subtree (NIPS 2011)


@dataclass
class GreedyTrees:
    """The greedy trees of a batch. Node ids: leaves ``0..L-1``, the parent made at step ``t`` is ``L + t``
    (sentence ``b`` merges at steps ``0..lengths[b]-2``; later steps are padding)."""

    nodes: torch.Tensor  # (B, 2L-1, D): leaf vectors (as composed, i.e. normalised if asked), then parents
    children: torch.Tensor  # (B, L-1, 2) node ids merged at each step, -1 at padding steps
    errors: torch.Tensor  # (B, L-1) weighted reconstruction error of each merge, 0 at padding steps
    lengths: torch.Tensor  # (B,) leaves per sentence

    @property
    def max_len(self) -> int:
        return (self.nodes.shape[1] + 1) // 2

    def node_mask(self) -> torch.Tensor:
        """(B, 2L-1) True at the real leaves and parents of each sentence."""
        ids = torch.arange(self.nodes.shape[1], device=self.nodes.device)
        leaf = ids[None] < self.lengths[:, None]
        parent = (ids[None] >= self.max_len) & (ids[None] - self.max_len < self.lengths[:, None] - 1)
        return leaf | parent

    def root(self) -> torch.Tensor:
        """(B, D) the top node (the single leaf of a one-word sentence; zeros for an empty one)."""
        top = torch.where(self.lengths > 1, self.max_len + self.lengths - 2, 0)
        return self.nodes[torch.arange(len(top), device=top.device), top]

    def mean(self) -> torch.Tensor:
        """(B, D) the mean of all node vectors, leaves and phrases."""
        mask = self.node_mask().to(self.nodes.dtype)[..., None]
        return (self.nodes * mask).sum(1) / mask.sum(1).clamp(min=1)

    def representation(self, name: str) -> torch.Tensor:
        if name == "root_mean":  # both, each unit length, side by side
            return torch.cat([F.normalize(self.root(), dim=-1), F.normalize(self.mean(), dim=-1)], -1)
        return self.root() if name == "root" else self.mean()

    def tree(self, b: int) -> list[tuple[int, int]]:
        """Sentence ``b``'s merges as (left, right) ids over its own nodes: leaves ``0..n-1``, parent ``n + t``."""
        n, big = int(self.lengths[b]), self.max_len
        return [
            tuple(i if i < big else i - big + n for i in pair) for pair in self.children[b, : max(n - 1, 0)].tolist()
        ]


class _Frontier:
    """Which nodes are still unmerged, as a doubly linked list over slots (no gradients).

    Slot ``i`` starts as leaf ``i``; merging the nodes in slots ``i`` and ``next[i]`` puts the parent in
    slot ``i`` and unlinks ``next[i]``. ``L`` in ``next`` and ``-1`` in ``prev`` mean "no neighbour".
    """

    def __init__(self, lengths: torch.Tensor, max_len: int, dtype: torch.dtype):
        slots = torch.arange(max_len, device=lengths.device).expand(len(lengths), max_len)  # (B, L)
        self.max_len = max_len
        self.next = torch.where(slots + 1 < lengths[:, None], slots + 1, max_len).clone()
        self.prev = (slots - 1).clone()
        self.node = slots.clone()
        # leaves under each slot's node
        self.count = torch.ones(len(lengths), max_len, device=lengths.device, dtype=dtype)

    def link(
        self, step: int, rows: torch.Tensor, left: torch.Tensor, right: torch.Tensor, active: torch.Tensor
    ) -> None:
        """Record the merge of ``left`` and ``right`` (active rows only)."""
        after = self.next[rows, right]
        self.next[rows, left] = torch.where(active, after, self.next[rows, left])
        has_after = active & (after < self.max_len)
        self.prev[rows[has_after], after[has_after]] = left[has_after]
        merged = self.count[rows, left] + self.count[rows, right]
        self.count[rows, left] = torch.where(active, merged, self.count[rows, left])
        self.node[rows, left] = torch.where(active, self.max_len + step, self.node[rows, left])


class RecursiveAutoencoder(nn.Module):
    """p = f(W[c1; c2] + b), [c1'; c2'] = W'p + b' (Socher et al. 2011, §2), f = tanh, p normalised to
    unit length; error E = n1/(n1+n2)·‖c1 − c1'‖² + n2/(n1+n2)·‖c2 − c2'‖² with n the leaves under a child.

    Trees are greedy: each step merges, in every sentence of the batch at once, the adjacent pair of
    current nodes with the lowest E; the loss is the sum of E over the merges of the greedy tree,
    back-propagated through the structure (children that are parents pass gradient to their subtrees).

    Degenerate solutions. The word vectors are a fixed buffer learned beforehand (word2vec on the training
    sentences), never by the reconstruction loss: trained by it they collapse, since E is lowest when every
    leaf is zero or (if leaves are scaled to unit length) the same vector, which makes reconstruction
    trivial and the vectors useless. Parents cannot shrink either: they are unit length, the paper's fix.
    One route stays open: parents that are children of parents are targets the network itself produces,
    so E also falls when all parents crowd into a small cap of the sphere (the decoder amplifies what little
    differs to rebuild the leaves). With ``target_gradient: false`` the targets are treated as constants
    (a stop-gradient), which removes that pull; gradients still flow through the encoder inputs.
    """

    def __init__(self, cfg: RAEConfig, vectors: torch.Tensor):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("vectors", vectors.float())  # (V + 1, D), row 0 = padding
        size = vectors.shape[1]
        self.encoder = nn.Linear(2 * size, size)
        self.decoder = nn.Linear(size, 2 * size)

    def leaves(self, words: torch.Tensor) -> torch.Tensor:
        """(B, L) word ids → (B, L, D) leaf vectors."""
        leaves = self.vectors[words]
        return F.normalize(leaves, dim=-1) if self.cfg.normalize_leaves else leaves

    def merge(
        self, c1: torch.Tensor, c2: torch.Tensor, n1: torch.Tensor, n2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Children (..., D) with leaf counts (...) → parent (..., D) and reconstruction error (...)."""
        parent = torch.tanh(self.encoder(torch.cat([c1, c2], -1)))
        if self.cfg.normalize_parents:
            parent = F.normalize(parent, dim=-1)
        r1, r2 = self.decoder(parent).chunk(2, -1)
        if not self.cfg.target_gradient:
            c1, c2 = c1.detach(), c2.detach()  # as targets only: the encoder above already read them
        e1, e2 = ((c1 - r1) ** 2).sum(-1), ((c2 - r2) ** 2).sum(-1)
        if self.cfg.weighted:
            return parent, (n1 * e1 + n2 * e2) / (n1 + n2)
        return parent, e1 + e2

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> GreedyTrees:
        """words (B, L) padded with 0, lengths (B,) → the greedy trees, their nodes and merge errors."""
        leaves = self.leaves(words)  # (B, L, D)
        batch, max_len = words.shape
        rows = torch.arange(batch, device=words.device)
        slot_ids = torch.arange(max_len, device=words.device)
        if max_len < 2:  # only one-word (or empty) sentences: no merges
            no_merges = torch.zeros(batch, 0, 2, dtype=torch.long, device=words.device)
            return GreedyTrees(leaves, no_merges, leaves.new_zeros(batch, 0), lengths)
        frontier = _Frontier(lengths, max_len, leaves.dtype)
        with torch.no_grad():  # the error of merging each adjacent pair of leaves
            _, first = self.merge(leaves[:, :-1], leaves[:, 1:], frontier.count[:, :-1], frontier.count[:, 1:])
            candidates = torch.full((batch, max_len), torch.inf, device=words.device, dtype=first.dtype)
            candidates[:, :-1] = torch.where(slot_ids[None, 1:] < lengths[:, None], first, torch.inf)
        slots, parents, children, errors = leaves, [], [], []
        for step in range(max_len - 1):
            active = lengths - 1 > step  # (B,) sentences not yet reduced to one node
            left = candidates.argmin(1)  # (B,) lowest error; ties go to the leftmost pair
            right = frontier.next[rows, left].clamp(max=max_len - 1)
            parent, error = self.merge(
                slots[rows, left], slots[rows, right], frontier.count[rows, left], frontier.count[rows, right]
            )  # (B, D), (B,) with gradients
            pair = torch.stack([frontier.node[rows, left], frontier.node[rows, right]], -1)  # (B, 2)
            children.append(torch.where(active[:, None], pair, -1))
            errors.append(torch.where(active, error, 0.0))
            parents.append(parent)
            frontier.link(step, rows, left, right, active)
            put = (slot_ids[None] == left[:, None]) & active[:, None]  # (B, L)
            slots = torch.where(put[..., None], parent[:, None], slots)
            with torch.no_grad():
                self._update_candidates(candidates, slots.detach(), frontier, rows, left, right, active)
        nodes = torch.cat([leaves, torch.stack(parents, 1)], 1)  # (B, 2L-1, D)
        return GreedyTrees(nodes, torch.stack(children, 1), torch.stack(errors, 1), lengths)

    def unfolding_error(self, trees: GreedyTrees) -> torch.Tensor:
        """The unfolding RAE's loss (Socher et al. 2011, NIPS, §2.2): from every parent, the decoder is
        applied down that parent's own subtree (a rebuilt inner node, made unit length like the parents,
        is decoded again) until every word under it is rebuilt; the parent's error is the mean over those
        words of ‖x − x'‖². Returns the sum over the batch's parents (a scalar). The trees themselves are
        still chosen greedily by the one-level merge error; the leaves are constants."""
        max_len, children = trees.max_len, trees.children  # (B, L-1, 2) node ids, -1 at padding steps
        rows, steps = (children[..., 0] >= 0).nonzero(as_tuple=True)  # every real parent
        owner = torch.arange(len(rows), device=rows.device)  # the parent each decoding job belongs to
        node, vectors = steps + max_len, trees.nodes[rows, steps + max_len]
        total = trees.nodes.new_zeros(len(rows))
        words = trees.nodes.new_zeros(len(rows))
        while len(rows):
            rebuilt = self.decoder(vectors).chunk(2, -1)
            pair = children[rows, node - max_len]  # (N, 2)
            jobs = []
            for side in (0, 1):
                child, guess = pair[:, side], rebuilt[side]
                leaf = child < max_len
                error = ((trees.nodes[rows[leaf], child[leaf]] - guess[leaf]) ** 2).sum(-1)
                total = total.index_add(0, owner[leaf], error)
                words = words.index_add(0, owner[leaf], torch.ones_like(error))
                inner = ~leaf
                guess = guess[inner]
                if self.cfg.normalize_parents:
                    guess = F.normalize(guess, dim=-1)
                jobs.append((rows[inner], child[inner], guess, owner[inner]))
            rows, node, vectors, owner = (torch.cat(parts) for parts in zip(*jobs, strict=True))
        return (total / words.clamp(min=1)).sum()

    def _update_candidates(
        self,
        candidates: torch.Tensor,
        slots: torch.Tensor,
        frontier: _Frontier,
        rows: torch.Tensor,
        left: torch.Tensor,
        right: torch.Tensor,
        active: torch.Tensor,
    ) -> None:
        """After a merge only the pairs (prev, parent) and (parent, next) are new; ``right`` is gone."""
        max_len = slots.shape[1]
        before, after = frontier.prev[rows, left], frontier.next[rows, left]
        has_before, has_after = active & (before >= 0), active & (after < max_len)
        before, after = before.clamp(min=0), after.clamp(max=max_len - 1)
        c1 = torch.stack([slots[rows, before], slots[rows, left]])  # (2, B, D)
        c2 = torch.stack([slots[rows, left], slots[rows, after]])
        n1 = torch.stack([frontier.count[rows, before], frontier.count[rows, left]])
        n2 = torch.stack([frontier.count[rows, left], frontier.count[rows, after]])
        _, new = self.merge(c1, c2, n1, n2)  # (2, B)
        candidates[rows, right] = torch.where(active, torch.inf, candidates[rows, right])
        candidates[rows, left] = torch.where(active, torch.where(has_after, new[1], torch.inf), candidates[rows, left])
        candidates[rows, before] = torch.where(has_before, new[0], candidates[rows, before])


def reconstruction_loss(model: RecursiveAutoencoder, batch: SentenceBatch) -> tuple[torch.Tensor, int]:
    """The summed error of the batch's greedy trees (each merge's, or each parent's unfolding error) over
    its number of merges, and that number."""
    trees = model(batch.words, batch.lengths)
    merges = batch.n_tokens
    error = model.unfolding_error(trees) if model.cfg.objective == "unfolding" else trees.errors.sum()
    return error / max(merges, 1), merges


@dataclass
class SentenceBatch:
    words: torch.Tensor  # (B, L) word ids, 0 = padding
    lengths: torch.Tensor  # (B,)

    @property
    def n_tokens(self) -> int:
        """Merges in the batch (what the trainer's rate counts)."""
        return int((self.lengths - 1).clamp(min=0).sum())

    def to(self, device: torch.device) -> SentenceBatch:
        return SentenceBatch(self.words.to(device), self.lengths.to(device))


class SentenceBatches:
    """Sentences of similar length, ``max_tokens`` padded words a batch, in an order fixed by (seed, epoch)
    (the translation task's bucketing, with an empty target side)."""

    def __init__(self, sentences: Sequence[np.ndarray], max_tokens: int, seed: int):
        empty = np.zeros(0, dtype=np.int64)
        self.buckets = TokenBucketBatches(sentences, [empty] * len(sentences), max_tokens, seed)

    def epoch(self, epoch: int) -> Sequence[SentenceBatch]:
        return _Epoch(self.buckets.epoch(epoch))


class _Epoch(Sequence):
    def __init__(self, batches: Sequence):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> SentenceBatch:
        batch = self.batches[i]
        return SentenceBatch(batch.src, batch.src_lengths)


def collate_sentences(sentences: Sequence[np.ndarray]) -> SentenceBatch:
    from pipeline.data.batching import pad

    lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
    return SentenceBatch(pad([s if len(s) else [0] for s in sentences]), lengths)


@torch.no_grad()
def encode_sentences(
    model: RecursiveAutoencoder,
    sentences: Sequence[np.ndarray],
    batch_size: int = 512,
    names: Sequence[str] = REPRESENTATIONS,
) -> tuple[dict[str, np.ndarray], float]:
    """Sentence vectors ``{name: (N, ·)}`` from the greedy trees, and the mean error per merge."""
    model.eval()
    device = model.vectors.device
    order = np.argsort([len(s) for s in sentences], kind="stable")  # similar lengths, little padding
    out = {name: [None] * len(sentences) for name in names}
    total, merges = 0.0, 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = collate_sentences([sentences[i] for i in index]).to(device)
        trees = model(batch.words, batch.lengths)
        total, merges = total + float(trees.errors.sum()), merges + batch.n_tokens
        for name in names:
            for i, vector in zip(index, trees.representation(name).float().cpu().numpy()):
                out[name][i] = vector
    return {name: np.stack(rows) for name, rows in out.items()}, total / max(merges, 1)


@torch.no_grad()
def node_spread(model: RecursiveAutoencoder, sentences: Sequence[np.ndarray], limit: int = 500) -> dict[str, float]:
    """Mean cosine between distinct phrase vectors (and between distinct leaves) of the first ``limit``
    sentences: near 1 when the parents have crowded into a small cap of the sphere."""
    model.eval()
    batch = collate_sentences(sentences[:limit]).to(model.vectors.device)
    trees = model(batch.words, batch.lengths)
    is_parent = torch.arange(trees.nodes.shape[1], device=batch.words.device)[None] >= trees.max_len
    mask = trees.node_mask()
    out = {}
    for name, keep in (("parents", mask & is_parent), ("leaves", mask & ~is_parent)):
        unit = F.normalize(trees.nodes[keep].float(), dim=-1)  # (M, D)
        cosine = unit @ unit.T
        out[f"{name}_mean_cosine"] = float(
            (cosine.sum() - cosine.diagonal().sum()) / max(len(unit) * (len(unit) - 1), 1)
        )
    return out
