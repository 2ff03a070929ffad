"""spaCy word tokenization (``spacy.blank(lang)``: rules only, nothing to download) and normalisation.

With ``mark_joins`` a token that was written attached to the previous one (no space
between, e.g. the comma in "dog," or "Shirt" in "T-Shirt") carries the prefix
:data:`JOINER`, as in OpenNMT's tokenizer. That makes detokenisation exact — the model's
output is turned back into text without Moses-style guessing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from pipeline.errors import PipelineError
from pipeline.progress import progress

JOINER = "\uffed"  # "￭"


@lru_cache(maxsize=8)
def blank_nlp(lang: str):
    import spacy

    try:
        return spacy.blank(lang)
    except Exception:  # noqa: BLE001 - spaCy raises several types for unknown languages
        raise PipelineError(f"spaCy has no tokenizer for language {lang!r}") from None


@lru_cache(maxsize=8)
def _punct_normalizer(lang: str):
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang)


def normalize(text: str, lang: str, punctuation: bool = True) -> str:
    """Unicode NFKC, optionally Moses punctuation normalisation (quotes, dashes), collapsed whitespace.

    Target sides skip the punctuation step: references keep their „quotes“, so should the output.
    """
    text = unicodedata.normalize("NFKC", text)
    if punctuation:
        text = _punct_normalizer(lang).normalize(text)
    return " ".join(text.split())


def tokenize(
    texts: Sequence[str],
    lang: str,
    batch_size: int = 2000,
    show_progress: bool = False,
    lowercase: bool = False,
    mark_joins: bool = False,
) -> list[list[str]]:
    """Word tokens for each text, batched through ``nlp.pipe``."""
    nlp = blank_nlp(lang)
    docs: Iterable = nlp.pipe(texts, batch_size=batch_size)
    if show_progress:
        docs = progress(docs, desc=f"tokenize {lang}", total=len(texts), unit="sent")
    out = []
    for doc in docs:
        toks, attached = [], False
        for token in doc:
            if token.is_space:
                attached = False
                continue
            text = token.text.lower() if lowercase else token.text
            toks.append(JOINER + text if (mark_joins and attached) else text)
            attached = not token.whitespace_
        out.append(toks)
    return out


def detokenize(tokens: Sequence[str]) -> str:
    """Inverse of ``tokenize(..., mark_joins=True)``."""
    pieces = []
    for i, tok in enumerate(tokens):
        if tok.startswith(JOINER):
            pieces.append(tok[len(JOINER) :])
        else:
            pieces.append(tok if i == 0 else " " + tok)
    return "".join(pieces).replace(JOINER, "").strip()  # a joiner inside a word (untrained model) just joins
