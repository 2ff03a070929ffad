"""Session-wide test settings: the shared datasets, CPU threads, small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

os.environ.setdefault("PIPELINE_DATASETS", str(SHARED_DATASETS))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# The test cluster has two Ray nodes on 127.0.0.1. ray.init(address="127.0.0.1:port") rewrites a loopback
# address to the machine's own IP, where nothing of this loopback-only cluster listens; with this variable
# (read once, when Ray is first imported) Ray's own address detection answers 127.0.0.1.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
torch.set_num_threads(int(os.environ.get("PIPELINE_THREADS", "0")) or min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    root = Path(os.environ["PIPELINE_DATASETS"])
    assert root.is_dir(), f"shared datasets not found at {root}; set PIPELINE_DATASETS"
    return root


@pytest.fixture(scope="session")
def translation_stages(tmp_path_factory, datasets_root) -> Path:
    """One stages folder for the session, so the Multi30k text stages are built once."""
    return tmp_path_factory.mktemp("stages")


@pytest.fixture(scope="session")
def tiny_translation_checkpoint(tmp_path_factory, translation_stages) -> Path:
    """A real (tiny, briefly trained) EN→DE checkpoint built through the task's own train()."""
    from pipeline.tasks import load_task_config
    from pipeline.tasks.translation import train
    from tests.serving_fixtures import TINY_TRAINED_TRANSLATION

    root = tmp_path_factory.mktemp("tiny_translation")
    _, cfg = load_task_config(
        REPO / "conf" / "translate_en_de.yaml",
        "quick",
        [
            f"run.dir={root / 'run'}",
            f"run.stages={translation_stages}",
            *TINY_TRAINED_TRANSLATION,
            "train.max_steps=3",
            "train.checkpoint_every=3",
            "train.valid_limit=20",
            "search.beam_size=2",
        ],
    )
    run_dir = train(cfg)
    return run_dir / "checkpoints" / "best.pt"
