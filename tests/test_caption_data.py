"""Flickr8k reader: both caption formats, both split-list names, quoted commas, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.data.flickr8k import load_flickr8k, read_captions_csv
from pipeline.errors import PipelineError


def _write_root(root: Path, token_format: bool) -> None:
    (root / "images").mkdir(parents=True)
    names = [f"{i}_abc.jpg" for i in range(4)]
    for n in names:
        (root / "images" / n).write_bytes(b"")
    if token_format:
        lines = [f"{n}#{k}\tcaption {k} of {n} , with comma" for n in names for k in range(5)]
        (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
        split_names = {
            "train": "Flickr_8k.trainImages.txt",
            "dev": "Flickr_8k.devImages.txt",
            "test": "Flickr_8k.testImages.txt",
        }
    else:
        rows = ["image,caption"] + [f'{n},"caption {k} of {n} , with comma"' for n in names for k in range(5)]
        (root / "captions.txt").write_text("\n".join(rows) + "\n")
        split_names = {s: f"split_{s}.txt" for s in ("train", "dev", "test")}
    (root / split_names["train"]).write_text("\n".join(names[:2]) + "\n")
    (root / split_names["dev"]).write_text(names[2] + "\n")
    (root / split_names["test"]).write_text(names[3] + "\n")


@pytest.mark.parametrize("token_format", [False, True])
def test_reader_formats_agree(tmp_path, token_format):
    _write_root(tmp_path, token_format)
    ds = load_flickr8k(str(tmp_path))
    assert [len(ds.splits[s]) for s in ("train", "dev", "test")] == [2, 1, 1]
    test = ds.split("test")
    assert test[0].image_id == "3_abc.jpg" and test[0].path == tmp_path / "images" / "3_abc.jpg"
    assert test[0].captions[1] == "caption 1 of 3_abc.jpg , with comma"
    assert len(test[0].captions) == 5


def test_bad_csv_header_is_one_clear_error(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("file;text\nx;y\n")
    with pytest.raises(PipelineError, match="image,caption"):
        read_captions_csv(path)


def test_missing_root_is_clear(tmp_path):
    with pytest.raises(PipelineError, match="not found"):
        load_flickr8k(str(tmp_path / "nope"))


def test_shared_copy_has_official_splits():
    if not os.environ.get("PIPELINE_DATASETS"):
        pytest.fail("PIPELINE_DATASETS is not set (tests/conftest.py sets it)")
    ds = load_flickr8k()
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 6000, "dev": 1000, "test": 1000}
    assert all(len(ds.captions[i]) == 5 for s in ds.splits.values() for i in s)
    assert not set(ds.splits["train"]) & set(ds.splits["test"])


def test_coco_round_trip(tmp_path):
    from pipeline.data.coco import load_coco, load_coco_captions, write_coco_annotations, write_coco_results
    from pipeline.data.flickr8k import CaptionedImage

    examples = [
        CaptionedImage(
            f"{1000 + i}_x.jpg", tmp_path / f"{1000 + i}_x.jpg", tuple(f"ref {k} , for image {i}" for k in range(5))
        )
        for i in range(3)
    ]
    gt = write_coco_annotations(tmp_path / "captions_test.json", examples)
    ids = {img["file_name"]: img["id"] for img in gt["images"]}
    assert ids == {"1000_x.jpg": 1000, "1001_x.jpg": 1001, "1002_x.jpg": 1002}
    predictions = {ex.image_id: f"a guess for {ex.image_id}" for ex in examples}
    write_coco_results(tmp_path / "results.json", predictions, ids)

    coco = load_coco(tmp_path / "captions_test.json")
    res = coco.loadRes(str(tmp_path / "results.json"))
    assert sorted(res.getImgIds()) == [1000, 1001, 1002]
    assert {res.imgs[i]["file_name"]: res.imgToAnns[i][0]["caption"] for i in res.getImgIds()} == predictions
    assert [a["caption"] for a in coco.imgToAnns[1001]] == list(examples[1].captions)
    # ... and back into our rows: same names, captions, order.
    (tmp_path / "images").mkdir()
    again = load_coco_captions(tmp_path / "captions_test.json", tmp_path / "images")
    assert [(e.image_id, e.captions) for e in again] == [(e.image_id, e.captions) for e in examples]


def test_coco_ids_fall_back_to_order_when_prefixes_clash():
    from pipeline.data.coco import image_ids

    assert image_ids(["a.jpg", "b.jpg"]) == {"a.jpg": 1, "b.jpg": 2}
    assert image_ids(["12_a.jpg", "12_b.jpg"]) == {"12_a.jpg": 1, "12_b.jpg": 2}


def test_coco_bad_file_is_clear(tmp_path):
    from pipeline.data.coco import load_coco

    (tmp_path / "bad.json").write_text('{"images": 3}')
    with pytest.raises(PipelineError, match="not a COCO caption file"):
        load_coco(tmp_path / "bad.json")
