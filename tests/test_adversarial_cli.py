"""The ``attack`` and ``generate`` verbs end to end on tiny checkpoints built in the test."""

import numpy as np
import torch
from PIL import Image

from pipeline.adversarial.classifiers import ClassifierConfig, SoftmaxModelConfig, build_classifier
from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.cli import main
from pipeline.gan.models import DCGanModelConfig, GanConfig, build_players, player_args
from pipeline.gan.training import GanPlayers
from pipeline.runs import RunFolder


def _classifier_checkpoint(path):
    torch.manual_seed(0)
    cfg = ClassifierConfig(model=SoftmaxModelConfig())
    model = build_classifier(cfg.model, (1, 28, 28))
    meta = RunFolder.meta(cfg, image_shape=[1, 28, 28], classes=[str(d) for d in range(10)], dataset="mnist")
    save_checkpoint(path, Checkpoint(meta, model.state_dict()))


def test_attack_command_writes_the_figure_and_rejects_unknown_classes(tmp_path, capsys):
    ckpt, image, out = tmp_path / "clf.pt", tmp_path / "digit.png", tmp_path / "fig.png"
    _classifier_checkpoint(ckpt)
    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)).save(image)
    assert (
        main(
            [
                "attack",
                str(image),
                "--checkpoint",
                str(ckpt),
                "--target",
                "3",
                "7",
                "--method",
                "pgd",
                "--epsilon",
                "0.2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.is_file() and out.stat().st_size > 1000
    assert main(["attack", str(image), "--checkpoint", str(ckpt), "--target", "giraffe"]) == 2
    assert "unknown class 'giraffe'" in capsys.readouterr().err


def test_generate_command_unconditional_grid_and_clear_errors(tmp_path, capsys):
    cfg = GanConfig(model=DCGanModelConfig(z_dim=8, width=4))
    args = player_args(cfg)
    generator, discriminator = build_players(args)
    ckpt = tmp_path / "gan.pt"
    save_checkpoint(
        ckpt, Checkpoint(RunFolder.meta(cfg, model=args), GanPlayers(generator, discriminator).state_dict())
    )
    out = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(ckpt), "--n", "3", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 3 * 28
    assert main(["generate", "a dog", "--checkpoint", str(ckpt)]) == 2
    assert "takes no text" in capsys.readouterr().err
