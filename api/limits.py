"""Request body limits on every route (issue 11): 413 problem+json past the limit.

``settings.max_body_bytes`` applies to every route except the uploads
(``POST /api/layers/{table}/upload``), which get ``settings.max_upload_bytes``. A declared
``Content-Length`` over the limit is refused before the app reads a byte; a body without one
(chunked) is counted as it arrives, and the request is cut off with the same 413 at the byte
that crosses the limit — the route never sees more, whatever it does with the body.

Geometry inside a body is further capped by vertex count where it is parsed
(``parkgis.land.parcel_edit.MAX_BLADE_VERTICES`` for a split; the uploads by the loader), and the
limit is named in the refusal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parkgis.settings import Settings

UPLOAD_PATH = re.compile(r"^/api/layers/[^/]+/upload/?$")
PROBLEM = "application/problem+json"


class BodyTooLarge(Exception):
    """Raised into the app when a streamed body crosses the limit (the app's answer is
    replaced by the 413)."""


def limit_for(path: str, settings: Settings) -> int:
    """The body limit in bytes for a request path."""
    if UPLOAD_PATH.match(path):
        return int(settings.max_upload_bytes)
    return int(settings.max_body_bytes)


def _problem(status: int, detail: str, path: str, **extra: Any) -> tuple[dict[str, Any], bytes]:
    titles = {413: "请求体过大 / Content too large", 400: "请求无效 / Bad request"}
    body = {
        "type": "about:blank",
        "title": titles[status],
        "status": status,
        "detail": detail,
        "instance": path,
        **extra,
    }
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", PROBLEM.encode()), (b"connection", b"close")],
    }
    return start, json.dumps(body, ensure_ascii=False).encode()


def _too_large(limit: int, path: str) -> tuple[dict[str, Any], bytes]:
    return _problem(
        413,
        f"请求体超过 {limit} 字节 / the request body is over the limit of {limit} bytes",
        path,
        limit_bytes=limit,
    )


class BodyLimit:
    """Pure ASGI middleware (no buffering: the body streams through, counted)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = limit_for(path, self.settings)
        declared = [v for k, v in scope.get("headers", []) if k == b"content-length"]
        if declared:
            raw = declared[0].strip()
            if not raw.isdigit():
                start, body = _problem(400, "Content-Length 无效 / invalid Content-Length", path)
                await _send(send, start, body)
                return
            if int(raw) > limit:
                await _send(send, *_too_large(limit, path))
                return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app makes of the cut-off body, the answer is the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            pass
        if exceeded and not started:
            await _send(send, *_too_large(limit, path))


async def _send(send: Send, start: dict[str, Any], body: bytes) -> None:
    start["headers"] = [*start["headers"], (b"content-length", str(len(body)).encode())]
    await send(start)
    await send({"type": "http.response.body", "body": body})
