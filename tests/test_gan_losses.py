"""The lecture's GAN costs against hand-computed values, and the saturation property they are chosen for."""

import math

import pytest
import torch

from pipeline.gan.losses import discriminator_loss, generator_loss, matching_aware_discriminator_loss


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


REAL, FAKE, WRONG = [0.0, 2.0], [-1.0, 1.0], [0.5, -3.0]


def test_discriminator_cross_entropy_labels_data_1_and_samples_0():
    expected = (
        -0.5 * sum(math.log(sigmoid(r)) for r in REAL) / 2 - 0.5 * sum(math.log(1 - sigmoid(f)) for f in FAKE) / 2
    )
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_generator_costs_minimax_and_non_saturating():
    minimax = 0.5 * sum(math.log(1 - sigmoid(f)) for f in FAKE) / 2
    non_saturating = -0.5 * sum(math.log(sigmoid(f)) for f in FAKE) / 2
    assert generator_loss(torch.tensor(FAKE), "minimax").item() == pytest.approx(minimax, rel=1e-6)
    assert generator_loss(torch.tensor(FAKE), "non_saturating").item() == pytest.approx(non_saturating, rel=1e-6)
    # minimax is exactly minus the discriminator's cost on the samples
    d_fake_part = discriminator_loss(torch.tensor([1e4, 1e4]), torch.tensor(FAKE))
    assert generator_loss(torch.tensor(FAKE), "minimax").item() == pytest.approx(-d_fake_part.item(), rel=1e-5)


def test_gan_cls_discriminator_loss_reed_algorithm_1():
    expected = -sum(math.log(sigmoid(r)) for r in REAL) / 2 - 0.5 * (
        sum(math.log(1 - sigmoid(w)) for w in WRONG) / 2 + sum(math.log(1 - sigmoid(f)) for f in FAKE) / 2
    )
    got = matching_aware_discriminator_loss(torch.tensor(REAL), torch.tensor(WRONG), torch.tensor(FAKE))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_minimax_saturates_when_discriminator_rejects_samples():
    """Early in training D(G(z)) ≈ 0: the minimax gradient vanishes, the non-saturating one does not."""
    grads = {}
    for cost in ("minimax", "non_saturating"):
        logits = torch.full((4,), -8.0, requires_grad=True)
        generator_loss(logits, cost).backward()
        grads[cost] = logits.grad.abs().max().item()
    assert grads["minimax"] < 1e-3
    assert grads["non_saturating"] > 0.1


def test_unknown_cost_is_rejected():
    with pytest.raises(ValueError, match="minimax or non_saturating"):
        generator_loss(torch.zeros(2), "wasserstein")
