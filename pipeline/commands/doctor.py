"""``pipeline doctor``: what this machine gives the pipeline — the data root, torch and its devices, Java
(METEOR and the PTB tokenizer of the captioning scores), Chromium (the web-page test) and Ray.

Nothing is started or downloaded; each line says what was found and, when something is missing, what
uses it and how to get it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from pipeline.data.roots import ENV_VAR

DATASETS = ("multi30k", "flickr8k", "cifar10", "mnist")
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check the data root, devices (torch, CUDA), Java, Chromium and Ray")
    p.set_defaults(func=run)


def data_root() -> list[str]:
    root = os.environ.get(ENV_VAR)
    if not root:
        return [
            f"data root    ${ENV_VAR} is not set: set it to a folder holding {', '.join(DATASETS)} "
            "(without it, readers download from the public origins, which needs the network)"
        ]
    found = [name for name in DATASETS if (Path(root).expanduser() / name).is_dir()]
    missing = [name for name in DATASETS if name not in found]
    line = f"data root    ${ENV_VAR}={root}: {', '.join(found) or 'no dataset folders'}"
    return [line + (f" (missing: {', '.join(missing)})" if missing else "")]


def devices() -> list[str]:
    import torch  # only here: importing torch takes seconds

    lines = [
        f"torch        {torch.__version__}, {torch.get_num_threads()} CPU threads "
        f"($PIPELINE_THREADS={os.environ.get('PIPELINE_THREADS', 'unset')})"
    ]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        bf16 = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        lines.append(f"CUDA         {torch.version.cuda}: {', '.join(names)} (autocast {bf16})")
    else:
        lines.append("CUDA         none visible: training and decoding run on the CPU in fp32")
    return lines


def java() -> list[str]:
    if shutil.which("java") is None:
        return [
            "Java         not found: METEOR and the PTB tokenizer are skipped (apt-get install default-jre-headless)"
        ]
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
    first = (out.stderr or out.stdout).splitlines()[:1]
    return [f"Java         {first[0] if first else 'found'}"]


def chromium() -> list[str]:
    path = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    browser = f"{path}" if path else "not found (the web-page test needs it: apt-get install chromium)"
    return [f"Chromium     {browser}; playwright {_version('playwright')}"]


def ray() -> list[str]:
    version = _version("ray")
    if version == "not installed":
        return ["Ray          not installed: serving and --engine ray need ray[serve]"]
    auth = os.environ.get("RAY_AUTH_MODE", "unset")
    return [f"Ray          {version} (RAY_AUTH_MODE={auth}; a local cluster starts when serve or --engine ray runs)"]


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def run(args: argparse.Namespace) -> int:
    for check in (data_root, devices, java, chromium, ray):
        for line in check():
            print(line)
    return 0
