"""One progress-bar and one summary-table style for the whole project."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
    return tqdm(
        iterable, desc=desc, total=total, unit=unit, dynamic_ncols=True, mininterval=1.0, leave=False, file=sys.stderr
    )


def log(message: str) -> None:
    """Status lines go to stderr so stdout stays the command's result."""
    print(message, file=sys.stderr, flush=True)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain fixed-width table that fits one screen."""
    cells = [[_fmt(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)
