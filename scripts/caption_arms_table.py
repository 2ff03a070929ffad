"""One markdown table comparing captioning runs (e.g. the CNN pretraining arms) from their own files:
test scores of each search in the run's report.json (`pipeline evaluate`), the diversity of the captions,
and the dev CIDEr-D curve from metrics.jsonl.

    python scripts/caption_arms_table.py NAME=RUN_DIR [NAME=RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.caption_metrics import METRICS  # noqa: E402


def rows(name: str, run: Path) -> list[str]:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    out = []
    for search, result in report["splits"]["test"].items():
        scores, diversity = result["scores"], result["diversity"]
        cells = [name, search, *(f"{scores[m]:.3f}" for m in METRICS)]
        cells += [f"{diversity['distinct_ratio']:.1%}", str(diversity["vocabulary"])]
        out.append("| " + " | ".join(cells) + " |")
    return out


def dev_curve(run: Path) -> str:
    points = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"valid"' in line]
    return ", ".join(f"{p['step']}: {p['CIDEr-D']:.3f}" for p in points)


def main(argv: list[str]) -> None:
    pairs = [a.split("=", 1) for a in argv]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise SystemExit(__doc__)
    header = ["arm", "search", *METRICS, "distinct", "words"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, run in pairs:
        lines += rows(name, Path(run))
    lines.append("")
    lines += [f"- {name}: dev CIDEr-D (greedy) by step {dev_curve(Path(run))}" for name, run in pairs]
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
