"""Image decoding (modes, EXIF, damaged input), the cached image stage and augmentation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.data.images import (
    Augment,
    AugmentConfig,
    ImageConfig,
    build_image_stage,
    load_rgb,
    open_split,
    prepare_image,
)
from pipeline.errors import PipelineError


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **kwargs)
    return buffer.getvalue()


def test_modes_become_rgb():
    grey = Image.new("L", (40, 30), 128)
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    rgba = Image.new("RGBA", (40, 30), (0, 0, 0, 0))  # fully transparent → white background
    palette = Image.new("P", (40, 30), 0)
    palette.putpalette([0, 0, 255] + [0] * 765)
    deep = Image.fromarray(np.full((30, 40), 4000, dtype=np.uint16))
    for source, expected in [
        (_png(grey), (128, 128, 128)),
        (_jpeg(cmyk), (255, 0, 0)),
        (_png(rgba), (255, 255, 255)),
        (_png(palette), (0, 0, 255)),
    ]:
        image = load_rgb(source)
        assert image.mode == "RGB" and image.size == (40, 30)
        assert np.abs(np.asarray(image)[15, 20].astype(int) - expected).max() <= 3
    assert load_rgb(deep).mode == "RGB"


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (60, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    assert load_rgb(_jpeg(image, exif=exif.tobytes())).size == (20, 60)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"this is not an image", "not an image file"),
        (_jpeg(Image.new("RGB", (64, 64), (1, 2, 3)))[:300], "truncated"),  # header cut
        (
            _jpeg(Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)))[:6000],
            "truncated",
        ),  # pixel data cut
        (_png(Image.new("RGB", (1, 1))), "1x1 pixels"),
    ],
)
def test_bad_input_is_one_clear_error(payload, message):
    with pytest.raises(PipelineError, match=message):
        load_rgb(payload, name="upload")


def test_missing_file(tmp_path):
    with pytest.raises(PipelineError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")


def test_resize_modes():
    image = Image.new("RGB", (100, 50), (0, 0, 0))
    assert prepare_image(image, 32, "squash").shape == (32, 32, 3)
    assert prepare_image(image, 32, "center_crop").shape == (32, 32, 3)


def test_image_stage_caches_and_invalidates(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    splits = {"train": paths[:3], "test": paths[3:]}
    first = build_image_stage(tmp_path / "stages", splits, ImageConfig(size=16))
    again = build_image_stage(tmp_path / "stages", splits, ImageConfig(size=16))
    assert first.built and not again.built and again.path == first.path
    cached = open_split(again, "train")
    assert isinstance(cached, np.memmap) and cached.dtype == np.uint8 and cached.shape == (3, 16, 16, 3)
    assert np.array_equal(cached[1], prepare_image(load_rgb(paths[1]), 16))
    assert len(again.manifest["stats"]["mean"]) == 3
    resized = build_image_stage(tmp_path / "stages", splits, ImageConfig(size=12))
    assert resized.built and resized.path != first.path
    Image.new("RGB", (30, 30)).save(paths[4])  # an input changed → rebuild
    assert build_image_stage(tmp_path / "stages", splits, ImageConfig(size=12)).built


def test_augment_is_seeded_and_identity_when_off():
    images = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    augment = Augment(AugmentConfig())
    a = augment(images, torch.Generator().manual_seed(3))
    b = augment(images, torch.Generator().manual_seed(3))
    assert a.shape == (4, 3, 16, 16) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    off = Augment(AugmentConfig(crop_scale=(1.0, 1.0), hflip=0.0, jitter=0.0))
    assert torch.equal(off(images, torch.Generator()), images.permute(0, 3, 1, 2).float() / 255)


def test_caption_batches_are_fixed_by_seed_and_epoch():
    from pipeline.data.caption_batches import CaptionBatches
    from pipeline.data.captions import CaptionSplit

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (7, 16, 16, 3), dtype=np.uint8)
    lengths = rng.integers(2, 6, 7 * 3)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    split = CaptionSplit(
        rng.integers(4, 30, int(offsets[-1])).astype(np.int32),
        offsets,
        np.repeat(np.arange(7), 3).astype(np.int32),
        [f"{i}.jpg" for i in range(7)],
        [[]] * 7,
    )
    source = CaptionBatches(
        split, pixels, batch_images=3, max_caption_len=4, seed=5, augment=Augment(AugmentConfig()), captions_per_image=2
    )
    first, again = source.epoch(1), source.epoch(1)
    assert len(first) == 3
    for a, b in zip(first, again, strict=True):  # what a resumed run rebuilds is what it saw
        assert torch.equal(a.images, b.images) and torch.equal(a.tgt_out, b.tgt_out)
    batch = first[0]
    assert batch.tgt_in.shape == batch.tgt_out.shape and batch.tgt_in.shape[1] <= 5  # 4 words + </s>
    assert batch.caption_image.tolist() == [0, 0, 1, 1, 2, 2]  # each image once, two captions each
    assert batch.n_tokens == int((batch.tgt_out != 0).sum())
    order = [torch.cat([b.image_index for b in source.epoch(e)]).tolist() for e in (1, 2)]
    assert sorted(order[0]) == list(range(7)) and order[0] != order[1]  # every image once, reshuffled


def test_a_flipped_image_gets_its_captions_mirrored():
    """hflip with flip_swaps: the captions of a flipped image say right where they said left, and back."""
    from pipeline.data.caption_batches import CaptionBatches
    from pipeline.data.captions import CaptionSplit
    from pipeline.data.vocabulary import Vocabulary
    from pipeline.tasks.captioning import flip_swaps

    vocab = Vocabulary.build([["a", "dog", "left", "of", "the", "right", "door"]])
    words = [["a", "dog", "left", "of", "the", "door"], ["the", "right", "door"]]
    ids = [vocab.encode(w) for w in words]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])])
    split = CaptionSplit(np.concatenate(ids).astype(np.int32), offsets, np.zeros(2, np.int32), ["0.jpg"], [[]])
    pixels = np.random.default_rng(0).integers(0, 255, (1, 8, 8, 3), dtype=np.uint8)
    swaps = flip_swaps(vocab, [("left", "right"), ("up", "down")])  # up/down are not in the vocabulary
    assert swaps == {
        vocab.encode(["left"])[0]: vocab.encode(["right"])[0],
        vocab.encode(["right"])[0]: vocab.encode(["left"])[0],
    }

    def captions(hflip: float, swaps: dict) -> list[list[str]]:
        augment = Augment(AugmentConfig(crop_scale=(1.0, 1.0), hflip=hflip, jitter=0.0))
        batch = CaptionBatches(split, pixels, 1, 20, 0, augment, None, swaps).epoch(0)[0]
        if hflip:
            assert torch.equal(batch.images[0], torch.from_numpy(pixels[0]).permute(2, 0, 1).float().flip(-1) / 255)
        return [vocab.decode(row.tolist()) for row in batch.tgt_out]

    assert captions(1.0, swaps) == [["a", "dog", "right", "of", "the", "door"], ["the", "left", "door"]]
    assert captions(0.0, swaps) == words  # not flipped: untouched
    assert captions(1.0, {}) == words  # flip_swaps: [] flips the image alone
