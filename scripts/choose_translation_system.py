"""Choose among single, averaged and ensembled checkpoints of one translation run on val; report the tests.

    PYTHONPATH=. python scripts/choose_translation_system.py data/runs/en_de_reference_cpu \
        [--n 5] [--ensemble 3] [--length-penalties 0.6 1.4] [--threads 2]

The candidates are the run's ``best.pt``, the average of its last ``n`` kept snapshots, the average of its
``n`` best, and an ensemble of its ``ensemble`` best snapshots (``train.keep_last`` / ``keep_best`` keep
them). Each is scored on val, greedy and with the config's beam. The rule: the highest val BLEU with beam
search wins; then the winner's length penalty is tuned on val among the config's and
``--length-penalties``. Only then are all candidates (and the winner at its tuned penalty, where that
differs) scored on every test set, greedy and beam. Nothing is chosen on a test set.

Writes ``<run>/systems/`` (each evaluation's report) and ``<run>/systems.json`` (the tables), and prints
the tables in Markdown with the sacreBLEU signature.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.tasks.translation import TEST_SPLITS  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a translation run folder with kept snapshots")
    ap.add_argument("--n", type=int, default=5, help="snapshots per average (default 5)")
    ap.add_argument("--ensemble", type=int, default=3, help="best snapshots in the ensemble (default 3; 0: none)")
    ap.add_argument(
        "--length-penalties", type=float, nargs="*", default=[0.6, 1.4], help="alphas tried on val for the winner"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--limit", type=int, help="score only the first N sentences of each split (a smoke check)")
    return ap.parse_args(argv)


def candidates(run: Path, n: int, ensemble: int) -> dict[str, list[Path]]:
    """Name → checkpoints decoded together (one for a single or an averaged checkpoint)."""
    from pipeline.checkpoint import save_checkpoint
    from pipeline.training.averaging import average_checkpoints, snapshot_paths

    found = {"best.pt": [run / "checkpoints" / "best.pt"]}
    for kind in ("last", "best"):
        paths = snapshot_paths(run, **{kind: n})
        out = run / "checkpoints" / f"average_{kind}{n}.pt"
        save_checkpoint(out, average_checkpoints(paths))
        steps = ", ".join(p.stem.split("_")[-1].lstrip("0") for p in paths)
        found[f"average of the {kind} {n} (steps {steps})"] = [out]
    if ensemble > 1:
        paths = snapshot_paths(run, best=ensemble)
        steps = ", ".join(p.stem.split("_")[-1].lstrip("0") for p in paths)
        found[f"ensemble of the best {ensemble} (steps {steps})"] = paths
    return found


def score(
    checkpoints: list[Path],
    splits: list[str],
    beams: list[int],
    report: Path,
    alpha: float | None,
    limit: int | None = None,
) -> dict:
    from pipeline.tasks import EvalOptions
    from pipeline.tasks.translation import evaluate

    options = EvalOptions(
        splits=splits,
        beam_size=beams,
        report=str(report),
        ensemble=[str(p) for p in checkpoints[1:]],
        length_penalty=alpha,
        limit=limit,
    )
    return evaluate(checkpoints[0], options)


def cell(result: dict) -> str:
    return f"{result['bleu']:.2f} ({result['tok_lc_bleu']:.2f})"


def main(argv: list[str] | None = None) -> int:
    import torch

    from pipeline.files import write_json
    from pipeline.inference.translator import Translator

    args = parse_args(argv)
    score_ = functools.partial(score, limit=args.limit)
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    out = run / "systems"
    out.mkdir(exist_ok=True)
    search = Translator.from_checkpoints([run / "checkpoints" / "best.pt"]).search
    beam, alpha0 = search.beam_size, search.length_penalty
    beams, names = [1, beam], {1: "greedy", beam: f"beam{beam}"}
    systems = candidates(run, args.n, args.ensemble)
    val = {}
    for i, (name, paths) in enumerate(systems.items()):
        val[name] = score_(paths, ["val"], beams, out / f"val-{i}.json", None)["splits"]["val"]
    winner = max(val, key=lambda name: val[name][names[beam]]["bleu"])
    tuned = {alpha0: val[winner][names[beam]]["bleu"]}
    for j, alpha in enumerate(a for a in args.length_penalties if a != alpha0):
        report = score_(systems[winner], ["val"], [beam], out / f"val-winner-alpha{j}.json", alpha)
        tuned[alpha] = report["splits"]["val"][names[beam]]["bleu"]
    best_alpha = max(tuned, key=lambda a: (tuned[a], a == alpha0))
    tests: dict[str, dict] = {}
    for i, (name, paths) in enumerate(systems.items()):
        tests[name] = score_(paths, list(TEST_SPLITS), beams, out / f"test-{i}.json", None)["splits"]
    if best_alpha != alpha0:
        label = f"{winner}, length penalty {best_alpha:g}"
        report = score_(systems[winner], list(TEST_SPLITS), [beam], out / "test-winner-tuned.json", best_alpha)
        tests[label] = report["splits"]
    result = {
        "run": str(run),
        "beam_size": beam,
        "length_penalty": alpha0,
        "val": val,
        "winner": winner,
        "winner_checkpoints": [str(p) for p in systems[winner]],  # what `pipeline serve --best` serves
        "val_length_penalty": {str(a): b for a, b in tuned.items()},
        "chosen_length_penalty": best_alpha,
        "test": tests,
    }
    write_json(run / "systems.json", result)  # atomically
    print_tables(result, names, beam)
    return 0


def print_tables(result: dict, names: dict[int, str], beam: int) -> None:
    val, tests = result["val"], result["test"]
    print(f"| system | val greedy | val beam {beam} |\n|---|---|---|")
    for name, row in val.items():
        mark = " (chosen)" if name == result["winner"] else ""
        print(f"| {name}{mark} | {cell(row['greedy'])} | {cell(row[names[beam]])} |")
    alphas = ", ".join(f"{a}: {b:.2f}" for a, b in result["val_length_penalty"].items())
    print(f"\nval beam {beam} BLEU of the chosen system by length penalty: {alphas}")
    print("\n| system | " + " | ".join(TEST_SPLITS) + " |\n" + "|---" * (len(TEST_SPLITS) + 1) + "|")
    for name, splits in tests.items():
        cells = []
        for split in TEST_SPLITS:
            row = splits[split]
            greedy = f"; greedy {row['greedy']['bleu']:.2f}" if "greedy" in row else ""
            cells.append(f"{cell(row[names[beam]])}{greedy}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    first = next(iter(val.values()))["greedy"]
    print(f"\nsacreBLEU: {first['signatures']['bleu']}; brackets: tokenised lowercased BLEU")


if __name__ == "__main__":
    raise SystemExit(main())
