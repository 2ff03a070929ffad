"""Captioning task: Flickr8k (or COCO-format) stages → CNN + shared attention LSTM decoder → coco-caption scores."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from pipeline.caption_metrics import METRICS, score_captions
from pipeline.config import Config, RunConfig, dump_yaml
from pipeline.data.caption_batches import CaptionBatch, CaptionBatches, image_batches
from pipeline.data.captions import CaptionDataConfig, PreparedCaptions, prepare_captions
from pipeline.data.images import Augment
from pipeline.data.vocabulary import Vocabulary
from pipeline.device import resolve_runtime
from pipeline.files import write_json, write_text
from pipeline.inference.captioner import Captioner, CaptionSearchConfig
from pipeline.models.captioner import (
    CaptionModelConfig,
    build_caption_model,
    concept_targets,
    doubly_stochastic_penalty,
)
from pipeline.progress import log, progress, table
from pipeline.tasks import Task
from pipeline.training.trainer import LossOutput, TrainConfig, Trainer

ScoreName = Literal["BLEU-4", "CIDEr-D", "ROUGE-L"]


class CaptionBatchingConfig(Config):
    """The ``batching:`` section."""

    batch_images: int = 32  # images per training batch; each brings its captions
    captions_per_image: int | None = None  # captions of each image used per epoch (None: all 5)


class CaptioningConfig(Config):
    task: Literal["captioning"]
    run: RunConfig = RunConfig()
    data: CaptionDataConfig = CaptionDataConfig()
    model: CaptionModelConfig = CaptionModelConfig()
    batching: CaptionBatchingConfig = CaptionBatchingConfig()
    label_smoothing: float = 0.0
    train: TrainConfig = TrainConfig()
    search: CaptionSearchConfig = CaptionSearchConfig()
    valid_metric: ScoreName = "CIDEr-D"  # early stopping / best.pt on this dev score (greedy)
    valid_limit: int | None = None  # validate on the first N dev images only (None: all)
    test_splits: tuple[str, ...] = ("test",)  # what evaluate scores by default
    eval_beam_sizes: tuple[int, ...] = (1, 3)  # ... with these beams (1 = greedy)


def prepare(cfg: CaptioningConfig, force: bool = False) -> PreparedCaptions:
    return prepare_captions(cfg.data, cfg.run.stages, force)


def caption_loss(model, batch: CaptionBatch, smoothing: float, attention_weight: float,
                 concept_weight: float = 0.0) -> LossOutput:
    """Token-averaged cross-entropy (+ λ · doubly stochastic attention penalty, Xu et al. 2015 eq. 14)
    (+ the auxiliary visual-concept loss, see :class:`CaptionModel`)."""
    image_enc = model.encode(images=batch.images)
    enc = image_enc.select(batch.caption_image)  # each image once, repeated per caption
    out = model.decoder(batch.tgt_in, enc)  # logits (N, T, V), attention (N, T, S) | None
    n_tokens = batch.n_tokens
    xent = F.cross_entropy(out.logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0,
                           label_smoothing=smoothing, reduction="sum")
    total, extras = xent, {"xent": float(xent.detach()) / max(n_tokens, 1)}
    if attention_weight > 0 and out.attention is not None:
        penalty = attention_weight * doubly_stochastic_penalty(out.attention.float(), batch.tgt_out != 0)
        total = total + penalty
        extras["attention_penalty"] = float(penalty.detach()) / max(n_tokens, 1)
    if concept_weight > 0:
        logits = model.concept_head(image_enc.summary).float()  # (B, V)
        targets = concept_targets(batch.tgt_out, batch.caption_image, len(logits), logits.shape[-1],
                                  (Vocabulary.pad_id, Vocabulary.eos_id, Vocabulary.unk_id))
        # summed over images and words; the total is divided by the target tokens below, like the xent
        concepts = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        total = total + concept_weight * concepts
        extras["concept_bce"] = float(concepts.detach()) / len(logits)
    return LossOutput(total / max(n_tokens, 1), n_tokens, extras)


def decode_split(captioner: Captioner, data: PreparedCaptions, split: str, beam_size: int,
                 limit: int | None = None) -> list[str]:
    """Captions for the split's images (first ``limit``), in split order."""
    pixels = data.pixels(split)
    total = len(pixels) if limit is None else min(limit, len(pixels))
    texts: list[str] = []
    batches = image_batches(pixels, captioner.search.batch_size, limit)
    for _, images in progress(batches, desc=f"caption {split} beam {beam_size}",
                              total=-(-total // captioner.search.batch_size), unit="batch"):
        result = captioner.caption_tensors(images, beam_size)
        texts.extend(captioner.text(h[0].tokens) for h in result.hypotheses)
    return texts


def train(cfg: CaptioningConfig, args: argparse.Namespace | None = None) -> Path:
    data = prepare(cfg, force=bool(getattr(args, "force", False)))
    runtime = resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    mean, std = data.mean_std
    model = build_caption_model(cfg.model, len(data.vocab), mean, std)
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters on {runtime.device} "
        f"({runtime.amp_dtype or 'fp32'}), grid {model.encoder.grid_shape(cfg.data.images.size)}, "
        f"vocabulary {len(data.vocab)}")
    augment = Augment(cfg.data.augment)
    batches = CaptionBatches(data.split("train"), data.pixels("train"), cfg.batching.batch_images,
                             cfg.data.max_caption_len, cfg.train.seed, augment, cfg.batching.captions_per_image)
    dev = data.split("dev")
    limit = cfg.valid_limit or len(dev.names)

    def validate(model) -> dict[str, float]:
        captioner = Captioner(model, data.vocab, cfg.data.images, cfg.search, runtime)
        hyps = decode_split(captioner, data, "dev", beam_size=1, limit=limit)
        scores = score_captions(dict(enumerate(dev.references[:limit])), dict(enumerate(hyps)), meteor=False)
        return {k: round(v, 4) for k, v in scores.corpus.items() if k in ("BLEU-4", "ROUGE-L", "CIDEr-D")}

    run_dir = Path(cfg.run.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    meta = {"task": "captioning", "config": cfg.to_dict(), "vocab": data.vocab.to_json(),
            "data_fingerprint": {"images": data.images.fingerprint, "captions": data.captions.fingerprint},
            "cider_df": str(data.captions.path / "cider_df.json")}
    weight, concepts = cfg.model.attention_regularization, cfg.model.concept_loss
    trainer = Trainer(cfg.train, runtime, model,
                      lambda m, b: caption_loss(m, b, cfg.label_smoothing, weight, concepts),
                      batches, validate, run_dir, meta, score_name=cfg.valid_metric)
    started = time.perf_counter()
    state = trainer.fit(resume=not bool(getattr(args, "restart", False)))
    log(f"training finished at step {state.step} after {time.perf_counter() - started:.0f}s; "
        f"best dev {cfg.valid_metric} {state.best_score}{' (early stop)' if state.stopped_early else ''}")
    return run_dir


def score_split(captioner: Captioner, data: PreparedCaptions, split: str, beam_size: int, limit: int | None,
                out_dir: Path, engine: str = "local", address: str | None = None) -> dict:
    """Decode, score with the coco-caption scorers and write the COCO results JSON for one split/beam."""
    from pipeline.data.coco import image_ids, write_coco_results

    refs = data.split(split)
    started = time.perf_counter()
    if engine == "ray":  # same batches as decode_split, decoded by Ray Data actors
        from pipeline.distributed import caption_on_ray

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
    return {"scores": {k: round(v, 4) for k, v in scores.corpus.items()}, "images": scores.n_images,
            "references": scores.n_references, "notes": scores.notes, "decode_seconds": round(seconds, 2),
            "results_json": str(results), "samples": samples}


def _samples(data: PreparedCaptions, names: list[str], hyps: list[str], refs: list[list[str]]) -> list[dict]:
    """A few examples with their per-image CIDEr-D, scored against the fixed training df table
    (corpus-mode CIDEr-D of a lone image is always 0; see pipeline.caption_metrics)."""
    from pipeline.caption_metrics import CiderDTable, ptb_tokenize

    table = CiderDTable.from_json((data.captions.path / "cider_df.json").read_text(encoding="utf-8"))
    tok_hyps = ptb_tokenize({i: [h] for i, h in enumerate(hyps)})
    tok_refs = ptb_tokenize(dict(enumerate(refs)))
    per_image = table.score_many([tok_hyps[i][0] for i in range(len(hyps))], [tok_refs[i] for i in range(len(refs))])
    return [{"image": n, "hypothesis": h, "references": r, "cider_d_train_df": round(float(c), 4)}
            for n, h, r, c in zip(names, hyps, refs, per_image, strict=True)]


def evaluate(checkpoint: Path, args: argparse.Namespace) -> dict:
    from pipeline.data.coco import write_coco_annotations
    from pipeline.data.flickr8k import CaptionedImage

    captioner = Captioner.from_checkpoint(checkpoint, quantize=getattr(args, "quantize", "none"))
    cfg = CaptioningConfig.model_validate(captioner.meta["config"])
    data = prepare(cfg)
    splits = getattr(args, "splits", None) or list(cfg.test_splits)
    beams = getattr(args, "beam_size", None) or list(cfg.eval_beam_sizes)
    out_dir = Path(args.report).parent if getattr(args, "report", None) else checkpoint.parent.parent
    report = {"task": "captioning", "checkpoint": str(checkpoint), "train_step": captioner.meta.get("step"),
              "valid_scores": captioner.meta.get("scores"), "attention": captioner.has_attention,
              "engine": getattr(args, "engine", "local"), "quantize": captioner.quantized, "splits": {}}
    rows = []
    for split in splits:
        refs = data.split(split)
        rows_gt = [CaptionedImage(n, Path(n), tuple(r)) for n, r in zip(refs.names, refs.references, strict=True)]
        write_coco_annotations(out_dir / f"annotations-{split}.json", rows_gt)
        report["splits"][split] = {}
        for beam in beams:
            result = score_split(captioner, data, split, beam, getattr(args, "limit", None), out_dir,
                                 getattr(args, "engine", "local"), getattr(args, "address", None))
            search = "greedy" if beam == 1 else f"beam{beam}"
            report["splits"][split][search] = result
            rows.append([split, search, result["images"], result["references"],
                         *[result["scores"].get(m, "-") for m in METRICS], result["decode_seconds"]])
    path = Path(args.report) if getattr(args, "report", None) else out_dir / "report.json"
    write_json(path, report)
    print(table(rows, ["split", "search", "images", "refs", *METRICS, "seconds"]))
    first = next(iter(next(iter(report["splits"].values())).values()))
    for sample in first["samples"][:3]:
        print(f"\n{sample['image']}\nHYP  {sample['hypothesis']}\nREF  {sample['references'][0]}")
    print(f"\nreport: {path}")
    return report


TASK = Task("captioning", CaptioningConfig, prepare, train, evaluate,
            "CNN encoder + attention LSTM decoder on Flickr8k, coco-caption scores")
