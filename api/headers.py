"""Security headers on every response, and a Content-Security-Policy fitted to each page.

* every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and
  ``Referrer-Policy: strict-origin-when-cross-origin``;
* an HTML page: a policy whose ``script-src`` is ``'self'`` plus the SHA-256 of exactly the
  inline scripts of that page (:func:`parkgis.publish.maps.assets.content_security_policy`), so the
  Folium map scripts and Swagger UI's start-up script run and nothing injected does;
* any other body (JSON, problem+json, tiles, images): ``default-src 'none'``, which keeps a
  response opened directly in a browser from running anything;
* a 304 carries no policy: the browser keeps the one stored with the cached page, which
  matches that page's scripts (a fresh, different policy would replace it).

A pure ASGI middleware: only HTML bodies are buffered (to hash their scripts); tiles and
JSON stream through untouched apart from their headers.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parkgis.publish.maps.assets import content_security_policy

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}
NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class SecurityHeaders:
    """Adds the headers above to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Policies of cached pages by ETag (the ETag is a hash of the page): hashing the
        # scripts of the 200 kB map page costs a few ms that every request would pay again.
        self._by_etag: dict[tuple[str, str], str] = {}

    def _policy(self, body: bytes, path: str, etag: str | None) -> str:
        key = (path, etag or "")
        if etag and key in self._by_etag:
            return self._by_etag[key]
        policy = content_security_policy(body.decode("utf-8", errors="replace"))
        if etag:
            if len(self._by_etag) >= 64:
                self._by_etag.clear()
            self._by_etag[key] = policy
        return policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in COMMON.items():
                    headers[k] = v
                html = headers.get("content-type", "").startswith("text/html")
                if html and message["status"] != 304:
                    start = message  # held until the body is complete
                    return
                if message["status"] != 304 and "content-security-policy" not in headers:
                    headers["content-security-policy"] = NON_HTML_CSP
                await send(message)
                return
            if start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                headers = MutableHeaders(scope=start)
                headers["content-security-policy"] = self._policy(
                    body, scope.get("path", ""), headers.get("etag")
                )
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, wrapped)
