"""Configs: one shape for every task, validated once; every field documented in code; every shipped file
(and preset) valid, with its own run folder; renamed keys named; ``extends:``; ``config show``."""

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from pipeline.config import Config, TaskConfig, compose, parse_override, read_yaml, render, section_doc, validate
from pipeline.data.multi30k_captions import CaptionDataConfig
from pipeline.errors import PipelineError
from pipeline.inference.translator import TranslationConfig
from pipeline.models.decoder import DecoderConfig
from pipeline.tasks import TASKS, get_task, load_task_config
from pipeline.unsupervised.rae import RAEConfig
from pipeline.unsupervised.sentence_retrieval import RetrievalConfig as SentenceRetrievalConfig
from pipeline.unsupervised.word_vectors import WordVectorConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
TASK_CONFIGS = [p for p in sorted(CONF.glob("*.yaml")) if p.name != "serve.yaml"]  # serve.yaml is Ray Serve's
# The shared decoder's section is documented where the decoder is written (pipeline/models/decoder.py);
# that module is not part of this change.
UNDOCUMENTED = {DecoderConfig, CaptionDataConfig, WordVectorConfig, RAEConfig, SentenceRetrievalConfig}
# ... and the recursive autoencoder's sections (its modules are being worked on): documented by comments there.


def config_and_presets():
    for path in TASK_CONFIGS:
        for preset in [None, *(read_yaml(path).get("presets") or {})]:
            yield path, preset


def test_every_shipped_config_and_preset_validates_and_names_only_fields():
    """extra="forbid" everywhere: a key that is no field fails here, with its dotted path."""
    pairs = list(config_and_presets())
    assert len(pairs) > 50
    for path, preset in pairs:
        task, cfg = load_task_config(path, preset)
        assert isinstance(cfg, TaskConfig) and cfg.task == task.name, (path, preset)


def test_no_two_config_preset_pairs_share_a_run_folder():
    seen: dict[str, tuple] = {}
    for path, preset in config_and_presets():
        run_dir = load_task_config(path, preset)[1].run.dir
        assert run_dir not in seen, f"{path.name} --preset {preset} and {seen.get(run_dir)} both write {run_dir}"
        seen[run_dir] = (path.name, preset)


def _sections(cls: type[BaseModel], seen: set) -> None:
    """Every Config class reachable from ``cls``'s fields (through unions and containers)."""
    if cls in seen:
        return
    seen.add(cls)
    for info in cls.model_fields.values():
        stack = [info.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, Config):
                _sections(ann, seen)
            stack.extend(getattr(ann, "__args__", ()) or ())


def test_every_field_of_every_task_config_is_documented_once_in_code():
    classes: set = set()
    for name in TASKS:
        _sections(get_task(name).config_class, classes)
    assert len(classes) > 30
    missing = [
        f"{cls.__name__}.{field}"
        for cls in classes - UNDOCUMENTED
        for field, info in cls.model_fields.items()
        if not (info.description or _is_section(info.annotation))
    ]
    assert not missing, f"fields without Field(description=...): {missing}"
    undocumented_sections = [cls.__name__ for cls in classes if not section_doc(cls)]
    assert not undocumented_sections, f"section classes without a docstring: {undocumented_sections}"


def _is_section(annotation) -> bool:
    """A field holding a section (or a union of variants): the class docstring documents it."""
    if isinstance(annotation, type):
        return issubclass(annotation, Config)
    members = getattr(annotation, "__args__", ())
    return bool(members) and all(_is_section(m) for m in members)


def test_config_show_prints_a_commented_config_that_loads_back_equal(tmp_path):
    _, cfg = load_task_config(CONF / "caption_flickr8k.yaml", "quick")
    text = render(cfg)
    assert "  batch_size: 32" in text and "# images per training batch" in text
    assert "# Flickr8k folder" in text  # the variant's own field, with its description
    (tmp_path / "shown.yaml").write_text(text)
    _, again = load_task_config(tmp_path / "shown.yaml")
    assert again == cfg


def test_extends_states_only_the_difference():
    de, fr = load_task_config(CONF / "translate_en_de.yaml")[1], load_task_config(CONF / "translate_en_fr.yaml")[1]
    assert (fr.data.tgt_lang, fr.run.dir) == ("fr", "data/runs/en_fr")
    assert fr.model == de.model and fr.train == de.train and fr.search == de.search
    quick_de = load_task_config(CONF / "translate_en_de.yaml", "quick")[1]
    quick_fr = load_task_config(CONF / "translate_en_fr.yaml", "quick")[1]
    assert quick_fr.model == quick_de.model and quick_fr.run.dir == "data/runs/en_fr_quick"
    assert load_task_config(CONF / "translate_en_fr.yaml", "cpu")[1].train.max_epochs == 30
    assert len(read_yaml(CONF / "translate_en_fr.yaml")) < 10  # merged: the parent's sections are there too


def test_extends_cycle_is_one_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ntask: translation\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(PipelineError, match="cycle"):
        read_yaml(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    ("override", "new"),
    [
        ("batching.max_tokens=100", "train.batch_size"),
        ("label_smoothing=0.2", "train.label_smoothing"),
        ("valid_limit=5", "train.valid_limit"),
    ],
)
def test_a_renamed_key_is_one_error_naming_its_new_place(override, new):
    with pytest.raises(PipelineError, match=rf"is now '{new}'"):
        load_task_config(CONF / "translate_en_de.yaml", None, [override])


def test_renamed_keys_of_the_other_tasks():
    cases = [
        ("gan_mnist_dcgan.yaml", "train.beta1=0.5", "train.betas"),
        ("rbm_digits.yaml", "cd.lr=0.1", "train"),
        ("dbn_mnist.yaml", "init=random", "pretrain.init"),
        ("caption_flickr8k.yaml", "batching.batch_images=8", "train.batch_size"),
        ("caption_flickr8k.yaml", "eval_beam_sizes=[1]", "evaluate.beam_sizes"),
        ("classifier_mnist_cnn.yaml", "data.batch_size=64", "train.batch_size"),
        ("text_to_image_flickr8k.yaml", "encoder.batch_size=8", "encoder.train.batch_size"),
    ]
    for name, override, new in cases:
        with pytest.raises(PipelineError, match=rf"is now '{new}'"):
            load_task_config(CONF / name, None, [override])


def test_a_variant_has_only_its_own_fields_and_a_switch_drops_the_others():
    _, conv = load_task_config(CONF / "autoencoder_mnist.yaml", "conv")
    assert conv.model.kind == "conv" and not hasattr(conv.model, "hidden") and conv.model.channels == [16, 32]
    _, linear = load_task_config(CONF / "autoencoder_mnist.yaml", None, ["model.kind=linear"])
    assert set(linear.model.to_dict()) == {"kind", "code_size", "sparsity"}
    with pytest.raises(PipelineError, match=r"model\.softmax\.width: Extra inputs are not permitted"):
        load_task_config(CONF / "classifier_mnist_softmax.yaml", None, ["model.width=8"])
    _, mnist = load_task_config(CONF / "rbm_digits.yaml", None, ["data.dataset=mnist"])
    assert not hasattr(mnist.data, "nudge") and mnist.data.train_limit is None


def test_override_values_are_parsed_as_yaml():
    assert parse_override("train.lr=0.5") == {"train": {"lr": 0.5}}
    _, cfg = load_task_config(CONF / "translate_en_de.yaml", None, ["train.lr=3e-4"])  # YAML 1.1 reads a string
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


def test_configs_are_frozen():
    _, cfg = load_task_config(CONF / "translate_en_fr.yaml")
    assert isinstance(cfg, TranslationConfig) and (cfg.data.src_lang, cfg.data.tgt_lang) == ("en", "fr")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.train.lr = 1.0


def test_invalid_values_name_the_field():
    path = CONF / "translate_en_de.yaml"
    with pytest.raises(PipelineError, match=r"train\.lr: Input should be a valid number"):
        load_task_config(path, None, ["train.lr=fast"])
    with pytest.raises(PipelineError, match=r"model\.decoder\.attention"):
        load_task_config(path, None, ["model.decoder.attention=magic"])
    with pytest.raises(PipelineError, match=r"data\.tgt_lang"):
        load_task_config(path, None, ["data.tgt_lang=xx"])
    with pytest.raises(PipelineError, match=r"unknown_key: Extra inputs are not permitted"):
        load_task_config(path, None, ["unknown_key=1"])
    with pytest.raises(PipelineError, match="both 'en'"):
        validate(yaml.safe_load("task: translation\ndata: {tgt_lang: en}"), TranslationConfig)


def test_malformed_yaml_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: translation\nmodel: [unclosed\n")
    with pytest.raises(PipelineError, match="malformed config .* at line"):
        read_yaml(bad)
    with pytest.raises(PipelineError, match="config file not found"):
        read_yaml(tmp_path / "missing.yaml")
