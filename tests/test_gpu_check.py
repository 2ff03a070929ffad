"""scripts/gpu_check.sh's evaluation runs where spaCy, Ray, sacremoses and the other extras are missing,
as on the CUDA image: the blocked imports are reproduced here with scripts/blocked_imports.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MISSING_THERE = "spacy,ray,sacremoses,gensim,pycocotools,pycocoevalcap,fastapi,starlette,multipart"


def test_blocked_imports_really_block():
    probe = subprocess.run(
        [sys.executable, str(REPO / "scripts/blocked_imports.py"), "spacy", "-c", "import spacy"],
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "No module named 'spacy' (blocked)" in probe.stderr


def test_gpu_check_eval_needs_none_of_the_extras(tiny_translation_checkpoint):
    run = tiny_translation_checkpoint.parent.parent
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts/blocked_imports.py"),
            MISSING_THERE,
            str(REPO / "scripts/gpu_check_eval.py"),
            str(run),
            "--device",
            "cpu",
            "--beams",
            "1",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "built elsewhere with spacy=" in done.stderr  # the text stages came from the copy, not from spaCy
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["device"] == "cpu" and report["train_step"] == 3
    assert set(report["decode"]) == {"beam1", "beam2"}
    for scores in report["decode"].values():
        assert scores["sentences"] == 1000 and scores["sentences_per_s"] > 0 and 0 <= scores["bleu"] <= 100
    assert report["train_log_points"] >= 0 and report["valid_bleu_by_step"][-1][0] == 3
