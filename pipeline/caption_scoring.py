"""Scoring a captioner on a prepared split: decode (locally or on Ray Data), coco-caption scores, the COCO
annotation and result files, and a few samples with their per-image CIDEr-D."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.caption_metrics import CiderDTable, caption_diversity, ptb_tokenize, score_captions
from pipeline.data.caption_batches import image_batches
from pipeline.data.captions import PreparedCaptions
from pipeline.data.coco import image_ids, write_coco_annotations, write_coco_results
from pipeline.data.flickr8k import CaptionedImage
from pipeline.distributed import caption_on_ray
from pipeline.inference.captioner import Captioner
from pipeline.progress import progress


def decode_split(
    captioner: Captioner, data: PreparedCaptions, split: str, beam_size: int, limit: int | None = None
) -> list[str]:
    """Captions for the split's images (first ``limit``), in split order."""
    pixels = data.pixels(split)
    total = len(pixels) if limit is None else min(limit, len(pixels))
    texts: list[str] = []
    batches = image_batches(pixels, captioner.search.batch_size, limit)
    for _, images in progress(
        batches, desc=f"caption {split} beam {beam_size}", total=-(-total // captioner.search.batch_size), unit="batch"
    ):
        result = captioner.caption_tensors(images, beam_size)
        texts.extend(captioner.text(h[0].tokens) for h in result.hypotheses)
    return texts


def write_annotations(data: PreparedCaptions, split: str, out_dir: Path) -> Path:
    """The split's references as a COCO annotation file (what external coco-caption tools read)."""
    refs = data.split(split)
    rows = [CaptionedImage(n, Path(n), tuple(r)) for n, r in zip(refs.names, refs.references, strict=True)]
    path = out_dir / f"annotations-{split}.json"
    write_coco_annotations(path, rows)
    return path


def score_split(
    captioner: Captioner,
    data: PreparedCaptions,
    split: str,
    beam_size: int,
    limit: int | None,
    out_dir: Path,
    engine: str = "local",
    address: str | None = None,
) -> dict:
    """Decode, score with the coco-caption scorers and write the COCO results JSON for one split/beam."""
    refs = data.split(split)
    started = time.perf_counter()
    if engine == "ray":  # same batches as decode_split, decoded by Ray Data actors
        hyps = caption_on_ray(captioner, data.pixels(split)[:limit], beam_size, address)
    else:
        hyps = decode_split(captioner, data, split, beam_size, limit)
    seconds = time.perf_counter() - started
    names = refs.names[: len(hyps)]
    scores = score_captions(dict(enumerate(refs.references[: len(hyps)])), dict(enumerate(hyps)))
    search = "greedy" if beam_size == 1 else f"beam{beam_size}"
    results = out_dir / f"results-{split}-{search}.json"
    write_coco_results(results, dict(zip(names, hyps, strict=True)), image_ids(names))
    samples = _samples(data, names[:5], hyps[:5], refs.references[:5])
    return {
        "scores": {k: round(v, 4) for k, v in scores.corpus.items()},
        "diversity": caption_diversity(hyps),
        "images": scores.n_images,
        "references": scores.n_references,
        "notes": scores.notes,
        "decode_seconds": round(seconds, 2),
        "results_json": str(results),
        "samples": samples,
    }


def _samples(data: PreparedCaptions, names: list[str], hyps: list[str], refs: list[list[str]]) -> list[dict]:
    """A few examples with their per-image CIDEr-D, scored against the fixed training df table
    (corpus-mode CIDEr-D of a lone image is always 0; see pipeline.caption_metrics)."""
    table = CiderDTable.from_json((data.captions.path / "cider_df.json").read_text(encoding="utf-8"))
    tok_hyps = ptb_tokenize({i: [h] for i, h in enumerate(hyps)})
    tok_refs = ptb_tokenize(dict(enumerate(refs)))
    per_image = table.score_many([tok_hyps[i][0] for i in range(len(hyps))], [tok_refs[i] for i in range(len(refs))])
    return [
        {"image": n, "hypothesis": h, "references": r, "cider_d_train_df": round(float(c), 4)}
        for n, h, r, c in zip(names, hyps, refs, per_image, strict=True)
    ]
