"""``pipeline robustness``: the ε at which half the captions change, PGD against random noise."""

import json

import pytest

from pipeline.adversarial.robustness import half_change_epsilon
from tests.serving_fixtures import make_caption_checkpoint
from tests.test_cli import run_cli


def test_half_change_epsilon_interpolates_in_log_epsilon():
    assert half_change_epsilon([1, 4, 16], [0.0, 0.25, 0.75]) == pytest.approx(8.0)  # midway in log between 4, 16
    assert half_change_epsilon([1, 2], [0.6, 0.9]) == 1.0  # already past one half at the smallest ε
    assert half_change_epsilon([1, 2], [0.1, 0.2]) is None  # never reached


def test_the_command_writes_a_report_and_a_figure(tmp_path):
    checkpoint = make_caption_checkpoint(tmp_path / "captioner.pt")
    out = tmp_path / "robustness.png"
    result = run_cli(
        "robustness",
        "--checkpoint",
        str(checkpoint),
        "--images",
        "test:3",
        "--epsilons",
        "0.01",
        "0.1",
        "--steps",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["images"] == 3 and [p["epsilon"] for p in report["points"]] == [0.01, 0.1]
    assert all(0 <= p["pgd_changed"] <= 1 and 0 <= p["noise_changed"] <= 1 for p in report["points"])
    assert out.stat().st_size > 0 and "half of the captions change under pgd" in result.stdout


def test_no_served_captioner_is_one_clear_error(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("applications:\n  - args: {captioner: null}\n")
    result = run_cli("robustness", "--serve-config", str(config))
    assert result.returncode == 2 and "serves no captioner" in result.stderr
