import json

import pytest

from pipeline.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pipeline.errors import PipelineError
from pipeline.files import atomic_dir, write_text
from pipeline.stages import run_stage


def test_atomic_write_keeps_old_content_when_the_writer_dies(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")

    class Killed(Exception):
        pass

    from pipeline.files import atomic_path

    with pytest.raises(Killed):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writt")
            raise Killed
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind


def test_atomic_dir_appears_only_when_complete(tmp_path):
    target = tmp_path / "stage"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "part.npy").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not target.exists()
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]


class Builder:
    def __init__(self):
        self.calls = 0

    def __call__(self, out):
        self.calls += 1
        (out / "data.txt").write_text("payload")
        return {"rows": 3}


def test_stage_skips_when_up_to_date_and_rebuilds_when_inputs_or_params_change(tmp_path):
    build = Builder()
    first = run_stage(tmp_path, "demo", {"k": 1}, {"input": "hash-a"}, build)
    again = run_stage(tmp_path, "demo", {"k": 1}, {"input": "hash-a"}, build)
    assert build.calls == 1 and first.path == again.path and first.built and not again.built
    assert json.loads((first.path / "manifest.json").read_text())["stats"] == {"rows": 3}

    changed_input = run_stage(tmp_path, "demo", {"k": 1}, {"input": "hash-b"}, build)
    changed_param = run_stage(tmp_path, "demo", {"k": 2}, {"input": "hash-a"}, build)
    assert build.calls == 3
    assert len({first.path, changed_input.path, changed_param.path}) == 3

    forced = run_stage(tmp_path, "demo", {"k": 1}, {"input": "hash-a"}, build, force=True)
    assert build.calls == 4 and forced.built and forced.path == first.path


def test_a_killed_stage_leaves_nothing_a_later_run_would_read(tmp_path):
    def dies(out):
        (out / "data.txt").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, "demo", {}, {}, dies)
    build = Builder()
    result = run_stage(tmp_path, "demo", {}, {}, build)
    assert build.calls == 1 and (result.path / "data.txt").read_text() == "payload"


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    import torch

    path = tmp_path / "c.pt"
    save_checkpoint(
        path,
        Checkpoint(
            {"task": "demo", "config": {"a": 1}},
            {"w": torch.ones(2)},
            {"state": {"step": 3}, "rng": {"cpu": torch.get_rng_state()}},
        ),
    )
    loaded = load_checkpoint(path)
    assert loaded.task == "demo" and torch.equal(loaded.model["w"], torch.ones(2))
    assert loaded.train["state"]["step"] == 3
    torch.load(path, weights_only=True)  # would raise on arbitrary pickled objects
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
