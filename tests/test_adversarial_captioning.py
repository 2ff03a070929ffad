"""Attacks on the captioner: the teacher-forced caption NLL the attacker optimises, the PGD constraints,
the direction of each attack, and the CLI's clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.adversarial.captioning import attack_captions, caption_nll, target_ids
from pipeline.cli import main
from pipeline.errors import PipelineError
from pipeline.inference.captioner import Captioner
from tests.test_caption_cli import _checkpoint


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    return Captioner.from_checkpoint(_checkpoint(tmp_path_factory.mktemp("cap") / "model.pt"), device="cpu")


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_caption_nll_equals_step_by_step_decoding(captioner):
    images = _images(2)
    ids = [target_ids(captioner, "a dog runs on grass"), target_ids(captioner, "a dog")]
    model, vocab = captioner.model, captioner.vocab
    with torch.no_grad():
        got = caption_nll(captioner, images, ids)
        enc = model.encode(images=images)
        for i, seq in enumerate(ids):
            one = enc.select(torch.tensor([i]))
            state, prev, total = model.decoder.init_state(one), vocab.bos_id, 0.0
            for token in [*seq, vocab.eos_id]:
                out = model.decoder.step(torch.tensor([prev]), state, one)
                total -= float(out.logits.log_softmax(-1)[0, token])
                state, prev = out.state, token
            assert float(got[i]) == pytest.approx(total, rel=1e-4)


def test_untargeted_attack_raises_the_clean_caption_nll_inside_the_ball(captioner):
    images = _images(4)
    before = images.clone()
    adv, reports = attack_captions(captioner, images, epsilon=0.05, steps=8)
    torch.testing.assert_close(images, before)  # never in place
    assert adv.shape == images.shape and float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert float((adv - images).abs().max()) <= 0.05 + 1e-6
    for r in reports:
        assert r.nll_after > r.nll_before and r.linf <= 0.05 + 1e-6 and r.target is None and r.reached is None
        assert r.changed == (r.adversarial != r.clean)


def test_targeted_attack_lowers_the_target_nll(captioner):
    adv, reports = attack_captions(
        captioner, _images(3, seed=1), epsilon=0.1, steps=10, targets=["a dog runs on grass"] * 3
    )
    for r in reports:
        assert r.target == "a dog runs on grass"
        assert r.nll_after < r.nll_before
        assert r.reached == (r.adversarial == r.target)


def test_target_words_must_be_known(captioner):
    with pytest.raises(PipelineError, match="lacks 'cat'"):
        target_ids(captioner, "a cat runs")
    with pytest.raises(PipelineError, match="one per image|target captions"):
        attack_captions(captioner, _images(2), 0.01, 2, targets=["a dog"])


def test_attack_caption_command(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "fig.png"
    assert (
        main(
            ["attack-caption", str(photo), "--checkpoint", ckpt, "--steps", "3", "--target", "a dog", "--out", str(out)]
        )
        == 0
    )
    assert out.is_file() and (tmp_path / "fig.json").is_file()
    assert "caption == 'a dog'" in capsys.readouterr().out
    assert main(["attack-caption", str(tmp_path / "missing.jpg"), "--checkpoint", ckpt]) != 0
    assert main(["attack-caption", str(photo), "--checkpoint", ckpt, "--epsilon", "0"]) != 0
