"""Captioning task: Flickr8k (or COCO-format) stages → CNN + shared attention LSTM decoder → coco-caption scores."""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.caption_metrics import METRICS, caption_diversity, score_captions
from pipeline.caption_scoring import decode_split, score_split, write_annotations
from pipeline.data.caption_batches import CaptionBatches
from pipeline.data.captions import prepare_captions
from pipeline.data.images import Augment
from pipeline.evaluation import print_grid, score_grid
from pipeline.inference.captioner import Captioner, CaptioningConfig
from pipeline.losses import caption_loss
from pipeline.models.captioner import build_caption_model
from pipeline.progress import log
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.training.trainer import fit_run, train_runtime

__all__ = ["TASK", "decode_split", "evaluate", "train"]


def encoder_source(encoder) -> dict:
    """Where the captioner's CNN started from, kept in its checkpoints."""
    if encoder.weights:
        from pipeline.models.torchvision_backbone import sha256

        return {"kind": "torchvision", "path": str(encoder.weights), "sha256": sha256(Path(encoder.weights))}
    if encoder.init_checkpoint:
        return {"kind": "project checkpoint", "path": str(encoder.init_checkpoint), "prefix": encoder.init_prefix}
    return {"kind": "random initialisation"}


def flip_swaps(vocab, pairs) -> dict[int, int]:
    """Word pairs to exchange when an image is flipped, as ids of the vocabulary (both directions); a pair
    with a word outside the vocabulary is left out (its captions name <unk>, which no flip changes)."""
    swaps: dict[int, int] = {}
    for a, b in pairs:
        ia, ib = vocab.encode([a, b])
        if vocab.unk_id not in (ia, ib):
            swaps[ia], swaps[ib] = ib, ia
    return swaps


def train(cfg: CaptioningConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    data = prepare_captions(cfg.data, cfg.run.stages, options.force)
    runtime = train_runtime(cfg.train)
    torch.manual_seed(cfg.train.seed)
    mean, std = data.mean_std
    model = build_caption_model(cfg.model, len(data.vocab), mean, std)
    log(f"grid {model.encoder.grid_shape(cfg.data.images.size)}, vocabulary {len(data.vocab)}")
    augment = Augment(cfg.data.augment)
    batches = CaptionBatches(
        data.split("train"),
        data.pixels("train"),
        cfg.train.batch_size,
        cfg.data.max_caption_len,
        cfg.train.seed,
        augment,
        cfg.train.captions_per_image,
        flip_swaps(data.vocab, cfg.data.flip_swaps),
    )
    dev = data.split("dev")
    limit = cfg.train.valid_limit or len(dev.names)

    def validate(model) -> dict[str, float]:
        captioner = Captioner(model, data.vocab, cfg.data.images, cfg.search, runtime)
        hyps = decode_split(captioner, data, "dev", beam_size=1, limit=limit)
        scores = score_captions(dict(enumerate(dev.references[:limit])), dict(enumerate(hyps)), meteor=False)
        kept = {k: round(v, 4) for k, v in scores.corpus.items() if k in ("BLEU-4", "ROUGE-L", "CIDEr-D")}
        return {**kept, "distinct": caption_diversity(hyps)["distinct_ratio"]}

    meta = {
        "vocab": data.vocab.to_json(),
        "data_fingerprint": {"images": data.images.fingerprint, "captions": data.captions.fingerprint},
        "cider_df": str(data.captions.path / "cider_df.json"),
        "encoder_source": encoder_source(cfg.model.encoder),
    }
    m = cfg.model
    return fit_run(
        cfg,
        meta,
        options.restart,
        runtime=runtime,
        model=model,
        loss_fn=lambda mdl, b: caption_loss(
            mdl, b, cfg.train.label_smoothing, m.attention_regularization, m.concept_loss
        ),
        batches=batches,
        validate=validate,
        score_name=cfg.train.valid_metric,
    )


def evaluate(checkpoint: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    options = EvalOptions.of(options)
    captioner = Captioner.from_checkpoints([checkpoint, *options.ensemble], quantize=options.quantize)
    if options.length_penalty is not None:
        captioner.search = captioner.search.model_copy(update={"length_penalty": options.length_penalty})
    cfg: CaptioningConfig = captioner.config
    data = prepare_captions(cfg.data, cfg.run.stages)
    splits = options.splits or list(cfg.evaluate.splits)
    beams = options.beam_size or list(cfg.evaluate.beam_sizes)
    folder = RunFolder.of(checkpoint)
    out_dir = folder.report_path("report.json", options.report).parent
    report = {
        "task": "captioning",
        "checkpoint": str(checkpoint),
        "ensemble": [str(checkpoint), *options.ensemble] if options.ensemble else None,
        "train_step": captioner.meta.get("step"),
        "valid_scores": captioner.meta.get("scores"),
        "attention": captioner.has_attention,
        "engine": options.engine,
        "quantize": captioner.quantized,
        "length_penalty": captioner.search.length_penalty,
        "splits": {},
    }
    for split in splits:
        write_annotations(data, split, out_dir)
    grid = score_grid(
        splits,
        beams,
        lambda split, beam: score_split(
            captioner, data, split, beam, options.limit, out_dir, options.engine, options.address
        ),
        lambda r: [
            r["images"],
            r["references"],
            *[r["scores"].get(m, "-") for m in METRICS],
            r["diversity"]["distinct_ratio"],
            r["diversity"]["vocabulary"],
            r["decode_seconds"],
        ],
    )
    report["splits"] = grid.results
    path = folder.write_report(report, "report.json", options.report)
    notes = [f"\n{s['image']}\nHYP  {s['hypothesis']}\nREF  {s['references'][0]}" for s in grid.first["samples"][:3]]
    print_grid(grid, ["images", "refs", *METRICS, "distinct", "words", "seconds"], notes, path)
    return report


TASK = Task(
    "captioning",
    CaptioningConfig,
    prepare_captions,
    train,
    evaluate,
    "CNN encoder + attention LSTM decoder on Flickr8k, coco-caption scores",
)
