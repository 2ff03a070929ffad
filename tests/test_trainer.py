import pytest
import torch

from pipeline.device import resolve_runtime
from pipeline.losses import label_smoothed_loss
from pipeline.training.trainer import TrainConfig, Trainer
from tests.helpers import tiny_model
from tests.synthetic import reverse_batches


class Killed(Exception):
    pass


def make_trainer(run_dir, seed_for_init: int, on_step=None):
    cfg = TrainConfig(
        seed=1,
        lr=3e-3,
        max_steps=24,
        checkpoint_every=5,
        validate_every=7,
        log_every=4,
        warmup_steps=3,
        plateau_patience=1,
        early_stopping_patience=100,
    )
    model = tiny_model(dropout=0.3, seed=seed_for_init, src_vocab=14, tgt_vocab=14)
    return Trainer(
        cfg,
        resolve_runtime("cpu", "fp32"),
        model,
        lambda m, b: label_smoothed_loss(m, b, 0.1),
        reverse_batches(n=300, max_tokens=120),
        lambda m: {"score": 1.0},
        run_dir,
        {"task": "test"},
        on_step=on_step,
    )


def test_resume_after_a_kill_gives_identical_weights(tmp_path):
    straight = make_trainer(tmp_path / "a", seed_for_init=0)
    straight.fit()

    def kill_at_13(step):
        if step == 13:
            raise Killed

    interrupted = make_trainer(tmp_path / "b", seed_for_init=0, on_step=kill_at_13)
    with pytest.raises(Killed):
        interrupted.fit()
    resumed = make_trainer(tmp_path / "b", seed_for_init=99)  # different init: everything must come from the checkpoint
    resumed.fit()
    assert resumed.state.step == straight.state.step == 24
    # a flat validation score decays the LR at every validation after the first: that state must survive too
    assert resumed.state.lr_scale == straight.state.lr_scale == 0.25  # validations at steps 7, 14, 21
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    steps = [row["step"] for row in resumed.logbook.events("train")]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no duplicated log lines after resume
    assert (tmp_path / "b" / "curves.png").stat().st_size > 0


def test_batches_are_sized_by_tokens_and_fixed_per_epoch():
    source = reverse_batches(n=500, max_tokens=100)
    first, again, other = source.epoch(0), source.epoch(0), source.epoch(1)
    assert [b.index.tolist() for b in first] == [b.index.tolist() for b in again]
    assert [b.index.tolist() for b in first] != [b.index.tolist() for b in other]
    seen = sorted(i for b in first for i in b.index.tolist())
    assert seen == list(range(500))
    for batch in first:
        assert batch.src.numel() <= 100 or batch.src.size(0) == 1
        assert torch.all(batch.tgt_in[:, 0] == 2)


def test_restart_starts_a_fresh_metrics_log(tmp_path):
    """`train --restart` (fit(resume=False)) must not mix an earlier run's events into metrics.jsonl."""
    import json

    first = make_trainer(tmp_path / "run", seed_for_init=0)
    first.fit()
    log = tmp_path / "run" / "metrics.jsonl"
    once = log.read_text().splitlines()
    again = make_trainer(tmp_path / "run", seed_for_init=0)
    again.fit(resume=False)
    twice = log.read_text().splitlines()
    assert len(twice) == len(once)
    steps = [json.loads(line)["step"] for line in twice if json.loads(line)["kind"] == "train"]
    assert steps == sorted(steps) and steps[0] == 4


def test_timed_checkpoints_fall_on_the_first_update_at_or_after_each_mark(tmp_path, monkeypatch, capsys):
    """``checkpoint_every_s``: the clock starts at the end of the first update; an update that closes one
    mark (or several) writes last.pt once and logs the step and the mark."""
    import pipeline.training.trainer as trainer_module
    from pipeline.checkpoint import load_checkpoint

    seconds = iter([0.0, 4.0, 9.9, 10.0, 10.5, 35.0, 36.0, 39.0] + [39.5] * 100)  # one reading per update
    monkeypatch.setattr(trainer_module, "_clock", lambda: next(seconds))
    trainer = make_trainer(tmp_path / "run", seed_for_init=0)
    trainer.cfg = trainer.cfg.model_copy(update={"checkpoint_every": 1000, "checkpoint_every_s": 10.0})
    written = {}

    def on_step(step):
        if trainer.last_path.exists():
            written.setdefault(load_checkpoint(trainer.last_path).train["state"]["step"], step)

    trainer.on_step = on_step
    trainer.fit()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("checkpoint at step")]
    # update 4 ends at 10.0 s (mark 1); update 6 at 35.0 s closes marks 2 and 3; the end of the run writes too
    assert [line.split(":")[0] for line in lines] == [
        "checkpoint at step 4 (10 s mark 1, 10.000 s)",
        "checkpoint at step 6 (10 s mark 3, 35.000 s)",
        "checkpoint at step 24",
    ]
    assert written == {4: 4, 6: 6}  # each file was complete, and held its step, when the next update began
    assert load_checkpoint(trainer.last_path).train["state"]["step"] == 24
