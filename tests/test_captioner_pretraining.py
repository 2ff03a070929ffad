"""Pretraining the captioner's CNN: the photo crops read train photos only, and both pretraining models
(the ResNet autoencoder and the ResNet classifier) hand every tensor of their CNN to the captioner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.adversarial.classifiers import ResNetClassifier, ResNetModelConfig
from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.data.photo_crops import flickr8k_train_crops
from pipeline.errors import PipelineError
from pipeline.models.captioner import CaptionModelConfig, build_caption_model
from pipeline.models.decoder import DecoderConfig
from pipeline.models.image_encoder import ImageEncoderConfig
from pipeline.unsupervised.autoencoder import ResNetAutoencoder

QUICK_CNN = {"widths": (8, 16, 32), "blocks": (1, 1, 1), "stem_stride": 2, "stem_pool": True}


def _flickr_root(root, colours: dict[str, tuple[int, int, int]]):
    """A Flickr8k copy whose train photos are one flat colour each; dev and test "photos" are not images."""
    (root / "images").mkdir(parents=True)
    names = {split: [f"{split}{i}.jpg" for i in range(n)] for split, n in (("train", 3), ("dev", 1), ("test", 1))}
    for name in names["train"]:
        Image.new("RGB", (120, 90), colours[name]).save(root / "images" / name, quality=100)
    for name in names["dev"] + names["test"]:
        (root / "images" / name).write_bytes(b"not a photo")
    rows = ["image,caption"] + [f"{n},a photo" for split in names.values() for n in split]
    (root / "captions.txt").write_text("\n".join(rows) + "\n")
    for split, split_names in names.items():
        (root / f"split_{split}.txt").write_text("\n".join(split_names) + "\n")


def test_crops_come_from_train_photos_only(tmp_path):
    colours = {"train0.jpg": (250, 10, 10), "train1.jpg": (10, 250, 10), "train2.jpg": (10, 10, 250)}
    _flickr_root(tmp_path / "flickr8k", colours)  # decoding a dev/test file would fail
    crops = flickr8k_train_crops(60, 32, (32, 64), seed=3, root=str(tmp_path / "flickr8k"), stages_dir=tmp_path / "st")
    assert crops.shape == (60, 3, 32, 32) and 0 <= float(crops.min()) and float(crops.max()) <= 1
    means = crops.mean(dim=(2, 3)) * 255  # each crop is one flat photo's colour (JPEG keeps it within a few levels)
    known = torch.tensor(list(colours.values()), dtype=torch.float32)
    nearest = torch.cdist(means, known).min(dim=1)
    assert float(nearest.values.max()) < 8
    assert len(set(nearest.indices.tolist())) == 3  # all photos are drawn
    again = flickr8k_train_crops(60, 32, (32, 64), seed=3, root=str(tmp_path / "flickr8k"), stages_dir=tmp_path / "st")
    assert torch.equal(crops, again)  # seeded


def test_crops_reject_a_side_beyond_the_photo(tmp_path):
    with pytest.raises(ValueError, match="within 1..96"):
        flickr8k_train_crops(4, 32, (32, 128), seed=0, root=str(tmp_path))


def _caption_model_from(path, **encoder):
    cfg = CaptionModelConfig(
        encoder=ImageEncoderConfig(**QUICK_CNN, **encoder, init_checkpoint=str(path)),
        decoder=DecoderConfig(embedding_size=8, hidden_size=16),
    )
    return build_caption_model(cfg, vocab_size=11)


def _assert_same_cnn(source: torch.nn.Module, model) -> None:
    own = model.encoder.backbone.state_dict()
    copied = {k: v for k, v in source.state_dict().items() if k not in ("mean", "std")}
    assert set(copied) == set(own) - {"mean", "std"}  # every tensor of the CNN, nothing left at random
    for name, tensor in copied.items():
        assert torch.equal(own[name], tensor), name


def test_strided_resnet_autoencoder_initialises_the_quick_captioner(tmp_path):
    autoencoder = ResNetAutoencoder(
        (3, 32, 32), 16, [8, 16, 32], "linear", 0.0, "none", "sigmoid", stem_stride=2, stem_pool=True
    )
    out = autoencoder(torch.rand(2, 3, 32, 32))
    assert out.reconstruction.shape == (2, 3, 32, 32) and out.code.shape == (2, 16)
    with torch.no_grad():
        for p in autoencoder.parameters():
            p.normal_()
    save_checkpoint(tmp_path / "ae.pt", Checkpoint({"task": "autoencoder"}, autoencoder.state_dict()))
    _assert_same_cnn(autoencoder.encoder, _caption_model_from(tmp_path / "ae.pt"))


def test_resnet_classifier_augments_in_training_only_and_initialises_the_captioner(tmp_path):
    cfg = ResNetModelConfig(widths=[8, 16, 32], blocks=[1, 1, 1])
    classifier = ResNetClassifier(cfg, n_classes=10)
    x = torch.rand(4, 3, 32, 32)
    torch.manual_seed(0)
    augmented = classifier.augment(x)
    assert augmented.shape == x.shape and not torch.equal(augmented, x)
    classifier.eval()
    assert torch.equal(classifier(x), classifier(x))  # no augmentation at test time
    save_checkpoint(tmp_path / "cls.pt", Checkpoint({"task": "classifier"}, classifier.state_dict()))
    _assert_same_cnn(classifier.encoder, _caption_model_from(tmp_path / "cls.pt"))


def test_a_cnn_of_another_shape_is_an_error(tmp_path):
    classifier = ResNetClassifier(ResNetModelConfig(widths=[4, 8, 16], blocks=[1, 1, 1]))
    save_checkpoint(tmp_path / "cls.pt", Checkpoint({"task": "classifier"}, classifier.state_dict()))
    with pytest.raises(PipelineError, match=r"not the configured encoder .*encoder.stem.0.weight is \(4, 3, 3, 3\)"):
        _caption_model_from(tmp_path / "cls.pt")


def test_augment_crop_keeps_the_pixels(tmp_path):
    """A padded crop moves the image by at most ``pad`` pixels; its centre is the image's own pixels."""
    classifier = ResNetClassifier(ResNetModelConfig(widths=[8, 16, 32], blocks=[1, 1, 1], augment_pad=2))
    x = torch.from_numpy(np.random.default_rng(0).random((3, 3, 16, 16), dtype=np.float32))
    y = classifier.augment(x)
    for i in range(3):
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if any(
                torch.equal(y[i, :, 4:12, 4:12], v[:, 4 + dy : 12 + dy, 4 + dx : 12 + dx])
                for v in (x[i], x[i].flip(-1))
            )
        ]
        assert shifts, i


def test_the_captioner_cnn_autoencoder_preset_trains_on_cifar_and_photo_crops(tmp_path):
    """The preset end to end through the CLI on tiny data: its checkpoint counts both kinds of images and
    initialises the quick captioner's CNN."""
    from pipeline.checkpoint import load_checkpoint
    from pipeline.cli import main
    from tests.synthetic import cifar_pickles

    colours = {f"train{i}.jpg": (40 * i, 200 - 40 * i, 90) for i in range(3)}
    _flickr_root(tmp_path / "flickr8k", colours)
    run = tmp_path / "ae"
    overrides = [
        f"run.dir={run}",
        f"run.stages={tmp_path / 'stages'}",
        f"data.root={cifar_pickles(tmp_path / 'cifar10')}",
        f"data.flickr8k_root={tmp_path / 'flickr8k'}",
        "data.flickr8k_crops=30",
        "data.valid_size=20",
        "train.batch_size=20",
        "train.max_epochs=1",
        "train.device=cpu",
        "model.code_size=8",
    ]
    conf = Path(__file__).resolve().parents[1] / "conf" / "autoencoder_cifar10.yaml"
    assert main(["train", str(conf), "--preset", "captioner_cnn", *overrides]) == 0
    ckpt = load_checkpoint(run / "checkpoints" / "best.pt")
    assert ckpt.meta["training_images"] == {"cifar10_train": 80, "flickr8k_train_crops": 30}
    cfg = CaptionModelConfig(
        encoder=ImageEncoderConfig(
            widths=(32, 64, 128), blocks=(1, 1, 1), init_checkpoint=str(run / "checkpoints" / "best.pt")
        ),
        decoder=DecoderConfig(embedding_size=8, hidden_size=16),
    )
    model = build_caption_model(cfg, vocab_size=11)
    assert torch.equal(model.encoder.backbone.stem[0].weight, ckpt.model["encoder.stem.0.weight"])
