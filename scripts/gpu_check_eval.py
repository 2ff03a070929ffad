"""Decode test_2016_flickr with a translation checkpoint from the prepared subword ids (no spaCy needed)
and print one JSON line: BLEU (sacreBLEU), sentences/s and output words/s, greedy and beam 5, and the
training throughput read from the run's metrics.jsonl.

    python scripts/gpu_check_eval.py RUN_DIR [--device cuda] [--beams 1 5]

Part of scripts/gpu_check.sh; it works on the CPU too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.data.translation_stages import prepare_translation  # noqa: E402
from pipeline.inference.translator import Translator  # noqa: E402
from pipeline.metrics import bleu  # noqa: E402

TEST = "test_2016_flickr"


def training_rates(run: Path) -> dict:
    """Median target tokens/s over the run's logged training intervals, and where validation BLEU went."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["tokens_per_s"] for r in rows if r.get("kind") == "train"]
    valid = [(r["step"], r["bleu"]) for r in rows if r.get("kind") == "valid"]
    return {
        "train_tok_per_s_median": round(statistics.median(rates), 1) if rates else None,
        "train_log_points": len(rates),
        "valid_bleu_by_step": valid,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the run folder (its checkpoints/best.pt is decoded)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    args = ap.parse_args(argv)
    translator = Translator.from_checkpoint(args.run / "checkpoints" / "best.pt", device=args.device)
    data = prepare_translation(translator.config.data, translator.config.run.stages)
    sources, refs = data.split(TEST).src, data.references(TEST)
    report = {
        "device": str(translator.runtime.device),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "train_step": translator.meta.get("step"),
        **training_rates(args.run),
        "decode": {},
    }
    for beam in args.beams:
        translator.translate_ids(sources[:50], beam_size=beam)  # warm-up (CUDA kernels, allocator)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        hyps = [translator.detokenize(h[0].tokens) for h in translator.translate_ids(sources, beam_size=beam)]
        seconds = time.perf_counter() - started
        words = sum(len(h.split()) for h in hyps)
        report["decode"][f"beam{beam}"] = {
            "bleu": round(bleu(hyps, refs)[0], 2),
            "sentences_per_s": round(len(hyps) / seconds, 1),
            "words_per_s": round(words / seconds, 1),
            "sentences": len(hyps),
        }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
