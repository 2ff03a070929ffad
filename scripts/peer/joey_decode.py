"""Decode the prepared test source with JoeyNMT checkpoints (runs in ``.venv-peer``).

The model and the test set are built once by JoeyNMT's own ``prepare``; for each checkpoint its
weights are loaded, then JoeyNMT's ``predict`` runs greedy or beam search. The timer covers
``predict`` only: batching, search and mapping ids back to subword strings, as the pipeline side's timer
covers its search. Hypotheses are written as JoeyNMT returns them (space-joined subwords); the harness
restores and scores them.

    .venv-peer/bin/python scripts/peer/joey_decode.py CONFIG --threads T --jobs jobs.json --out out.json

``jobs.json`` is a list of ``{"name": ..., "checkpoint": ..., "beam_size": ...}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from joeynmt.config import load_config, parse_global_args
from joeynmt.helpers import load_checkpoint
from joeynmt.prediction import predict, prepare


def decode(model, data, parsed, beam_size: int) -> tuple[list[str], float]:
    test_args = parsed.test._replace(beam_size=beam_size, beam_alpha=parsed.test.beam_alpha if beam_size > 1 else -1)
    data.reset_indices(random_subset=-1)  # as JoeyNMT's own `test`: no subsampling
    started = time.perf_counter()
    out = predict(
        model=model,
        data=data,
        device=parsed.device,
        n_gpu=parsed.n_gpu,
        rank=0,
        compute_loss=False,
        normalization="none",
        num_workers=parsed.num_workers,
        args=test_args,
        autocast=parsed.autocast,
    )
    seconds = time.perf_counter() - started
    return out[2], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--jobs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    jobs = json.loads(Path(args.jobs).read_text(encoding="utf-8"))
    cfg = load_config(Path(args.config))
    cfg["testing"]["load_model"] = jobs[0]["checkpoint"]
    parsed = parse_global_args(cfg, rank=0, mode="test")
    model, _, _, test_data = prepare(parsed, rank=0, mode="test")
    results, loaded = [], None
    for job in jobs:
        if job["checkpoint"] != loaded:
            model.load_state_dict(load_checkpoint(Path(job["checkpoint"]), map_location=parsed.device)["model_state"])
            loaded = job["checkpoint"]
        hyps, seconds = decode(model, test_data, parsed, int(job["beam_size"]))
        results.append({**job, "seconds": round(seconds, 3), "threads": torch.get_num_threads(), "hypotheses": hyps})
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
