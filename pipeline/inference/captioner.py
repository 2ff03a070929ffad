"""Pixels in, captions out: decode → resize → image encoder → shared greedy/beam search → words.

Usable without any training code (the serving layer and the ``caption`` command use it)::

    captioner = Captioner.from_checkpoint("data/runs/caption_flickr8k/checkpoints/best.pt")
    [result] = captioner.caption([PIL.Image.open("dog.jpg")], beam_size=3, return_attention=True)
    result.text, result.attention_grids()   # "a dog runs through the grass", (T+1, H', W')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, task_config
from pipeline.data.captions import CaptionDataConfig, Flickr8kCaptionDataConfig
from pipeline.data.images import MIN_SIDE, ImageConfig, load_rgb, prepare_image, to_float
from pipeline.data.vocabulary import UNK, Vocabulary
from pipeline.device import Runtime, resolve_runtime
from pipeline.errors import PipelineError
from pipeline.inference.quantization import QuantizeName, effective_mode, quantize_model
from pipeline.models.captioner import CaptionModelConfig, build_caption_model
from pipeline.models.ensemble import one_or_ensemble
from pipeline.models.seq2seq import EncoderDecoder
from pipeline.search import Hypothesis, KeepFn, SearchResult, beam_search, greedy_search
from pipeline.training.trainer import SequenceTrainConfig

ScoreName = Literal["BLEU-4", "CIDEr-D", "ROUGE-L"]


class CaptionSearchConfig(Config):
    """The ``search:`` section of a captioning config."""

    beam_size: int = Field(3, description="beam used by caption by default (1 = greedy)")
    length_penalty: float = Field(
        0.0, description="GNMT length-penalty alpha (0: raw log-probability, the captioning literature's default)"
    )
    max_output_len: int = Field(20, description="words per caption at most (</s> is forced after them)")
    batch_size: int = Field(50, description="images decoded together")
    allow_unk: bool = Field(
        False, description="let the search emit <unk> (false: banned, the best real word is taken instead)"
    )


class CaptionTrainConfig(SequenceTrainConfig):
    """The ``train:`` section of a captioning config: the Trainer's, batched by images."""

    batch_size: int = Field(
        32, description="images per training batch; each brings its captions (the CNN runs once per image)"
    )
    captions_per_image: int | None = Field(
        None, description="captions of each image used per epoch, resampled every epoch (null: all 5)"
    )
    valid_metric: ScoreName = Field(
        "CIDEr-D", description="dev score (greedy, PTB-tokenized) that picks best.pt and drives early stopping"
    )


class CaptionEvaluateConfig(Config):
    """The ``evaluate:`` section: what ``pipeline evaluate`` scores by default."""

    splits: tuple[str, ...] = Field(("test",), description="splits scored (Flickr8k's official test split: test)")
    beam_sizes: tuple[int, ...] = Field((1, 3), description="searches run on each split (1 = greedy)")


CaptioningConfig = task_config(
    "captioning",
    "A captioning run: image and caption stages, the CNN + attention LSTM, training, decoding.",
    data=(CaptionDataConfig, Flickr8kCaptionDataConfig()),
    model=CaptionModelConfig,
    train=CaptionTrainConfig,
    search=CaptionSearchConfig,
    evaluate=CaptionEvaluateConfig,
)


class NoUnkDecoder:
    """The shared decoder with ``<unk>`` banned at every step, for search only.

    A rare word's stand-in is no caption word; banning it makes the search pick the best real
    word instead of printing "<unk>" (or, once stripped, leaving "standing on a").
    """

    def __init__(self, decoder, unk_id: int):
        self.decoder, self.unk_id = decoder, unk_id

    @property
    def attention(self):
        return self.decoder.attention

    def init_state(self, enc):
        return self.decoder.init_state(enc)

    def step(self, prev_tokens, state, enc):
        out = self.decoder.step(prev_tokens, state, enc)
        out.logits[:, self.unk_id] = float("-inf")
        return out


@dataclass
class Caption:
    text: str
    words: list[str]  # the generated tokens (one per attention row; may include <unk>)
    score: float
    attention: list[list[float]] | None = None  # (len(words) + 1, H'·W'), last row for </s>
    grid: tuple[int, int] | None = None  # (H', W') to reshape an attention row into a map
    alternatives: list[str] = field(default_factory=list)  # n-best after the first

    def attention_grids(self) -> np.ndarray | None:
        """(len(words) + 1, H', W') attention maps, or None for a model without attention."""
        if self.attention is None or self.grid is None:
            return None
        return np.asarray(self.attention, dtype=np.float32).reshape(-1, *self.grid)


class Captioner:
    min_side = MIN_SIDE  # smaller images are refused (serving checks it from the header, before decoding)

    def __init__(
        self,
        model: EncoderDecoder,
        vocab: Vocabulary,
        images: ImageConfig,
        search: CaptionSearchConfig,
        runtime: Runtime,
        meta: dict | None = None,
        quantized: QuantizeName = "none",
        config: CaptioningConfig | None = None,
    ):
        self.model = model.to(runtime.device).eval()
        self.vocab, self.images, self.search, self.runtime = vocab, images, search, runtime
        self.meta, self.quantized, self.config = meta or {}, quantized, config
        self.grid = model.encoder.grid_shape(images.size)
        self.search_decoder = model.decoder if search.allow_unk else NoUnkDecoder(model.decoder, vocab.unk_id)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", threads: int | None = None, quantize: QuantizeName = "none"
    ) -> Captioner:
        """``quantize: int8`` swaps the decoder's (and any) Linear/LSTM layers for int8 ones (CPU only)."""
        return cls.from_checkpoints([path], device, threads, quantize)

    @classmethod
    def from_checkpoints(
        cls,
        paths: Sequence[str | Path],
        device: str = "auto",
        threads: int | None = None,
        quantize: QuantizeName = "none",
    ) -> Captioner:
        """One checkpoint, or an ensemble of several (:class:`~pipeline.models.ensemble.Ensemble`: the mean
        of the members' log-probabilities at every step). Members may differ in architecture (e.g. CNN
        width) but must share the vocabulary, the image size and resizing, and the attention grid; search
        settings are the first's."""
        if not paths:
            raise PipelineError("no captioning checkpoint given")
        runtime = resolve_runtime(device, "fp32", threads)
        first = load_checkpoint(paths[0], CaptioningConfig)
        cfg: CaptioningConfig = first.config
        vocab = Vocabulary.from_json(first.meta["vocab"])
        models = []
        for path in paths:
            ckpt = first if path is paths[0] else load_checkpoint(path, CaptioningConfig)
            if ckpt.meta["vocab"] != first.meta["vocab"]:
                raise PipelineError(f"{path} has another vocabulary than {paths[0]}: an ensemble needs one")
            if ckpt.config.data.images != cfg.data.images:
                raise PipelineError(
                    f"{path} reads images as {ckpt.config.data.images.model_dump()}, {paths[0]} as "
                    f"{cfg.data.images.model_dump()}: an ensemble needs one image size and resizing"
                )
            model = build_caption_model(ckpt.config.model, len(vocab), load_init=False)
            model.load_state_dict(ckpt.model)  # includes the encoder's normalisation mean/std buffers
            size = cfg.data.images.size
            if models and model.encoder.grid_shape(size) != models[0].encoder.grid_shape(size):
                raise PipelineError(f"{path} attends over another feature grid than {paths[0]}")
            models.append(quantize_model(model.eval(), quantize, runtime.device))
        model, meta = one_or_ensemble(models, first.meta, paths)
        quantized = effective_mode(quantize, runtime.device)
        return cls(model, vocab, cfg.data.images, cfg.search, runtime, meta, quantized, cfg)

    @property
    def has_attention(self) -> bool:
        return self.model.decoder.attention is not None

    @torch.no_grad()
    def caption_tensors(
        self, images: torch.Tensor, beam_size: int | None = None, n_best: int = 1, keep: KeepFn | None = None
    ) -> SearchResult:
        """images (B, 3, H, W) float in [0, 1], already resized → ranked hypotheses per image
        (``keep``: see :func:`pipeline.search.beam_search`)."""
        beam_size = beam_size or self.search.beam_size
        images = images.to(self.runtime.device)
        with self.runtime.autocast():
            enc = self.model.encode(images=images)
            bos, eos, limit = self.vocab.bos_id, self.vocab.eos_id, self.search.max_output_len
            if beam_size == 1 and n_best == 1:
                return greedy_search(self.search_decoder, enc, bos, eos, limit, keep)
            return beam_search(
                self.search_decoder, enc, bos, eos, beam_size, limit, self.search.length_penalty, n_best, keep
            )

    def text(self, ids: Sequence[int]) -> str:
        """Output text; a generated <unk> is dropped (no reader or scorer can use it)."""
        return " ".join(w for w in self.vocab.decode(ids) if w != UNK)

    def prepare(self, image) -> np.ndarray:
        """One PIL image / path / encoded bytes → (H, W, 3) uint8 at the model's size; bad input raises
        one PipelineError (so a caller can refuse that image alone)."""
        return prepare_image(load_rgb(image), self.images.size, self.images.resize)

    def preprocess(self, images: Sequence) -> torch.Tensor:
        """PIL images / paths / bytes → (B, 3, H, W) float; bad input raises one PipelineError."""
        return self.to_tensor([self.prepare(image) for image in images])

    @staticmethod
    def to_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
        return to_float(torch.from_numpy(np.stack(arrays)))

    def caption(
        self, images: Sequence, beam_size: int | None = None, n_best: int = 1, return_attention: bool = False
    ) -> list[Caption]:
        """Caption each image (PIL image, path or encoded bytes), in input order."""
        out: list[Caption] = []
        size = self.search.batch_size
        for start in range(0, len(images), size):
            result = self.caption_tensors(self.preprocess(images[start : start + size]), beam_size, n_best)
            out.extend(self.to_caption(hyps, return_attention) for hyps in result.hypotheses)
        return out

    def to_caption(self, hyps: list[Hypothesis], return_attention: bool) -> Caption:
        best = hyps[0]
        words = self.vocab.decode(best.tokens)  # one per attention row, <unk> kept
        attention = None
        if return_attention and best.attention is not None:
            attention = [[round(float(x), 5) for x in row] for row in best.attention.float()]
        return Caption(
            self.text(best.tokens),
            words,
            best.score,
            attention,
            self.grid if self.has_attention else None,
            [self.text(h.tokens) for h in hyps[1:]],
        )
