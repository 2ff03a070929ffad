"""The Multi30k stages on the real shared data."""

import numpy as np

from pipeline.data.tokenization import detokenize, tokenize
from pipeline.data.translation_stages import TranslationDataConfig, prepare_translation

CFG = TranslationDataConfig(src_vocab_size=400, tgt_vocab_size=400)  # same as the tiny checkpoint: cache reuse


def test_stages_build_once_with_a_complete_manifest(translation_stages):
    data = prepare_translation(CFG, translation_stages)
    stats = data.manifest["stats"]
    assert {k: v["pairs"] + v["dropped"] for k, v in stats["splits"].items()} == {
        "train": 29000,
        "val": 1014,
        "test_2016_flickr": 1000,
        "test_2017_flickr": 1000,
        "test_2017_mscoco": 461,
    }
    assert stats["splits"]["train"]["dropped"] < 10  # only pairs over max_train_len subwords
    assert stats["special_ids"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3}
    assert stats["src_vocab_size"] == 400 == len(data.src_model)
    assert set(data.manifest["inputs"]) == {"src_text", "tgt_text", "src_bpe", "tgt_bpe"}
    again = prepare_translation(CFG, translation_stages)
    assert not again.ids.built and again.ids.path == data.ids.path
    changed = prepare_translation(CFG.model_copy(update={"max_train_len": 20}), translation_stages)
    assert changed.ids.built and changed.ids.path != data.ids.path
    assert changed.manifest["stats"]["splits"]["train"]["dropped"] > 0


def test_subword_ids_detokenize_back_to_the_reference_text(translation_stages):
    data = prepare_translation(CFG, translation_stages)
    val = data.split("val")
    refs = data.references("val")
    restored = [detokenize(data.tgt_model.decode(ids.tolist())) for ids in val.tgt]
    exact = np.mean([r == ref for r, ref in zip(restored, refs)])
    assert exact > 0.99  # only the rare non-breaking space is normalised away
    assert all(ids[0] != 0 for ids in val.src)


def test_join_marks_make_tokenization_reversible():
    text = "Ein Mann, der ein T-Shirt trägt, sagt: „Hallo!“ (laut)"
    assert detokenize(tokenize([text], "de", mark_joins=True)[0]) == text


def test_prepared_stages_load_where_spacy_is_missing(translation_stages, tmp_path, monkeypatch):
    """A machine without spaCy (the CUDA image of scripts/gpu_check.sh) reuses stages built elsewhere."""
    import shutil

    import pytest

    from pipeline.data import translation_stages as stages_module
    from pipeline.errors import PipelineError

    built = prepare_translation(CFG, translation_stages)
    monkeypatch.setattr(stages_module, "_spacy_version", lambda: None)
    copied = tmp_path / "copied"
    shutil.copytree(translation_stages, copied)
    reused = prepare_translation(CFG, copied)
    assert not reused.ids.built and reused.ids.path.name == built.ids.path.name
    assert [a.tolist() for a in reused.split("val").src[:50]] == [a.tolist() for a in built.split("val").src[:50]]
    for text in copied.glob("text-en-*"):
        shutil.rmtree(text)  # the English text stage was never built for these files
    with pytest.raises(PipelineError, match="spaCy is not installed, and .* holds no text-en stage"):
        prepare_translation(CFG, copied)


def test_find_built_matches_every_param_but_the_free_one(tmp_path):
    from pipeline.stages import find_built, run_stage

    made = run_stage(tmp_path, "s", {"a": 1, "tool": "1.0"}, {"in": "x"}, lambda out: {})
    assert find_built(tmp_path, "s", {"a": 1, "tool": None}, {"in": "x"}, free="tool").path == made.path
    assert find_built(tmp_path, "s", {"a": 2, "tool": None}, {"in": "x"}, free="tool") is None
    assert find_built(tmp_path, "s", {"a": 1, "tool": None}, {"in": "y"}, free="tool") is None
    assert find_built(tmp_path, "s-other", {"a": 1, "tool": None}, {"in": "x"}, free="tool") is None
