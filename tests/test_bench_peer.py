"""The peer benchmark harness's own logic (scripts/bench_peer.py, scripts/peer/), on tiny data.

Nothing here needs JoeyNMT's venv or the network: the snapshot rule, the checkpoint watcher, the
table's ratios and time-to-BLEU, the JoeyNMT config's fairness invariants, and the Moses + BPE
preparation on 50 Multi30k sentences.
"""

from __future__ import annotations

import os

import pytest

from scripts.peer import joey_data, report
from scripts.peer.joey_config import joey_config
from scripts.peer.joey_data import JoeyData
from scripts.peer.pipeline_side import ARCHITECTURE, Watcher, load_config, overrides
from scripts.peer.snapshot_plan import SnapshotPlan


def test_snapshots_fall_on_the_first_update_at_or_after_each_target():
    plan = SnapshotPlan(budget_s=100, snapshots=4)  # targets 25, 50, 75, 100 s
    taken = {step: plan.take(step, elapsed_s=step * 1.3) for step in range(1, 200)}
    steps = [snap["step"] for snap in plan.taken]
    assert steps == [20, 39, 58, 77]  # 1.3 s a step: 25 s falls in update 20 (26.0 s), 50 s in 39 (50.7 s), ...
    assert all(snap["elapsed_s"] >= snap["target_s"] for snap in plan.taken)
    assert [step for step, ks in taken.items() if ks] == steps
    assert plan.finished and plan.take(90, 200) == []


def test_one_slow_update_can_stand_for_several_targets():
    plan = SnapshotPlan(budget_s=60, snapshots=3)
    assert plan.take(5, 10.0) == []
    assert plan.take(10, 45.0) == [1, 2]
    assert plan.take(15, 61.0) == [3] and plan.finished


def test_a_system_that_applies_the_rule_itself_is_recorded_as_it_chose():
    plan = SnapshotPlan(budget_s=60, snapshots=3)
    assert plan.record(7, 20.4, upto=1) == [1]
    assert plan.record(15, 41.0, upto=2) == [2]
    assert plan.record(15, 41.0, upto=2) == []  # the same mark again adds nothing
    assert plan.record(30, 80.0, upto=3) == [3] and plan.finished
    assert [(s["k"], s["step"], s["target_s"]) for s in plan.taken] == [(1, 7, 20.0), (2, 15, 40.0), (3, 30, 60.0)]


def _write_atomically(path, text):
    tmp = path.with_name(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_watcher_keeps_the_checkpoints_the_trainer_announces(tmp_path):
    """The trainer replaces last.pt (by rename), then logs ``checkpoint at step N (… mark k …)``; the watcher
    links the file at that line, so each kept file holds exactly update N although last.pt keeps changing.
    Step-count checkpoints are kept only at the equal-updates step."""
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.pt"
    watcher = Watcher(SnapshotPlan(budget_s=9.0, snapshots=3), tmp_path, keep_steps={5})
    marks = {4: 1, 7: 2, 10: 3}  # elapsed = step - 1: marks at 3, 6, 9 s
    for step in range(1, 20):
        watcher.line(f"step {step} epoch 0 loss 5.000 ppl 148.4 {100 + step} tok/s lr 1.00e-03\n", now=float(step))
        if step in marks or step == 5:
            _write_atomically(last, f"update {step}")
            why = f"3 s mark {marks[step]}, {step - 1:.3f} s" if step in marks else "every 5 steps"
            watcher.line(f"checkpoint at step {step} ({why}): {last}\n", now=step + 0.1)
        _write_atomically(last, "overwritten later")  # what a later write would leave
        if watcher.plan.finished:
            break
    assert [s["step"] for s in watcher.plan.taken] == [4, 7, 10]
    assert {step: path.read_text() for step, path in watcher.kept.items()} == {
        4: "update 4",
        5: "update 5",
        7: "update 7",
        10: "update 10",
    }
    assert watcher.written == {4, 5, 7, 10}
    assert watcher.elapsed(10) == 9.0 and watcher.logged_tok_s[10] == 110.0
    watcher.line("[stage text-en] up to date\n", now=30.0)  # other lines are ignored
    assert max(watcher.end_times) == 10


def test_pipeline_side_is_the_issue_architecture_and_validates(tmp_path):
    from pipeline.models.seq2seq import build_translation_model

    plan = SnapshotPlan(budget_s=600, snapshots=10)
    args = overrides(tmp_path / "run", threads=2, plan=plan, keep_step=570)
    assert args[: len(ARCHITECTURE)] == list(ARCHITECTURE)
    cfg = load_config(tmp_path / "run", threads=2, plan=plan, keep_step=570)
    assert (cfg.train.log_every, cfg.train.checkpoint_every, cfg.train.threads) == (1, 570, 2)
    assert cfg.train.checkpoint_every_s == 60.0  # the plan's spacing: the trainer writes at its marks
    assert cfg.train.validate_every > 10**8  # no validation inside any budget, as on the JoeyNMT side
    model = build_translation_model(cfg.model, 4400, 5800)
    assert 10.5e6 < sum(p.numel() for p in model.parameters()) < 10.7e6
    assert cfg.train.precision == "fp32"  # the default; --precision bf16 reaches the trainer's config
    assert load_config(tmp_path / "run", 2, plan, None, precision="bf16").train.precision == "bf16"
    assert load_config(tmp_path / "run", 2, plan, None).train.checkpoint_every > 10**8


def test_joey_config_matches_the_architecture_and_avoids_the_known_torch_213_problems(tmp_path):
    data = JoeyData(tmp_path / "data", "en", "de")
    cfg = joey_config(data, tmp_path / "model", seed=3)
    enc, dec, train = cfg["model"]["encoder"], cfg["model"]["decoder"], cfg["training"]
    assert (enc["embeddings"]["embedding_dim"], enc["hidden_size"], enc["num_layers"], enc["bidirectional"]) == (
        256,
        256,
        1,
        True,
    )
    assert (
        dec["embeddings"]["embedding_dim"],
        dec["hidden_size"],
        dec["attention"],
        dec["input_feeding"],
        dec["init_hidden"],
    ) == (256, 512, "luong", True, "bridge")
    assert (train["batch_size"], train["batch_type"]) == (64, "sentence")
    assert train["scheduling"] == "exponential" and train["decrease_factor"] == 1.0  # `plateau` crashes
    assert train["validation_freq"] % train["logging_freq"] == 0
    assert cfg["data"]["train"] == str(data.train) and cfg["data"]["test"] == str(data.test_src)
    assert (cfg["model_dir"], cfg["random_seed"]) == (str(tmp_path / "model"), 3)


def test_restore_removes_subword_marks_and_detokenises():
    assert joey_data.restore("Zwei j@@ unge Männer spielen Fuß@@ ball .", "de") == "Zwei junge Männer spielen Fußball."
    assert joey_data.restore("Ein Hund@@", "de") == "Ein Hund"  # a dangling mark at the end (max length hit)


def test_moses_and_joint_bpe_on_50_sentences_round_trip(tmp_path):
    from pipeline.data import multi30k

    src, tgt = multi30k.read_split("train", "en")[:50], multi30k.read_split("train", "de")[:50]
    splits = {"train": (src, tgt), "dev": (src[:5], tgt[:5]), "test": (src[5:10], tgt[5:10])}
    data = joey_data.prepare(tmp_path, splits, "en", "de", merges=200)
    segmented = (tmp_path / "train.de").read_text(encoding="utf-8").splitlines()
    assert len(segmented) == 50 and (tmp_path / "test_src.en").is_file() and not (tmp_path / "test_src.de").exists()
    assert len(data.codes.read_text(encoding="utf-8").splitlines()) <= 201  # version line + at most 200 merges
    assert any("@@ " in line for line in segmented)  # 200 merges cannot cover every word
    restored = joey_data.restore_all(segmented, "de")
    assert sum(r == t for r, t in zip(restored, tgt)) >= 45  # Moses detokenisation is not always exact
    joint = {tok for line in segmented for tok in line.split()}
    en = {tok for line in (tmp_path / "train.en").read_text(encoding="utf-8").split("\n") for tok in line.split()}
    assert joint & en  # one merge table: the two languages share subwords


def _side(bleus, pairs, greedy_words, beam_words, beam_seconds):
    snaps = [{"k": i + 1, "step": 10 * (i + 1), "elapsed_s": 60.0 * (i + 1), "bleu": b} for i, b in enumerate(bleus)]
    return {
        "params": 10_300_000,
        "mean_batch_sentences": 64.0,
        "updates": snaps[-1]["step"],
        "elapsed_s": snaps[-1]["elapsed_s"],
        "pairs": pairs,
        "tgt_tokens": pairs * 13,
        "snapshots": snaps,
        "decode": {
            "greedy": {"sentences": 1000, "words": greedy_words, "seconds": 10.0, "bleu": bleus[-1] - 1},
            "beam5": {"sentences": 1000, "words": beam_words, "seconds": beam_seconds, "bleu": bleus[-1]},
        },
        "equal_updates": {"step": 30, "elapsed_s": 180.0, "bleu": bleus[2]},
    }


def test_table_ratios_and_time_to_bleu():
    joey = _side([1.0, 2.0, 4.0, 6.0, 8.0], pairs=9_000, greedy_words=10_000, beam_words=9_000, beam_seconds=20.0)
    pipe = _side([5.0, 9.0, 14.0, 17.0, 19.0], pairs=30_000, greedy_words=12_000, beam_words=11_000, beam_seconds=4.0)
    rows = {r.label: r for r in report.all_rows(joey, pipe, target_bleu=15.0)}
    pairs = rows["training sentence pairs/s"]
    assert pairs.joey == 30.0 and pairs.pipeline == 100.0 and pairs.ratio == pytest.approx(10 / 3) and pairs.met
    beam = rows["decoding beam 5: sentences/s"]
    assert beam.ratio == pytest.approx(5.0) and beam.met  # 250 vs 50 sentences/s
    assert rows["decoding beam 5: output words/s"].ratio == pytest.approx(11_000 / 4 / (9_000 / 20))
    joey_final = rows["minutes to JoeyNMT's final beam-5 BLEU (8.00)"]
    assert (joey_final.joey, joey_final.pipeline) == (5.0, 2.0) and joey_final.ratio == pytest.approx(0.4)
    pipe_final = rows["minutes to the pipeline's final beam-5 BLEU (19.00)"]
    assert pipe_final.joey is None and pipe_final.pipeline == 5.0 and pipe_final.ratio is None
    assert report.cells(pipe_final)[1] == "not reached"
    target = rows["minutes to beam-5 BLEU 15.00"]
    assert target.pipeline == 4.0 and target.met  # ≤ 5 minutes
    assert rows["final beam-5 BLEU minus 15.00"].pipeline == 4.0 and rows["final beam-5 BLEU minus 15.00"].met is False
    assert rows["parameters (M)"].ratio is None  # counts, not speeds, get no ratio
    table = report.text_table(list(rows.values()))
    assert "pipeline / JoeyNMT" in table and "3.33×" in table


def test_first_reach_skips_unscored_snapshots():
    snaps = [{"elapsed_s": 60, "bleu": None}, {"elapsed_s": 120, "bleu": 3.0}, {"elapsed_s": 180, "bleu": 2.0}]
    assert report.first_reach(snaps, 2.5) == 2.0 and report.first_reach(snaps, 3.5) is None


def test_int8_rows_are_held_to_the_same_bars_against_joeynmts_fp32():
    joey = _side([1.0, 2.0, 3.0], pairs=9_000, greedy_words=10_000, beam_words=9_000, beam_seconds=20.0)
    pipe = _side([5.0, 9.0, 9.5], pairs=30_000, greedy_words=12_000, beam_words=11_000, beam_seconds=4.0)
    rows = {r.label: r for r in report.all_rows(joey, pipe)}
    assert not any(label.startswith("pipeline int8") for label in rows)  # only when measured
    pipe["decode"]["beam5_int8"] = {**pipe["decode"]["beam5"], "seconds": 2.0, "bleu": 8.7}
    rows = {r.label: r for r in report.all_rows(joey, pipe)}
    beam = rows["pipeline int8, beam 5: sentences/s"]
    assert beam.ratio == pytest.approx(10.0) and beam.met and beam.bar.text == "≥ 5×"
    assert rows["pipeline int8, beam 5: test BLEU"].pipeline == 8.7
    assert "pipeline int8, greedy: sentences/s" not in rows


def test_final_only_needs_an_earlier_run():
    from pipeline.errors import PipelineError
    from scripts.bench_peer import parse_args

    with pytest.raises(PipelineError, match="add --reuse-training"):
        parse_args(["--final-only"])
    assert parse_args(["--final-only", "--reuse-training"]).final_only
