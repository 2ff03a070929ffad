"""The JoeyNMT side of the peer benchmark, seen from the harness: data, training and decoding runs.

JoeyNMT lives in its own venv (``.venv-peer``); the harness talks to it only through files and the two
driver scripts beside this module, each run as a subprocess with the benchmark's thread count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.peer import joey_data
from scripts.peer.joey_config import joey_config, write_joey_config
from scripts.peer.joey_data import JoeyData

HERE = Path(__file__).parent
DEV_SENTENCES = 64  # JoeyNMT needs a dev set to start; the benchmark never validates on it


def prepared_data(
    python: Path,
    folder: Path,
    src_lang: str,
    tgt_lang: str,
    merges: int,
    test_split: str,
    env: dict[str, str],
    data_root: str | None = None,
) -> JoeyData:
    """Moses + joint BPE files for JoeyNMT, built once into ``folder`` (rebuilt when the recipe changes)."""
    from pipeline.data import multi30k
    from pipeline.files import atomic_dir, sha256_file, sha256_json, write_json, write_text

    names = {"train": "train", "dev": "val", "test": test_split}
    inputs = {
        f"{split}.{lang}": sha256_file(multi30k.split_path(split, lang, data_root))
        for split in names.values()
        for lang in (src_lang, tgt_lang)
    }
    recipe = {
        "merges": merges,
        "dev_sentences": DEV_SENTENCES,
        "src": src_lang,
        "tgt": tgt_lang,
        "test": test_split,
        "tokenizer": "sacremoses, escape=False",
        "bpe": "subword-nmt, joint",
        "inputs": inputs,
    }
    target = folder.resolve() / f"multi30k-{src_lang}-{tgt_lang}-{sha256_json(recipe)[:16]}"
    if (target / "recipe.json").is_file():
        return JoeyData(target, src_lang, tgt_lang)
    with atomic_dir(target, replace=True) as tmp:
        for name, split in names.items():
            limit = DEV_SENTENCES if name == "dev" else None
            for lang in (src_lang, tgt_lang):
                lines = multi30k.read_split(split, lang, data_root)[:limit]
                write_text(tmp / "raw" / f"{name}.{lang}", "".join(line + "\n" for line in lines))
        command = [
            str(python),
            str(HERE / "joey_data.py"),
            str(tmp / "raw"),
            str(tmp),
            "--src",
            src_lang,
            "--tgt",
            tgt_lang,
            "--merges",
            str(merges),
        ]
        _run(command, folder / "prepare.log", env, timeout=3600)
        write_json(tmp / "recipe.json", recipe)
    return JoeyData(target, src_lang, tgt_lang)


def write_config(data: JoeyData, run_dir: Path, seed: int = 1) -> Path:
    return write_joey_config(run_dir / "joey.yaml", joey_config(data, run_dir / "model", seed))


def peer_version(python: Path) -> str:
    """The JoeyNMT version installed in the peer venv (an error line when there is none)."""
    from pipeline.errors import PipelineError

    if not python.exists():
        raise PipelineError(f"no JoeyNMT venv at {python.parent.parent}: run `make bench-peer` (it creates it)")
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('joeynmt'))"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise PipelineError(f"{python} cannot import joeynmt: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def train(
    python: Path,
    config: Path,
    run_dir: Path,
    minutes: float,
    threads: int,
    snapshots: int,
    env: dict[str, str],
) -> dict:
    """Run ``joey_train.py``; returns its summary (parameters, vocabularies, snapshots)."""
    out = run_dir / "snapshots.json"
    out.unlink(missing_ok=True)
    command = [
        str(python),
        str(HERE / "joey_train.py"),
        str(config),
        "--minutes",
        str(minutes),
        "--threads",
        str(threads),
        "--snapshots",
        str(snapshots),
        "--out",
        str(out),
    ]
    _run(command, run_dir / "train.stderr.log", env, timeout=minutes * 60 + 1800)
    return json.loads(out.read_text(encoding="utf-8"))


def decode(
    python: Path, config: Path, run_dir: Path, jobs: list[dict], threads: int, env: dict[str, str], tgt_lang: str
) -> list[dict]:
    """Run ``joey_decode.py`` on ``jobs``; hypotheses come back restored (subword marks removed, detokenised)."""
    jobs_file, out = run_dir / "decode_jobs.json", run_dir / "decode.json"
    jobs_file.write_text(json.dumps(jobs, indent=2) + "\n", encoding="utf-8")
    out.unlink(missing_ok=True)
    command = [
        str(python),
        str(HERE / "joey_decode.py"),
        str(config),
        "--threads",
        str(threads),
        "--jobs",
        str(jobs_file),
        "--out",
        str(out),
    ]
    _run(command, run_dir / "decode.stderr.log", env, timeout=3600)
    results = json.loads(out.read_text(encoding="utf-8"))
    for result in results:
        result["segmented"] = result.pop("hypotheses")
        result["hypotheses"] = joey_data.restore_all(result["segmented"], tgt_lang)
    return results


def _run(command: list[str], log: Path, env: dict[str, str], timeout: float) -> None:
    from pipeline.errors import PipelineError

    print(f"[joey] {' '.join(command)}  (log: {log})", file=sys.stderr, flush=True)
    with open(log, "w", encoding="utf-8") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        raise PipelineError(f"JoeyNMT step failed (exit {done.returncode}); its log: {log}")
