"""Ensemble decoding through the shared step and search."""

import pytest
import torch

from pipeline.models.ensemble import Ensemble
from pipeline.search import beam_search, greedy_search
from tests.helpers import padded_batch, tiny_model

BOS, EOS = 2, 3


def test_an_ensemble_step_is_the_mean_of_the_members_log_probabilities():
    a, b = tiny_model(seed=1).eval(), tiny_model("luong_general", True, seed=2).eval()
    ensemble = Ensemble([a, b]).eval()
    src, lengths = padded_batch([5, 3], seed=3)
    prev = torch.tensor([BOS, 7])
    with torch.no_grad():
        got = ensemble.decoder.step(
            prev,
            ensemble.decoder.init_state(ensemble.encode(src=src, src_lengths=lengths)),
            ensemble.encode(src=src, src_lengths=lengths),
        )
        by_hand = []
        for model in (a, b):
            enc = model.encode(src=src, src_lengths=lengths)
            logits = model.decoder.step(prev, model.decoder.init_state(enc), enc).logits
            by_hand.append(torch.log_softmax(logits, dim=-1))
    assert torch.allclose(got.logits, (by_hand[0] + by_hand[1]) / 2, atol=1e-6)
    assert not torch.allclose(by_hand[0], by_hand[1])  # the members really differ


@pytest.mark.parametrize("beam_size", [1, 4])
def test_an_ensemble_of_one_equals_the_single_model(beam_size):
    model = tiny_model(seed=4).eval()
    src, lengths = padded_batch([6, 2, 4], seed=5)
    enc = model.encode(src=src, src_lengths=lengths)
    ensemble = Ensemble([model]).eval()
    ens_enc = ensemble.encode(src=src, src_lengths=lengths)
    if beam_size == 1:
        single = greedy_search(model.decoder, enc, BOS, EOS, 10)
        joint = greedy_search(ensemble.decoder, ens_enc, BOS, EOS, 10)
    else:
        single = beam_search(model.decoder, enc, BOS, EOS, beam_size, 10, 1.0, n_best=2)
        joint = beam_search(ensemble.decoder, ens_enc, BOS, EOS, beam_size, 10, 1.0, n_best=2)
    for s, j in zip(single.hypotheses, joint.hypotheses, strict=True):
        assert [h.tokens for h in s] == [h.tokens for h in j]
        assert [h.score for h in s] == pytest.approx([h.score for h in j], abs=1e-5)


def test_two_member_beam_search_gives_ranked_ended_hypotheses():
    ensemble = Ensemble([tiny_model(seed=6).eval(), tiny_model(seed=7).eval()]).eval()
    src, lengths = padded_batch([5, 4, 6], seed=8)
    result = beam_search(ensemble.decoder, ensemble.encode(src=src, src_lengths=lengths), BOS, EOS, 3, 8, 1.0, 3)
    for hyps in result.hypotheses:
        scores = [h.score for h in hyps]
        assert len(hyps) == 3 and scores == sorted(scores, reverse=True)
        assert all(len(h.tokens) <= 8 and EOS not in h.tokens for h in hyps)


def test_members_must_share_the_target_vocabulary():
    with pytest.raises(ValueError, match="vocabulary"):
        Ensemble([tiny_model(tgt_vocab=25), tiny_model(tgt_vocab=26)])


def test_the_translator_decodes_an_ensemble_of_checkpoints(tiny_translation_checkpoint, tmp_path, capsys):
    """Two copies of one checkpoint: the mean of equal log-probabilities is each one's, so the ensemble
    translates exactly as the single model; the evaluate verb records the members in its report."""
    import json

    from pipeline.cli import main
    from pipeline.inference.translator import Translator

    ckpt = tiny_translation_checkpoint
    single = Translator.from_checkpoint(ckpt)
    pair = Translator.from_checkpoints([ckpt, ckpt])
    assert isinstance(pair.model, Ensemble) and len(pair.model.models) == 2
    texts = ["A man rides a bike.", "Two dogs play in the snow."]
    for beam in (1, 3):
        assert [t.text for t in pair.translate(texts, beam_size=beam)] == [
            t.text for t in single.translate(texts, beam_size=beam)
        ]
    report = tmp_path / "report.json"
    args = ["evaluate", "--checkpoint", str(ckpt), "--ensemble", str(ckpt), "--splits", "test_2016_flickr"]
    assert main([*args, "--limit", "4", "--beam-size", "2", "--report", str(report)]) == 0
    assert json.loads(report.read_text())["ensemble"] == [str(ckpt), str(ckpt)]


def test_an_ensemble_needs_one_set_of_subword_models(tiny_translation_checkpoint, tmp_path):
    from pipeline.checkpoint import load_checkpoint, save_checkpoint
    from pipeline.errors import PipelineError
    from pipeline.inference.translator import Translator

    other = load_checkpoint(tiny_translation_checkpoint)
    other.meta["src_subwords"] = other.meta["src_subwords"].replace('"', "'", 0) + " "  # a different model
    save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(PipelineError, match="other subword models"):
        Translator.from_checkpoints([tiny_translation_checkpoint, tmp_path / "other.pt"])
