"""The CLI's contract: every verb listed, every user error one line and exit status 2, no traceback."""

import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def run_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        input=stdin,
        timeout=120,
    )


def test_help_lists_every_verb():
    out = run_cli("--help")
    assert out.returncode == 0
    for verb in ("prepare", "train", "evaluate", "translate", "bench"):
        assert verb in out.stdout


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_data_root_is_one_line(tmp_path):
    result = run_cli("prepare", "conf/translate_en_de.yaml", f"data.root={tmp_path / 'nowhere'}")
    assert_one_line_error(result, "data root for multi30k not found")


def test_unknown_language_pair_is_one_line():
    assert_one_line_error(run_cli("prepare", "conf/translate_en_de.yaml", "data.tgt_lang=xx"), "data.tgt_lang")
    assert_one_line_error(run_cli("prepare", "conf/translate_en_de.yaml", "data.tgt_lang=en"), "both 'en'")


def test_malformed_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: translation\ntrain: {lr: [\n")
    assert_one_line_error(run_cli("train", str(bad)), "malformed config")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("task: translation\ntrain: {lr: fast}\n")
    assert_one_line_error(run_cli("train", str(wrong)), "train.lr")
    assert_one_line_error(run_cli("train", str(tmp_path / "absent.yaml")), "config file not found")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("task: teleport\n")
    assert_one_line_error(run_cli("train", str(unknown)), "unknown task 'teleport'")


def test_missing_or_bogus_checkpoint_is_one_line(tmp_path):
    assert_one_line_error(run_cli("evaluate", "--checkpoint", str(tmp_path / "none.pt")), "checkpoint not found")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 10)
    assert_one_line_error(run_cli("translate", "--checkpoint", str(junk), stdin="hello\n"), "not a readable checkpoint")


@pytest.mark.slow
def test_translate_reads_stdin_and_saves_attention(tmp_path, tiny_translation_checkpoint):
    png = tmp_path / "att.png"
    result = run_cli(
        "translate",
        "--checkpoint",
        str(tiny_translation_checkpoint),
        "--beam-size",
        "2",
        "--attention-png",
        str(png),
        stdin="A dog runs on the grass.\n",
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert png.stat().st_size > 1000


def test_without_a_data_root_or_network_the_error_says_to_set_pipeline_datasets(tmp_path):
    """No $PIPELINE_DATASETS and no reachable origin (a proxy that refuses): one error naming the variable."""
    env = {k: v for k, v in ENV.items() if k != "PIPELINE_DATASETS"}
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    result = run_cli("prepare", "conf/translate_en_de.yaml", f"run.stages={tmp_path}", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: could not download" in result.stderr and "set PIPELINE_DATASETS=" in result.stderr
    result = run_cli("prepare", "conf/caption_flickr8k.yaml", f"run.stages={tmp_path}", env=env)
    assert_one_line_error(result, "set PIPELINE_DATASETS=")


def test_doctor_and_config_show():
    doctor = run_cli("doctor")
    assert doctor.returncode == 0, doctor.stderr
    for name in ("data root", "torch", "CUDA", "Java", "Chromium", "Ray"):
        assert any(line.startswith(name) for line in doctor.stdout.splitlines()), (name, doctor.stdout)
    shown = run_cli("config", "show", "conf/translate_en_fr.yaml", "--preset", "quick")
    assert shown.returncode == 0, shown.stderr
    assert "tgt_lang: fr" in shown.stdout and "dir: data/runs/en_fr_quick" in shown.stdout
    assert "# label-smoothing epsilon of the cross-entropy" in shown.stdout


def test_overrides_after_a_list_option_stay_overrides():
    from pipeline.cli import parse_args

    args = parse_args(
        ["evaluate", "--checkpoint", "x.pt", "--beam-size", "1", "5", "train.threads=1", "search.max_len=9"]
    )
    assert args.beam_size == [1, 5]
    assert args.overrides == ["train.threads=1", "search.max_len=9"]
    args = parse_args(["evaluate", "--config", "c.yaml", "a.b=1", "--splits", "val", "test_2016_flickr", "c=2"])
    assert args.splits == ["val", "test_2016_flickr"] and args.overrides == ["a.b=1", "c=2"]
    with pytest.raises(SystemExit):  # a list option with no value of its own is still an error
        parse_args(["evaluate", "--checkpoint", "x.pt", "--beam-size", "train.threads=1"])
    with pytest.raises(SystemExit):
        parse_args(["evaluate", "--checkpoint", "x.pt", "--beam-size", "five"])


def test_caption_overrides_after_the_images_stay_overrides(tmp_path, monkeypatch):
    from pipeline.cli import parse_args
    from pipeline.commands.caption import split_images

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a=b.jpg").write_bytes(b"")  # an existing file whose name looks like an override stays an image
    args = parse_args(["caption", "x.jpg", "a=b.jpg", "--config", "c.yaml", "run.dir=/tmp/r", "search.beam_size=3"])
    split_images(args)
    assert args.images == ["x.jpg", "a=b.jpg"]
    assert args.overrides == ["run.dir=/tmp/r", "search.beam_size=3"]
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = run_cli("caption", "run.dir=/tmp/r", "--config", "conf/caption_flickr8k.yaml")
    assert_one_line_error(result, "at least one image")
