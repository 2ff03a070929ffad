"""COCO caption format through pycocotools: read any ``captions_*.json``, write ours and our results.

* :func:`load_coco_captions` turns an annotation file plus an image folder (MS-COCO, Flickr30k or
  Flickr8k in COCO form) into :class:`~pipeline.data.flickr8k.CaptionedImage` rows, so every
  captioning stage works the same on them.
* :func:`coco_annotations` / :func:`write_coco_annotations` write references as a COCO caption
  ground-truth file that ``COCO()`` loads.
* :func:`write_coco_results` writes predictions as ``[{"image_id", "caption"}]``, the results
  format ``COCO.loadRes`` accepts (one caption per image id of the ground truth).

Image ids: an image's own numeric file-name prefix when every image has a distinct one (Flickr8k's
``1000268201_693b08cb0e.jpg`` → 1000268201, which is also its Flickr30k id), else 1, 2, ... in order.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.data.flickr8k import CaptionedImage
from pipeline.errors import PipelineError
from pipeline.files import write_json

_NUMERIC_PREFIX = re.compile(r"^(\d+)")


@contextlib.contextmanager
def _quiet_stdout():
    """pycocotools prints progress on stdout; keep stdout for command results."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def load_coco(annotation_file: str | Path):
    from pycocotools.coco import COCO

    path = Path(annotation_file)
    if not path.is_file():
        raise PipelineError(f"COCO annotation file not found: {path}")
    try:
        with _quiet_stdout():
            return COCO(str(path))
    except (ValueError, KeyError, TypeError, AssertionError) as err:
        raise PipelineError(f"{path} is not a COCO caption file ({type(err).__name__}: {err})") from None


def load_coco_captions(annotation_file: str | Path, image_dir: str | Path) -> list[CaptionedImage]:
    """Every image with at least one caption, in image-id order, captions in annotation-id order."""
    coco = load_coco(annotation_file)
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise PipelineError(f"COCO image folder not found: {image_dir}")
    out = []
    for image_id in sorted(coco.getImgIds()):
        anns = sorted(coco.imgToAnns.get(image_id, []), key=lambda a: a["id"])
        captions = tuple(a["caption"].strip() for a in anns if "caption" in a)
        if captions:
            file_name = coco.imgs[image_id]["file_name"]
            out.append(CaptionedImage(file_name, image_dir / file_name, captions))
    if not out:
        raise PipelineError(f"{annotation_file} has no caption annotations")
    return out


def image_ids(file_names: Sequence[str]) -> dict[str, int]:
    """File name → integer COCO image id (see module docstring)."""
    prefixes = [_NUMERIC_PREFIX.match(Path(n).name) for n in file_names]
    if all(prefixes):
        ids = [int(m.group(1)) for m in prefixes]
        if len(set(ids)) == len(ids):
            return dict(zip(file_names, ids, strict=True))
    return {name: i + 1 for i, name in enumerate(file_names)}


def coco_annotations(examples: Sequence[CaptionedImage], description: str = "") -> dict:
    """References as a COCO caption ground-truth mapping (``info``, ``images``, ``annotations``)."""
    ids = image_ids([ex.image_id for ex in examples])
    images = [{"id": ids[ex.image_id], "file_name": ex.image_id} for ex in examples]
    annotations = []
    for ex in examples:
        for caption in ex.captions:
            annotations.append({"id": len(annotations) + 1, "image_id": ids[ex.image_id], "caption": caption})
    return {
        "info": {"description": description},
        "licenses": [],
        "type": "captions",
        "images": images,
        "annotations": annotations,
    }


def write_coco_annotations(path: str | Path, examples: Sequence[CaptionedImage], description: str = "") -> dict:
    data = coco_annotations(examples, description)
    write_json(path, data)
    return data


def coco_results(predictions: Mapping[str, str], ids: Mapping[str, int]) -> list[dict]:
    """{file name: caption} → ``[{"image_id": int, "caption": str}]`` in ``ids`` order."""
    unknown = [name for name in predictions if name not in ids]
    if unknown:
        raise ValueError(f"{len(unknown)} predictions for images outside the ground truth, e.g. {unknown[0]}")
    return [{"image_id": ids[name], "caption": predictions[name]} for name in ids if name in predictions]


def write_coco_results(path: str | Path, predictions: Mapping[str, str], ids: Mapping[str, int]) -> list[dict]:
    results = coco_results(predictions, ids)
    write_json(path, results)
    return results
