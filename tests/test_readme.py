"""The README's commands must stay real: every `pipeline VERB`, `make TARGET` and config path it shows exists."""

import re
from pathlib import Path

from pipeline.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


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
