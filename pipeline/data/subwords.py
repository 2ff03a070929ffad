"""Byte-pair-encoding subwords (Sennrich et al. 2016) over spaCy word tokens, via ``tokenizers``.

Learned on the training split only. Ids 0–3 are the project's specials
(``<pad> <unk> <s> </s>``, see :mod:`pipeline.data.vocabulary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.data.vocabulary import BOS, EOS, PAD, SPECIALS, UNK

_SUFFIX = "</w>"


class SubwordModel:
    """Word tokens ↔ subword ids."""

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        for i, tok in enumerate(SPECIALS):
            if tokenizer.token_to_id(tok) != i:
                raise ValueError(f"subword model must map {tok} to id {i}")

    @classmethod
    def train(cls, sentences: Iterable[Sequence[str]], vocab_size: int, min_frequency: int = 2) -> SubwordModel:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=UNK, end_of_word_suffix=_SUFFIX))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.decoder = decoders.BPEDecoder(suffix=_SUFFIX)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[PAD, UNK, BOS, EOS],
            end_of_word_suffix=_SUFFIX,
            show_progress=False,
        )
        tokenizer.train_from_iterator((" ".join(s) for s in sentences), trainer=trainer)
        return cls(tokenizer)

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode_batch(self, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
        return [enc.ids for enc in self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)]

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in ids]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Subword ids → word tokens (specials dropped)."""
        kept = [i for i in ids if i >= len(SPECIALS)]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return text.split()

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str) -> SubwordModel:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(text))
