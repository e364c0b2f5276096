"""What the HTML pages (``/``, ``/planner``) share: the page head, a cache keyed on data and
asset versions, and conditional responses."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import folium
from branca.element import CssLink, Element, JavascriptLink
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from parkgis.publish.maps import assets

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
templates = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"])
)

HEAD = (
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<link rel="icon" type="image/svg+xml" href="/static/img/favicon.svg">'
)


def asset_version(own_assets: Sequence[str]) -> str:
    """A short hash of our own JS/CSS, appended to their URLs so browsers never run stale
    scripts against a new page."""
    h = hashlib.sha256()
    for rel in own_assets:
        h.update((WEB_DIR / "static" / rel).read_bytes())
    return h.hexdigest()[:10]


def add_head(m: folium.Map, own_assets: Sequence[str], version: str) -> None:
    fig = m.get_root()
    fig.header.add_child(Element(HEAD), name="pg_head")
    for rel in own_assets:
        url = f"/static/{rel}?v={version}"
        link = CssLink(url) if rel.endswith(".css") else JavascriptLink(url)
        fig.header.add_child(link, name=f"own_{rel}")


# Folium's map header adds a second viewport that forbids zooming the page (user-scalable=no,
# maximum-scale=1): the later one wins, and people who enlarge text on a phone could not (WCAG
# 1.4.4). Ours (HEAD) is kept; the map's own pinch zoom is Leaflet's either way.
_FOLIUM_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*user-scalable=no[^>]*>\s*')


def render(m: folium.Map) -> tuple[str, str]:
    """The page's HTML (assets localised, Chinese declared, one viewport) and its ETag."""
    html = assets.render(m).replace("<html>", '<html lang="zh-CN">', 1)
    html = _FOLIUM_VIEWPORT.sub("", html)
    return html, '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'


class PageCache:
    """Rendered pages by key. Keys carry the data versions, so an edit is a miss; the cache is
    small because a key only changes when the data or our assets do."""

    def __init__(self, size: int = 16) -> None:
        self._pages: dict[Hashable, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._size = size

    def get_or_build(self, key: Hashable, build: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        with self._lock:
            hit = self._pages.get(key)
        if hit:
            return hit
        page = build()
        with self._lock:
            if len(self._pages) >= self._size:
                self._pages.clear()
            self._pages[key] = page
        return page


def html_response(request: Request, html: str, etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)
