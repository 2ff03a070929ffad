"""Training RBMs by contrastive divergence (Hinton 2002) and persistent CD (Tieleman 2008).

The log-likelihood gradient is ⟨vhᵀ⟩_data − ⟨vhᵀ⟩_model. CD-k estimates the second term from
k Gibbs steps started at the data; PCD from fantasy chains that persist across updates. Updates
are plain SGD with momentum and L2 weight decay on W (Hinton 2010, §9–10).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import Field

from pipeline.config import Config
from pipeline.unsupervised.rbm import RBM


class CDConfig(Config):
    """Learning rule and schedule of an RBM (an RBM's ``train:`` section, or each layer of a DBN)."""

    epochs: int = Field(10, description="passes over the training data")
    batch_size: int = Field(64, description="examples per update")
    lr: float = Field(0.05, description="learning rate (Gaussian visibles want ~10x smaller)")
    momentum: float = Field(0.5, description="momentum of the parameter velocities at first...")
    final_momentum: float = Field(0.9, description="... and from momentum_switch_epoch on")
    momentum_switch_epoch: int = Field(
        5, description="epoch at which the momentum switches (Hinton's guide: 0.5 at first, 0.9 once learning settles)"
    )
    weight_decay: float = Field(2e-4, description="L2 penalty on W")
    cd_k: int = Field(1, description="Gibbs steps per negative phase")
    persistent: bool = Field(False, description="PCD (Tieleman 2008): keep the fantasy chains across updates")
    seed: int = Field(1, description="shuffling and sampling (layer i of a DBN uses seed + i)")


class ContrastiveDivergence:
    """One object per RBM being trained: holds velocities and, for PCD, the fantasy chains."""

    def __init__(self, rbm: RBM, cfg: CDConfig):
        self.rbm, self.cfg = rbm, cfg
        self.velocity = {name: torch.zeros_like(p) for name, p in rbm.named_parameters()}
        self.chains: torch.Tensor | None = None  # (B, V) persistent fantasy particles

    def negative_sample(self, v_data: torch.Tensor) -> torch.Tensor:
        rbm, cfg = self.rbm, self.cfg
        if not cfg.persistent:
            # CD: start at the data; the mean of P(v|h) is a lower-variance reconstruction than a sample
            return rbm.gibbs(v_data, cfg.cd_k, sample_visible=False)
        if self.chains is None:  # as many fantasy particles as the first batch has rows, kept from then on
            self.chains = rbm.sample_visible(rbm.sample_hidden(v_data))
        self.chains = rbm.gibbs(self.chains, cfg.cd_k, sample_visible=True)
        return self.chains

    @torch.no_grad()
    def step(self, v_data: torch.Tensor, momentum: float) -> None:
        """One update from a batch ``v_data`` (B, V)."""
        rbm, cfg = self.rbm, self.cfg
        pos_h = rbm.hidden_prob(v_data)  # (B, H)
        v_model = self.negative_sample(v_data)  # (B, V); PCD: (M, V), M fantasy particles, whatever B is
        neg_h = rbm.hidden_prob(v_model)
        n = len(v_data)
        if len(v_model) == n:
            grads = {
                "weight": (v_data.T @ pos_h - v_model.T @ neg_h) / n - cfg.weight_decay * rbm.weight,
                "visible_bias": (v_data - v_model).mean(0),
                "hidden_bias": (pos_h - neg_h).mean(0),
            }
        else:  # a short last batch against the full set of chains: each phase averaged over its own rows
            grads = {
                "weight": v_data.T @ pos_h / n - v_model.T @ neg_h / len(v_model) - cfg.weight_decay * rbm.weight,
                "visible_bias": v_data.mean(0) - v_model.mean(0),
                "hidden_bias": pos_h.mean(0) - neg_h.mean(0),
            }
        for name, param in rbm.named_parameters():
            velocity = self.velocity[name]
            velocity.mul_(momentum).add_(grads[name], alpha=cfg.lr)
            param.add_(velocity)  # ascent on the log-likelihood


def train_rbm(rbm: RBM, data: torch.Tensor, cfg: CDConfig, on_epoch: Callable[[int, RBM], None] | None = None) -> RBM:
    """Train ``rbm`` on ``data`` (N, V) for ``cfg.epochs`` epochs; ``on_epoch(epoch, rbm)`` monitors."""
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    learner = ContrastiveDivergence(rbm, cfg)
    for epoch in range(cfg.epochs):
        momentum = cfg.momentum if epoch < cfg.momentum_switch_epoch else cfg.final_momentum
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), cfg.batch_size):
            learner.step(data[order[start : start + cfg.batch_size]].to(rbm.weight.device), momentum)
        if on_epoch is not None:
            on_epoch(epoch, rbm)
    return rbm
