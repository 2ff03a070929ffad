"""Where datasets come from: a configured local copy, ``$PIPELINE_DATASETS/<name>``, or the public origin.

Resolution order for a dataset ``name``:

1. the config's ``root`` key, when set (a local folder);
2. ``$PIPELINE_DATASETS/<name>`` when that environment variable is set (tests and CI set it to
   ``../shared/datasets``);
3. otherwise ``None``: the reader fetches from the dataset's public origin into
   ``data/downloads/<name>`` (see :func:`fetch`).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.progress import log

ENV_VAR = "PIPELINE_DATASETS"
DOWNLOADS = Path("data/downloads")
SET_ROOT = (
    f"set {ENV_VAR}=/path/to/datasets (a folder with multi30k/, flickr8k/, cifar10/, mnist/) or the config's "
    "data.root to a local copy"
)


def dataset_root(name: str, configured: str | None) -> Path | None:
    """The local folder holding dataset ``name``, or None when it must be fetched."""
    if configured:
        root = Path(configured).expanduser()
        if not root.is_dir():
            raise PipelineError(f"data root for {name} not found: {root} (set data.root or ${ENV_VAR})")
        return root
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser() / name
        if not root.is_dir():
            raise PipelineError(f"${ENV_VAR}={env} has no {name}/ folder; expected {root}")
        return root
    return None


def fetch(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` once (atomically); later calls reuse the file."""
    if dest.is_file():
        return dest
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(dest) as tmp:
            tmp.write_bytes(response.read())
    except OSError as err:
        raise PipelineError(f"could not download {url} ({err}); {SET_ROOT}") from None
    return dest
