"""Machine-readable metrics (JSON lines) and training-curve plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.files import atomic_path
from pipeline.plots import save_figure


class Logbook:
    """Appends one JSON object per event to ``metrics.jsonl``; draws ``curves.png`` on request.

    ``enabled=False`` (the ranks other than 0 of a data-parallel run) writes nothing."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path, self.enabled = Path(run_dir) / "metrics.jsonl", enabled
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        """On a fresh start (no checkpoint, or ``--restart``): an earlier run's events must not mix in."""
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def truncate_after(self, step: int) -> None:
        """On resume: drop events logged after the checkpoint we resume from."""
        if not self.enabled or not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step
        ]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    def write(self, kind: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r for r in rows if kind is None or r["kind"] == kind]

    def plot(self, out: Path | None = None) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = out or self.path.with_name("curves.png")
        if not self.enabled:
            return out
        train, valid = self.events("train"), self.events("valid")
        metrics = sorted(
            {
                k
                for row in valid
                for k, v in row.items()
                if k not in ("kind", "step", "epoch") and isinstance(v, (int, float))
            }
        )
        fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4 * (1 + len(metrics)), 3.2), squeeze=False)
        axes = axes[0]
        axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8)
        axes[0].set(title="train loss", xlabel="step")
        for ax, name in zip(axes[1:], metrics):
            rows = [r for r in valid if name in r]
            ax.plot([r["step"] for r in rows], [r[name] for r in rows], marker="o")
            ax.set(title=f"valid {name}", xlabel="step")
        fig.tight_layout()
        save_figure(fig, out, dpi=110)
        return out
