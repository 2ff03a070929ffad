"""FGSM, PGD and the Szegedy attack: exact definitions, constraints, success on a trained tiny model."""

import pytest
import torch
import torch.nn.functional as F

from pipeline.adversarial.attacks import fgsm, pgd, project
from pipeline.adversarial.classifiers import SoftmaxRegression
from pipeline.adversarial.evaluation import attack_by_name, evaluate_attack
from pipeline.adversarial.szegedy import szegedy_attack
from pipeline.data.vision import load_digits


@pytest.fixture(scope="module")
def digits_model():
    """Softmax regression on scikit-learn's 8×8 digits (pixels scaled to [0, 1]); ~96% train accuracy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: extra threads only spin on a shared CPU
    torch.manual_seed(0)
    images, labels = load_digits()
    x = torch.from_numpy(images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(labels)
    model = SoftmaxRegression((1, 8, 8))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(120):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() > 0.9
    yield model, x[:200], y[:200]
    torch.set_num_threads(threads)


def test_fgsm_perturbation_is_exactly_eps_sign_of_the_gradient(digits_model):
    model, x, y = digits_model
    eps = 0.1
    probe = x.clone().requires_grad_(True)
    F.cross_entropy(model(probe), y, reduction="sum").backward()
    expected = eps * probe.grad.sign()
    torch.testing.assert_close(fgsm(model, x, y, eps, clamp=False) - x, expected, rtol=0, atol=1e-6)
    adv = fgsm(model, x, y, eps)  # default: clipped to the pixel box
    assert adv.min() >= 0 and adv.max() <= 1
    torch.testing.assert_close(adv, (x + expected).clamp(0, 1))


def test_targeted_fgsm_descends_the_target_loss(digits_model):
    model, x, y = digits_model
    target = (y + 1) % 10
    adv = fgsm(model, x, y, 0.05, target=target)
    assert F.cross_entropy(model(adv), target) < F.cross_entropy(model(x), target)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_pgd_stays_in_the_eps_ball_and_the_pixel_box(digits_model, norm, eps):
    model, x, y = digits_model
    adv = pgd(model, x, y, eps, step_size=eps / 4, steps=10, norm=norm)
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-5
    assert adv.min() >= 0 and adv.max() <= 1
    # and it is stronger than FGSM at the same L∞ budget
    if norm == "linf":
        fooled_pgd = (model(adv).argmax(1) != y).float().mean()
        fooled_fgsm = (model(fgsm(model, x, y, eps)).argmax(1) != y).float().mean()
        assert fooled_pgd >= fooled_fgsm


def test_l2_projection_is_onto_the_ball():
    delta = torch.tensor([[3.0, 4.0], [0.3, 0.4]]).view(2, 1, 1, 2)
    out = project(delta, 1.0, "l2").view(2, 2)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.3, 0.4]]))


def test_targeted_pgd_reaches_the_target(digits_model):
    model, x, y = digits_model
    target = (y + 3) % 10
    adv = pgd(model, x, y, 0.3, step_size=0.03, steps=20, target=target)
    assert (model(adv).argmax(1) == target).float().mean() > 0.9


def test_szegedy_attack_reaches_target_with_small_distortion(digits_model):
    model, x, y = digits_model
    x, y = x[:20], y[:20]
    target = (y + 5) % 10
    result = szegedy_attack(model, x, target, search_steps=4, steps=60, lr=0.05)
    assert result.success.float().mean() >= 0.9
    assert (model(result.adversarial).argmax(1) == target)[result.success].all()
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    # smaller than a brute-force PGD to the same targets at a generous L∞ budget
    brute = pgd(model, x, y, 0.5, step_size=0.05, steps=20, target=target)
    ok = result.success
    assert (result.adversarial - x)[ok].flatten(1).norm(dim=1).mean() < (brute - x)[ok].flatten(1).norm(dim=1).mean()


def test_attacks_never_modify_their_input(digits_model):
    model, x, y = digits_model
    x = x[:16].clone()
    original = x.clone()
    fgsm(model, x, y[:16], 0.1)
    pgd(model, x, y[:16], 0.1, step_size=0.02, steps=3, norm="linf")
    pgd(model, x, y[:16], 0.5, step_size=0.1, steps=3, norm="l2")
    szegedy_attack(model, x, (y[:16] + 1) % 10, search_steps=1, steps=3)
    assert torch.equal(x, original) and not x.requires_grad


def test_evaluate_attack_success_and_distortion(digits_model):
    model, x, y = digits_model
    row = evaluate_attack(model, "fgsm", attack_by_name("fgsm"), x, y, 0.25)
    assert row.adversarial_accuracy <= row.clean_accuracy
    assert row.mean_linf == pytest.approx(0.25, abs=1e-5)  # FGSM moves every free pixel by ε
    assert 0 <= row.success_rate <= 1 and row.error_rate == pytest.approx(1 - row.adversarial_accuracy)
