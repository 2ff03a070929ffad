"""``pipeline caption``: captions and attention figures for good images, one clear line for bad ones."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.cli import main
from pipeline.data.vocabulary import SPECIALS, Vocabulary
from pipeline.inference.captioner import CaptioningConfig
from pipeline.models.captioner import build_caption_model

WORDS = ["a", "dog", "runs", "on", "grass"]


def _checkpoint(path, attention: str = "bahdanau") -> str:
    """An untrained but complete captioning checkpoint (its captions are arbitrary words)."""
    cfg = CaptioningConfig.model_validate(
        {
            "task": "captioning",
            "data": {"images": {"size": 32}},
            "model": {
                "encoder": {"widths": [8, 16], "blocks": [1, 1]},
                "decoder": {
                    "embedding_size": 8,
                    "hidden_size": 16,
                    "attention": attention,
                    "init": "bridge" if attention != "none" else "feed",
                    "attention_size": 8,
                },
            },
            "search": {"max_output_len": 6},
        }
    )
    vocab = Vocabulary(list(SPECIALS) + WORDS)
    torch.manual_seed(0)
    model = build_caption_model(cfg.model, len(vocab))
    save_checkpoint(
        path, Checkpoint({"task": "captioning", "config": cfg.to_dict(), "vocab": vocab.to_json()}, model.state_dict())
    )
    return str(path)


def _save(path, image: Image.Image, fmt: str, **kwargs) -> str:
    image.save(path, format=fmt, **kwargs)
    return str(path)


@pytest.fixture()
def photo():
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_caption_good_images_and_attention_png(tmp_path, photo, capsys):
    ckpt = _checkpoint(tmp_path / "model.pt")
    paths = [
        _save(tmp_path / "a.jpg", photo, "JPEG"),
        _save(tmp_path / "b.webp", photo, "WEBP"),
        _save(tmp_path / "grey.png", photo.convert("L"), "PNG"),
        _save(tmp_path / "cmyk.jpg", photo.convert("CMYK"), "JPEG"),
    ]
    code = main(
        ["caption", *paths, "--checkpoint", ckpt, "--beam-size", "2", "--attention-png", str(tmp_path / "att.png")]
    )
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == paths
    assert all(set(line.split("\t")[1].split()) <= set(WORDS) for line in lines)
    assert "grey.png is a L image; converted to RGB" in captured.err and "CMYK" in captured.err
    for i in range(1, 5):
        assert Image.open(tmp_path / f"att-{i}.png").format == "PNG"


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()[:5000]


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("missing.jpg", None, "no such file"),
        ("notes.jpg", b"plain text, not pixels", "not an image file"),
        ("cut.jpg", _truncated_jpeg(), "truncated"),
        ("pixel.png", "1x1", "1x1 pixels"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, name, payload, message):
    ckpt = _checkpoint(tmp_path / "model.pt")
    path = tmp_path / name
    if payload == "1x1":
        Image.new("RGB", (1, 1)).save(path)
    elif payload is not None:
        path.write_bytes(payload)
    code = main(["caption", str(path), "--checkpoint", ckpt])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_attention_png_needs_an_attention_model(tmp_path, photo, capsys):
    ckpt = _checkpoint(tmp_path / "sat.pt", attention="none")
    image = _save(tmp_path / "a.png", photo, "PNG")
    assert main(["caption", image, "--checkpoint", ckpt]) == 0
    assert main(["caption", image, "--checkpoint", ckpt, "--attention-png", str(tmp_path / "x.png")]) == 2
    assert "no attention" in capsys.readouterr().err
