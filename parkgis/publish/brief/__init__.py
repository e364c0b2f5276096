"""Site-briefing export: pitch-ready PDF, PNG and offline HTML briefs, one parcel or a deck.

The CLI (``parkgis brief``) and the API (``GET /api/parcels/{code}/brief.pdf|.png|.html``)
both call the functions here with a sync connection:

>>> pdf = brief_pdf(conn, "WH-A-012", lang="both")            # doctest: +SKIP
>>> png = brief_png(conn, "WH-A-012", project="PRJ-WLJ")      # doctest: +SKIP
>>> html = brief_html(conn, "WH-A-012")                       # doctest: +SKIP

Modules: :mod:`.facts` gathers, :mod:`.static_maps` draws the maps, :mod:`.render_pdf` lays
out the page (PDF and PNG from one figure), :mod:`.render_html` builds the offline Folium
page, :mod:`.deck` renders many parcels in parallel into one PDF.
"""

from __future__ import annotations

from datetime import date

import psycopg

from parkgis.publish.brief.facts import LANGS, check_lang, gather
from parkgis.settings import EarthworkSettings

#: The shipped earthwork rate, for callers without settings (doctests, scripts); the CLI and
#: the API pass their own ``settings.earthwork``.
SHIPPED = EarthworkSettings()

FORMATS = ("pdf", "png", "html")
MEDIA_TYPES = {"pdf": "application/pdf", "png": "image/png", "html": "text/html; charset=utf-8"}


def brief_pdf(
    conn: psycopg.Connection,
    code: str,
    lang: str = "both",
    project: str | None = None,
    *,
    as_of: date | None = None,
    earthwork: EarthworkSettings = SHIPPED,
) -> bytes:
    """The one-page A4 brief of parcel ``code`` as PDF bytes (fonts embedded)."""
    from parkgis.publish.brief.render_pdf import render_pdf

    check_lang(lang)
    return render_pdf(gather(conn, code, project, as_of=as_of, earthwork=earthwork), lang)


def brief_png(
    conn: psycopg.Connection,
    code: str,
    lang: str = "both",
    project: str | None = None,
    dpi: int = 300,
    *,
    as_of: date | None = None,
    earthwork: EarthworkSettings = SHIPPED,
) -> bytes:
    """The brief as a PNG at ``dpi`` (300 by default: print quality)."""
    from parkgis.publish.brief.render_png import render_png

    check_lang(lang)
    return render_png(gather(conn, code, project, as_of=as_of, earthwork=earthwork), lang, dpi=dpi)


def brief_html(
    conn: psycopg.Connection,
    code: str,
    lang: str = "both",
    project: str | None = None,
    *,
    as_of: date | None = None,
    earthwork: EarthworkSettings = SHIPPED,
) -> str:
    """A self-contained HTML page (Folium map + facts), every asset inlined."""
    from parkgis.publish.brief.render_html import render_html

    check_lang(lang)
    return render_html(gather(conn, code, project, as_of=as_of, earthwork=earthwork), lang)


def brief(
    conn: psycopg.Connection,
    code: str,
    fmt: str,
    lang: str = "both",
    project: str | None = None,
    *,
    as_of: date | None = None,
    earthwork: EarthworkSettings = SHIPPED,
) -> bytes:
    """The brief in format ``fmt`` (``pdf``, ``png`` or ``html``) as bytes; servicing,
    distances and the fit as of ``as_of`` (default today)."""
    from parkgis.errors import InvalidInput

    if fmt == "pdf":
        return brief_pdf(conn, code, lang, project, as_of=as_of, earthwork=earthwork)
    if fmt == "png":
        return brief_png(conn, code, lang, project, as_of=as_of, earthwork=earthwork)
    if fmt == "html":
        return brief_html(conn, code, lang, project, as_of=as_of, earthwork=earthwork).encode(
            "utf-8"
        )
    raise InvalidInput(f"未知格式 / unknown format: {fmt!r} (pdf, png, html)", param="format")


__all__ = [
    "FORMATS",
    "LANGS",
    "MEDIA_TYPES",
    "brief",
    "brief_html",
    "brief_pdf",
    "brief_png",
    "gather",
]
