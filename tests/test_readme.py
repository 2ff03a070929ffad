"""The README stays real: every `pipeline VERB`, `make TARGET` and config path it shows exists, and its code
blocks marked ``<!-- readme-test -->`` run as they are.

A marked ``bash`` block runs with ``bash -euo pipefail`` in the repository root, with this interpreter's
``bin/`` first on ``PATH`` (where ``pipeline`` is installed); a marked ``python`` block runs in a fresh
interpreter. Each must exit 0 and print something, and none may print an ``error:`` line.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
MARK = "<!-- readme-test -->"
BLOCK = re.compile(re.escape(MARK) + r"\s*\n```(bash|python)\n(.*?)\n```", re.S)


def code_blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_every_pipeline_verb_in_the_readme_exists():
    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    shown = {m for block in code_blocks() for m in re.findall(r"^\s*pipeline ([a-z][a-z-]*)", block, flags=re.M)}
    assert shown, "the README shows no pipeline command"
    assert shown <= verbs, f"README shows verbs the CLI lacks: {sorted(shown - verbs)}"


def test_every_make_target_and_config_in_the_readme_exists():
    makefile = (REPO / "Makefile").read_text()
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for target in set(re.findall(r"`?make ([a-z][a-z-]*)", text)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"make {target} is not in the Makefile"
    for config in set(re.findall(r"conf/[\w./-]+\.yaml", text)):
        assert (REPO / config).is_file(), f"{config} does not exist"


def marked_blocks(text: str) -> list[tuple[str, str]]:
    return BLOCK.findall(text)


README_BLOCKS = marked_blocks((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_shell_and_python_blocks():
    assert {lang for lang, _ in README_BLOCKS} == {"bash", "python"}, README_BLOCKS
    assert (REPO / "README.md").read_text(encoding="utf-8").count(MARK) == len(README_BLOCKS), "a mark without a block"


def test_the_block_parser_finds_only_marked_blocks():
    text = f"```bash\nfalse\n```\n{MARK}\n```bash\necho hi\n```\n{MARK}\n\n```python\nprint(1)\n```\n"
    assert marked_blocks(text) == [("bash", "echo hi"), ("python", "print(1)")]


@pytest.mark.parametrize(
    ("lang", "code"), README_BLOCKS, ids=[f"{i}-{lang}" for i, (lang, _) in enumerate(README_BLOCKS)]
)
def test_readme_block_runs(lang, code):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), f"the block printed nothing\n{done.stderr}"
    assert not re.search(r"^error:", done.stdout + done.stderr, re.M), done.stdout + done.stderr
