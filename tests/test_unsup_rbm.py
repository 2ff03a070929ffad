"""RBM conditionals and free energy against brute-force enumeration; CD/PCD learn; DBN unrolling."""

from __future__ import annotations

import itertools

import pytest
import torch

from pipeline.unsupervised.contrastive_divergence import CDConfig, train_rbm
from pipeline.unsupervised.dbn import linear_layers, train_stack, unroll
from pipeline.unsupervised.rbm import RBM


def _tiny_rbm(visible="bernoulli") -> RBM:
    torch.manual_seed(0)
    rbm = RBM(4, 3, visible).double()
    with torch.no_grad():
        rbm.weight.normal_(0, 1.0)
        rbm.visible_bias.normal_(0, 1.0)
        rbm.hidden_bias.normal_(0, 1.0)
    return rbm


def _states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=torch.float64)


def test_bernoulli_conditionals_match_enumeration():
    rbm = _tiny_rbm()
    vs, hs = _states(4), _states(3)  # (16, 4), (8, 3)
    with torch.no_grad():
        # unnormalised joint exp(−E(v, h)) on the full grid, (16, 8)
        joint = torch.exp(-torch.stack([rbm.energy(vs, h.expand(len(vs), 3)) for h in hs], 1))
        p_h_given_v = joint / joint.sum(1, keepdim=True)  # rows: v
        p_v_given_h = joint / joint.sum(0, keepdim=True)  # columns: h
        brute_h = p_h_given_v @ hs  # P(h_j = 1 | v), (16, 3)
        brute_v = p_v_given_h.T @ vs  # P(v_i = 1 | h), (8, 4)
        torch.testing.assert_close(rbm.hidden_prob(vs), brute_h)
        torch.testing.assert_close(rbm.visible_mean(hs), brute_v)
        # units are conditionally independent: P(h | v) factorises over j
        factorised = torch.prod(torch.where(hs[None] == 1, brute_h[:, None], 1 - brute_h[:, None]), -1)
        torch.testing.assert_close(factorised, p_h_given_v)


def test_free_energy_matches_enumeration():
    rbm = _tiny_rbm()
    vs, hs = _states(4), _states(3)
    with torch.no_grad():
        energies = torch.stack([rbm.energy(vs, h.expand(len(vs), 3)) for h in hs], 1)  # (16, 8)
        torch.testing.assert_close(rbm.free_energy(vs), -torch.logsumexp(-energies, 1))
        torch.testing.assert_close(rbm.log_partition_exact(), torch.logsumexp(-energies.flatten(), 0))


def test_gaussian_free_energy_and_conditionals():
    rbm = _tiny_rbm("gaussian")
    v = torch.randn(5, 4, dtype=torch.float64)
    hs = _states(3)
    with torch.no_grad():
        energies = torch.stack([rbm.energy(v, h.expand(5, 3)) for h in hs], 1)
        torch.testing.assert_close(rbm.free_energy(v), -torch.logsumexp(-energies, 1))
        # P(v | h) is N(b + Wh, I): the energy is quadratic in v with that minimum
        h = hs[5:6]
        mean = rbm.visible_mean(h)
        torch.testing.assert_close(mean, rbm.visible_bias + h @ rbm.weight.T)
        grad_at_mean = mean - rbm.visible_bias - h @ rbm.weight.T
        assert float(grad_at_mean.abs().max()) < 1e-12


def _toy_patterns() -> torch.Tensor:
    base = torch.tensor(
        [[1, 1, 1, 0, 0, 0, 1, 0], [0, 0, 0, 1, 1, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]], dtype=torch.float32
    )
    return base.repeat(100, 1)  # (300, 8)


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_lowers_reconstruction_error(persistent):
    data = _toy_patterns()
    torch.manual_seed(0)
    rbm = RBM(8, 6)
    with torch.no_grad():
        before = float(rbm.reconstruction_error(data))
        pll_before = float(rbm.pseudo_log_likelihood(data, torch.Generator().manual_seed(0)).mean())
    cfg = CDConfig(epochs=30, batch_size=10, lr=0.1, persistent=persistent, cd_k=1 if not persistent else 3)
    train_rbm(rbm, data, cfg)
    with torch.no_grad():
        after = float(rbm.reconstruction_error(data))
        pll_after = float(rbm.pseudo_log_likelihood(data, torch.Generator().manual_seed(0)).mean())
    assert after < 0.7 * before
    assert pll_after > pll_before


def test_exact_likelihood_rises_under_cd():
    data = _toy_patterns()
    torch.manual_seed(1)
    rbm = RBM(8, 6)
    with torch.no_grad():
        nll_before = float(rbm.free_energy(data).mean() + rbm.log_partition_exact())
    train_rbm(rbm, data, CDConfig(epochs=20, batch_size=10, lr=0.1))
    with torch.no_grad():
        nll_after = float(rbm.free_energy(data).mean() + rbm.log_partition_exact())
    assert nll_after < nll_before - 1.0  # −log P(v) = F(v) + log Z, in nats


def test_dbn_unrolling_preserves_the_stacked_weights():
    torch.manual_seed(0)
    data = (torch.rand(200, 12) > 0.5).float()
    rbms = train_stack(data, [12, 8, 5, 3], CDConfig(epochs=1, batch_size=20))
    model = unroll(rbms, (12,))
    encoder, decoder = linear_layers(model.encoder), linear_layers(model.decoder)
    assert len(encoder) == len(decoder) == 3
    for rbm, enc, dec in zip(rbms, encoder, reversed(decoder), strict=True):
        assert torch.equal(enc.weight, rbm.weight.T) and torch.equal(enc.bias, rbm.hidden_bias)
        assert torch.equal(dec.weight, rbm.weight) and torch.equal(dec.bias, rbm.visible_bias)
    with torch.no_grad():
        # the unrolled encoder computes the stack's deterministic up-pass
        up = data
        for rbm in rbms:
            up = rbm.hidden_prob(up)
        torch.testing.assert_close(model(data).code, up)
        # and the decoder the down-pass of the visible means
        down = up
        for rbm in reversed(rbms):
            down = rbm.visible_mean(down)
        torch.testing.assert_close(model(data).reconstruction, down)
