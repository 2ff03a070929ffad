"""The peer benchmark's one table: rows for JoeyNMT and the pipeline, their ratio, and the bar it is held to.

Pure functions over two ``side`` dicts (what ``scripts/bench_peer.py`` measured for each system):

* ``params``, ``updates`` (in the budget), ``elapsed_s`` (training seconds of the last snapshot),
  ``pairs``/``tgt_tokens`` (trained after the first update, which the clock leaves out),
  ``mean_batch_sentences``;
* ``snapshots``: ``[{"step", "elapsed_s", "bleu"}]`` in training order (beam-5 test BLEU);
* ``decode``: ``{"greedy"|"beam5": {"sentences", "words", "seconds", "bleu"}}`` at the last snapshot, and
  for the pipeline optionally ``greedy_int8``/``beam5_int8`` (its dynamic-int8 decoding; JoeyNMT's rows
  are its fp32 ones, as it has no such mode);
* ``equal_updates``: ``{"step", "elapsed_s", "bleu"}`` or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    """A target for the ratio pipeline / JoeyNMT (``at_least``), or for the pipeline's own value."""

    text: str
    at_least: float | None = None  # ratio ≥ this
    at_most_own: float | None = None  # pipeline value ≤ this
    at_least_own: float | None = None  # pipeline value ≥ this

    def met(self, pipeline_value: float | None, ratio: float | None) -> bool | None:
        if self.at_least is not None:
            return None if ratio is None else ratio >= self.at_least
        if self.at_most_own is not None:
            return None if pipeline_value is None else pipeline_value <= self.at_most_own
        if self.at_least_own is not None:
            return None if pipeline_value is None else pipeline_value >= self.at_least_own
        return None


@dataclass(frozen=True)
class Row:
    label: str
    joey: float | None
    pipeline: float | None
    bar: Bar | None = None
    ratio_kind: str = "ratio"  # "ratio" (pipeline / JoeyNMT) or "none" (counts that are no speed)

    @property
    def ratio(self) -> float | None:
        if self.ratio_kind == "none" or self.joey in (None, 0) or self.pipeline is None:
            return None
        return self.pipeline / self.joey

    @property
    def met(self) -> bool | None:
        return None if self.bar is None else self.bar.met(self.pipeline, self.ratio)


def first_reach(snapshots: Sequence[dict], target: float) -> float | None:
    """Training minutes of the first snapshot whose BLEU is at least ``target`` (None: never reached)."""
    for snap in snapshots:
        if snap["bleu"] is not None and snap["bleu"] >= target:
            return snap["elapsed_s"] / 60
    return None


def per_second(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def training_rows(joey: dict, pipe: dict) -> list[Row]:
    return [
        Row("parameters (M)", joey["params"] / 1e6, pipe["params"] / 1e6, ratio_kind="none"),
        Row("mean sentences per update", joey["mean_batch_sentences"], pipe["mean_batch_sentences"], ratio_kind="none"),
        Row("updates in the budget", joey["updates"], pipe["updates"]),
        Row("training minutes of the last snapshot", joey["elapsed_s"] / 60, pipe["elapsed_s"] / 60, ratio_kind="none"),
        Row(
            "training sentence pairs/s",
            per_second(joey["pairs"], joey["elapsed_s"]),
            per_second(pipe["pairs"], pipe["elapsed_s"]),
            Bar("≥ 3×", at_least=3),
        ),
        Row(
            "training target tokens/s (own segmentation)",
            per_second(joey["tgt_tokens"], joey["elapsed_s"]),
            per_second(pipe["tgt_tokens"], pipe["elapsed_s"]),
        ),
    ]


def decoding_rows(joey: dict, pipe: dict) -> list[Row]:
    rows = []
    for search, name in (("greedy", "greedy"), ("beam5", "beam 5")):
        j, p = joey["decode"][search], pipe["decode"][search]
        rows.append(Row(f"test BLEU after the budget, {name}", j["bleu"], p["bleu"], ratio_kind="none"))
        rows += _rate_rows(f"decoding {name}", j, p, search)
        rows.append(Row(f"decoding {name}: output words", j["words"], p["words"], ratio_kind="none"))
    for search, name in (("greedy", "greedy"), ("beam5", "beam 5")):
        if f"{search}_int8" not in pipe["decode"]:
            continue
        j, p = joey["decode"][search], pipe["decode"][f"{search}_int8"]
        rows.append(Row(f"pipeline int8, {name}: test BLEU", j["bleu"], p["bleu"], ratio_kind="none"))
        rows += _rate_rows(f"pipeline int8, {name}", j, p, search)
    return rows


DECODING_BARS = {
    ("greedy", "words"): Bar("≥ 3×", at_least=3),
    ("beam5", "sentences"): Bar("≥ 5×", at_least=5),
    ("beam5", "words"): Bar("≥ 4×", at_least=4),
}


def _rate_rows(prefix: str, joey: dict, pipe: dict, search: str) -> list[Row]:
    """Sentences/s and output words/s of one decode on each side, with the bar of that search."""
    return [
        Row(
            f"{prefix}: {label}",
            per_second(joey[unit], joey["seconds"]),
            per_second(pipe[unit], pipe["seconds"]),
            DECODING_BARS.get((search, unit)),
        )
        for unit, label in (("sentences", "sentences/s"), ("words", "output words/s"))
    ]


def quality_rows(joey: dict, pipe: dict, target_bleu: float | None = None) -> list[Row]:
    rows = []
    eq_j, eq_p = joey.get("equal_updates"), pipe.get("equal_updates")
    if eq_j and eq_p:
        rows.append(
            Row(f"beam-5 BLEU at {eq_j['step']} updates (equal updates)", eq_j["bleu"], eq_p["bleu"], ratio_kind="none")
        )
        rows.append(Row(f"training minutes to {eq_j['step']} updates", eq_j["elapsed_s"] / 60, eq_p["elapsed_s"] / 60))
    joey_final, pipe_final = joey["snapshots"][-1]["bleu"], pipe["snapshots"][-1]["bleu"]
    for name, bleu in (("JoeyNMT's", joey_final), ("the pipeline's", pipe_final)):
        rows.append(
            Row(
                f"minutes to {name} final beam-5 BLEU ({bleu:.2f})",
                first_reach(joey["snapshots"], bleu),
                first_reach(pipe["snapshots"], bleu),
            )
        )
    if target_bleu is not None:
        rows.append(
            Row(
                f"minutes to beam-5 BLEU {target_bleu:.2f}",
                first_reach(joey["snapshots"], target_bleu),
                first_reach(pipe["snapshots"], target_bleu),
                Bar("pipeline ≤ 5 min", at_most_own=5),
            )
        )
        rows.append(
            Row(
                f"final beam-5 BLEU minus {target_bleu:.2f}",
                joey_final - target_bleu,
                pipe_final - target_bleu,
                Bar("pipeline ≥ +5", at_least_own=5),
                ratio_kind="none",
            )
        )
    return rows


def all_rows(joey: dict, pipe: dict, target_bleu: float | None = None) -> list[Row]:
    return training_rows(joey, pipe) + decoding_rows(joey, pipe) + quality_rows(joey, pipe, target_bleu)


def cells(row: Row) -> list[str]:
    met = {True: "yes", False: "no", None: ""}[row.met]
    return [
        row.label,
        _num(row.joey),
        _num(row.pipeline),
        _num(row.ratio, suffix="×"),
        row.bar.text if row.bar else "",
        met,
    ]


HEADER = ["", "JoeyNMT 2.3.0", "pipeline", "pipeline / JoeyNMT", "bar", "met"]


def text_table(rows: Sequence[Row]) -> str:
    from pipeline.progress import table

    return table([cells(r) for r in rows], HEADER)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def _num(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "not reached" if suffix == "" else "–"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}{suffix}"
    return f"{value:,.2f}{suffix}" if abs(value) >= 0.995 or value == 0 else f"{value:.3g}{suffix}"
