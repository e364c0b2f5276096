"""A deck: a cover with an overview map, then one brief page per parcel, as one PDF.

Pages are drawn in parallel by a :class:`~concurrent.futures.ProcessPoolExecutor` (matplotlib
holds the GIL while it draws, so threads would not help); each worker opens its own database
connection once and renders PDF bytes, which the parent merges in order with pypdf.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import NotFound
from parkgis.publish.brief.facts import DeckFacts, check_lang, deck_codes, gather, gather_deck
from parkgis.settings import EarthworkSettings

WORKERS = 2
#: Above this many pages the parallel pool pays for its start-up (~1 s per worker).
SERIAL_BELOW = 3

_conn: psycopg.Connection | None = None


def _worker_init(url: str) -> None:
    global _conn
    from parkgis.publish.brief.layout import setup_fonts

    setup_fonts()
    _conn = psycopg.connect(url, row_factory=dict_row, autocommit=True)


def _worker_page(
    code: str, lang: str, today: dt.date, earthwork: EarthworkSettings
) -> tuple[str, bytes]:
    from parkgis.publish.brief.render_pdf import render_pdf

    assert _conn is not None
    return code, render_pdf(gather(_conn, code, today=today, earthwork=earthwork), lang)


def draw_cover(d: DeckFacts, lang: str) -> bytes:
    """The deck's cover page as PDF bytes.

    Long because the cover's boxes are laid out top to bottom on the page grid.
    """
    from parkgis.publish import i18n
    from parkgis.publish.brief import static_maps
    from parkgis.publish.brief.layout import (
        ACCENT,
        MARGIN,
        MUTED,
        PAGE_H,
        PAGE_W,
        Box,
        Page,
        new_page,
        wrap,
    )
    from parkgis.publish.brief.render_pdf import figure_pdf
    from parkgis.publish.brief.static_maps import L

    fig = new_page()
    page = Page(fig)
    page.rect(Box(0, PAGE_H - 62, PAGE_W, 62), fc=ACCENT)
    cz = next((z for z in d.zones.rows if z.get("kind") == "cluster_zone"), None)
    names = [z for z in d.zones.rows if z["code"] in d.zone_codes]
    title_zh = cz["name_zh"] if cz else (names[0]["name_zh"] if names else "")
    title_en = cz["name_en"] if cz else (names[0]["name_en"] if names else "")
    page.text(
        MARGIN,
        PAGE_H - 16,
        L("招商地块推介册", "SITE BRIEFS", lang, "  ·  "),
        9,
        color="#b9d3e6",
        weight="bold",
    )
    page.text(MARGIN, PAGE_H - 32, title_zh, 26, color="white", weight="bold")
    page.text(MARGIN, PAGE_H - 42, title_en, 13, color="#dce9f3")
    zl = "、".join(z["name_zh"] for z in names)
    ze = ", ".join(z["name_en"] for z in names)
    sts = d.statuses or []
    st_zh = "、".join(i18n.label(f"status.{s}")[0] for s in sts) or "全部"
    st_en = ", ".join(i18n.label(f"status.{s}")[1] for s in sts) or "all"
    line = L(
        f"{zl} · {st_zh}地块 {len(d.codes)} 宗",
        f"{ze} · {len(d.codes)} parcels ({st_en})",
        lang,
        "   ",
    )
    page.text(
        MARGIN,
        PAGE_H - 52,
        "\n".join(wrap(line, PAGE_W - 2 * MARGIN, 9, 2)),
        9,
        color="white",
        va="top",
        linespacing=1.3,
    )
    ax = fig.add_axes(Box(MARGIN, 52, PAGE_W - 2 * MARGIN, PAGE_H - 62 - 52 - 8).frac())
    static_maps.draw_cover_map(ax, d, lang, set(d.codes))
    # Index of parcels: code · zone, four columns.
    y0 = 45.0
    page.text(
        MARGIN,
        y0,
        L("本册地块", "Parcels in this deck", lang, " · "),
        8,
        color=ACCENT,
        weight="bold",
    )
    cols = 6
    per_col = max(1, -(-len(d.codes) // cols))
    shown = d.codes[: cols * 8]
    per_col = min(8, max(1, -(-len(shown) // cols)))
    cw = (PAGE_W - 2 * MARGIN) / cols
    for i, c in enumerate(shown):
        col, r = divmod(i, per_col)
        page.text(MARGIN + col * cw, y0 - 5 - r * 3.4, f"{i + 2:>3}  {c}", 6.4, color="#1b2733")
    if len(d.codes) > len(shown):
        page.text(
            MARGIN,
            y0 - 5 - per_col * 3.4 - 1,
            L(f"…共 {len(d.codes)} 宗", f"… {len(d.codes)} in all", lang, " "),
            6.4,
            color=MUTED,
        )
    changed = d.data_changed.strftime("%Y-%m-%d %H:%M") if d.data_changed else "—"
    issued = L(
        f"生成日期 {d.generated} · 数据版本 v{d.data_version}（{changed}）",
        f"Issued {d.generated} · data version v{d.data_version} ({changed})",
        lang,
        "  /  ",
    )
    page.text(PAGE_W - MARGIN, 12, issued, 6, color=MUTED, ha="right")
    return figure_pdf(fig, f"{title_zh} 地块推介册 / Site briefs")


def merge(pdfs: list[bytes], title: str) -> bytes:
    """Concatenate one-page PDFs into one (fonts stay embedded per page)."""
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for b in pdfs:
        w.append(PdfReader(io.BytesIO(b)))
    w.add_metadata({"/Title": title, "/Creator": "ParkGIS"})
    w.compress_identical_objects()  # shared font programs are not duplicated per page
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def build_deck(
    url: str,
    zones: list[str] | None = None,
    statuses: list[str] | None = None,
    lang: str = "both",
    codes: list[str] | None = None,
    workers: int = WORKERS,
    progress: Callable[[str, int, int], Any] | None = None,
    today: dt.date | None = None,
    earthwork: EarthworkSettings = EarthworkSettings(),
) -> tuple[bytes, list[str]]:
    """Render a deck to PDF bytes.

    Parameters
    ----------
    url : str
        Database conninfo; every worker opens its own connection with it.
    zones, statuses : list of str, optional
        Which parcels (all live parcels when both are empty).
    lang : {"zh", "en", "both"}
    codes : list of str, optional
        Explicit parcel codes instead of zones/statuses.
    workers : int
        Worker processes (2 on this machine's 2 cores).
    progress : callable, optional
        Called as ``progress(code, done, total)`` after each page.
    today : date, optional
    earthwork : EarthworkSettings
        The caller's ``settings.earthwork`` (prices each page's levelling).

    Returns
    -------
    (bytes, list of str)
        The PDF and the parcel codes in page order (page 1 is the cover).

    Raises
    ------
    NotFound
        No parcel matches.

    Long because the worker pool, its settings and the page order are set up in one place.
    """
    check_lang(lang)
    today = today or dt.date.today()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if codes is None:
            codes = deck_codes(conn, zones, statuses)
        if not codes:
            raise NotFound(
                "没有符合条件的地块 / no parcel matches "
                f"(zone={zones or 'all'}, status={statuses or 'all'})"
            )
        # Unknown explicit codes fail before any work starts.
        for c in codes:
            gather_check(conn, c)
        cover_facts = gather_deck(conn, codes, zones, statuses, today)
    from parkgis.publish.brief.layout import setup_fonts

    setup_fonts()  # builds the font cache once, before the workers would race to
    cover = draw_cover(cover_facts, lang)
    pages: dict[str, bytes] = {}
    total = len(codes)
    if workers <= 1 or total < SERIAL_BELOW:
        _worker_init(url)
        try:
            for c in codes:
                _, pages[c] = _worker_page(c, lang, today, earthwork)
                if progress:
                    progress(c, len(pages), total)
        finally:
            _close_worker()
    else:
        import multiprocessing as mp

        # "spawn" would re-import everything per worker; "fork" is safe here because the
        # parent holds no open connection and has drawn with the Agg backend only.
        ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(url,)
        ) as pool:
            futs = [pool.submit(_worker_page, c, lang, today, earthwork) for c in codes]
            for fut in as_completed(futs):
                c, pdf = fut.result()
                pages[c] = pdf
                if progress:
                    progress(c, len(pages), total)
    title = f"{cover_facts.zones.rows[0]['name_zh'] if cover_facts.zones.rows else ''} 地块推介册"
    return merge([cover] + [pages[c] for c in codes], title), codes


def _close_worker() -> None:
    global _conn
    if _conn is not None:
        _conn.close()
        _conn = None


PARCEL_EXISTS_SQL = "SELECT 1 FROM parcels WHERE code = %(code)s AND status <> 'historic'"


def gather_check(conn: psycopg.Connection, code: str) -> None:
    if conn.execute(PARCEL_EXISTS_SQL, {"code": code}).fetchone() is None:
        raise NotFound(f"没有编号为 {code} 的地块 / no parcel {code}")
