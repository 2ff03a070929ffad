import pytest
from pydantic import ValidationError

from pipeline.config import compose, parse_override, read_yaml
from pipeline.errors import PipelineError
from pipeline.tasks import load_task_config
from pipeline.tasks.translation import TranslationConfig


def test_override_values_are_parsed_as_yaml():
    assert parse_override("train.lr=0.5") == {"train": {"lr": 0.5}}
    _, cfg = load_task_config("conf/translate_en_de.yaml", None, ["train.lr=3e-4"])  # YAML 1.1 reads a string
    assert cfg.train.lr == 3e-4
    assert parse_override("+model.decoder.input_feeding=true") == {"model": {"decoder": {"input_feeding": True}}}
    assert parse_override("run.dir=data/x") == {"run": {"dir": "data/x"}}
    with pytest.raises(PipelineError):
        parse_override("no_equals_sign")


def test_preset_then_overrides_last_wins():
    raw = {"a": {"b": 1, "c": 2}, "presets": {"quick": {"a": {"b": 10}}}}
    assert compose(raw, "quick", ["a.c=5"]) == {"a": {"b": 10, "c": 5}}
    with pytest.raises(PipelineError, match="unknown preset 'slow'; this config defines: quick"):
        compose(raw, "slow")


def test_example_configs_validate_and_are_frozen():
    for path in ("conf/translate_en_de.yaml", "conf/translate_en_fr.yaml"):
        for preset in (None, "quick"):
            task, cfg = load_task_config(path, preset)
            assert isinstance(cfg, TranslationConfig) and task.name == "translation"
    _, cfg = load_task_config("conf/translate_en_fr.yaml")
    assert (cfg.data.src_lang, cfg.data.tgt_lang) == ("en", "fr")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.train.lr = 1.0


def test_every_key_of_the_example_configs_is_commented():
    for path in ("conf/translate_en_de.yaml", "conf/translate_en_fr.yaml"):
        body = open(path, encoding="utf-8").read().split("\npresets:")[0]
        for line in body.splitlines():
            code = line.split("#")[0].strip()
            if code and not code.endswith(":"):  # a key with a value (section headers need none)
                assert "#" in line, f"{path}: key without a comment: {line!r}"


def test_invalid_values_name_the_field(tmp_path):
    with pytest.raises(PipelineError, match=r"train\.lr: Input should be a valid number"):
        load_task_config("conf/translate_en_de.yaml", None, ["train.lr=fast"])
    with pytest.raises(PipelineError, match=r"model\.decoder\.attention"):
        load_task_config("conf/translate_en_de.yaml", None, ["model.decoder.attention=magic"])
    with pytest.raises(PipelineError, match=r"data\.tgt_lang"):
        load_task_config("conf/translate_en_de.yaml", None, ["data.tgt_lang=xx"])
    with pytest.raises(PipelineError, match=r"unknown_key: Extra inputs are not permitted"):
        load_task_config("conf/translate_en_de.yaml", None, ["unknown_key=1"])


def test_malformed_yaml_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: translation\nmodel: [unclosed\n")
    with pytest.raises(PipelineError, match="malformed config .* at line"):
        read_yaml(bad)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(PipelineError, match="config file not found"):
        read_yaml(missing)
