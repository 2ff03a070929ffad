"""coco-caption parity: the issue's test vector through our scorer wrapper, PTB and no-Java paths."""

from __future__ import annotations

import pytest

from pipeline import caption_metrics
from pipeline.caption_metrics import CiderDTable, fallback_tokenize, ptb_tokenize, score_captions

GTS = {
    1: ["a man riding a horse on a beach", "a person rides a horse along the shore", "a man on a horse at the beach"],
    2: ["two dogs playing in the snow", "a pair of dogs run through snow", "dogs playing outside in the snow"],
}
RES = {1: "a man riding a horse on the beach", 2: "a dog running in the snow"}
EXPECTED = {
    "BLEU-1": 0.857142857,
    "BLEU-2": 0.755928946,
    "BLEU-3": 0.658633756,
    "BLEU-4": 0.572124842,
    "ROUGE-L": 0.6875,
    "CIDEr-D": 2.895048678,
    "METEOR": 0.5400845559,
}


@pytest.mark.java
def test_issue_vector_with_ptb_and_meteor():
    if not caption_metrics.java_available():
        pytest.fail("java is required for this test (the project machines have Java 17)")
    scores = score_captions(GTS, RES)
    for metric, value in EXPECTED.items():
        assert scores.corpus[metric] == pytest.approx(value, abs=1e-9), metric
    assert scores.per_image["CIDEr-D"][1] == pytest.approx(3.79365079, abs=1e-8)
    assert scores.per_image["CIDEr-D"][2] == pytest.approx(1.99644656, abs=1e-8)
    assert (scores.n_images, scores.n_references) == (2, 6)


def test_without_java_meteor_is_skipped_with_notice(monkeypatch, capsys):
    monkeypatch.setattr(caption_metrics, "java_available", lambda: False)
    scores = score_captions(GTS, RES)
    assert "METEOR" not in scores.corpus
    assert any("METEOR skipped" in n for n in scores.notes)
    assert "METEOR skipped" in capsys.readouterr().err
    for metric, value in EXPECTED.items():
        if metric != "METEOR":
            assert scores.corpus[metric] == pytest.approx(value, abs=1e-9), metric


@pytest.mark.java
def test_fallback_tokenizer_matches_ptb_on_hard_cases():
    texts = [
        "A man's dog , running -- fast ... (really)! Don't stop; we cannot see \" Free Hugs \" .",
        "Two dogs play in the snow.",
        "A girl , 3-year-old , e-mails her mom: hi!",
    ]
    ptb = ptb_tokenize({i: [t] for i, t in enumerate(texts)})
    assert [fallback_tokenize(t) for t in texts] == [ptb[i][0] for i in range(len(texts))]


def test_fixed_table_cider_per_image():
    # With df taken from the same two images, the fixed table reproduces corpus-mode per-image scores.
    table = CiderDTable.from_references([GTS[1], GTS[2]])
    assert table.score(RES[1], GTS[1]) == pytest.approx(3.79365079, abs=1e-8)
    assert table.score(RES[2], GTS[2]) == pytest.approx(1.99644656, abs=1e-8)
    # A lone image still gets a non-zero score (corpus mode would give 0: log(1) IDF).
    assert score_captions({1: GTS[1]}, {1: RES[1]}, tokenize=False, meteor=False).corpus["CIDEr-D"] == 0.0
    assert table.score(RES[1], GTS[1]) > 0
    # Serialisation round trip keeps the scores.
    again = CiderDTable.from_json(table.to_json())
    assert again.score(RES[2], GTS[2]) == pytest.approx(table.score(RES[2], GTS[2]), abs=1e-12)


def test_mismatched_ids_rejected():
    with pytest.raises(ValueError, match="same image ids"):
        score_captions(GTS, {1: RES[1]}, tokenize=False)
