"""Our FGSM and PGD against the peer library torchattacks on the same model and the same real MNIST images:
FGSM must give the same adversarial images; PGD (random starts differ) the same success rate within 2 points."""

from __future__ import annotations

import pytest
import torch

from pipeline.adversarial.classifiers import SoftmaxRegression
from pipeline.adversarial.evaluation import attack_by_name, evaluate_attack
from pipeline.data.image_tensors import load_images

torchattacks = pytest.importorskip("torchattacks", reason="installed by `make setup` (pip install --no-deps)")


@pytest.fixture(scope="module")
def softmax_on_mnist(tmp_path_factory):
    stages = str(tmp_path_factory.mktemp("stages"))
    train_x, train_y = load_images("mnist", "train", stages_dir=stages, limit=5000)
    test_x, test_y = load_images("mnist", "test", stages_dir=stages, limit=500)
    torch.manual_seed(0)
    model = SoftmaxRegression(tuple(train_x.shape[1:]))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        for i in range(0, len(train_x), 250):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(train_x[i : i + 250]), train_y[i : i + 250]).backward()
            opt.step()
    return model.eval(), test_x, test_y


def test_fgsm_matches_torchattacks_exactly(softmax_on_mnist):
    model, x, y = softmax_on_mnist
    ours = attack_by_name("fgsm")(model, x, y, 0.1)
    theirs = attack_by_name("torchattacks_fgsm")(model, x, y, 0.1)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("name", "eps"), [("pgd_linf", 0.05), ("pgd_l2", 1.0)])
def test_pgd_success_rate_matches_torchattacks(softmax_on_mnist, name, eps):
    model, x, y = softmax_on_mnist
    ours = evaluate_attack(model, name, attack_by_name(name, steps=20), x, y, eps)
    theirs = evaluate_attack(model, name, attack_by_name(f"torchattacks_{name}", steps=20), x, y, eps)
    assert ours.clean_accuracy == theirs.clean_accuracy > 0.8
    assert 0.05 < ours.success_rate < 0.95  # a budget where the rate can actually differ
    assert abs(ours.success_rate - theirs.success_rate) <= 0.02
