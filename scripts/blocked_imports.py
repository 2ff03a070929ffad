"""Run a Python module with some top-level packages made unimportable, as on a machine without them.

    python scripts/blocked_imports.py spacy,ray,sacremoses -m pipeline.cli train CONFIG ...
    python scripts/blocked_imports.py spacy,ray SCRIPT.py ARGS...      (or -c CODE)

The GPU check's machine has torch but no spaCy, Ray, sacremoses, gensim, pycocotools, pycocoevalcap or
FastAPI; this reproduces that here so the path it takes can be tested on the CPU machine.
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from pathlib import Path


class _Blocked(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


def main() -> None:
    if len(sys.argv) < 3 or (sys.argv[2] in ("-m", "-c") and len(sys.argv) < 4):
        raise SystemExit("usage: blocked_imports.py NAME[,NAME...] (-m MODULE | -c CODE | SCRIPT) [ARGS...]")
    sys.meta_path.insert(0, _Blocked(set(sys.argv[1].split(","))))
    if sys.argv[2] == "-m":
        module, sys.argv = sys.argv[3], [sys.argv[3], *sys.argv[4:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    elif sys.argv[2] == "-c":
        code, sys.argv = sys.argv[3], ["-c", *sys.argv[4:]]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    else:
        script, sys.argv = sys.argv[2], sys.argv[2:]
        sys.path.insert(0, str(Path(script).resolve().parent))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
