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
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    root = Path(os.environ["PIPELINE_DATASETS"])
    assert root.is_dir(), f"shared datasets not found at {root}; set PIPELINE_DATASETS"
    return root
