"""The package layering: ``pipeline`` never imports ``serving`` (serving depends on pipeline, not the reverse),
and the serving verbs reach the CLI through the ``pipeline.commands`` entry point."""

import ast
from pathlib import Path

from pipeline.cli import build_parser

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pipeline_never_imports_serving():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "serving")
        for path in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_scanner_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from serving.launch import deploy\n    import serving.bench\n")
    assert imported_modules(module) == {"serving.launch", "serving.bench"}


def test_serving_verbs_come_from_the_entry_point():
    verbs = build_parser()._subparsers._group_actions[0].choices
    assert {"serve", "loadtest"} <= set(verbs)
    assert verbs["serve"].get_default("func").__module__ == "serving.commands.serve"
