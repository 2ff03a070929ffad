"""``pipeline bench``: translation training throughput and decoding speed on this machine.

Training throughput is measured for the reference model (embedding 256, biLSTM encoder
2×256, decoder 512 with attention) twice, side by side in one process: the vectorised path
(no input feeding: the decoder LSTM runs over the whole target in one call) and the
per-step loop (input feeding). Decoding speed is greedy vs beam 5 on test_2016_flickr, with fp32 and with
dynamic int8 weights, each with its sacreBLEU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.runs import RunFolder
from pipeline.tasks import load_task_config


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark translation training (vectorised vs loop) and decoding speed")
    p.add_argument("--config", default="conf/translate_en_de.yaml", help="config giving data and reference model")
    p.add_argument("--checkpoint", help="trained checkpoint for the decoding benchmark (default: the config's run)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per variant")
    p.add_argument("--sentences", type=int, default=1000, help="test_2016_flickr sentences to decode")
    p.add_argument("--report", default="data/reports/bench-translation.json", help="where to write the JSON")
    p.set_defaults(func=run, overrides=[], preset=None)


def _train_throughput(cfg, data, input_feeding: bool, steps: int) -> dict:
    import torch

    from pipeline.data.batching import TokenBucketBatches
    from pipeline.losses import label_smoothed_loss
    from pipeline.models.seq2seq import build_translation_model

    torch.manual_seed(0)
    model_cfg = cfg.model.model_copy(
        update={"decoder": cfg.model.decoder.model_copy(update={"input_feeding": input_feeding})}
    )
    model = build_translation_model(model_cfg, len(data.src_model), len(data.tgt_model)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    split = data.split("train")
    batches = TokenBucketBatches(split.src, split.tgt, cfg.train.batch_size, seed=0).epoch(0)
    tokens, started = 0, 0.0
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            tokens, started = 0, time.perf_counter()
        out = label_smoothed_loss(model, batches[i], cfg.train.label_smoothing)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        tokens += out.n_tokens
    seconds = time.perf_counter() - started
    return {
        "input_feeding": input_feeding,
        "steps": steps,
        "target_tokens": tokens,
        "seconds": round(seconds, 2),
        "target_tokens_per_s": round(tokens / seconds, 1),
    }


def _decode_speed(checkpoint: Path, cfg, sentences: int) -> list[dict]:
    """Greedy and beam 5 over test_2016_flickr, fp32 and dynamic int8, each with its sacreBLEU."""
    from pipeline.data import multi30k
    from pipeline.inference.translator import Translator
    from pipeline.metrics import bleu

    texts = multi30k.read_split("test_2016_flickr", cfg.data.src_lang, cfg.data.root)[:sentences]
    refs = multi30k.read_split("test_2016_flickr", cfg.data.tgt_lang, cfg.data.root)[:sentences]
    rows = []
    for quantize in ("none", "int8"):
        translator = Translator.from_checkpoint(checkpoint, device="cpu", quantize=quantize)
        src = translator.encode_texts(texts)
        for beam in (1, 5):
            started = time.perf_counter()
            found = translator.translate_ids(src, beam_size=beam)
            seconds = time.perf_counter() - started
            score = bleu([translator.detokenize(h[0].tokens) for h in found], refs)[0]
            rows.append(
                {
                    "weights": "fp32" if quantize == "none" else "int8",
                    "search": "greedy" if beam == 1 else f"beam{beam}",
                    "sentences": len(src),
                    "seconds": round(seconds, 2),
                    "sentences_per_s": round(len(src) / seconds, 1),
                    "bleu": round(score, 2),
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from pipeline.data.translation_stages import prepare_translation
    from pipeline.device import resolve_runtime
    from pipeline.files import write_json
    from pipeline.progress import log, table

    _, cfg = load_task_config(args.config)
    resolve_runtime("cpu", "fp32", cfg.train.threads)  # honours $PIPELINE_THREADS; the benchmark is a CPU one
    data = prepare_translation(cfg.data, cfg.run.stages)
    log(f"training throughput, reference model, {torch.get_num_threads()} threads")
    train_rows = [_train_throughput(cfg, data, feed, args.steps) for feed in (False, True)]
    speedup = train_rows[0]["target_tokens_per_s"] / train_rows[1]["target_tokens_per_s"]
    checkpoint = Path(args.checkpoint) if args.checkpoint else RunFolder(cfg.run.dir).best
    decode_rows = _decode_speed(checkpoint, cfg, args.sentences) if checkpoint.is_file() else []
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "device": "cpu",
        },
        "reference_model": cfg.model.to_dict(),
        "training": train_rows,
        "vectorised_speedup": round(speedup, 2),
        "decoding": decode_rows,
        "decoding_checkpoint": str(checkpoint) if decode_rows else None,
    }
    write_json(args.report, report)
    print(
        table(
            [
                [
                    "vectorised (no input feeding)" if not r["input_feeding"] else "per-step loop (input feeding)",
                    r["target_tokens_per_s"],
                    r["seconds"],
                ]
                for r in train_rows
            ],
            ["training path", "tgt tok/s", "s"],
        )
    )
    print(f"vectorised / loop: {speedup:.2f}x")
    if decode_rows:
        print(
            table(
                [[r["weights"], r["search"], r["sentences_per_s"], r["seconds"], r["bleu"]] for r in decode_rows],
                ["weights", "decoding", "sent/s", "s", "BLEU"],
            )
        )
    else:
        print(f"no checkpoint at {checkpoint}: decoding speed skipped (train one or pass --checkpoint)")
    print(f"report: {args.report}")
    return 0
