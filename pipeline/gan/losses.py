"""The GAN costs of the lecture (Goodfellow et al. 2014; Goodfellow 2016 tutorial, §3.2), on logits.

With D(x) = σ(logit):

* discriminator: J_D = −½ E_x log D(x) − ½ E_z log(1 − D(G(z))) — cross-entropy, data labelled 1, G(z) 0;
* generator, minimax: J_G = −J_D = ½ E_z log(1 − D(G(z))) (only the part that depends on G). Its gradient
  vanishes when D confidently rejects samples — the saturation problem early in training;
* generator, non-saturating: J_G = −½ E_z log D(G(z)), the same fixed point with strong early gradients.

GAN-CLS (Reed et al. 2016, Alg. 1) adds a third discriminator input, real images with mismatched text,
also labelled "fake", so that D must judge the image–text match and not only realism.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GeneratorCost = Literal["minimax", "non_saturating"]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−½ mean log σ(real) − ½ mean log(1 − σ(fake)); ``softplus`` keeps it finite for large logits."""
    return 0.5 * F.softplus(-real_logits).mean() + 0.5 * F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, cost: GeneratorCost = "non_saturating") -> torch.Tensor:
    """Minimax ½ mean log(1 − σ(fake)) = −½ mean softplus(fake); non-saturating −½ mean log σ(fake)."""
    if cost == "minimax":
        return -0.5 * F.softplus(fake_logits).mean()
    if cost == "non_saturating":
        return 0.5 * F.softplus(-fake_logits).mean()
    raise ValueError(f"unknown generator cost {cost!r}; use minimax or non_saturating")


def matching_aware_discriminator_loss(
    real_match_logits: torch.Tensor, real_mismatch_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """GAN-CLS: log D(real, right text) + ½[log(1 − D(real, wrong text)) + log(1 − D(fake, right text))], negated."""
    return F.softplus(-real_match_logits).mean() + 0.5 * (
        F.softplus(real_mismatch_logits).mean() + F.softplus(fake_logits).mean()
    )
