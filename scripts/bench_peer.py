"""JoeyNMT 2.3.0 and the pipeline side by side on Multi30k EN→DE: one table with ratios.

Same data, same architecture (JoeyNMT's attentive LSTM), same threads, same wall-time budget, one
system after the other. Both keep checkpoints at the same points (``scripts/peer/snapshot_plan.py``);
every checkpoint is scored on test_2016_flickr with beam 5 and the last one with greedy search too,
all by the pipeline's sacreBLEU call. Details: docs/peer_benchmark.md.

    python scripts/bench_peer.py [--minutes 10] [--threads 2]       # what `make bench-peer` runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.errors import PipelineError  # noqa: E402
from scripts.peer import joey_side, pipeline_side, report  # noqa: E402

TEST = "test_2016_flickr"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of each system (default 10)")
    ap.add_argument("--threads", type=int, choices=(1, 2), default=2, help="torch threads of both (default 2)")
    ap.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="the pipeline's training precision (default fp32; bf16: CPU autocast, worth it on CPUs with AMX or "
        "AVX-512 bf16 units). JoeyNMT trains in fp32 on the CPU either way; decoding stays fp32 / int8",
    )
    ap.add_argument("--snapshots", type=int, help="checkpoints per run (default: one a minute, 2 to 10)")
    ap.add_argument("--merges", type=int, default=8000, help="joint BPE merges for JoeyNMT (default 8000)")
    ap.add_argument(
        "--target-bleu",
        type=float,
        help="also time both to this beam-5 BLEU (e.g. JoeyNMT's 20-minute figure from a `--minutes 20` run)",
    )
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-peer/bin/python"), help="python of the JoeyNMT venv")
    ap.add_argument("--out", default=str(ROOT / "data/bench/peer"), help="results folder (default data/bench/peer)")
    ap.add_argument("--reuse-training", action="store_true", help="decode and report the last run's checkpoints")
    ap.add_argument(
        "--final-only",
        action="store_true",
        help="with --reuse-training: decode (and time) only the final checkpoints again; the other snapshots' "
        "BLEU is scored from the hypotheses the last run wrote",
    )
    ap.add_argument(
        "--no-int8",
        action="store_true",
        help="leave out the pipeline's int8 decoding rows (dynamic int8 Linear/LSTM, its CPU serving default)",
    )
    args = ap.parse_args(argv)
    if args.final_only and not args.reuse_training:
        raise PipelineError("--final-only decodes the checkpoints of an earlier run: add --reuse-training")
    if args.minutes <= 0:
        raise PipelineError(f"--minutes must be > 0 (got {args.minutes})")
    args.snapshots = args.snapshots or max(2, min(10, round(args.minutes)))
    return args


def child_env(threads: int) -> dict[str, str]:
    threads_env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PIPELINE_THREADS")}
    return {**os.environ, **threads_env, "PYTHONUNBUFFERED": "1"}


def train_both(args: argparse.Namespace, out: Path) -> tuple[dict, dict]:
    """JoeyNMT first (its last update count is the pipeline's equal-updates point), then the pipeline."""
    env, peer = child_env(args.threads), Path(args.peer_python)
    data = joey_side.prepared_data(peer, out / "joey_data", "en", "de", args.merges, TEST, env)
    joey_dir = (out / "joey").resolve()
    joey_dir.mkdir(parents=True, exist_ok=True)
    config = joey_side.write_config(data, joey_dir)
    joey = joey_side.train(peer, config, joey_dir, args.minutes, args.threads, args.snapshots, env)
    pipe_dir = out / "pipeline"
    pipe_dir.mkdir(parents=True, exist_ok=True)
    watcher = pipeline_side.train(
        pipe_dir,
        args.minutes,
        args.threads,
        args.snapshots,
        joey["snapshots"][-1]["step"],
        env,
        args.precision,
    )
    cfg = pipeline_side.load_config(pipe_dir, args.threads, watcher.plan, joey["snapshots"][-1]["step"], args.precision)
    pipe = pipeline_side.summary(watcher, cfg)
    (pipe_dir / "snapshots.json").write_text(json.dumps(pipe, indent=2) + "\n", encoding="utf-8")
    return joey, pipe


def load_training(out: Path) -> tuple[dict, dict]:
    paths = [out / "joey" / "snapshots.json", out / "pipeline" / "snapshots.json"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise PipelineError(f"--reuse-training: no earlier run ({', '.join(missing)} missing)")
    joey, pipe = (json.loads(p.read_text(encoding="utf-8")) for p in paths)
    return joey, pipe


def earlier_hypotheses(folder: Path, steps: list[int]) -> dict[tuple[int, int], dict]:
    """The beam-5 hypotheses an earlier run wrote for these steps (``--final-only``), untimed."""
    found = {}
    for step in steps:
        path = folder / f"hyps-step{step}-beam5.txt"
        if not path.is_file():
            raise PipelineError(f"--final-only: {path} is missing; run --reuse-training without it once")
        found[(step, 5)] = {"hypotheses": path.read_text(encoding="utf-8").splitlines(), "seconds": None}
    return found


def decode_joey(args: argparse.Namespace, out: Path, joey: dict) -> dict[tuple[int, int], dict]:
    steps = sorted({s["step"] for s in joey["snapshots"]})
    final = joey["snapshots"][-1]
    jobs = [
        {"name": f"step-{step}", "checkpoint": path, "beam_size": 5}
        for step, path in sorted({(s["step"], s["path"]) for s in joey["snapshots"]})
        if step == final["step"] or not args.final_only
    ]
    jobs.append({"name": f"step-{steps[-1]}", "checkpoint": final["path"], "beam_size": 1})
    results = joey_side.decode(
        Path(args.peer_python),
        (out / "joey" / "joey.yaml").resolve(),
        (out / "joey"),
        jobs,
        args.threads,
        child_env(args.threads),
        "de",
    )
    decoded = {(int(r["name"].split("-")[1]), r["beam_size"]): r for r in results}
    if args.final_only:
        decoded.update(earlier_hypotheses(out / "joey", [st for st in steps if st != final["step"]]))
    return decoded


def decode_pipeline(
    args: argparse.Namespace, out: Path, pipe: dict, sources: list[str]
) -> tuple[dict[tuple[int, int], dict], dict[int, dict]]:
    """Every snapshot with beam 5 and the final one greedy too (fp32); the final one again in int8."""
    records = {r["step"]: r["path"] for r in [*pipe["snapshots"], *pipe["extra"]]}
    final = pipe["snapshots"][-1]["step"]
    results: dict[tuple[int, int], dict] = {}
    if args.final_only:
        results.update(earlier_hypotheses(out / "pipeline", [st for st in records if st != final]))
        records = {final: records[final]}
    for step, path in sorted(records.items()):
        model = pipeline_side.translator(Path(path), args.threads)
        for beam in (5, 1) if step == final else (5,):
            results[(step, beam)] = _timed_decode(model, sources, beam, f"step {step}, beam {beam}")
    int8 = {}
    if not args.no_int8:
        model = pipeline_side.translator(Path(records[final]), args.threads, quantize="int8")
        int8 = {beam: _timed_decode(model, sources, beam, f"step {final}, beam {beam}, int8") for beam in (5, 1)}
    return results, int8


def _timed_decode(model, sources: list[str], beam: int, what: str) -> dict:
    print(f"[pipeline] decoding {TEST} with {what}", file=sys.stderr, flush=True)
    hyps, seconds = pipeline_side.decode(model, sources, beam)
    return {
        "hypotheses": hyps,
        "seconds": round(seconds, 3),
        "params": sum(p.numel() for p in model.model.parameters()),
    }


def side(
    summary: dict,
    decoded: dict[tuple[int, int], dict],
    refs: list[str],
    equal_step: int | None,
    int8: dict[int, dict] | None = None,
) -> dict:
    """One system's numbers in the shape ``report`` reads (BLEU by the same sacreBLEU call for both)."""
    from pipeline.metrics import bleu

    def score(key):
        return round(bleu(decoded[key]["hypotheses"], refs)[0], 2)

    def decode_record(result: dict) -> dict:
        return {
            "sentences": len(result["hypotheses"]),
            "seconds": result["seconds"],
            "bleu": round(bleu(result["hypotheses"], refs)[0], 2),
            "words": sum(len(h.split()) for h in result["hypotheses"]),
        }

    snaps = summary["snapshots"]
    final = snaps[-1]
    records = {r["step"]: r for r in [*snaps, *summary.get("extra", [])]}
    decode = {name: decode_record(decoded[(final["step"], beam)]) for name, beam in (("greedy", 1), ("beam5", 5))}
    for name, beam in (("greedy_int8", 1), ("beam5_int8", 5)):
        if int8 and beam in int8:
            decode[name] = decode_record(int8[beam])
    equal = None
    if equal_step in records and (equal_step, 5) in decoded:
        equal = {"step": equal_step, "elapsed_s": records[equal_step]["elapsed_s"], "bleu": score((equal_step, 5))}
    first = summary["first_update"]
    return {
        "params": summary.get("params") or decoded[(final["step"], 5)].get("params"),
        "updates": final["step"],
        "elapsed_s": final["elapsed_s"],
        "pairs": final["pairs_total"] - first["pairs"],
        "tgt_tokens": final["tgt_tokens_total"] - first["tgt_tokens"],
        "mean_batch_sentences": final["pairs_total"] / final["step"],
        "decode": decode,
        "equal_updates": equal,
        "snapshots": [
            {"k": s["k"], "step": s["step"], "elapsed_s": s["elapsed_s"], "bleu": score((s["step"], 5))} for s in snaps
        ],
    }


def machine(args: argparse.Namespace) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores_visible": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg(),
        "threads": args.threads,
        "pipeline_precision": args.precision,
        "minutes": args.minutes,
        "snapshots": args.snapshots,
        "checkpoints": "both: at the first update at or after each k/S of the budget, and nowhere else",
        "command": " ".join(sys.argv),
    }


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        run(args)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    from pipeline.data import multi30k
    from pipeline.files import write_json, write_text

    out = Path(args.out)
    meta = machine(args)
    meta["joeynmt"] = joey_side.peer_version(Path(args.peer_python))
    joey, pipe = load_training(out) if args.reuse_training else train_both(args, out)
    sources, refs = multi30k.read_split(TEST, "en"), multi30k.read_split(TEST, "de")
    joey_decoded = decode_joey(args, out, joey)
    pipe_decoded, pipe_int8 = decode_pipeline(args, out, pipe, sources)
    equal_step = joey["snapshots"][-1]["step"]
    sides = {
        "joeynmt": side(joey, joey_decoded, refs, equal_step),
        "pipeline": side(pipe, pipe_decoded, refs, equal_step, pipe_int8),
    }
    rows = report.all_rows(sides["joeynmt"], sides["pipeline"], args.target_bleu)
    for name, decoded in (("joey", joey_decoded), ("pipeline", pipe_decoded)):
        for (step, beam), result in decoded.items():
            write_text(out / name / f"hyps-step{step}-beam{beam}.txt", "".join(h + "\n" for h in result["hypotheses"]))
    for beam, result in pipe_int8.items():
        step = pipe["snapshots"][-1]["step"]
        write_text(
            out / "pipeline" / f"hyps-step{step}-beam{beam}-int8.txt", "".join(h + "\n" for h in result["hypotheses"])
        )
    write_json(
        out / "results.json",
        {
            "meta": meta,
            "sides": sides,
            "replay_mismatch": pipe.get("replay_mismatch"),
            "table": [dict(zip(report.HEADER, report.cells(r))) for r in rows],
        },
    )
    write_text(out / "results.md", render_markdown(meta, sides, rows))
    print(report.text_table(rows))
    print(
        f"\n{meta['date_utc']}, {meta['cpu']}, {args.threads} thread(s) each, {args.minutes:g} min each, "
        f"pipeline training in {args.precision}; "
        f"ratios are pipeline / JoeyNMT (above 1 is better for rates, below 1 for minutes)"
    )
    print(f"results: {out / 'results.json'}, {out / 'results.md'}")


def render_markdown(meta: dict, sides: dict, rows: list) -> str:
    lines = [
        f"# Peer benchmark: JoeyNMT {meta['joeynmt']} vs pipeline",
        "",
        f"`{meta['command']}` — {meta['date_utc']}, {meta['cpu']}, CPU affinity {meta['affinity']}, "
        f"load average at start {meta['load_average_at_start'][0]:.2f}, {meta['threads']} thread(s) each, "
        f"{meta['minutes']:g} training minutes each, pipeline training in {meta['pipeline_precision']}.",
        "",
        report.markdown_table(rows),
        "",
        "Ratios are pipeline / JoeyNMT. Snapshots (training minutes → beam-5 test BLEU):",
        "",
    ]
    for name, values in sides.items():
        points = ", ".join(
            f"{s['elapsed_s'] / 60:.1f} min / {s['step']} updates → {s['bleu']:.2f}" for s in values["snapshots"]
        )
        lines.append(f"- {name}: {points}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
