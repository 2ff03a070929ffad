"""Greedy and batched beam search over the shared ``Decoder.step``.

Both decode many examples at once and return, per example, a ranked list of
:class:`Hypothesis`. ``max_output_len`` (int or (B,) tensor) caps each example's output;
at that length ``</s>`` is forced, so every hypothesis ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pipeline.models.decoder import Decoder, DecoderState, EncoderOutput


@dataclass
class Hypothesis:
    tokens: list[int]  # without <s> and </s>
    score: float  # sum of log-probabilities (divided by the length penalty for beam search)
    attention: torch.Tensor | None  # (T, S) rows for each output token and </s>


@dataclass
class SearchResult:
    hypotheses: list[list[Hypothesis]]  # per example, best first

    def best_tokens(self) -> list[list[int]]:
        return [hyps[0].tokens for hyps in self.hypotheses]


def _max_lengths(max_output_len: int | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    if isinstance(max_output_len, int):
        return torch.full((batch,), max_output_len, dtype=torch.long, device=device)
    return max_output_len.to(device=device, dtype=torch.long)


def _top_log_probs(logits: torch.Tensor, n: int, at_limit: torch.Tensor, eos_id: int):
    """The ``n`` best next tokens of each row and their log-probabilities: (R, n) values, (R, n) ids.

    The same as ``log_softmax(logits).topk(n)``, without writing the (R, V) log-probabilities:
    log p = logit − logsumexp(logits) is a per-row shift, so the row's top logits are its top
    log-probabilities. Rows whose length limit is reached may only emit </s> (log-probability 0).
    """
    logits = logits.float()
    values, tokens = logits.topk(n, dim=-1)  # (R, n)
    values = values - torch.logsumexp(logits, dim=-1, keepdim=True)
    if bool(at_limit.any()):
        forced_values = torch.full_like(values, float("-inf"))
        forced_values[:, 0] = 0.0
        forced_tokens = torch.full_like(tokens, eos_id)
        values = torch.where(at_limit[:, None], forced_values, values)
        tokens = torch.where(at_limit[:, None], forced_tokens, tokens)
    return values, tokens


KeepFn = Callable[[list[int]], list[bool]]
"""``keep(examples)`` → for each still-running example (its index in the batch), whether to go on
decoding it. The serving layer uses it to stop work for requests that have timed out or gone away."""


def _wanted(keep: KeepFn | None, active: list[int]) -> list[bool]:
    return [True] * len(active) if keep is None else list(keep(active))


@torch.no_grad()
def greedy_search(
    decoder: Decoder,
    enc: EncoderOutput,
    bos_id: int,
    eos_id: int,
    max_output_len: int | torch.Tensor,
    keep: KeepFn | None = None,
) -> SearchResult:
    """Greedy decoding; an example leaves the batch as soon as it emits </s> (or ``keep`` drops it:
    its hypothesis list is then empty)."""
    batch, device = enc.summary.size(0), enc.summary.device
    limits = _max_lengths(max_output_len, batch, device)
    src_lengths = enc.mask.sum(dim=1).tolist()
    state = decoder.init_state(enc)
    prev = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    rows = _Rows(
        list(range(batch)),
        torch.zeros(batch, device=device),
        torch.empty(batch, 0, dtype=torch.long, device=device),
        None,
    )
    found: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for t in range(int(limits.max()) + 1):
        out = decoder.step(prev, state, enc)
        best_lp, prev = (x[:, 0] for x in _top_log_probs(out.logits, 1, limits <= t, eos_id))  # (R,), (R,)
        rows = rows.extend(best_lp, prev, out.attention)
        ended = (prev == eos_id).tolist()
        wanted = _wanted(keep, rows.active)
        for i in (i for i, e in enumerate(ended) if e and wanted[i]):
            found[rows.active[i]] = [rows.hypothesis(i, src_lengths[rows.active[i]])]
        going = [i for i, (e, w) in enumerate(zip(ended, wanted)) if w and not e]
        if not going:
            break
        state = out.state
        if len(going) < len(ended):
            index = torch.tensor(going, device=device)
            rows, prev, limits = rows.select(going, index), prev[index], limits[index]
            state, enc = state.select(index), enc.select(index)
    return SearchResult(found)


@dataclass
class _Rows:
    """Greedy search's running examples: one row each."""

    active: list[int]  # the example of each row
    scores: torch.Tensor  # (R,) summed log-probabilities
    tokens: torch.Tensor  # (R, t) emitted tokens, the last one possibly </s>
    attention: torch.Tensor | None  # (R, t, S)

    def extend(self, log_probs: torch.Tensor, tokens: torch.Tensor, attention: torch.Tensor | None) -> _Rows:
        if attention is not None:
            step = attention[:, None]  # (R, 1, S)
            attention = step if self.attention is None else torch.cat([self.attention, step], dim=1)
        return _Rows(self.active, self.scores + log_probs, torch.cat([self.tokens, tokens[:, None]], dim=1), attention)

    def select(self, going: list[int], index: torch.Tensor) -> _Rows:
        attention = None if self.attention is None else self.attention[index]
        return _Rows([self.active[i] for i in going], self.scores[index], self.tokens[index], attention)

    def hypothesis(self, i: int, src_len: int) -> Hypothesis:
        """Row ``i``, which just emitted </s>."""
        att = None if self.attention is None else self.attention[i, :, :src_len].cpu()
        return Hypothesis(self.tokens[i, :-1].tolist(), float(self.scores[i]), att)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + |Y|) / 6)^α (Wu et al. 2016, §7)."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class _Beams:
    """Alive hypotheses of B examples × K beams, flattened to B·K rows."""

    scores: torch.Tensor  # (B, K) cumulative log-probabilities
    tokens: torch.Tensor  # (B·K, t) emitted tokens so far
    attention: torch.Tensor | None  # (B·K, t, S)
    state: DecoderState

    def select(self, examples: torch.Tensor, rows: torch.Tensor) -> _Beams:
        """Keep ``examples`` (indices into the B blocks) whose rows are ``rows``."""
        attention = None if self.attention is None else self.attention[rows]
        return _Beams(self.scores[examples], self.tokens[rows], attention, self.state.select(rows))


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    enc: EncoderOutput,
    bos_id: int,
    eos_id: int,
    beam_size: int,
    max_output_len: int | torch.Tensor,
    length_penalty_alpha: float = 0.0,
    n_best: int = 1,
    keep: KeepFn | None = None,
) -> SearchResult:
    """Batched beam search. An example is done once it has ``beam_size`` finished hypotheses
    (only </s> continuations ranked within the top ``beam_size`` finish, as in fairseq);
    with ``beam_size`` 1 this is exactly greedy search.

    Done examples leave the batch: their K rows are dropped from every per-row tensor, so a
    batch decodes at the cost of its still-running examples, not of its longest one. An example
    that ``keep`` drops leaves the same way, with an empty hypothesis list.
    """
    if n_best > beam_size:
        raise ValueError(f"n_best ({n_best}) cannot exceed beam_size ({beam_size})")
    batch, device, k = enc.summary.size(0), enc.summary.device, beam_size
    src_lengths = enc.mask.sum(dim=1).tolist()
    limits = _max_lengths(max_output_len, batch, device).repeat_interleave(k)  # (B·K,) of the alive rows
    active = list(range(batch))  # the example of each alive block of K rows
    state = decoder.init_state(enc)  # once per example (attention keys projected once per source) ...
    repeat = torch.arange(batch, device=device).repeat_interleave(k)
    enc, state = enc.select(repeat), state.select(repeat)  # ... then copied to its K beams
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # only the first beam is alive at the start, so beams do not start as copies
    beams = _Beams(scores, torch.empty(batch * k, 0, dtype=torch.long, device=device), None, state)
    finished: list[list[Hypothesis] | None] = [[] for _ in range(batch)]  # None: dropped by ``keep``
    prev = torch.full((batch * k,), bos_id, dtype=torch.long, device=device)
    for t in range(int(limits.max()) + 1):
        out = decoder.step(prev, beams.state, enc)
        cand_scores, cand_beam, cand_token = _expand(beams.scores, out.logits, limits <= t, eos_id, k)
        _finish(
            finished, active, cand_scores, cand_beam, cand_token, beams, out.attention, eos_id, k, length_penalty_alpha
        )
        for example, wanted in zip(active, _wanted(keep, active)):
            if not wanted:
                finished[example] = None  # dropped: no hypotheses
        done = [finished[example] is None or len(finished[example]) >= k for example in active]
        if all(done):
            break
        beams, prev = _prune(beams, out, cand_scores, cand_beam, cand_token, eos_id, k)
        if any(done):
            going = torch.tensor([i for i, d in enumerate(done) if not d], device=device)
            rows = (going[:, None] * k + torch.arange(k, device=device)).view(-1)
            active = [active[i] for i in going.tolist()]
            beams = beams.select(going, rows)
            prev, limits, enc = prev[rows], limits[rows], enc.select(rows)
    return SearchResult([_rank(hyps or [], n_best, src_lengths[b]) for b, hyps in enumerate(finished)])


def _expand(scores: torch.Tensor, logits: torch.Tensor, at_limit: torch.Tensor, eos_id: int, k: int):
    """Top 2K continuations per example: scores (B, 2K), source beam (B, 2K), token (B, 2K).

    Any of an example's top 2K continuations is among its beam's own top 2K tokens, so each of the
    B·K rows contributes its top 2K and the final choice is among K·2K candidates, not K·V.
    """
    batch, n = scores.size(0), min(2 * k, logits.size(-1))
    row_lp, row_tokens = _top_log_probs(logits, n, at_limit, eos_id)  # (B·K, n)
    total = (scores.reshape(-1, 1) + row_lp).view(batch, k * n)  # (B, K·n)
    top_scores, top_index = total.topk(min(2 * k, k * n), dim=1)
    return top_scores, top_index // n, row_tokens.view(batch, k * n).gather(1, top_index)


def _finish(finished, active, cand_scores, cand_beam, cand_token, beams: _Beams, step_attention, eos_id, k, alpha):
    """Move </s> continuations ranked within the top K of not-yet-done examples to ``finished``
    (block ``b`` of the alive rows is example ``active[b]``)."""
    is_eos = (cand_token[:, :k] == eos_id) & torch.isfinite(cand_scores[:, :k])
    for b, j in is_eos.nonzero().tolist():
        if len(finished[active[b]]) >= k:
            continue
        row = b * k + int(cand_beam[b, j])
        tokens = beams.tokens[row].tolist()
        attention = None
        if step_attention is not None:
            last = step_attention[row][None]  # (1, S)
            attention = last if beams.attention is None else torch.cat([beams.attention[row], last])
        raw = float(cand_scores[b, j])
        finished[active[b]].append(Hypothesis(tokens, raw / length_penalty(len(tokens) + 1, alpha), attention))


def _prune(beams: _Beams, out, cand_scores, cand_beam, cand_token, eos_id: int, k: int):
    """Keep the K best non-</s> continuations per example and reorder all per-row state."""
    batch = cand_scores.size(0)
    alive = cand_scores.masked_fill(cand_token == eos_id, float("-inf"))
    scores, pick = alive.topk(k, dim=1)  # (B, K), sorted
    source = (torch.arange(batch, device=scores.device)[:, None] * k + cand_beam.gather(1, pick)).view(-1)
    new_tokens = cand_token.gather(1, pick).view(-1)  # (B·K,)
    tokens = torch.cat([beams.tokens[source], new_tokens[:, None]], dim=1)
    attention = None
    if out.attention is not None:
        step = out.attention[source][:, None]  # (B·K, 1, S)
        attention = step if beams.attention is None else torch.cat([beams.attention[source], step], dim=1)
    return _Beams(scores, tokens, attention, out.state.reorder_beams(source)), new_tokens


def _rank(hyps: list[Hypothesis], n_best: int, src_len: int) -> list[Hypothesis]:
    ranked = sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best]
    for h in ranked:
        if h.attention is not None:
            h.attention = h.attention[:, :src_len].cpu()
    return ranked
