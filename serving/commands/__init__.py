"""The serving verbs of the ``pipeline`` CLI: ``serve`` and ``loadtest``.

They live with the Serve application, not in :mod:`pipeline.commands`, so that the ``pipeline`` package
never imports ``serving`` (``serving`` depends on ``pipeline``, not the reverse). The CLI finds them through
the ``pipeline.commands`` entry-point group that ``pyproject.toml`` declares.
"""

from __future__ import annotations

from serving.commands import loadtest, serve


def register(subparsers) -> None:
    serve.register(subparsers)
    loadtest.register(subparsers)
