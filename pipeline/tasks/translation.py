"""Translation task: Multi30k stages → biLSTM encoder-decoder with attention → sacreBLEU."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from pipeline.data import multi30k
from pipeline.data.batching import TokenBucketBatches
from pipeline.data.translation_stages import TranslationDataConfig, prepare_translation
from pipeline.distributed import translate_on_ray
from pipeline.evaluation import print_grid, score_grid
from pipeline.inference.translator import TranslationConfig, Translator
from pipeline.losses import label_smoothed_loss
from pipeline.metrics import bleu, translation_scores
from pipeline.models.seq2seq import build_translation_model
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions
from pipeline.training.trainer import fit_run, train_runtime

TEST_SPLITS = ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")


def train(cfg: TranslationConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    data = prepare_translation(cfg.data, cfg.run.stages, options.force)
    runtime = train_runtime(cfg.train)
    torch.manual_seed(cfg.train.seed)
    model = build_translation_model(cfg.model, len(data.src_model), len(data.tgt_model))
    train_split = data.split("train")
    batches = TokenBucketBatches(train_split.src, train_split.tgt, cfg.train.batch_size, cfg.train.seed)
    valid = data.split("val")
    refs = data.references("val")
    if cfg.train.valid_limit:
        valid.src, refs = valid.src[: cfg.train.valid_limit], refs[: cfg.train.valid_limit]

    def validate(model) -> dict[str, float]:
        translator = Translator(
            model, data.src_model, data.tgt_model, cfg.data.src_lang, cfg.data.tgt_lang, cfg.search, runtime
        )
        hyps = [translator.detokenize(h[0].tokens) for h in translator.translate_ids(valid.src, beam_size=1)]
        return {"bleu": round(bleu(hyps, refs)[0], 2)}

    meta = {
        "src_subwords": data.src_model.to_json(),
        "tgt_subwords": data.tgt_model.to_json(),
        "data_fingerprint": data.ids.fingerprint,
    }
    return fit_run(
        cfg,
        meta,
        options.restart,
        runtime=runtime,
        model=model,
        loss_fn=lambda m, b: label_smoothed_loss(m, b, cfg.train.label_smoothing),
        batches=batches,
        validate=validate,
        score_name="bleu",
    )


def score_split(
    translator: Translator, data_cfg: TranslationDataConfig, split: str, beam: int, options: EvalOptions
) -> dict:
    sources = multi30k.read_split(split, data_cfg.src_lang, data_cfg.root)[: options.limit]
    refs = multi30k.read_split(split, data_cfg.tgt_lang, data_cfg.root)[: options.limit]
    started = time.perf_counter()
    if options.engine == "ray":
        hyps = translate_on_ray(translator, sources, beam, options.address)
    else:
        hyps = [t.text for t in translator.translate(sources, beam_size=beam)]
    seconds = time.perf_counter() - started
    scores = translation_scores(hyps, refs, data_cfg.tgt_lang)
    return {
        **scores,
        "sentences": len(hyps),
        "decode_seconds": round(seconds, 2),
        "samples": [{"source": s, "reference": r, "hypothesis": h} for s, r, h in list(zip(sources, refs, hyps))[:5]],
        "hypotheses": hyps,
    }


def evaluate(checkpoint: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    options = EvalOptions.of(options)
    translator = Translator.from_checkpoints([checkpoint, *options.ensemble], quantize=options.quantize)
    if options.length_penalty is not None:
        translator.search = translator.search.model_copy(update={"length_penalty": options.length_penalty})
    cfg: TranslationConfig = translator.config
    splits = options.splits or ["val", *TEST_SPLITS]
    beams = options.beam_size or [1, cfg.search.beam_size]
    report = {
        "task": "translation",
        "checkpoint": str(checkpoint),
        "pair": translator.pair,
        "train_step": translator.meta.get("step"),
        "valid_scores": translator.meta.get("scores"),
        "engine": options.engine,
        "quantize": translator.quantized,
        "ensemble": [str(checkpoint), *options.ensemble] if options.ensemble else None,
        "length_penalty": translator.search.length_penalty,
        "splits": {},
    }
    grid = score_grid(
        splits,
        beams,
        lambda split, beam: score_split(translator, cfg.data, split, beam, options),
        lambda r: [r["sentences"], r["bleu"], r["chrf"], r["ter"], r["tok_lc_bleu"], r["decode_seconds"]],
    )
    report["splits"] = grid.results
    out = RunFolder.of(checkpoint).write_report(report, f"report-{options.engine}.json", options.report)
    samples = grid.first["samples"][:3]
    notes = [
        f"\nsacreBLEU: {grid.first['signatures']['bleu']}",
        *(f"\nSRC  {s['source']}\nREF  {s['reference']}\nHYP  {s['hypothesis']}" for s in samples),
    ]
    print_grid(grid, ["sents", "BLEU", "chrF", "TER", "tok-lc BLEU", "seconds"], notes, out)
    return report


TASK = Task(
    "translation",
    TranslationConfig,
    prepare_translation,
    train,
    evaluate,
    "LSTM encoder-decoder with attention on Multi30k",
)
