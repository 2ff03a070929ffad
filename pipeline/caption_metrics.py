"""Caption metrics exactly as coco-caption computes them: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D.

The pycocoevalcap 1.2 scorers (``Bleu``, ``Meteor``, ``Rouge``, ``Cider``) are called directly on
PTB-tokenized, lowercased text. ``COCOEvalCap.evaluate()`` is not used: it downloads the SPICE
models and fails offline. Notes that matter when comparing numbers:

* pycocoevalcap's ``Cider`` class *is* CIDEr-D (Vedantam et al. 2015, §4: Gaussian length penalty
  with sigma 6, clipped n-gram counts, scores x10). The corpus score uses document frequencies from
  the references of the images being scored, as coco-caption does.
* With a single image that corpus-mode IDF is ``log(1) = 0``, so CIDEr-D of one image alone is 0.
  Per-image / per-request scores therefore use :class:`CiderDTable`, a *fixed* document-frequency
  table built once from the training references (df = number of training images whose references
  contain the n-gram, ``ref_len = log(#training images)``), plugged into the same scorer code.
* Tokenization is the Stanford PTB tokenizer shipped with pycocoevalcap (needs Java). Without Java a
  regex approximation is used and METEOR is skipped; both are announced on stderr and in the report.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.progress import log

Refs = Mapping[Hashable, Sequence[str]]
METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")
# Tokens the coco-caption PTB wrapper drops after tokenizing (pycocoevalcap/tokenizer/ptbtokenizer.py).
# Its list has "-LRB-" etc. in upper case but runs PTB with -lowerCase, so brackets survive as "-lrb-".
_PTB_PUNCTUATION = {'"', "''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";"}
_PTB_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-"}
_FALLBACK_TOKEN = re.compile(r"\.\.\.|--|\bcan(?=not\b)|\w+(?=n't)|n't|'\w+|\w+(?:[-./]\w+)*|[^\w\s]")


def caption_diversity(captions: Sequence[str]) -> dict[str, float]:
    """How varied a model's captions are: distinct captions over images, words used, mean length.

    A captioner that says "a man in a red shirt is standing on the beach" to many photos can still
    score well on BLEU; these numbers show it. Distinct captions and vocabulary usage are the
    diversity measures reported by Dai et al. (2017, "Towards Diverse and Natural Image Descriptions
    via a Conditional GAN") and Shetty et al. (2017, "Speaking the Same Language").
    """
    words = [w for c in captions for w in c.lower().split()]
    distinct = len({c.lower().strip() for c in captions})
    n = max(len(captions), 1)
    return {
        "distinct_captions": distinct,
        "distinct_ratio": round(distinct / n, 4),
        "vocabulary": len(set(words)),
        "mean_words": round(len(words) / n, 2),
    }


def java_available() -> bool:
    return shutil.which("java") is not None


def ptb_tokenize(captions: Refs) -> dict[Hashable, list[str]]:
    """Lowercased PTB tokens joined by spaces, punctuation removed, as coco-caption feeds its scorers."""
    if java_available():
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        wrapped = {k: [{"caption": c} for c in caps] for k, caps in captions.items()}
        return PTBTokenizer().tokenize(wrapped)
    log(
        "notice: java not found; using a regex approximation of the PTB tokenizer (scores may differ "
        "slightly from coco-caption)"
    )
    return {k: [fallback_tokenize(c) for c in caps] for k, caps in captions.items()}


def fallback_tokenize(text: str) -> str:
    tokens = _FALLBACK_TOKEN.findall(text.lower().replace("\n", " "))
    return " ".join(_PTB_BRACKETS.get(t, t) for t in tokens if t not in _PTB_PUNCTUATION)


@dataclass
class CaptionScores:
    """Corpus scores plus per-image ones, keyed like the input."""

    corpus: dict[str, float]
    per_image: dict[str, dict[Hashable, float]] = field(default_factory=dict)
    n_images: int = 0
    n_references: int = 0
    notes: list[str] = field(default_factory=list)


def score_captions(
    references: Refs, hypotheses: Mapping[Hashable, str], tokenize: bool = True, meteor: bool | None = None
) -> CaptionScores:
    """Score one hypothesis per image against its references with the coco-caption scorers.

    ``tokenize=False`` means the inputs are already PTB-tokenized lowercase strings.
    ``meteor=None`` runs METEOR when Java is available and skips it with a notice otherwise.
    """
    if set(references) != set(hypotheses):
        raise ValueError("references and hypotheses must cover the same image ids")
    gts = {k: list(v) for k, v in references.items()}
    res = {k: [hypotheses[k]] for k in references}
    if tokenize:
        gts, res = ptb_tokenize(gts), ptb_tokenize(res)
    notes = [] if java_available() or not tokenize else ["PTB tokenizer replaced by a regex approximation (no java)"]
    scores = CaptionScores({}, n_images=len(gts), n_references=sum(len(v) for v in gts.values()), notes=notes)
    for names, scorer, kwargs in _scorers(meteor, notes):
        corpus, per_image = scorer.compute_score(gts, res, **kwargs)
        corpus_values = corpus if len(names) > 1 else [corpus]
        image_values = per_image if len(names) > 1 else [per_image]
        for metric, value, values in zip(names, corpus_values, image_values, strict=True):
            scores.corpus[metric] = float(value)
            scores.per_image[metric] = {k: float(v) for k, v in zip(gts, values, strict=True)}
    return scores


def _scorers(meteor: bool | None, notes: list[str]):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    yield ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"), Bleu(4), {"verbose": 0}
    if meteor is None:
        meteor = java_available()
        if not meteor:
            log("notice: java not found; METEOR skipped (it runs the Meteor 1.5 jar)")
            notes.append("METEOR skipped: no java")
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        yield ("METEOR",), Meteor(), {}
    yield ("ROUGE-L",), Rouge(), {}
    yield ("CIDEr-D",), Cider(), {}


class CiderDTable:
    """CIDEr-D with a fixed document-frequency table, for scoring one image (or request) at a time.

    Corpus-mode CIDEr-D (Vedantam et al. 2015) takes IDF from the references being scored, which is
    0 for a lone image. Here df and ``ref_len`` come once from the training references; the score
    itself is pycocoevalcap's ``CiderScorer.compute_cider`` unchanged (sigma 6, clipping, x10).
    """

    def __init__(
        self, document_frequency: Mapping[tuple[str, ...], float], n_documents: int, n: int = 4, sigma: float = 6.0
    ):
        self.document_frequency = defaultdict(float, document_frequency)
        self.n_documents, self.n, self.sigma = n_documents, n, sigma

    @classmethod
    def from_references(cls, tokenized_refs: Sequence[Sequence[str]], n: int = 4) -> CiderDTable:
        """``tokenized_refs[i]`` are image i's PTB-tokenized references (space-joined strings)."""
        from pycocoevalcap.cider.cider_scorer import cook_refs

        df: dict[tuple[str, ...], float] = defaultdict(float)
        for refs in tokenized_refs:
            for ngram in {g for ref in cook_refs(list(refs), n) for g in ref}:
                df[ngram] += 1
        return cls(df, len(tokenized_refs), n)

    def score(self, hypothesis: str, references: Sequence[str]) -> float:
        """CIDEr-D of one tokenized hypothesis against its tokenized references."""
        return float(self.score_many([hypothesis], [references])[0])

    def score_many(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
        from pycocoevalcap.cider.cider_scorer import CiderScorer

        scorer = CiderScorer(n=self.n, sigma=self.sigma)
        for hyp, refs in zip(hypotheses, references, strict=True):
            scorer += (hyp, list(refs))
        scorer.document_frequency = self.document_frequency
        return np.array(_compute_with_fixed_len(scorer, self.n_documents))

    def to_json(self) -> str:
        return json.dumps(
            {
                "n": self.n,
                "sigma": self.sigma,
                "n_documents": self.n_documents,
                "df": [[" ".join(k), v] for k, v in self.document_frequency.items()],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CiderDTable:
        raw = json.loads(text)
        df = {tuple(k.split(" ")): v for k, v in raw["df"]}
        return cls(df, raw["n_documents"], raw["n"], raw["sigma"])


def _compute_with_fixed_len(scorer, n_documents: int) -> list[float]:
    """Run ``compute_cider`` with ``len(crefs)`` seen as the table's document count (its only use)."""

    class _Sized(list):
        def __len__(self) -> int:  # compute_cider reads len(self.crefs) only for ref_len
            return n_documents

    crefs = scorer.crefs
    scorer.crefs = _Sized(crefs)
    try:
        return scorer.compute_cider()
    finally:
        scorer.crefs = crefs
