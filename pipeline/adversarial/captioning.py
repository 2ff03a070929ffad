"""Adversarial examples against the captioner: a small ΔI that changes its caption (untargeted), or that
pushes it toward a chosen caption (targeted).

The attacker's objective is the caption log-likelihood under teacher forcing, as in Show-and-Fool (Chen,
Zhang, Chen, Yi & Hsieh 2018, "Attacking visual language grounding with adversarial examples: a case
study on neural image captioning"): untargeted PGD *raises* the negative log-likelihood of the model's own
clean greedy caption; targeted PGD *lowers* that of the target caption. Both run the shared PGD of
:mod:`pipeline.adversarial.attacks` (L∞ or L2 ball ∩ pixel box, random start; Madry et al. 2018). Success
is judged on the greedy caption of the adversarial image: changed at all (untargeted), or exactly the
target (targeted).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.adversarial.attacks import Norm, pgd
from pipeline.data.captions import caption_tokens
from pipeline.errors import PipelineError


@dataclass(frozen=True)
class CaptionAttack:
    clean: str  # greedy caption of the clean image
    adversarial: str  # greedy caption of the adversarial image
    target: str | None  # the caption a targeted attack aimed at (tokenised as the captioner's training data)
    changed: bool  # adversarial caption differs from the clean one
    reached: bool | None  # targeted: adversarial caption == target
    nll_before: float  # per-token NLL of the attacked caption (clean caption / target) on the clean image
    nll_after: float  # ... on the adversarial image
    linf: float
    l2: float


def _teacher_forcing(ids: list[list[int]], bos: int, eos: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(seq) for seq in ids) + 1
    tgt_in = torch.full((len(ids), width), pad, dtype=torch.long)
    tgt_out = torch.full((len(ids), width), pad, dtype=torch.long)
    for i, seq in enumerate(ids):
        tgt_in[i, : len(seq) + 1] = torch.tensor([bos, *seq])
        tgt_out[i, : len(seq) + 1] = torch.tensor([*seq, eos])
    return tgt_in, tgt_out


def caption_nll(captioner, images: torch.Tensor, ids: list[list[int]]) -> torch.Tensor:
    """Summed negative log-likelihood of each caption (words + </s>) given its image: (B,), differentiable
    with respect to ``images`` (B, 3, H, W) in [0, 1]."""
    vocab, model = captioner.vocab, captioner.model
    tgt_in, tgt_out = _teacher_forcing(ids, vocab.bos_id, vocab.eos_id, vocab.pad_id)
    device = images.device
    out = model.decoder(tgt_in.to(device), model.encode(images=images))
    nll = F.cross_entropy(
        out.logits.float().flatten(0, 1), tgt_out.to(device).flatten(), ignore_index=vocab.pad_id, reduction="none"
    )
    return nll.view(len(ids), -1).sum(1)


def target_ids(captioner, caption: str) -> list[int]:
    """The target caption in the captioner's vocabulary; words it has never seen are a clear error."""
    [words] = caption_tokens([caption])
    if not words:
        raise PipelineError(f"target caption {caption!r} has no words")
    unknown = [w for w in words if w not in captioner.vocab.stoi]
    if unknown:
        raise PipelineError(
            f"the captioner's vocabulary lacks {', '.join(map(repr, unknown))}: "
            "a target caption can only use words it can say"
        )
    return captioner.vocab.encode(words)


def _greedy(captioner, images: torch.Tensor) -> list[list[int]]:
    return captioner.caption_tensors(images, beam_size=1).best_tokens()


def attack_captions(
    captioner,
    images: torch.Tensor,
    epsilon: float,
    steps: int = 40,
    step_size: float | None = None,
    targets: list[str] | None = None,
    norm: Norm = "linf",
    seed: int = 0,
) -> tuple[torch.Tensor, list[CaptionAttack]]:
    """PGD on a batch of images (B, 3, H, W) in [0, 1] → adversarial images and one report per image.

    ``targets``: one caption per image (targeted), or None (untargeted: move away from the clean caption).
    """
    if targets is not None and len(targets) != len(images):
        raise PipelineError(f"{len(targets)} target captions for {len(images)} images")
    images = images.detach().to(captioner.runtime.device)
    clean_ids = _greedy(captioner, images)
    attacked = clean_ids if targets is None else [target_ids(captioner, t) for t in targets]
    sign = 1.0 if targets is None else -1.0  # raise the clean caption's NLL / lower the target's

    def objective(x: torch.Tensor) -> torch.Tensor:
        return sign * caption_nll(captioner, x, attacked).sum()

    step_size = step_size if step_size is not None else 2.5 * epsilon / steps
    captioner.model.eval()
    adv = pgd(None, images, None, epsilon, step_size, steps, norm=norm, seed=seed, objective=objective)
    adv_ids = _greedy(captioner, adv)
    with torch.no_grad():
        lengths = torch.tensor([len(seq) + 1 for seq in attacked], dtype=torch.float)
        before = caption_nll(captioner, images, attacked).cpu() / lengths
        after = caption_nll(captioner, adv, attacked).cpu() / lengths
    delta = (adv - images).flatten(1).cpu()
    reports = []
    for i in range(len(images)):
        target = None if targets is None else captioner.text(attacked[i])
        reports.append(
            CaptionAttack(
                clean=captioner.text(clean_ids[i]),
                adversarial=captioner.text(adv_ids[i]),
                target=target,
                changed=adv_ids[i] != clean_ids[i],
                reached=None if targets is None else adv_ids[i] == attacked[i],
                nll_before=float(before[i]),
                nll_after=float(after[i]),
                linf=float(delta[i].abs().max()),
                l2=float(delta[i].norm()),
            )
        )
    return adv.detach(), reports
