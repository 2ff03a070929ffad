"""Text → source subword ids, without torch: what the serving ingress needs to refuse long input early.

The same steps as training's data stages (NFKC + Moses punctuation normalisation, spaCy tokens with
join marks, BPE), so the ids equal those the model was trained on. ``max_len`` is the longest source
(in subwords) the model saw in training (``data.max_train_len``): beyond it a request is refused up
front instead of decoding for minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.data.subwords import SubwordModel
from pipeline.data.tokenization import normalize, tokenize


@dataclass(frozen=True)
class SourceEncoder:
    lang: str
    subwords: SubwordModel
    max_len: int  # subwords

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        words = tokenize([normalize(t, self.lang) for t in texts], self.lang, mark_joins=True)
        return self.subwords.encode_batch(words)

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return self.subwords.pieces(ids)

    def to_dict(self) -> dict:
        return {"lang": self.lang, "subwords": self.subwords.to_json(), "max_len": self.max_len}

    @classmethod
    def from_dict(cls, data: dict) -> SourceEncoder:
        return cls(data["lang"], SubwordModel.from_json(data["subwords"]), int(data["max_len"]))


def warm_up_text(lang: str) -> None:
    """Load the tokenizer and normaliser of ``lang`` once (a first request need not pay for it)."""
    tokenize([normalize("A dog.", lang)], lang, mark_joins=True)
