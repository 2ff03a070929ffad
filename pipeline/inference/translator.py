"""Text in, text out: normalise → spaCy tokens → BPE → encoder → search → detokenised text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from pipeline.checkpoint import load_checkpoint
from pipeline.config import Config, default, task_config
from pipeline.data.batching import inference_batches
from pipeline.data.subwords import SubwordModel
from pipeline.data.tokenization import detokenize
from pipeline.data.translation_stages import TranslationDataConfig
from pipeline.device import Runtime, resolve_runtime
from pipeline.errors import PipelineError
from pipeline.inference.quantization import QuantizeName, effective_mode, quantize_model
from pipeline.inference.source import SourceEncoder
from pipeline.models.ensemble import one_or_ensemble
from pipeline.models.seq2seq import EncoderDecoder, TranslationModelConfig, build_translation_model
from pipeline.search import Hypothesis, KeepFn, beam_search, greedy_search
from pipeline.training.trainer import SequenceTrainConfig


class SearchConfig(Config):
    """The ``search:`` section: decoding defaults."""

    beam_size: int = Field(5, description="beam used by evaluate and translate by default (1 = greedy)")
    length_penalty: float = Field(1.0, description="GNMT length-penalty alpha (0: raw log-probability)")
    max_len_ratio: float = Field(1.5, description="an output has at most ratio * source length + offset subwords")
    max_len_offset: int = Field(10, description="(see max_len_ratio)")
    batch_size: int = Field(64, description="sentences decoded together")
    n_best: int = Field(1, description="hypotheses returned per sentence")


class TranslationTrainConfig(SequenceTrainConfig):
    """The ``train:`` section of a translation config: the Trainer's, batched by tokens."""

    batch_size: int = Field(
        4000,
        description="padded source/target tokens per training batch (rows × longest "
        "side; batches hold sentences of similar length)",
    )
    label_smoothing: float = default(SequenceTrainConfig, "label_smoothing", 0.1)


def _two_languages(cfg) -> None:
    if cfg.data.src_lang == cfg.data.tgt_lang:
        raise ValueError(f"source and target language are both {cfg.data.src_lang!r}")


TranslationConfig = task_config(
    "translation",
    "A translation run: Multi30k stages, the encoder-decoder, its training and decoding.",
    data=TranslationDataConfig,
    model=TranslationModelConfig,
    train=TranslationTrainConfig,
    search=SearchConfig,
    check=_two_languages,
)


@dataclass
class Translation:
    text: str
    score: float
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: list[list[float]] | None = None  # (len(tgt_pieces) + 1, len(src_pieces)), last row for </s>
    alternatives: list[str] = field(default_factory=list)  # n-best after the first


class Translator:
    def __init__(
        self,
        model: EncoderDecoder,
        src_subwords: SubwordModel,
        tgt_subwords: SubwordModel,
        src_lang: str,
        tgt_lang: str,
        search: SearchConfig,
        runtime: Runtime,
        meta: dict | None = None,
        max_source_len: int = 100,
        quantized: QuantizeName = "none",
        config: TranslationConfig | None = None,
    ):
        self.model = model.to(runtime.device).eval()
        self.src_subwords, self.tgt_subwords = src_subwords, tgt_subwords
        self.src_lang, self.tgt_lang, self.search, self.runtime = src_lang, tgt_lang, search, runtime
        self.meta, self.quantized, self.config = meta or {}, quantized, config
        self.source = SourceEncoder(src_lang, src_subwords, max_source_len)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", threads: int | None = None, quantize: QuantizeName = "none"
    ) -> Translator:
        """``quantize: int8`` swaps Linear/LSTM layers for dynamic int8 ones (CPU only)."""
        return cls.from_checkpoints([path], device, threads, quantize)

    @classmethod
    def from_checkpoints(
        cls,
        paths: Sequence[str | Path],
        device: str = "auto",
        threads: int | None = None,
        quantize: QuantizeName = "none",
    ) -> Translator:
        """One checkpoint, or an ensemble of several (:class:`~pipeline.models.ensemble.Ensemble`: the mean of
        the members' log-probabilities at every step). Members must share the language pair and both subword
        models, i.e. come from runs on the same data stages; search settings and limits are the first's."""
        if not paths:
            raise PipelineError("no translation checkpoint given")
        runtime = resolve_runtime(device, "fp32", threads)
        first = load_checkpoint(paths[0], TranslationConfig)
        cfg: TranslationConfig = first.config
        src_sw = SubwordModel.from_json(first.meta["src_subwords"])
        tgt_sw = SubwordModel.from_json(first.meta["tgt_subwords"])
        models = []
        for path in paths:
            ckpt = first if path is paths[0] else load_checkpoint(path, TranslationConfig)
            if any(ckpt.meta[k] != first.meta[k] for k in ("src_subwords", "tgt_subwords")):
                raise PipelineError(f"{path} uses other subword models than {paths[0]}: an ensemble needs one set")
            model = build_translation_model(ckpt.config.model, len(src_sw), len(tgt_sw))
            model.load_state_dict(ckpt.model)
            models.append(quantize_model(model.eval(), quantize, runtime.device))
        model, meta = one_or_ensemble(models, first.meta, paths)
        return cls(
            model,
            src_sw,
            tgt_sw,
            cfg.data.src_lang,
            cfg.data.tgt_lang,
            cfg.search,
            runtime,
            meta,
            cfg.data.max_train_len,
            effective_mode(quantize, runtime.device),
            cfg,
        )

    @property
    def pair(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    def encode_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids, dtype=np.int64) for ids in self.source.encode(texts)]

    @torch.no_grad()
    def translate_ids(
        self, src: Sequence[np.ndarray], beam_size: int | None = None, n_best: int = 1, keep: KeepFn | None = None
    ) -> list[list[Hypothesis]]:
        """Subword-id sources → n-best hypotheses per source, in input order (empty source → empty output).

        ``keep(indices)`` (positions in ``src``) is asked between decoder steps which sources still
        matter; a dropped source stops decoding at once and gets an empty list.
        """
        beam_size = beam_size or self.search.beam_size
        results: list[list[Hypothesis]] = [[Hypothesis([], 0.0, None)] for _ in src]
        nonempty = [i for i, s in enumerate(src) if len(s)]
        for batch in inference_batches([src[i] for i in nonempty], self.search.batch_size):
            origin = [nonempty[j] for j in batch.index.tolist()]  # position in ``src`` of each batch row
            batch_keep = None if keep is None else (lambda rows, origin=origin: keep([origin[r] for r in rows]))
            batch = batch.to(self.runtime.device)
            with self.runtime.autocast():
                enc = self.model.encode(src=batch.src, src_lengths=batch.src_lengths)
                limits = (
                    torch.ceil(batch.src_lengths.float() * self.search.max_len_ratio).long()
                    + self.search.max_len_offset
                )
                found = self._search(enc, limits, beam_size, n_best, batch_keep)
            for i, hyps in zip(origin, found.hypotheses):
                results[i] = hyps
        return results

    def _search(self, enc, limits, beam_size: int, n_best: int, keep: KeepFn | None = None):
        sw = self.tgt_subwords
        if beam_size == 1 and n_best == 1:
            return greedy_search(self.model.decoder, enc, sw.bos_id, sw.eos_id, limits, keep)
        return beam_search(
            self.model.decoder, enc, sw.bos_id, sw.eos_id, beam_size, limits, self.search.length_penalty, n_best, keep
        )

    def detokenize(self, ids: Sequence[int]) -> str:
        return detokenize(self.tgt_subwords.decode(ids))

    def translation(self, src_ids: Sequence[int], hyps: list[Hypothesis], return_attention: bool) -> Translation:
        """One source's ranked hypotheses → text, pieces, attention and alternatives."""
        best = hyps[0]
        att = None
        if return_attention and best.attention is not None:
            att = [[round(float(x), 4) for x in row] for row in best.attention.float()]
        return Translation(
            self.detokenize(best.tokens),
            best.score,
            self.src_subwords.pieces(list(src_ids)),
            self.tgt_subwords.pieces(best.tokens),
            att,
            [self.detokenize(h.tokens) for h in hyps[1:]],
        )

    def translate(
        self, texts: Sequence[str], beam_size: int | None = None, n_best: int = 1, return_attention: bool = False
    ) -> list[Translation]:
        src = self.encode_texts(texts)
        return [
            self.translation(ids.tolist(), hyps, return_attention)
            for ids, hyps in zip(src, self.translate_ids(src, beam_size, n_best))
        ]
