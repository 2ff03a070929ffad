"""The evaluation grid the sequence tasks share: every split scored with every search (beam size), written
as ``report["splits"][split][search]`` and printed as one table, a few samples and the report's path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.progress import table


def search_name(beam_size: int) -> str:
    return "greedy" if beam_size == 1 else f"beam{beam_size}"


@dataclass
class Grid:
    results: dict[str, dict[str, dict]] = field(default_factory=dict)  # split → search → result
    rows: list[list] = field(default_factory=list)  # [split, search, *columns(result)] per pair

    @property
    def first(self) -> dict:
        """The result of the first split's first search (where the printed samples come from)."""
        return next(iter(next(iter(self.results.values())).values()))


def score_grid(
    splits: Sequence[str], beam_sizes: Sequence[int], score: Callable[[str, int], dict], columns: Callable[[dict], list]
) -> Grid:
    """``score(split, beam_size)`` for every pair, in order; ``columns(result)`` are its table cells."""
    grid = Grid()
    for split in splits:
        grid.results[split] = {}
        for beam in beam_sizes:
            result = grid.results[split][search_name(beam)] = score(split, beam)
            grid.rows.append([split, search_name(beam), *columns(result)])
    return grid


def print_grid(grid: Grid, header: Sequence[str], notes: Sequence[str], report: Path) -> None:
    print(table(grid.rows, ["split", "search", *header]))
    for note in notes:
        print(note)
    print(f"\nreport: {report}")
