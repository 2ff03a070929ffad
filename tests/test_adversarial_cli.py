"""The ``attack`` and ``generate`` verbs end to end on tiny checkpoints built in the test."""

import numpy as np
import torch
from PIL import Image

from pipeline.adversarial.classifiers import build_classifier
from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.cli import main
from pipeline.gan.models import build_players
from pipeline.gan.training import GanPlayers
from pipeline.tasks.classifier import ClassifierConfig
from pipeline.tasks.gan import GanConfig


def _classifier_checkpoint(path):
    torch.manual_seed(0)
    model = build_classifier("softmax", (1, 28, 28))
    meta = {"task": "classifier", "config": ClassifierConfig().to_dict(), "image_shape": [1, 28, 28],
            "classes": [str(d) for d in range(10)], "dataset": "mnist",
            "model": {"kind": "softmax", "n_classes": 10, "width": 32, "depth": 2, "hidden": 128}}
    save_checkpoint(path, Checkpoint(meta, model.state_dict()))


def test_attack_command_writes_the_figure_and_rejects_unknown_classes(tmp_path, capsys):
    ckpt, image, out = tmp_path / "clf.pt", tmp_path / "digit.png", tmp_path / "fig.png"
    _classifier_checkpoint(ckpt)
    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)).save(image)
    assert main(["attack", str(image), "--checkpoint", str(ckpt), "--target", "3", "7", "--method", "pgd",
                 "--epsilon", "0.2", "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 1000
    assert main(["attack", str(image), "--checkpoint", str(ckpt), "--target", "giraffe"]) == 2
    assert "unknown class 'giraffe'" in capsys.readouterr().err


def test_generate_command_unconditional_grid_and_clear_errors(tmp_path, capsys):
    cfg = GanConfig()
    args = {"architecture": "dcgan", "image_shape": [1, 28, 28], "z_dim": 8, "width": 4, "hidden": 8}
    generator, discriminator = build_players(args)
    ckpt = tmp_path / "gan.pt"
    save_checkpoint(ckpt, Checkpoint({"task": "gan", "config": cfg.to_dict(), "model": args},
                                     GanPlayers(generator, discriminator).state_dict()))
    out = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(ckpt), "--n", "3", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 3 * 28
    assert main(["generate", "a dog", "--checkpoint", str(ckpt)]) == 2
    assert "takes no text" in capsys.readouterr().err
