"""Checkpoints written before the config reshape keep loading: their config is migrated (renamed keys moved,
keys the new shape has no field for dropped) and validated whole, once, by ``X.from_checkpoint``.

The files under tests/data/old_checkpoints were written by the code before the change (see its README).
"""

import gzip
import json
from pathlib import Path

import pytest
import torch

from pipeline.adversarial.classifiers import Classifier, build_classifier
from pipeline.checkpoint import FORMAT, Checkpoint, load_checkpoint, save_checkpoint
from pipeline.config import validate
from pipeline.data.vocabulary import Vocabulary
from pipeline.errors import PipelineError
from pipeline.gan.models import Gan, build_players
from pipeline.gan.text_encoder import JointEmbedding
from pipeline.gan.text_to_image import TextToImage
from pipeline.gan.training import GanPlayers
from pipeline.inference.captioner import Captioner
from pipeline.inference.translator import TranslationConfig, Translator
from pipeline.migration import migrate
from pipeline.tasks import load_task_config
from pipeline.unsupervised.autoencoder import build_autoencoder
from pipeline.unsupervised.rbm_features import TrainedRBM
from pipeline.unsupervised.trained import Autoencoder, DBNTaskConfig

OLD = Path(__file__).resolve().parent / "data" / "old_checkpoints"
CONF = Path(__file__).resolve().parents[1] / "conf"
METAS = json.loads((OLD / "metas.json").read_text(encoding="utf-8"))


def test_an_old_translation_checkpoint_loads_with_its_keys_moved():
    translator = Translator.from_checkpoint(OLD / "translation.pt", device="cpu")
    train = translator.config.train
    assert (train.batch_size, train.label_smoothing, train.valid_limit, train.betas) == (800, 0.2, 30, (0.8, 0.99))
    assert translator.pair == "en-de" and translator.search.beam_size == 2
    assert len(translator.translate(["A dog runs."], beam_size=2)) == 1


def test_an_old_captioning_checkpoint_loads_with_its_keys_moved():
    captioner = Captioner.from_checkpoint(OLD / "captioning.pt", device="cpu")
    cfg = captioner.config
    assert (cfg.train.batch_size, cfg.train.captions_per_image, cfg.train.label_smoothing) == (7, 3, 0.05)
    assert (cfg.train.valid_metric, cfg.train.valid_limit) == ("BLEU-4", 11)
    assert (cfg.evaluate.splits, cfg.evaluate.beam_sizes) == (("dev", "test"), (1, 2))
    assert not hasattr(cfg.data, "coco")  # the flickr8k variant: the old always-present coco: {} is dropped
    assert captioner.caption_tensors(torch.rand(1, 3, 32, 32), beam_size=1).best_tokens()


def test_old_autoencoder_and_rbm_checkpoints_load():
    autoencoder = Autoencoder.from_checkpoint(OLD / "autoencoder.pt")
    assert autoencoder.config.model.kind == "conv" and autoencoder.config.train.batch_size == 21
    assert not hasattr(autoencoder.config.model, "hidden")  # a deep-only key of the old shape, dropped
    assert autoencoder.model(torch.rand(2, 1, 28, 28)).reconstruction.shape == (2, 1, 28, 28)
    rbm = TrainedRBM.from_checkpoint(OLD / "rbm.pt")
    assert rbm.config.train.batch_size == 9 and rbm.config.data.dataset == "digits"
    assert not hasattr(rbm.config.data, "root") and rbm.features(torch.rand(3, 64).numpy()).shape == (3, 6)


def _rebuild(tmp_path: Path, name: str, model: dict, extra: dict | None = None) -> Path:
    """The old meta with weights of the same architecture, in the payload the old code wrote (no config_version)."""
    path = tmp_path / f"{name}.pt"
    torch.save(
        {"format": FORMAT, "meta_json": json.dumps(METAS[name]), "model": model, "train": None, "extra": extra or {}},
        path,
    )
    return path


def test_old_classifier_gan_dbn_and_text_to_image_metas_load(tmp_path):
    softmax = METAS["classifier_softmax"]["config"]["model"]
    assert softmax["width"] == 32  # the old shape carried the CNN's fields for a softmax model too
    from pipeline.adversarial.classifiers import SoftmaxModelConfig

    loaded = Classifier.from_checkpoint(
        _rebuild(tmp_path, "classifier_softmax", build_classifier(SoftmaxModelConfig(), (1, 28, 28)).state_dict())
    )
    assert loaded.config.model.to_dict() == {"kind": "softmax"} and loaded.config.train.batch_size == 33
    cnn = Classifier.from_checkpoint(_rebuild(tmp_path, "classifier_cnn", _cnn_state()))
    assert (cnn.config.model.width, cnn.config.model.depth, cnn.classes[3]) == (2, 1, "3")

    gan = Gan.from_checkpoint(_rebuild(tmp_path, "gan", GanPlayers(*build_players(METAS["gan"]["model"])).state_dict()))
    assert gan.config.train.betas == (0.4, 0.999) and gan.sample(2, seed=0).shape == (2, 1, 28, 28)

    dbn_meta = METAS["dbn"]
    dbn_cfg = validate(migrate(dbn_meta["config"], DBNTaskConfig), DBNTaskConfig)
    dbn = Autoencoder.from_checkpoint(
        _rebuild(tmp_path, "dbn", build_autoencoder(dbn_cfg.model, (1, 28, 28)).state_dict())
    )
    assert dbn.config.pretrain.init == "random" and dbn.config.train.batch_size == 17
    assert not hasattr(dbn.config, "retrieval")

    meta = METAS["text_to_image"]
    joint = JointEmbedding(**meta["encoder"])
    extra = {
        "text_encoder": joint.text.state_dict(),
        "image_encoder": joint.image.state_dict(),
        "condition_mean": torch.zeros(4),
        "condition_std": torch.ones(4),
    }
    t2i = TextToImage.from_checkpoint(
        _rebuild(tmp_path, "text_to_image", GanPlayers(*build_players(meta["model"])).state_dict(), extra)
    )
    assert t2i.config.train.betas == (0.45, 0.999) and t2i.config.encoder.train.batch_size == 5
    assert isinstance(t2i.vocab, Vocabulary) and t2i.embed(["a red square"]).shape == (1, 4)


def _cnn_state() -> dict:
    from pipeline.adversarial.classifiers import CNNModelConfig

    return build_classifier(CNNModelConfig(width=2, depth=1, hidden=4), (1, 28, 28)).state_dict()


def test_every_shipped_config_in_its_old_shape_migrates_to_what_the_file_now_resolves_to():
    """The old code's resolution of every conf/*.yaml and preset, migrated, equals today's (only the quick
    presets that shared their base's run folder got their own)."""
    old = json.loads(gzip.decompress((OLD / "resolved_configs.json.gz").read_bytes()))
    assert len(old) > 50
    for key, old_config in old.items():
        name, preset = key.split("|")
        task, cfg = load_task_config(Path(name.replace("conf/", str(CONF) + "/")), None if preset == "None" else preset)
        cls = task.config_class
        migrated = validate(migrate(old_config, cls), cls)
        if migrated.run.dir != cfg.run.dir:
            assert preset == "quick" and cfg.run.dir == migrated.run.dir + "_quick", key
            migrated = migrated.model_copy(update={"run": cfg.run})
        assert migrated == cfg, key


def test_the_task_is_checked_in_one_place(tmp_path):
    with pytest.raises(PipelineError, match="is a captioning checkpoint, not a translation one"):
        Translator.from_checkpoint(OLD / "captioning.pt")
    with pytest.raises(PipelineError, match="not a autoencoder or dbn one|not a autoencoder or dbn"):
        Autoencoder.from_checkpoint(OLD / "rbm.pt")


def test_a_new_checkpoint_carries_the_config_version_and_is_not_migrated(tmp_path):
    ckpt = load_checkpoint(OLD / "translation.pt")
    path = tmp_path / "new.pt"
    cfg = load_task_config(CONF / "translate_en_de.yaml", "quick")[1]
    save_checkpoint(path, Checkpoint({**ckpt.meta, "config": cfg.to_dict()}, ckpt.model))
    again = load_checkpoint(path, TranslationConfig)
    assert again.meta["config_version"] == 2 and again.config == cfg
