"""Text-to-image end to end through the CLI on a tiny synthetic Flickr8k (coloured squares with captions):
train (encoder + GAN-CLS) → evaluate (grid + conditioning check) → generate, and a clear error without text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.checkpoint import load_checkpoint
from pipeline.cli import main

CONF = Path(__file__).resolve().parents[1] / "conf"
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30), "white": (240, 240, 240)}


def _flickr_like(root: Path, per_split: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = ["image,caption"]
    for split, n in per_split.items():
        names = []
        for i in range(n):
            colour = list(COLOURS)[i % len(COLOURS)]
            name = f"{split}_{i}.jpg"
            pixels = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / name)
            rows += [f"{name},a {colour} square number {k}" for k in range(5)]
            names.append(name)
        (root / f"split_{split}.txt").write_text("\n".join(names) + "\n")
    (root / "captions.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_text_to_image_train_evaluate_generate(tmp_path, capsys):
    root = _flickr_like(tmp_path / "flickr8k", {"train": 48, "dev": 8, "test": 8})
    run = tmp_path / "t2i"
    overrides = [
        f"run.dir={run}",
        f"run.stages={tmp_path / 'stages'}",
        f"data.root={root}",
        "data.image_size=32",
        "data.min_freq=1",
        "encoder.train.batch_size=16",
        "encoder.hidden=16",
        "encoder.word_dim=16",
        "encoder.embed_dim=16",
        "encoder.image_width=8",
        "encoder.train.max_epochs=2",
        "encoder.train.max_steps=null",
        "encoder.train.device=cpu",
        "model.width=8",
        "model.cond_dim=8",
        "model.z_dim=8",
        "train.batch_size=16",
        "train.max_steps=6",
        "train.device=cpu",
        "train.sample_every=3",
        "train.checkpoint_every=3",
        "train.sample_count=16",
        "evaluate.n_captions=8",
    ]
    assert main(["train", str(CONF / "text_to_image_flickr8k.yaml"), "--preset", "quick", *overrides]) == 0
    ckpt = run / "checkpoints" / "last.pt"
    extra = load_checkpoint(ckpt).extra
    assert extra["condition_mean"].shape == (16,) and bool((extra["condition_std"] > 0).all())
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step_000000.png",
        "step_000003.png",
        "step_000006.png",
    ]

    assert main(["evaluate", "--checkpoint", str(ckpt)]) == 0
    report = json.loads((run / "text_to_image_report.json").read_text())
    assert report["n_captions"] == 8 and report["step"] == 6
    for scores in report["match_scores"].values():
        assert 0.0 <= scores["auc"] <= 1.0 and 0.0 <= scores["recall_at_1"] <= 1.0
    assert Path(report["grid"]).is_file()

    out = tmp_path / "grid.png"
    assert (
        main(["generate", "a red square", "a blue square", "--checkpoint", str(ckpt), "--n", "3", "--out", str(out)])
        == 0
    )
    assert out.is_file() and Image.open(out).size[0] > 3 * 32
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(out)]) != 0
    assert "needs captions" in capsys.readouterr().err
