"""Request-body caps enforced while the bytes stream in, before anything parses or queues them.

Ray 2.60's HTTP proxy reads a whole request body into its queue (``proxy_asgi_receive``) before the
ingress replica sees the first byte, so an ingress-side check alone lets a 100 MB upload cost the
proxy 100 MB. :class:`BodyLimit` is a pure ASGI middleware that counts bytes as they arrive, with or
without ``Content-Length``, and answers 413 the moment the cap is passed. It runs twice:

* in the proxy, through Ray's hook ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH =
  serving.body_limit:proxy_middlewares`` (set by :func:`serving.launch.deploy` before Ray starts;
  set it yourself in the environment of ``ray start`` / ``serve run`` on a cluster), with one cap for
  every route: ``PIPELINE_MAX_BODY_BYTES``;
* in the ingress (FastAPI), with the per-route caps of ``conf/serve.yaml``'s limits, as a second line
  that also holds where the proxy hook is not installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

PROXY_CALLBACK = "serving.body_limit:proxy_middlewares"
ENV_MAX_BODY = "PIPELINE_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 6_000_000


class BodyLimit:
    """ASGI middleware: bodies over ``limit_for(path)`` bytes get 413 JSON; ``None`` means no cap.

    A body with ``Content-Length`` over the cap is refused before its first byte is read. Any other
    body is buffered (never more than the cap) while counting, then replayed to the app, so the app
    never sees a body that would be refused halfway.
    """

    def __init__(self, app, limit_for: Callable[[str], int | None] | int):
        self.app = app
        self.limit_for = limit_for if callable(limit_for) else (lambda _path, cap=limit_for: cap)

    async def __call__(self, scope, receive, send):
        limit = self.limit_for(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, f"request body is {declared} bytes; at most {limit} are accepted here")
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # http.disconnect: let the app see it
            size += len(message.get("body", b""))
            if size > limit:
                return await _refuse(send, f"request body is over {limit} bytes; at most {limit} are accepted here")
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed():
            return next(replay, None) or await receive()

        return await self.app(scope, replayed, send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, message: str) -> None:
    body = json.dumps({"error": message, "status": 413}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def proxy_middlewares() -> list:
    """Ray Serve's proxy callback: the proxy-wide cap from ``PIPELINE_MAX_BODY_BYTES``."""
    from starlette.middleware import Middleware

    cap = int(os.environ.get(ENV_MAX_BODY, DEFAULT_MAX_BODY))
    return [Middleware(BodyLimit, limit_for=cap)]
