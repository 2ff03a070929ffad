"""train.keep_last / keep_best snapshots and `pipeline average`."""

from __future__ import annotations

import pytest
import torch

from pipeline.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pipeline.cli import main
from pipeline.device import resolve_runtime
from pipeline.errors import PipelineError
from pipeline.losses import label_smoothed_loss
from pipeline.runs import RunFolder
from pipeline.training.averaging import average_checkpoints, snapshot_paths
from pipeline.training.trainer import TrainConfig, Trainer
from tests.helpers import tiny_model
from tests.synthetic import reverse_batches

SCORES = {7: 0.5, 14: 0.9, 21: 0.2}  # validation score by step: 14 is the best, 21 the last


def train_with_snapshots(run_dir, keep_last: int, keep_best: int) -> Trainer:
    cfg = TrainConfig(
        lr=3e-3, max_steps=24, checkpoint_every=5, validate_every=7, warmup_steps=3, keep_last=keep_last,
        keep_best=keep_best, early_stopping_patience=100,
    )  # fmt: skip
    trainer = Trainer(
        cfg,
        resolve_runtime("cpu", "fp32"),
        tiny_model(seed=0, src_vocab=14, tgt_vocab=14),
        lambda m, b: label_smoothed_loss(m, b, 0.1),
        reverse_batches(n=300, max_tokens=120),
        None,
        run_dir,
        {"task": "test"},
    )
    trainer.validate_fn = lambda m: {"score": SCORES[trainer.state.step]}
    trainer.fit()
    return trainer


def test_snapshots_keep_the_last_and_the_best_and_delete_the_rest(tmp_path):
    train_with_snapshots(tmp_path, keep_last=1, keep_best=1)
    folder = RunFolder(tmp_path)
    assert [r["step"] for r in folder.snapshots()] == [14, 21]
    assert sorted(p.name for p in folder.checkpoints.glob("step_*.pt")) == ["step_0000014.pt", "step_0000021.pt"]
    assert load_checkpoint(folder.snapshots()[0]["path"]).meta["scores"] == {"score": 0.9}
    assert snapshot_paths(tmp_path, last=1) == [folder.checkpoints / "step_0000021.pt"]
    assert snapshot_paths(tmp_path, best=1) == [folder.checkpoints / "step_0000014.pt"]
    with pytest.raises(PipelineError, match="fewer than the 3"):
        snapshot_paths(tmp_path, last=3)


def test_average_is_the_elementwise_mean_and_loads_like_its_sources(tmp_path):
    train_with_snapshots(tmp_path, keep_last=2, keep_best=0)
    a, b = snapshot_paths(tmp_path, last=2)
    assert main(["average", "--run", str(tmp_path), "--last", "2"]) == 0
    averaged = load_checkpoint(tmp_path / "checkpoints" / "average_last2.pt")
    wa, wb = load_checkpoint(a).model, load_checkpoint(b).model
    for name, tensor in averaged.model.items():
        torch.testing.assert_close(tensor, (wa[name] + wb[name]) / 2, rtol=0, atol=1e-7)
    assert any(not torch.equal(wa[name], wb[name]) for name in wa)  # the two snapshots really differ
    assert averaged.meta["averaged_from"] == [str(a), str(b)] and "scores" not in averaged.meta
    model = tiny_model(seed=5, src_vocab=14, tgt_vocab=14)
    model.load_state_dict(averaged.model)  # same architecture, same keys


def test_average_refuses_checkpoints_of_different_shapes(tmp_path, capsys):
    save_checkpoint(tmp_path / "a.pt", Checkpoint({"task": "test"}, {"w": torch.zeros(2, 3)}))
    save_checkpoint(tmp_path / "b.pt", Checkpoint({"task": "test"}, {"w": torch.zeros(3, 3)}))
    with pytest.raises(PipelineError, match=r"differ in the shape of w: \(2, 3\) vs \(3, 3\)"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    assert main(["average", str(tmp_path / "a.pt"), "--out", str(tmp_path / "a.pt")]) != 0
    assert "is one of the checkpoints being averaged" in capsys.readouterr().err


def test_an_averaged_translation_checkpoint_translates(tiny_translation_checkpoint, tmp_path):
    from pipeline.inference.translator import Translator

    out = tmp_path / "avg.pt"
    assert main(["average", str(tiny_translation_checkpoint), str(tiny_translation_checkpoint), "--out", str(out)]) == 0
    same = Translator.from_checkpoint(tiny_translation_checkpoint).translate(["A man rides a bike."], beam_size=2)
    averaged = Translator.from_checkpoint(out).translate(["A man rides a bike."], beam_size=2)
    assert [h.text for h in averaged] == [h.text for h in same]  # the mean of one checkpoint with itself
