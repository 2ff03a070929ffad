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


def _caption_checkpoint(path, widths=(8, 16), seed: int = 0, size: int = 32, words=("a", "dog", "runs", "on")) -> str:
    """An untrained but complete captioning checkpoint; ``widths`` sets its CNN (members may differ)."""
    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from pipeline.data.vocabulary import SPECIALS, Vocabulary
    from pipeline.inference.captioner import CaptioningConfig
    from pipeline.models.captioner import build_caption_model

    cfg = CaptioningConfig.model_validate(
        {
            "task": "captioning",
            "data": {"images": {"size": size}},
            "model": {
                "encoder": {"widths": list(widths), "blocks": [1, 1]},
                "decoder": {"embedding_size": 8, "hidden_size": 16, "attention_size": 8},
            },
            "search": {"max_output_len": 6},
        }
    )
    vocab = Vocabulary(list(SPECIALS) + list(words))
    torch.manual_seed(seed)
    model = build_caption_model(cfg.model, len(vocab))
    meta = {"task": "captioning", "config": cfg.to_dict(), "vocab": vocab.to_json()}
    save_checkpoint(path, Checkpoint(meta, model.state_dict()))
    return str(path)


def test_a_captioning_ensemble_of_different_cnns_steps_with_the_mean_log_probabilities(tmp_path):
    from pipeline.inference.captioner import Captioner

    a = _caption_checkpoint(tmp_path / "a.pt", widths=(8, 16), seed=0)
    b = _caption_checkpoint(tmp_path / "b.pt", widths=(12, 16), seed=1)
    members = [Captioner.from_checkpoint(a), Captioner.from_checkpoint(b)]
    pair = Captioner.from_checkpoints([a, b])
    assert isinstance(pair.model, Ensemble) and pair.meta["ensemble"] == [a, b]
    images = torch.rand(3, 3, 32, 32)
    bos = torch.full((3,), pair.vocab.bos_id, dtype=torch.long)
    with torch.no_grad():
        steps = []
        for c in members:
            enc = c.model.encode(images=images)
            steps.append(torch.log_softmax(c.model.decoder.step(bos, c.model.decoder.init_state(enc), enc).logits, -1))
        enc = pair.model.encode(images=images)
        got = pair.model.decoder.step(bos, pair.model.decoder.init_state(enc), enc).logits
    assert torch.allclose(got, (steps[0] + steps[1]) / 2, atol=1e-6)
    assert not torch.allclose(steps[0], steps[1], atol=1e-3)  # the members really differ
    for beam in (1, 3):
        captions = pair.caption_tensors(images, beam_size=beam).hypotheses
        assert len(captions) == 3 and all(h[0].tokens is not None for h in captions)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_captioning_ensemble_of_one_checkpoint_twice_captions_as_the_single_model(tmp_path, beam_size):
    from pipeline.inference.captioner import Captioner

    a = _caption_checkpoint(tmp_path / "a.pt")
    images = torch.rand(4, 3, 32, 32)
    single = Captioner.from_checkpoint(a).caption_tensors(images, beam_size=beam_size).hypotheses
    twice = Captioner.from_checkpoints([a, a]).caption_tensors(images, beam_size=beam_size).hypotheses
    assert [h[0].tokens for h in twice] == [h[0].tokens for h in single]
    assert [round(h[0].score, 5) for h in twice] == [round(h[0].score, 5) for h in single]


def test_captioning_ensemble_members_must_share_vocabulary_and_images(tmp_path):
    from pipeline.errors import PipelineError
    from pipeline.inference.captioner import Captioner

    a = _caption_checkpoint(tmp_path / "a.pt")
    other_words = _caption_checkpoint(tmp_path / "b.pt", words=("a", "cat", "sits", "on"))
    other_size = _caption_checkpoint(tmp_path / "c.pt", size=48)
    with pytest.raises(PipelineError, match="another vocabulary"):
        Captioner.from_checkpoints([a, other_words])
    with pytest.raises(PipelineError, match="one image size"):
        Captioner.from_checkpoints([a, other_size])
