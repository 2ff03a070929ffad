"""The training losses, one per model family: ``loss(model, batch) -> LossOutput`` for the shared Trainer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.data.batching import ImageBatch, ReconstructionBatch, TranslationBatch
from pipeline.data.caption_batches import CaptionBatch
from pipeline.data.caption_pairs import PairBatch
from pipeline.data.vocabulary import Vocabulary
from pipeline.gan.text_encoder import JointEmbedding, symmetric_contrastive_loss
from pipeline.models.captioner import concept_targets, doubly_stochastic_penalty
from pipeline.training.trainer import LossOutput
from pipeline.unsupervised.autoencoder import SparsityConfig
from pipeline.unsupervised.sparsity import sparsity_penalty


def label_smoothed_loss(model, batch: TranslationBatch, smoothing: float) -> LossOutput:
    """Cross-entropy with label smoothing (Szegedy et al. 2016, §7), averaged over target tokens.

    The output layer runs at the non-pad positions only (``select``): padding costs no vocabulary GEMM."""
    real = batch.tgt_out != 0
    logits = model(batch.tgt_in, select=real, src=batch.src, src_lengths=batch.src_lengths).logits  # (N, V)
    n_tokens = int(real.sum())
    loss = F.cross_entropy(logits.float(), batch.tgt_out[real], label_smoothing=smoothing, reduction="sum") / max(
        n_tokens, 1
    )
    return LossOutput(loss, n_tokens)


def caption_loss(
    model, batch: CaptionBatch, smoothing: float, attention_weight: float, concept_weight: float = 0.0
) -> LossOutput:
    """Token-averaged cross-entropy (+ λ · doubly stochastic attention penalty, Xu et al. 2015 eq. 14)
    (+ the auxiliary visual-concept loss, see :class:`CaptionModel`)."""
    image_enc = model.encode(images=batch.images)
    enc = image_enc.select(batch.caption_image)  # each image once, repeated per caption
    real = batch.tgt_out != 0
    out = model.decoder(batch.tgt_in, enc, real)  # logits at real positions (M, V), attention (N, T, S) | None
    n_tokens = int(real.sum())
    xent = F.cross_entropy(out.logits.float(), batch.tgt_out[real], label_smoothing=smoothing, reduction="sum")
    total, extras = xent, {"xent": float(xent.detach()) / max(n_tokens, 1)}
    if attention_weight > 0 and out.attention is not None:
        penalty = attention_weight * doubly_stochastic_penalty(out.attention.float(), batch.tgt_out != 0)
        total = total + penalty
        extras["attention_penalty"] = float(penalty.detach()) / max(n_tokens, 1)
    if concept_weight > 0:
        logits = model.concept_head(image_enc.summary).float()  # (B, V)
        targets = concept_targets(
            batch.tgt_out,
            batch.caption_image,
            len(logits),
            logits.shape[-1],
            (Vocabulary.pad_id, Vocabulary.eos_id, Vocabulary.unk_id),
        )
        # summed over images and words; the total is divided by the target tokens below, like the xent
        concepts = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        total = total + concept_weight * concepts
        extras["concept_bce"] = float(concepts.detach()) / len(logits)
    return LossOutput(total / max(n_tokens, 1), n_tokens, extras)


def classification_loss(model: torch.nn.Module, batch: ImageBatch) -> LossOutput:
    loss = F.cross_entropy(model(batch.images), batch.labels)
    return LossOutput(loss, batch.n_tokens)


def reconstruction_loss(sparsity: SparsityConfig):
    """Squared error summed over pixels, per image (Hinton & Salakhutdinov 2006), plus the sparsity penalty."""

    def loss_fn(model: torch.nn.Module, batch: ReconstructionBatch) -> LossOutput:
        out = model(batch.images)
        loss = ((out.reconstruction.float() - batch.images) ** 2).flatten(1).sum(1).mean()
        if sparsity.kind != "none" and sparsity.weight > 0:
            loss = loss + sparsity.weight * sparsity_penalty(out.code.float(), sparsity.kind, sparsity.target)
        return LossOutput(loss, batch.n_tokens)

    return loss_fn


def contrastive_loss(model: JointEmbedding, batch: PairBatch) -> LossOutput:
    """The joint embedding's symmetric contrastive loss over the batch's (image, caption) pairs."""
    loss = symmetric_contrastive_loss(model.image(batch.images), model.text(batch.tokens), model.temperature)
    return LossOutput(loss, batch.n_tokens)
