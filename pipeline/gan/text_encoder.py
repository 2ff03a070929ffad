"""The project's own sentence encoder for text-to-image, trained here on Flickr8k captions.

Reed et al. (2016) condition GAN-CLS on a char-CNN-RNN trained with a *deep symmetric structured joint
embedding* of images and their descriptions (Reed, Akata, Lee & Schiele 2016, "Learning deep
representations of fine-grained visual descriptions"). Pretrained embeddings cannot be downloaded here,
so we train the same kind of encoder from scratch: a word LSTM for captions and a small CNN for 64×64
images, mapped into one space with a symmetric contrastive loss (each image must pick its own caption
among the batch, and each caption its image). The text side conditions the GAN; the image side later
scores whether generated images match their captions (a retrieval check of the conditioning).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from pipeline.config import Config
from pipeline.models.recurrent import run_lstm
from pipeline.training.trainer import TrainConfig


class JointEmbeddingConfig(Config):
    """The ``encoder:`` section of text-to-image: the joint embedding trained first (stage 1)."""

    embed_dim: int = Field(128, description="joint space size = the GAN's text-condition size")
    word_dim: int = Field(128, description="word vectors (trained from scratch)")
    hidden: int = Field(256, description="LSTM units per direction of the sentence encoder")
    image_width: int = Field(32, description="channels of the image CNN's first conv")
    temperature: float = Field(0.1, description="temperature of the contrastive softmax")
    train: TrainConfig = Field(
        TrainConfig(batch_size=64, lr=1e-3, max_epochs=8, log_every=50, checkpoint_every=500),
        description="its training loop (a batch's other pairs are the negatives)",
    )

    def args(self, vocab_size: int) -> dict:
        """:class:`JointEmbedding`'s arguments (kept in the checkpoint as ``meta['encoder']``)."""
        return {
            "vocab_size": vocab_size,
            "embed_dim": self.embed_dim,
            "word_dim": self.word_dim,
            "hidden": self.hidden,
            "image_width": self.image_width,
            "temperature": self.temperature,
        }


class SentenceEncoder(nn.Module):
    """Word ids (B, T) → unit vectors (B, embed_dim): LSTM states mean-pooled over the real tokens."""

    def __init__(self, vocab_size: int, word_dim: int = 128, hidden: int = 256, embed_dim: int = 128, pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(word_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = tokens != self.pad_id  # (B, T)
        lengths = mask.sum(1).clamp_min(1)
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = run_lstm(self.lstm, packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=tokens.shape[1])
        pooled = (states * mask[..., None]).sum(1) / lengths[:, None]  # (B, 2H)
        return F.normalize(self.out(pooled), dim=-1)


class ImageEncoder(nn.Module):
    """Images (B, 3, S, S) in [0, 1] → unit vectors (B, embed_dim): strided convs, global average pool."""

    def __init__(self, embed_dim: int = 128, width: int = 32):
        super().__init__()
        layers, ch = [], 3
        for i in range(4):
            out = width * 2 ** min(i, 2)
            layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            ch = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(ch, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.out(self.body(images - 0.5)), dim=-1)


class JointEmbedding(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        word_dim: int = 128,
        hidden: int = 256,
        image_width: int = 32,
        temperature: float = 0.1,
    ):
        super().__init__()
        self.text = SentenceEncoder(vocab_size, word_dim, hidden, embed_dim)
        self.image = ImageEncoder(embed_dim, image_width)
        self.temperature = temperature


def symmetric_contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of the matching pair among the batch, image→text and text→image, averaged."""
    logits = image_emb @ text_emb.T / temperature  # (B, B), matching pairs on the diagonal
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def match_scores(
    image_emb: torch.Tensor, text_emb: torch.Tensor, n_distractors: int = 99, seed: int = 0
) -> dict[str, float]:
    """Does image i match caption i better than random captions? (rows aligned; unit vectors).

    ``auc``: share of (matching, random) caption pairs where the matching one scores higher (chance 0.5);
    ``recall_at_1``: the matching caption is the best among itself + ``n_distractors`` random ones
    (chance 1 / (n_distractors + 1)).
    """
    n = len(image_emb)
    gen = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, n - 1, (n, n_distractors), generator=gen)
    picks = picks + (picks >= torch.arange(n)[:, None]).long()  # never the matching caption itself
    positive = (image_emb * text_emb).sum(1)  # (N,)
    negative = torch.einsum("nd,nkd->nk", image_emb, text_emb[picks])  # (N, K)
    return {
        "auc": float((positive[:, None] > negative).float().mean()),
        "recall_at_1": float((positive[:, None] > negative).all(1).float().mean()),
        "chance_recall_at_1": 1.0 / (n_distractors + 1),
    }
