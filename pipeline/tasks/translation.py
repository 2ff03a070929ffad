"""Translation task: Multi30k stages → biLSTM encoder-decoder with attention → sacreBLEU."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from pipeline.config import Config, RunConfig, dump_yaml
from pipeline.data.batching import TokenBucketBatches, TranslationBatch
from pipeline.data.translation_stages import PreparedData, TranslationDataConfig, prepare_translation
from pipeline.device import resolve_runtime
from pipeline.errors import PipelineError
from pipeline.files import write_json, write_text
from pipeline.inference.translator import SearchConfig, Translator
from pipeline.metrics import bleu, translation_scores
from pipeline.models.seq2seq import TranslationModelConfig, build_translation_model
from pipeline.progress import log, table
from pipeline.tasks import Task
from pipeline.training.trainer import LossOutput, TrainConfig, Trainer

TEST_SPLITS = ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")


class BatchingConfig(Config):
    """The ``batching:`` section."""

    max_tokens: int = 4000  # padded tokens per training batch (rows × longest side)


class TranslationConfig(Config):
    task: Literal["translation"]
    run: RunConfig = RunConfig()
    data: TranslationDataConfig = TranslationDataConfig()
    model: TranslationModelConfig = TranslationModelConfig()
    batching: BatchingConfig = BatchingConfig()
    label_smoothing: float = 0.1
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    valid_limit: int | None = None  # validate on the first N val sentences only (None: all)


def prepare(cfg: TranslationConfig, force: bool = False) -> PreparedData:
    return prepare_translation(cfg.data, cfg.run.stages, force)


def label_smoothed_loss(model, batch: TranslationBatch, smoothing: float) -> LossOutput:
    """Cross-entropy with label smoothing (Szegedy et al. 2016, §7), averaged over target tokens."""
    logits = model(batch.tgt_in, src=batch.src, src_lengths=batch.src_lengths).logits  # (B, T, V)
    n_tokens = batch.n_tokens
    loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0,
                           label_smoothing=smoothing, reduction="sum") / max(n_tokens, 1)
    return LossOutput(loss, n_tokens)


def train(cfg: TranslationConfig, args: argparse.Namespace | None = None) -> Path:
    data = prepare(cfg, force=bool(getattr(args, "force", False)))
    runtime = resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    model = build_translation_model(cfg.model, len(data.src_model), len(data.tgt_model))
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters on {runtime.device} "
        f"({runtime.amp_dtype or 'fp32'})")
    train_split = data.split("train")
    batches = TokenBucketBatches(train_split.src, train_split.tgt, cfg.batching.max_tokens, cfg.train.seed)
    valid = data.split("val")
    refs = data.references("val")
    if cfg.valid_limit:
        valid.src, refs = valid.src[: cfg.valid_limit], refs[: cfg.valid_limit]

    def validate(model) -> dict[str, float]:
        translator = Translator(model, data.src_model, data.tgt_model, cfg.data.src_lang, cfg.data.tgt_lang,
                                cfg.search, runtime)
        hyps = [translator.detokenize(h[0].tokens) for h in translator.translate_ids(valid.src, beam_size=1)]
        return {"bleu": round(bleu(hyps, refs)[0], 2)}

    run_dir = Path(cfg.run.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    meta = {"task": "translation", "config": cfg.to_dict(), "src_subwords": data.src_model.to_json(),
            "tgt_subwords": data.tgt_model.to_json(), "data_fingerprint": data.ids.fingerprint}
    trainer = Trainer(cfg.train, runtime, model, lambda m, b: label_smoothed_loss(m, b, cfg.label_smoothing),
                      batches, validate, run_dir, meta, score_name="bleu")
    started = time.perf_counter()
    state = trainer.fit(resume=not bool(getattr(args, "restart", False)))
    log(f"training finished at step {state.step} after {time.perf_counter() - started:.0f}s; "
        f"best val BLEU {state.best_score}{' (early stop)' if state.stopped_early else ''}")
    return run_dir


def _score_split(translator: Translator, data_cfg: TranslationDataConfig, split: str, beam: int,
                 limit: int | None, engine: str, address: str | None) -> dict:
    from pipeline.data import multi30k

    sources = multi30k.read_split(split, data_cfg.src_lang, data_cfg.root)[:limit]
    refs = multi30k.read_split(split, data_cfg.tgt_lang, data_cfg.root)[:limit]
    started = time.perf_counter()
    if engine == "ray":
        from pipeline.distributed import translate_on_ray

        hyps = translate_on_ray(translator, sources, beam, address)
    else:
        hyps = [t.text for t in translator.translate(sources, beam_size=beam)]
    seconds = time.perf_counter() - started
    scores = translation_scores(hyps, refs, data_cfg.tgt_lang)
    return {**scores, "sentences": len(hyps), "decode_seconds": round(seconds, 2),
            "samples": [{"source": s, "reference": r, "hypothesis": h} for s, r, h in
                        list(zip(sources, refs, hyps))[:5]], "hypotheses": hyps}


def evaluate(checkpoint: Path, args: argparse.Namespace) -> dict:
    translator = Translator.from_checkpoint(checkpoint, quantize=getattr(args, "quantize", "none"))
    cfg = TranslationConfig.model_validate(translator.meta["config"])
    splits = args.splits or ["val", *TEST_SPLITS]
    beams = args.beam_size or [1, cfg.search.beam_size]
    report = {"task": "translation", "checkpoint": str(checkpoint), "pair": translator.pair,
              "train_step": translator.meta.get("step"), "valid_scores": translator.meta.get("scores"),
              "engine": args.engine, "quantize": translator.quantized, "splits": {}}
    rows = []
    for split in splits:
        report["splits"][split] = {}
        for beam in beams:
            result = _score_split(translator, cfg.data, split, beam, args.limit, args.engine, args.address)
            name = "greedy" if beam == 1 else f"beam{beam}"
            report["splits"][split][name] = result
            rows.append([split, name, result["sentences"], result["bleu"], result["chrf"], result["ter"],
                         result["tok_lc_bleu"], result["decode_seconds"]])
    out = Path(args.report) if args.report else checkpoint.parent.parent / f"report-{args.engine}.json"
    write_json(out, report)
    print(table(rows, ["split", "search", "sents", "BLEU", "chrF", "TER", "tok-lc BLEU", "seconds"]))
    first = report["splits"][splits[0]]
    print(f"\nsacreBLEU: {next(iter(first.values()))['signatures']['bleu']}")
    for sample in next(iter(first.values()))["samples"][:3]:
        print(f"\nSRC  {sample['source']}\nREF  {sample['reference']}\nHYP  {sample['hypothesis']}")
    print(f"\nreport: {out}")
    return report


def _check(cfg: TranslationConfig) -> None:
    if cfg.data.src_lang == cfg.data.tgt_lang:
        raise PipelineError(f"source and target language are both {cfg.data.src_lang!r}")


def _prepare_cmd(cfg: TranslationConfig, force: bool) -> PreparedData:
    _check(cfg)
    return prepare(cfg, force)


def _train_cmd(cfg: TranslationConfig, args: argparse.Namespace) -> Path:
    _check(cfg)
    return train(cfg, args)


TASK = Task("translation", TranslationConfig, _prepare_cmd, _train_cmd, evaluate,
            "LSTM encoder-decoder with attention on Multi30k")
