import pytest

from pipeline.metrics import bleu, chrf, tokenized_bleu, translation_scores

# sacreBLEU's README example (github.com/mjpost/sacrebleu): BLEU = 48.53 82.4/50.0/45.5/37.5
REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]


def test_bleu_equals_sacrebleus_readme_vector():
    score, signature = bleu(SYS, REFS)
    assert score == pytest.approx(48.530827, abs=1e-4)
    assert "tok:13a" in signature and "case:mixed" in signature


def test_scores_are_perfect_on_identity_and_tokenized_bleu_ignores_case():
    refs = REFS[0]
    assert bleu(refs, refs)[0] == pytest.approx(100.0)
    assert chrf(refs, refs)[0] == pytest.approx(100.0)
    upper = [r.upper() for r in refs]
    assert bleu(upper, refs)[0] < 10
    assert tokenized_bleu(upper, refs, "en") == pytest.approx(100.0)


def test_translation_scores_report_signatures():
    scores = translation_scores(SYS, REFS, "en")
    assert scores["bleu"] == pytest.approx(48.53, abs=0.01)
    assert set(scores["signatures"]) == {"bleu", "chrf", "ter"}
