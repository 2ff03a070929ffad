import pytest
import torch

from pipeline.search import beam_search, greedy_search, length_penalty
from tests.helpers import padded_batch, tiny_model

BOS, EOS = 2, 3


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general", "none"])
@pytest.mark.parametrize("input_feeding", [False, True])
def test_beam_size_one_is_exactly_greedy(attention, input_feeding):
    model = tiny_model(attention, input_feeding, seed=3).eval()
    src, lengths = padded_batch([7, 3, 5, 1, 6], seed=4)
    enc = model.encode(src=src, src_lengths=lengths)
    greedy = greedy_search(model.decoder, enc, BOS, EOS, 12)
    beam = beam_search(model.decoder, enc, BOS, EOS, beam_size=1, max_output_len=12)
    assert greedy.best_tokens() == beam.best_tokens()
    for g, b in zip(greedy.hypotheses, beam.hypotheses):
        assert g[0].score == pytest.approx(b[0].score, abs=1e-4)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_batched_beam_equals_per_sentence_beam(input_feeding):
    model = tiny_model("bahdanau", input_feeding, seed=5).eval()
    src, lengths = padded_batch([7, 3, 5, 1, 6, 2], seed=6)
    enc = model.encode(src=src, src_lengths=lengths)
    rows, step = [], model.decoder.step
    model.decoder.step = lambda prev, *args: rows.append(len(prev)) or step(prev, *args)
    limits = lengths + 3  # examples end at different steps
    batched = beam_search(model.decoder, enc, BOS, EOS, 4, limits, length_penalty_alpha=1.0, n_best=3)
    del model.decoder.step
    assert rows[0] == 6 * 4 and rows[-1] < rows[0]  # done examples leave the batch
    for i in range(len(lengths)):
        single_enc = model.encode(src=src[i : i + 1, : lengths[i]], src_lengths=lengths[i : i + 1])
        single = beam_search(
            model.decoder, single_enc, BOS, EOS, 4, limits[i : i + 1], length_penalty_alpha=1.0, n_best=3
        )
        assert [h.tokens for h in single.hypotheses[0]] == [h.tokens for h in batched.hypotheses[i]]
        assert [h.score for h in single.hypotheses[0]] == pytest.approx(
            [h.score for h in batched.hypotheses[i]], abs=1e-4
        )


def test_n_best_is_ranked_distinct_and_within_the_length_limit():
    model = tiny_model(seed=7).eval()
    src, lengths = padded_batch([5, 4], seed=8)
    enc = model.encode(src=src, src_lengths=lengths)
    limits = torch.tensor([3, 6])
    result = beam_search(model.decoder, enc, BOS, EOS, 5, limits, length_penalty_alpha=0.6, n_best=5)
    for hyps, limit in zip(result.hypotheses, limits.tolist()):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True) and len(hyps) == 5
        assert len({tuple(h.tokens) for h in hyps}) == 5
        assert all(len(h.tokens) <= limit for h in hyps)
        assert all(h.attention.shape == (len(h.tokens) + 1, 5 if limit == 3 else 4) for h in hyps)
    greedy = greedy_search(model.decoder, enc, BOS, EOS, limits)
    assert all(len(h[0].tokens) <= n for h, n in zip(greedy.hypotheses, limits.tolist()))


def test_length_penalty_is_gnmt():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_keep_drops_an_example_mid_search_and_leaves_the_others_unchanged(beam_size):
    model = tiny_model("bahdanau", False, seed=9).eval()
    src, lengths = padded_batch([6, 4, 5], seed=10)
    enc = model.encode(src=src, src_lengths=lengths)

    def search(keep=None):
        if beam_size == 1:
            return greedy_search(model.decoder, enc, BOS, EOS, 12, keep=keep)
        return beam_search(model.decoder, enc, BOS, EOS, beam_size, 12, keep=keep)

    plain = search()
    rows, step, calls = [], model.decoder.step, {"n": 0}
    model.decoder.step = lambda prev, *args: rows.append(len(prev)) or step(prev, *args)

    def keep(examples):  # example 1's caller goes away after two steps
        calls["n"] += 1
        return [e != 1 or calls["n"] <= 2 for e in examples]

    dropped = search(keep)
    del model.decoder.step
    assert dropped.hypotheses[1] == []
    for i in (0, 2):
        assert [h.tokens for h in dropped.hypotheses[i]] == [h.tokens for h in plain.hypotheses[i]]
    assert rows[3] <= rows[0] - beam_size  # its rows left the batch at once
