"""Multi30k for JoeyNMT: Moses pre-tokenisation and one BPE learned on both languages.

The classic JoeyNMT/Nematus recipe (Sennrich et al. 2016, "Neural Machine Translation of Rare Words
with Subword Units"): sacremoses tokenises each side, ``subword-nmt`` learns one joint merge table on
the concatenated training text, and both sides are segmented with it (``@@`` continuation marks).
JoeyNMT then reads the segmented files as words. Its output is mapped back with :func:`restore`
(remove the marks, Moses-detokenise) before it is scored.

Preparation runs in ``.venv-peer``, where JoeyNMT brings subword-nmt (the harness needs only sacremoses,
for :func:`restore`):

    .venv-peer/bin/python scripts/peer/joey_data.py RAW OUT --src en --tgt de --merges 8000

``RAW`` holds ``{train,dev,test}.{src,tgt}`` one sentence a line, as read from the corpus.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEPARATOR = "@@"


@dataclass(frozen=True)
class JoeyData:
    """What the Joey config points at: file prefixes (``<prefix>.<lang>``) and the merge table."""

    folder: Path
    src_lang: str
    tgt_lang: str

    @property
    def train(self) -> Path:
        return self.folder / "train"

    @property
    def dev(self) -> Path:
        return self.folder / "dev"

    @property
    def test_src(self) -> Path:  # source side only: JoeyNMT then decodes without scoring
        return self.folder / "test_src"

    @property
    def codes(self) -> Path:
        return self.folder / "codes.bpe"


def moses_tokenize(lines: Sequence[str], lang: str) -> list[str]:
    """Moses tokenisation without XML escaping (no ``&apos;`` in the vocabulary)."""
    from sacremoses import MosesTokenizer

    tokenizer = MosesTokenizer(lang=lang)
    return [tokenizer.tokenize(line, return_str=True, escape=False) for line in lines]


def learn_joint_bpe(tokenized: Sequence[Sequence[str]], merges: int) -> str:
    """One merge table learned on the concatenation of every given side (subword-nmt ``learn_bpe``)."""
    learn_bpe = _subword_nmt().learn_bpe
    text = io.StringIO("".join(line + "\n" for side in tokenized for line in side))
    codes = io.StringIO()
    learn_bpe.learn_bpe(text, codes, merges, min_frequency=2)
    return codes.getvalue()


def bpe_segmenter(codes: str) -> Callable[[str], str]:
    """A function that segments one tokenised line with the given merge table."""
    bpe = _subword_nmt().apply_bpe.BPE(io.StringIO(codes), separator=SEPARATOR)
    return lambda line: bpe.process_line(line).strip()


def restore(segmented: str, lang: str) -> str:
    """JoeyNMT output (space-joined subwords) → detokenised text, as the references are written."""
    words = (segmented + " ").replace(f"{SEPARATOR} ", "").split()
    if words and words[-1].endswith(SEPARATOR):
        words[-1] = words[-1][: -len(SEPARATOR)]
    return _detokenizer(lang).detokenize(words)


def restore_all(segmented: Sequence[str], lang: str) -> list[str]:
    return [restore(line, lang) for line in segmented]


def prepare(
    folder: Path, splits: dict[str, tuple[list[str], list[str]]], src_lang: str, tgt_lang: str, merges: int
) -> JoeyData:
    """Write ``train``/``dev`` (both sides) and ``test_src`` (source only), segmented, plus ``codes.bpe``.

    ``splits`` maps ``train``, ``dev`` and ``test`` to (source lines, target lines); the merge table is
    learned on ``train`` only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tokenized = {
        name: (moses_tokenize(src, src_lang), moses_tokenize(tgt, tgt_lang)) for name, (src, tgt) in splits.items()
    }
    codes = learn_joint_bpe(tokenized["train"], merges)
    segment = bpe_segmenter(codes)
    data = JoeyData(folder, src_lang, tgt_lang)
    data.codes.write_text(codes, encoding="utf-8")
    for name, prefix in (("train", data.train), ("dev", data.dev)):
        src, tgt = tokenized[name]
        _write_lines(prefix.with_suffix(f".{src_lang}"), [segment(s) for s in src])
        _write_lines(prefix.with_suffix(f".{tgt_lang}"), [segment(t) for t in tgt])
    _write_lines(data.test_src.with_suffix(f".{src_lang}"), [segment(s) for s in tokenized["test"][0]])
    return data


def read_raw(folder: Path, src_lang: str, tgt_lang: str) -> dict[str, tuple[list[str], list[str]]]:
    def lines(path: Path) -> list[str]:
        return path.read_text(encoding="utf-8").splitlines()

    return {
        name: (lines(folder / f"{name}.{src_lang}"), lines(folder / f"{name}.{tgt_lang}"))
        for name in ("train", "dev", "test")
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="Moses + joint BPE files for JoeyNMT")
    ap.add_argument("raw", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--src", required=True)
    ap.add_argument("--tgt", required=True)
    ap.add_argument("--merges", type=int, required=True)
    args = ap.parse_args()
    prepare(args.out, read_raw(args.raw, args.src, args.tgt), args.src, args.tgt, args.merges)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _subword_nmt():
    try:
        import subword_nmt.apply_bpe
        import subword_nmt.learn_bpe
    except ImportError:
        raise ImportError(
            "subword-nmt is not installed in this venv (JoeyNMT's venv has it: pip install subword-nmt==0.3.8)"
        ) from None
    return subword_nmt


_DETOKENIZERS: dict = {}


def _detokenizer(lang: str):
    if lang not in _DETOKENIZERS:
        from sacremoses import MosesDetokenizer

        _DETOKENIZERS[lang] = MosesDetokenizer(lang=lang)
    return _DETOKENIZERS[lang]


if __name__ == "__main__":
    main()
