"""End to end on a synthetic set made here: coloured shapes with templated captions.

COCO caption files + PNGs → image and caption stages → CNN + attention decoder trained by the
shared Trainer → greedy captions of held-out images score BLEU-4 >= 0.8 (coco-caption scorer).
Also: beam size 1 equals greedy for the captioner, and the checkpoint alone rebuilds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pipeline.caption_metrics import score_captions
from pipeline.data.coco import write_coco_annotations
from pipeline.data.flickr8k import CaptionedImage
from pipeline.inference.captioner import Captioner, CaptioningConfig
from pipeline.search import beam_search
from pipeline.tasks import TrainOptions
from pipeline.tasks.captioning import TASK, decode_split, train

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 230), "yellow": (235, 220, 40)}
SHAPES = ("circle", "square", "triangle")
SIZE = 32
ATTENTION_REG = 0.1


def draw_example(rng: np.random.Generator) -> tuple[Image.Image, tuple[str, ...]]:
    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    big, side = bool(rng.integers(2)), rng.choice(["left", "right"])
    radius = int(rng.integers(9, 12)) if big else int(rng.integers(4, 6))
    cx = (
        int(rng.integers(radius + 1, SIZE // 2 - 1))
        if side == "left"
        else int(rng.integers(SIZE // 2 + 1, SIZE - radius - 1))
    )
    cy = int(rng.integers(radius + 1, SIZE - radius - 1))
    image = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(0, 60, 3)))
    draw, box = ImageDraw.Draw(image), (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        draw.rectangle(box, fill=COLOURS[colour])
    else:
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=COLOURS[colour])
    size = "big" if big else "small"
    captions = (
        f"a {size} {colour} {shape} on the {side} .",
        f"A {size} {colour} {shape} is on the {side}",
        f"there is a {size} {colour} {shape} on the {side}",
    )
    return image, captions


def write_split(root, name: str, count: int, rng: np.random.Generator) -> dict:
    folder = root / "images"
    folder.mkdir(exist_ok=True)
    examples = []
    for i in range(count):
        image, captions = draw_example(rng)
        file_name = f"{name}_{i:04d}.png"
        image.save(folder / file_name)
        examples.append(CaptionedImage(file_name, folder / file_name, captions))
    write_coco_annotations(root / f"captions_{name}.json", examples)
    return {"annotations": str(root / f"captions_{name}.json"), "images": str(folder)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    coco = {split: write_split(root, split, n, rng) for split, n in (("train", 800), ("dev", 40), ("test", 60))}
    cfg = CaptioningConfig.model_validate(
        {
            "task": "captioning",
            "run": {"dir": str(root / "run"), "stages": str(root / "stages")},
            "data": {
                "source": "coco",
                "coco": coco,
                "min_frequency": 1,
                "max_caption_len": 12,
                "images": {"size": SIZE},
                "augment": {"crop_scale": [1.0, 1.0], "hflip": 0.0, "jitter": 0.1},
            },
            "model": {
                "encoder": {"widths": [16, 32, 48], "blocks": [1, 1, 1], "stem_stride": 1, "stem_pool": False},
                "decoder": {
                    "embedding_size": 32,
                    "hidden_size": 96,
                    "dropout": 0.0,
                    "attention": "bahdanau",
                    "attention_size": 32,
                    "init": "bridge",
                },
                "attention_regularization": ATTENTION_REG,
            },
            "train": {
                "seed": 1,
                "device": "cpu",
                "batch_size": 16,
                "lr": 0.003,
                "max_epochs": 8,
                "log_every": 100,
                "validate_every": 100000,
                "checkpoint_every": 1000,
                "early_stopping_patience": 10,
                "clip_grad_norm": 1.0,
                "valid_metric": "BLEU-4",
            },
            "search": {"max_output_len": 12, "beam_size": 3},
        }
    )
    run_dir = train(cfg, TrainOptions(restart=True))
    return cfg, run_dir


@pytest.mark.slow
def test_learns_to_caption_held_out_shapes(trained):
    cfg, run_dir = trained
    captioner = Captioner.from_checkpoint(run_dir / "checkpoints" / "best.pt", device="cpu")
    data = TASK.prepare(cfg)
    hyps = decode_split(captioner, data, "test", beam_size=1)
    refs = data.split("test").references
    scores = score_captions(dict(enumerate(refs)), dict(enumerate(hyps)), meteor=False)
    assert scores.corpus["BLEU-4"] >= 0.8, (scores.corpus, hyps[:5])


@pytest.mark.slow
def test_beam_one_equals_greedy_and_attention_is_a_distribution(trained):
    cfg, run_dir = trained
    captioner = Captioner.from_checkpoint(run_dir / "checkpoints" / "best.pt", device="cpu")
    images = torch.from_numpy(np.array(TASK.prepare(cfg).pixels("test")[:12])).permute(0, 3, 1, 2) / 255.0
    greedy = captioner.caption_tensors(images, beam_size=1)  # greedy_search
    with torch.no_grad():
        enc = captioner.model.encode(images=images)
        beam = beam_search(captioner.search_decoder, enc, 2, 3, 1, captioner.search.max_output_len)
    assert greedy.best_tokens() == beam.best_tokens()
    for g, b in zip(greedy.hypotheses, beam.hypotheses, strict=True):
        assert g[0].score == pytest.approx(b[0].score, abs=1e-4)
        assert torch.allclose(g[0].attention.sum(-1), torch.ones(len(g[0].tokens) + 1), atol=1e-5)


@pytest.mark.slow
def test_caption_pil_images_with_attention(trained):
    cfg, run_dir = trained
    captioner = Captioner.from_checkpoint(run_dir / "checkpoints" / "best.pt", device="cpu")
    image, captions = draw_example(np.random.default_rng(123))
    [result] = captioner.caption([image.convert("L").convert("RGB")], beam_size=3, return_attention=True)
    grids = result.attention_grids()
    assert grids is not None and grids.shape == (len(result.words) + 1, 8, 8)
    assert np.allclose(grids.sum(axis=(1, 2)), 1.0, atol=1e-4)


@pytest.mark.slow
def test_evaluate_reports_diversity_and_takes_a_length_penalty(trained, tmp_path):
    import json

    from pipeline.caption_metrics import caption_diversity
    from pipeline.cli import main

    _, run_dir = trained
    report_path = tmp_path / "report.json"
    args = ["evaluate", "--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--beam-size", "3"]
    assert main([*args, "--length-penalty", "0.7", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["length_penalty"] == 0.7
    result = report["splits"]["test"]["beam3"]
    captions = list(json.loads(Path(result["results_json"]).read_text()))
    assert result["diversity"] == caption_diversity([c["caption"] for c in captions])
    assert 0 < result["diversity"]["distinct_ratio"] <= 1 and result["diversity"]["vocabulary"] > 3


def test_caption_diversity_counts():
    from pipeline.caption_metrics import caption_diversity

    found = caption_diversity(["a dog runs", "A dog runs ", "a cat sits on a mat", "a dog runs"])
    assert found == {"distinct_captions": 2, "distinct_ratio": 0.5, "vocabulary": 7, "mean_words": 3.75}
