"""Translation metrics: pure functions delegating to sacreBLEU.

* ``bleu``/``chrf``/``ter``: detokenised, cased; BLEU with the 13a tokenizer (sacreBLEU defaults),
  reported with the sacreBLEU signature (Post 2018).
* ``tokenized_bleu``: the number most papers on Multi30k report — hypotheses and references
  Moses-tokenised (sacremoses) and lowercased, then BLEU over those tokens, as multi-bleu.perl.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

References = Sequence[str] | Sequence[Sequence[str]]  # one reference per segment, or several streams


def _streams(references: References) -> list[list[str]]:
    if references and isinstance(references[0], str):
        return [list(references)]
    return [list(stream) for stream in references]


def bleu(hypotheses: Sequence[str], references: References) -> tuple[float, str]:
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    return metric.corpus_score(list(hypotheses), _streams(references)).score, str(metric.get_signature())


def chrf(hypotheses: Sequence[str], references: References) -> tuple[float, str]:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    return metric.corpus_score(list(hypotheses), _streams(references)).score, str(metric.get_signature())


def ter(hypotheses: Sequence[str], references: References) -> tuple[float, str]:
    from sacrebleu.metrics import TER

    metric = TER()
    return metric.corpus_score(list(hypotheses), _streams(references)).score, str(metric.get_signature())


@lru_cache(maxsize=8)
def _moses(lang: str):
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


def moses_tokenize(text: str, lang: str) -> str:
    return _moses(lang).tokenize(text, return_str=True, escape=False)


def tokenized_bleu(hypotheses: Sequence[str], references: References, lang: str) -> float:
    """Moses-tokenised, lowercased BLEU (comparable with multi-bleu.perl numbers in papers)."""
    from sacrebleu.metrics import BLEU

    hyps = [moses_tokenize(h, lang).lower() for h in hypotheses]
    refs = [[moses_tokenize(r, lang).lower() for r in stream] for stream in _streams(references)]
    return BLEU(tokenize="none", force=True).corpus_score(hyps, refs).score


def translation_scores(hypotheses: Sequence[str], references: References, lang: str) -> dict:
    bleu_score, bleu_sig = bleu(hypotheses, references)
    chrf_score, chrf_sig = chrf(hypotheses, references)
    ter_score, ter_sig = ter(hypotheses, references)
    return {
        "bleu": round(bleu_score, 2),
        "chrf": round(chrf_score, 2),
        "ter": round(ter_score, 2),
        "tok_lc_bleu": round(tokenized_bleu(hypotheses, references, lang), 2),
        "signatures": {"bleu": bleu_sig, "chrf": chrf_sig, "ter": ter_sig},
    }
