"""``pipeline loadtest --set``: benchmark variants of conf/serve.yaml without editing the file."""

import pytest

from pipeline.errors import PipelineError
from serving.commands.loadtest import apply_sets
from serving.launch import read_config


def test_set_edits_deployments_and_args_without_touching_the_original():
    base = read_config("conf/serve.yaml")
    edited = apply_sets(
        base, ["translator.num_replicas=1", "translator.user_config.batch_wait_timeout_s=0.1", "args.threads=2"]
    )
    app = edited["applications"][0]
    translator = next(d for d in app["deployments"] if d["name"] == "translator")
    assert translator["num_replicas"] == 1
    assert translator["user_config"] == {"max_batch_size": 32, "max_batch_cost": 1200, "batch_wait_timeout_s": 0.1}
    assert app["args"]["threads"] == 2
    original = next(d for d in base["applications"][0]["deployments"] if d["name"] == "translator")
    assert original["num_replicas"] == 2 and base["applications"][0]["args"]["threads"] == 1


@pytest.mark.parametrize("item", ["translator", "translator.num_replicas", "nosuch.num_replicas=1"])
def test_bad_set_is_one_clear_error(item):
    with pytest.raises(PipelineError, match="--set"):
        apply_sets(read_config("conf/serve.yaml"), [item])


def test_a_missing_checkpoint_is_left_out_with_a_notice(tmp_path):
    from serving.launch import check_checkpoints, with_overrides

    present = tmp_path / "en_de.pt"
    present.write_bytes(b"x")
    config = with_overrides(
        read_config("conf/serve.yaml"), translators={"en-de": str(present)}, captioner=str(tmp_path / "none.pt")
    )
    config["applications"][0]["args"]["editor"] = None  # this test is about the captioner alone
    config["applications"][0]["args"]["search"] = None
    notices: list[str] = []
    check_checkpoints(config, notice=notices.append)
    args = config["applications"][0]["args"]
    assert args["translators"] == {"en-de": str(present.resolve())} and args["captioner"] is None
    assert len(notices) == 1 and "captioner is not served" in notices[0] and "caption_flickr8k.yaml" in notices[0]
    names = {d["name"] for d in config["applications"][0]["deployments"]}
    assert "captioner" not in names and "translator" in names  # Serve rejects settings of an unbuilt deployment


def test_no_checkpoint_at_all_is_one_clear_error(tmp_path):
    from serving.launch import check_checkpoints, with_overrides

    config = with_overrides(
        read_config("conf/serve.yaml"), translators={"en-de": str(tmp_path / "a.pt")}, captioner=str(tmp_path / "b.pt")
    )
    config["applications"][0]["args"]["editor"] = {"gan": str(tmp_path / "c.pt"), "encoder": None}
    config["applications"][0]["args"]["search"] = {"index": str(tmp_path / "d.npz")}
    with pytest.raises(PipelineError, match="make run"):
        check_checkpoints(config, notice=lambda _: None)


def test_a_missing_search_index_is_left_out_with_a_notice_naming_build_index(tmp_path):
    from serving.launch import check_checkpoints, with_overrides

    present = tmp_path / "en_de.pt"
    present.write_bytes(b"x")
    config = with_overrides(read_config("conf/serve.yaml"), translators={"en-de": str(present)})
    args = config["applications"][0]["args"]
    args.update(captioner=None, editor=None, search={"index": str(tmp_path / "none.npz")})
    notices: list[str] = []
    check_checkpoints(config, notice=notices.append)
    assert config["applications"][0]["args"]["search"] is None
    assert len(notices) == 1 and "search is not served" in notices[0] and "build-index" in notices[0]


def test_an_editor_without_its_encoder_is_served_with_a_notice(tmp_path):
    from serving.launch import check_checkpoints, with_overrides

    gan = tmp_path / "gan.pt"
    gan.write_bytes(b"x")
    config = with_overrides(read_config("conf/serve.yaml"), translators={})
    config["applications"][0]["args"]["captioner"] = None
    config["applications"][0]["args"]["search"] = None
    config["applications"][0]["args"]["editor"] = {"gan": str(gan), "encoder": str(tmp_path / "none.pt")}
    notices: list[str] = []
    check_checkpoints(config, notice=notices.append)
    args = config["applications"][0]["args"]
    assert args["editor"] == {"gan": str(gan.resolve()), "encoder": None}
    assert len(notices) == 1 and "without its encoder" in notices[0]
    names = {d["name"] for d in config["applications"][0]["deployments"]}
    assert "editor" in names and not names & {"translator", "captioner"}


def test_best_serves_the_run_with_the_highest_validation_score(tmp_path):
    import torch

    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from serving.launch import with_best

    def run(name: str, task: str, scores: dict | None) -> str:
        path = tmp_path / name / "checkpoints" / "best.pt"
        save_checkpoint(path, Checkpoint({"task": task, "scores": scores}, {"w": torch.zeros(1)}))
        return str(path)

    quick, reference = run("en_de_quick", "translation", {"bleu": 30.1}), run("en_de", "translation", {"bleu": 33.4})
    french = run("en_fr_cpu", "translation", {"bleu": 50.0})
    run("unscored", "translation", None)
    runs = {
        "en-de": ((str(tmp_path / "en_de"), str(tmp_path / "en_de_quick"), str(tmp_path / "unscored")), "bleu"),
        "en-fr": ((str(tmp_path / "en_fr"), str(tmp_path / "en_fr_cpu")), "bleu"),
        "captioner": ((str(tmp_path / "nothing_here"),), "CIDEr-D"),
    }
    notices: list[str] = []
    config = with_best(read_config("conf/serve.yaml"), runs, notice=notices.append)
    args = config["applications"][0]["args"]
    assert args["translators"] == {"en-de": reference, "en-fr": french} and quick not in str(args)
    assert args["captioner"] == read_config("conf/serve.yaml")["applications"][0]["args"]["captioner"]  # kept
    assert len(notices) == 2 and "bleu 33.4 of 2 runs" in notices[0]


def test_best_serves_the_val_chosen_average_where_the_run_has_one(tmp_path):
    import json

    import torch

    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from serving.launch import with_best

    folder = tmp_path / "en_fr"
    save_checkpoint(folder / "checkpoints" / "best.pt", Checkpoint({"scores": {"bleu": 56.0}}, {"w": torch.zeros(1)}))
    average = folder / "checkpoints" / "average_best5.pt"
    save_checkpoint(average, Checkpoint({}, {"w": torch.ones(1)}))
    runs = {"en-fr": ((str(folder),), "bleu")}
    (folder / "systems.json").write_text(json.dumps({"winner": "average", "winner_checkpoints": [str(average)]}))
    notices: list[str] = []
    args = with_best(read_config("conf/serve.yaml"), runs, notice=notices.append)["applications"][0]["args"]
    assert args["translators"]["en-fr"] == str(average) and "chosen on val" in notices[-1]

    ensemble = [str(folder / "checkpoints" / "best.pt"), str(average)]
    (folder / "systems.json").write_text(json.dumps({"winner": "ensemble", "winner_checkpoints": ensemble}))
    notices.clear()
    args = with_best(read_config("conf/serve.yaml"), runs, notice=notices.append)["applications"][0]["args"]
    assert args["translators"]["en-fr"] == str(folder / "checkpoints" / "best.pt") and "ensemble" in notices[-1]

    (folder / "systems.json").write_text("{not json")
    args = with_best(read_config("conf/serve.yaml"), runs, notice=notices.append)["applications"][0]["args"]
    assert args["translators"]["en-fr"] == str(folder / "checkpoints" / "best.pt")
