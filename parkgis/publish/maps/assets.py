"""Front-end assets for Folium maps: served by us, or inlined — never from a CDN.

Folium's classes point their ``default_js`` / ``default_css`` at public CDNs. Those hosts
are slow or blocked in China and absent offline, so every map we
render goes through :func:`localise`, which rewrites each asset address to the copy that
``scripts/vendor_assets.py`` put under ``web/static/vendor`` (served at ``/static/vendor``).

Two modes:

``localise(m)``
    addresses become ``/static/vendor/...`` (pages served by our API).
``localise(m, inline=True)`` or ``inline_html(html)``
    the script and stylesheet files are written *into* the HTML, with the images and fonts
    their CSS refers to as ``data:`` URIs, so the file opens with no server at all (offline
    site briefs, e-mail attachments). Only WOFF2 fonts are kept (every browser that runs
    Leaflet 1.9 reads WOFF2); the brief stays a few hundred KB smaller.

An asset with no vendored copy raises :class:`UnvendoredAsset` rather than silently keeping
its CDN address; a few assets we never use are dropped on purpose (see ``DROP``).

Examples
--------
>>> import folium
>>> from parkgis.publish.maps import assets
>>> m = assets.localise(folium.Map(tiles=None))
>>> "cdn" in m.get_root().render()
False
>>> html = assets.inline_html(m.get_root().render())   # self-contained file
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from collections.abc import Iterable
from pathlib import Path

import folium
from branca.element import Element

from parkgis.errors import ParkGISError
from parkgis.settings import PROJECT_ROOT

# Anchored on the project root, not on this file's depth, which the restructure changed.
STATIC_DIR = PROJECT_ROOT / "web" / "static"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"

# (regular expression on the CDN address, path under /static/vendor). The first match wins.
# Matching the address rather than Folium's resource names keeps working when a Folium release
# renames a resource or bumps a CDN version.
VENDOR: list[tuple[str, str]] = [
    (r"leaflet\.vectorgrid|VectorGrid", "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
    (
        r"markercluster.*MarkerCluster\.Default\.css$",
        "leaflet.markercluster/MarkerCluster.Default.css",
    ),
    (r"markercluster.*MarkerCluster\.css$", "leaflet.markercluster/MarkerCluster.css"),
    (r"markercluster.*\.js$", "leaflet.markercluster/leaflet.markercluster.js"),
    (r"fullscreen.*\.css$", "leaflet.fullscreen/Control.FullScreen.css"),
    (r"fullscreen.*\.js$", "leaflet.fullscreen/Control.FullScreen.js"),
    (r"[Mm]ini[Mm]ap.*\.css$", "leaflet-minimap/Control.MiniMap.min.css"),
    (r"[Mm]ini[Mm]ap.*\.js$", "leaflet-minimap/Control.MiniMap.min.js"),
    (r"leaflet-measure.*\.css$", "leaflet-measure/leaflet-measure.css"),
    (r"leaflet-measure.*\.js$", "leaflet-measure/leaflet-measure.js"),
    (r"leaflet\.draw.*\.css$|leaflet-draw.*\.css$", "leaflet-draw/leaflet.draw.css"),
    (r"leaflet\.draw.*\.js$|leaflet-draw.*\.js$", "leaflet-draw/leaflet.draw.js"),
    (r"awesome-markers.*\.css$", "leaflet.awesome-markers/leaflet.awesome-markers.css"),
    (r"awesome-markers.*\.js$", "leaflet.awesome-markers/leaflet.awesome-markers.min.js"),
    (r"fontawesome.*\.css$|font-awesome.*\.css$", "fontawesome-free/css/all.min.css"),
    (r"bootstrap.*\.css$", "bootstrap/css/bootstrap.min.css"),
    (r"bootstrap.*\.js$", "bootstrap/js/bootstrap.bundle.min.js"),
    (r"jquery.*\.js$", "jquery/jquery.min.js"),
    (r"leaflet@[^/]*/dist/leaflet\.css$|/leaflet\.css$", "leaflet/leaflet.css"),
    (r"leaflet@[^/]*/dist/leaflet\.js$|/leaflet\.js$", "leaflet/leaflet.js"),
]
# Assets we never use: Bootstrap 3 glyphicons (we use Font Awesome icons) and Folium's
# marker-rotation CSS (no rotated markers).
DROP = (r"glyphicons", r"awesome\.rotate")

_LINK_RE = re.compile(r"<link\b[^>]*\bhref=\"(?P<url>/static/[^\"]+\.css)\"[^>]*/?>")
_SCRIPT_RE = re.compile(r"<script\b[^>]*\bsrc=\"(?P<url>/static/[^\"]+\.js)\"[^>]*>\s*</script>")
_CSS_URL_RE = re.compile(r"url\(\s*(['\"]?)(?P<ref>[^)'\"]+)\1\s*\)")
_TTF_FALLBACK_RE = re.compile(r",\s*url\([^)]*\.ttf\)\s*format\([\"']truetype[\"']\)")


class UnvendoredAsset(ParkGISError):
    """A map needs a front-end file that is not in ``web/static/vendor``."""

    status = 500
    title_zh = "缺少前端资源"
    title_en = "Front-end asset not vendored"


def vendor_url(url: str) -> str | None:
    """The ``/static/vendor/...`` address of a CDN ``url``; ``None`` if the asset is dropped.

    Addresses that are already local (``/static/...``) or ``data:`` are returned unchanged.

    Raises
    ------
    UnvendoredAsset
        no vendored copy is known: add the npm package to ``web/package.json`` and
        ``scripts/vendor_assets.py``, then a line to ``VENDOR``.
    """
    if url.startswith((STATIC_URL + "/", "data:")):
        return url
    if any(re.search(p, url) for p in DROP):
        return None
    for pattern, path in VENDOR:
        if re.search(pattern, url):
            if not (STATIC_DIR / "vendor" / path).is_file():
                raise UnvendoredAsset(
                    f"{path} is missing: run `npm install` in web/ and scripts/vendor_assets.py"
                )
            return f"{VENDOR_URL}/{path}"
    raise UnvendoredAsset(f"no vendored copy of {url}")


def _localised(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        local = vendor_url(url)
        if local is not None:
            out.append((name, local))
    return out


def _walk(element: Element) -> Iterable[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def patch_folium_classes() -> None:
    """Point the class-level defaults of Folium and every plugin at our vendored copies.

    Called on import of :mod:`parkgis.publish.maps`, so a map someone builds without
    :func:`localise` still never reaches a CDN (for the classes loaded at that time;
    :func:`localise` handles any element whatever its class).
    """
    import folium.plugins as plugins

    classes: list[type] = [folium.Map]
    classes += [getattr(plugins, n) for n in dir(plugins) if isinstance(getattr(plugins, n), type)]
    for cls in classes:
        for attr in ("default_js", "default_css"):
            pairs = cls.__dict__.get(attr)
            if pairs:
                try:
                    setattr(cls, attr, _localised(pairs))
                except UnvendoredAsset:
                    # A plugin we do not vendor keeps its address; localise() refuses to
                    # render a map that actually uses it.
                    continue


def localise(m: folium.Map, inline: bool = False) -> folium.Map:
    """Rewrite every asset address of ``m`` (and all its children) to our vendored copies.

    Parameters
    ----------
    m : folium.Map
        the map (or any Folium element whose root is a Figure).
    inline : bool, default False
        also mark the map so that :func:`render` inlines the files (self-contained HTML).

    Returns
    -------
    folium.Map
        ``m`` itself, for chaining.
    """
    for el in _walk(m):
        for attr in ("default_js", "default_css"):
            pairs = getattr(el, attr, None)
            if pairs:
                # Instance attribute: never mutates Folium's classes behind another caller.
                setattr(el, attr, _localised(pairs))
    m._parkgis_inline = inline  # type: ignore[attr-defined]
    return m


def render(m: folium.Map) -> str:
    """The complete HTML document of ``m``, inlined if ``localise(m, inline=True)`` asked."""
    html = m.get_root().render()
    if getattr(m, "_parkgis_inline", False):
        html = inline_html(html)
    return html


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or (
        "font/woff2" if path.suffix == ".woff2" else "application/octet-stream"
    )
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _static_path(url: str, static_dir: Path) -> Path:
    rel = url.split("?", 1)[0].split("#", 1)[0][len(STATIC_URL) + 1 :]
    path = (static_dir / rel).resolve()
    if static_dir.resolve() not in path.parents or not path.is_file():
        raise UnvendoredAsset(f"{url} is not a file under {static_dir}")
    return path


def _inline_css(path: Path) -> str:
    css = _TTF_FALLBACK_RE.sub("", path.read_text(encoding="utf-8"))

    def repl(match: re.Match[str]) -> str:
        ref = match.group("ref")
        if ref.startswith(("data:", "#", "http:", "https:")):
            return match.group(0)
        target = (path.parent / ref.split("?", 1)[0].split("#", 1)[0]).resolve()
        if not target.is_file():
            return match.group(0)
        return f'url("{_data_uri(target)}")'

    return _CSS_URL_RE.sub(repl, css)


def inline_html(html: str, static_dir: Path = STATIC_DIR) -> str:
    """Replace every ``/static/...`` script and stylesheet link by the file's content.

    Images and fonts the stylesheets refer to become ``data:`` URIs. The result needs no
    server and no network (open it from disk, attach it to an e-mail).

    Parameters
    ----------
    html : str
        a rendered page whose assets are local (see :func:`localise`).
    static_dir : pathlib.Path
        the directory served at ``/static``.

    Returns
    -------
    str
        the self-contained HTML.
    """

    def css(match: re.Match[str]) -> str:
        body = _inline_css(_static_path(match.group("url"), static_dir))
        return f"<style>\n{body}\n</style>"

    def js(match: re.Match[str]) -> str:
        body = _static_path(match.group("url"), static_dir).read_text(encoding="utf-8")
        # A literal "</script>" inside the file would end the element early.
        return "<script>\n" + body.replace("</script", "<\\/script") + "\n</script>"

    html = _LINK_RE.sub(css, html)
    return _SCRIPT_RE.sub(js, html)


def remote_urls(html: str) -> list[str]:
    """Every ``http(s)://`` address the page would load by itself (scripts, links, images).

    Tile templates and links inside JavaScript strings are not counted: a page may offer an
    online basemap as long as it does not load it by default.
    """
    return re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", html)


# --- Content-Security-Policy -------------------------------------------------------------
# Folium writes its map as several inline scripts. Rather than a per-response nonce (which
# would defeat the page cache and its ETag: a 304 keeps the old body under a new nonce), the
# policy lists the SHA-256 of each inline script: it is a function of the page alone, so a
# cached page and its policy always agree, and the offline brief can carry it in a <meta>.
_INLINE_SCRIPT_RE = re.compile(
    r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.DOTALL | re.IGNORECASE
)
_DATA_TYPE_RE = re.compile(r"\btype\s*=\s*[\"']?application/(?:ld\+)?json", re.IGNORECASE)


def inline_script_hashes(html: str) -> list[str]:
    """``'sha256-…'`` sources of every inline script of ``html`` that a browser would run.

    Scripts with ``src`` are governed by the host list, and JSON data blocks never run.
    """
    out: list[str] = []
    for match in _INLINE_SCRIPT_RE.finditer(html):
        attrs = match.group("attrs")
        if re.search(r"\bsrc\s*=", attrs, re.IGNORECASE) or _DATA_TYPE_RE.search(attrs):
            continue
        digest = hashlib.sha256(match.group("body").encode("utf-8")).digest()
        source = f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
        if source not in out:
            out.append(source)
    return out


def content_security_policy(html: str, offline: bool = False) -> str:
    """The policy for the page ``html``: scripts only from us or exactly the page's own inline
    scripts (no ``'unsafe-inline'``, no ``eval``).

    ``offline`` is the policy of a file opened from disk (the brief): nothing is loaded from
    anywhere, everything it needs is inline or a ``data:`` URI; ``frame-ancestors`` is left
    out there because a ``<meta>`` policy cannot carry it.
    """
    scripts = " ".join(inline_script_hashes(html))
    if offline:
        return (
            "default-src 'none'; "
            f"script-src {scripts or chr(39) + 'none' + chr(39)}; "
            "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
            "base-uri 'none'; form-action 'none'"
        )
    # Inline styles stay allowed: Leaflet positions every tile and marker with them, and a
    # style cannot run code. Basemap tiles come from the tile hosts over https.
    return (
        "default-src 'self'; "
        f"script-src 'self'{' ' + scripts if scripts else ''}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; "
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def with_meta_csp(html: str) -> str:
    """``html`` with its offline policy as the first element of ``<head>`` (before any script)."""
    policy = content_security_policy(html, offline=True)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return re.sub(r"<head(\s[^>]*)?>", lambda m: m.group(0) + "\n" + meta, html, count=1)
