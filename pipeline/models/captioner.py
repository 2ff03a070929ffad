"""Image captioning model: the compact ResNet encoder plus the project's shared attention Decoder.

Two configurations of one model, chosen in config:

* **Show, Attend and Tell** (Xu et al. 2015, soft attention, §3.1.2): the decoder attends over the
  CNN's H'W' grid at every step (``decoder.attention: bahdanau``), the grid mean initialises the LSTM
  (``decoder.init: bridge``, their f_init,c / f_init,h), and training adds the doubly stochastic
  attention regularisation λ Σ_i (1 − Σ_t α_ti)² (§4.2.1, eq. 14), which pushes the model to look
  at every part of the image over the course of a caption.
* **Show and Tell** (Vinyals et al. 2015, §3.1): no attention; the image embedding is fed once as
  the LSTM's first input (``decoder.attention: none``, ``decoder.init: feed``).

Teacher forcing, greedy and beam search all run the same ``Decoder.step`` as translation; this
module adds only the image side and the regulariser.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import nn

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.models.decoder import Decoder, DecoderConfig
from pipeline.models.image_encoder import ImageEncoder, ImageEncoderConfig, load_encoder_weights
from pipeline.models.seq2seq import EncoderDecoder


class CaptionModelConfig(Config):
    """The ``model:`` section of a captioning config."""

    encoder: ImageEncoderConfig = Field(ImageEncoderConfig(), description="the compact ResNet, trained from scratch")
    decoder: DecoderConfig = Field(
        DecoderConfig(
            embedding_size=256, hidden_size=512, attention="bahdanau", init="bridge", input_feeding=False, dropout=0.3
        ),
        description="the shared attention LSTM decoder",
    )
    attention_regularization: float = Field(
        1.0,
        description="λ of the doubly stochastic attention penalty "
        "Σ_i (1 − Σ_t α_ti)² (0: off; ignored without attention)",
    )
    concept_loss: float = Field(
        0.0,
        description="weight of the auxiliary visual-concept loss, a bag-of-words BCE "
        "from the grid mean (0: off; see CaptionModel)",
    )


class CaptionModel(EncoderDecoder):
    """:class:`EncoderDecoder` plus an optional visual-concept head used only as a training signal.

    Trained from scratch on 6,000 images, the CNN learns slowly from the caption loss alone: its
    gradient arrives through the LSTM and the attention, and the decoder soon leans on its language
    model (the greedy captions of an early run used 69 distinct sentences for 1,000 test images).
    The concept head predicts, from the grid mean, which vocabulary words any of the image's
    captions use (multi-label logistic regression on a bag of words, the "visual concepts" of
    Fang et al. 2015, here pooled by the mean rather than their noisy-OR, and as an auxiliary loss
    as in Yao et al. 2017, "Boosting image captioning with attributes"). It gives the CNN a direct
    signal about what is in the picture. Search never uses it.
    """

    def __init__(self, encoder: nn.Module, decoder: Decoder, concept_vocab: int = 0):
        super().__init__(encoder, decoder)
        self.concept_head = None
        if concept_vocab:
            self.concept_head = nn.Linear(encoder.output_size, concept_vocab)
            nn.init.constant_(self.concept_head.bias, -4.0)  # ≈ the prior of a word (~20 of ~2.5k per image)


def build_caption_model(
    cfg: CaptionModelConfig,
    vocab_size: int,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.25, 0.25, 0.25),
    pad_id: int = 0,
    load_init: bool = True,
) -> CaptionModel:
    """``model.encode(images=x)`` with x (B, 3, H, W) in [0, 1]; ``model.decoder`` is the shared Decoder.

    ``load_init`` copies ``encoder.init_checkpoint`` weights into a fresh backbone; rebuilding
    from a captioning checkpoint passes False (its own weights follow).
    """
    encoder = ImageEncoder(cfg.encoder, tuple(mean), tuple(std))
    if load_init and cfg.encoder.weights:
        if cfg.encoder.backbone != "resnet18":
            raise PipelineError("model.encoder.weights loads torchvision weights: set model.encoder.backbone=resnet18")
        from pipeline.models.torchvision_backbone import load_torchvision_weights

        load_torchvision_weights(encoder.backbone, cfg.encoder.weights)
    if load_init and cfg.encoder.init_checkpoint:
        load_encoder_weights(encoder.backbone, cfg.encoder.init_checkpoint, cfg.encoder.init_prefix)
    decoder = Decoder(
        cfg.decoder, vocab_size, memory_size=encoder.output_size, summary_size=encoder.output_size, pad_id=pad_id
    )
    return CaptionModel(encoder, decoder, vocab_size if cfg.concept_loss > 0 else 0)


def doubly_stochastic_penalty(attention: torch.Tensor, tgt_mask: torch.Tensor) -> torch.Tensor:
    """Σ over captions of Σ_i (1 − Σ_t α_ti)² (Xu et al. 2015, eq. 14) with τ = 1.

    A sum, not a mean: Xu et al. add it to the caption's summed log-likelihood, so dividing both by
    the number of target tokens (as the training loss does) keeps their ratio.
    attention (N, T, S) weights of each target step over the S grid cells; tgt_mask (N, T)
    True at real target positions (padding steps must not count as looking anywhere).
    """
    coverage = (attention * tgt_mask[:, :, None].to(attention.dtype)).sum(dim=1)  # (N, S)
    return ((1.0 - coverage) ** 2).sum()


def concept_targets(
    tgt_out: torch.Tensor, caption_image: torch.Tensor, n_images: int, vocab_size: int, ignore: Sequence[int]
) -> torch.Tensor:
    """(B, V) 0/1: word v occurs in some caption of image b. tgt_out (N, T) ids; caption_image (N,) rows."""
    bag = torch.zeros(n_images, vocab_size, device=tgt_out.device)
    rows = caption_image[:, None].expand_as(tgt_out)
    bag[rows.flatten(), tgt_out.flatten()] = 1.0
    bag[:, list(ignore)] = 0.0
    return bag
