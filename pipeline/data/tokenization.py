"""spaCy word tokenization (``spacy.blank(lang)``: rules only, nothing to download) and normalisation."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from pipeline.progress import progress


@lru_cache(maxsize=8)
def blank_nlp(lang: str):
    import spacy

    from pipeline.errors import PipelineError

    try:
        return spacy.blank(lang)
    except Exception:  # noqa: BLE001 - spaCy raises several types for unknown languages
        raise PipelineError(f"spaCy has no tokenizer for language {lang!r}") from None


@lru_cache(maxsize=8)
def _punct_normalizer(lang: str):
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang)


def normalize(text: str, lang: str) -> str:
    """Unicode NFKC, Moses punctuation normalisation (quotes, dashes, spaces), collapsed whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = _punct_normalizer(lang).normalize(text)
    return " ".join(text.split())


def tokenize(texts: Sequence[str], lang: str, batch_size: int = 2000, show_progress: bool = False,
             lowercase: bool = False) -> list[list[str]]:
    """Word tokens for each text, batched through ``nlp.pipe``."""
    nlp = blank_nlp(lang)
    docs: Iterable = nlp.pipe(texts, batch_size=batch_size)
    if show_progress:
        docs = progress(docs, desc=f"tokenize {lang}", total=len(texts), unit="sent")
    out = []
    for doc in docs:
        toks = [t.text for t in doc if not t.is_space]
        out.append([t.lower() for t in toks] if lowercase else toks)
    return out
