"""Link previews: the 1200 × 630 PNG a chat app shows beside a shared link (Open Graph image).

Drawn server-side with matplotlib's object API (Agg, no pyplot, no browser) in the brief's CJK
font. Two pictures share one renderer:

* :func:`parcel_preview` — one parcel filled and outlined over its neighbours (coloured by
  status as on the map) and its park's boundary, with its code and area (亩 first) beside it;
* :func:`park_preview` — the parks' boundaries and all live parcels, with the headline figure
  of vacant land.

Only public fields are read (code, status, land use, area, the park's name; never a price note,
contact or internal note), and retired (``historic``) parcels are not public: asking for one is
a :class:`~parkgis.errors.NotFound`, exactly as for an unknown code.

The geometry is drawn in the parcel's CGCS2000 Gauss-Krüger projection (``geom_gk``, metres), so
the picture has true shapes and a uniform scale. The view rule, which tests recompute on their
own: the map is the left :data:`MAP_W` × :data:`HEIGHT` pixels; its centre is the centre of the
parcel's GK bounding box; its scale (m per pixel) is the larger of ``w·(1+2·PAD)/MAP_W`` and
``h·(1+2·PAD)/HEIGHT`` for the box's width ``w`` and height ``h``, never under
:data:`MIN_M_PER_PX`.

Each picture carries an ETag: a hash of everything drawn (fields and geometries) and of
:data:`RENDER_VERSION`, so a conditional request is answered without drawing, and an edit to the
parcel, a neighbour or the park boundary changes it. Rendered PNGs are kept in a small
in-process cache keyed by that ETag.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from psycopg.rows import dict_row
from shapely import wkb
from shapely.geometry.base import BaseGeometry

from parkgis.errors import NotFound
from parkgis.publish import i18n
from parkgis.publish.brief.layout import setup_fonts
from parkgis.publish.brief.render_pdf import RENDER_LOCK
from parkgis.publish.maps import investor, layers
from parkgis.vocabulary import is_sample

WIDTH, HEIGHT = 1200, 630  # Open Graph's recommended 1.91:1
MAP_W = 760  # the map's share of the width; the text panel takes the rest
PAD = 0.6  # margin around the parcel, as a share of its extent on each side
MIN_M_PER_PX = 0.8  # a tiny parcel is not blown up past this
DPI = 100
RENDER_VERSION = 1  # bump when the drawing changes, so cached previews are refreshed
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # parcels.code's CHECK
NEIGHBOURS_MAX = 800
PARCEL_FILL = "#ff7b00"  # the parcel itself: orange stands out against every status colour
PARCEL_EDGE = "#b30000"
ZONE_EDGE = "#8b1e12"  # the park boundary, as on the map's zone labels
BACKGROUND = "#f2efe9"  # the map page's background (investor.css .leaflet-container)

# Public fields of one live parcel (the sheet's subset that a link preview needs).
CARD_SQL = """
SELECT p.code, p.status, p.landuse_code, p.area_m2, p.area_mu, p.area_ha, p.gk_srid,
       p.zone_code, z.name_zh AS zone_name_zh, z.name_en AS zone_name_en
  FROM parcels p JOIN zones z ON z.code = p.zone_code
 WHERE p.code = %(code)s AND p.status <> 'historic'
"""
GEOM_SQL = """
SELECT ST_AsBinary(p.geom_gk) AS parcel,
       ST_AsBinary(ST_Boundary(z.geom_gk)) AS zone,
       ST_XMin(p.geom_gk) AS xmin, ST_YMin(p.geom_gk) AS ymin,
       ST_XMax(p.geom_gk) AS xmax, ST_YMax(p.geom_gk) AS ymax
  FROM parcels p JOIN zones z ON z.code = p.zone_code
 WHERE p.code = %(code)s
"""
NEIGHBOURS_SQL = """
SELECT n.code, n.status, ST_AsBinary(n.geom_gk) AS geom
  FROM parcels n
 WHERE n.gk_srid = %(srid)s AND n.status <> 'historic' AND n.code <> %(code)s
   AND n.geom_gk && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s)
 ORDER BY n.code
 LIMIT %(n)s
"""
# Other parks' boundaries in the same view (a parcel near the edge of its park).
ZONES_NEAR_SQL = """
SELECT z.code, ST_AsBinary(ST_Boundary(z.geom_gk)) AS geom
  FROM zones z
 WHERE z.gk_srid = %(srid)s
   AND z.geom_gk && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s)
 ORDER BY z.code
"""
PARK_SQL = """
SELECT min(z.gk_srid) AS gk_srid,
       ST_XMin(ST_Extent(z.geom_gk)) AS xmin, ST_YMin(ST_Extent(z.geom_gk)) AS ymin,
       ST_XMax(ST_Extent(z.geom_gk)) AS xmax, ST_YMax(ST_Extent(z.geom_gk)) AS ymax
  FROM zones z
"""
ZONE_CODES_SQL = "SELECT coalesce(array_agg(code), '{}') AS codes FROM zones"
PARK_PAD = 0.1  # the whole park: little margin, the parks are far apart already
PARK_TOTALS_SQL = """
SELECT count(*) AS n, coalesce(sum(area_mu), 0) AS mu
  FROM parcels WHERE status = 'available'
"""


@dataclass(frozen=True)
class View:
    """The map frame: centre (GK metres) and scale (metres per pixel)."""

    cx: float
    cy: float
    m_per_px: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        hw, hh = MAP_W / 2 * self.m_per_px, HEIGHT / 2 * self.m_per_px
        return self.cx - hw, self.cy - hh, self.cx + hw, self.cy + hh


def view_for(xmin: float, ymin: float, xmax: float, ymax: float, pad: float = PAD) -> View:
    """The frame that shows the box with ``pad`` around it (see the module doc)."""
    s = max(
        (xmax - xmin) * (1 + 2 * pad) / MAP_W,
        (ymax - ymin) * (1 + 2 * pad) / HEIGHT,
        MIN_M_PER_PX,
    )
    return View((xmin + xmax) / 2, (ymin + ymax) / 2, s)


@dataclass
class Scene:
    """Everything one preview draws; :attr:`etag` hashes all of it."""

    view: View
    lines: list[tuple[str, float, str, bool]]  # (text, size pt, colour, bold) in the panel
    swatch: tuple[int, str] | None = None  # (panel line, status colour) of the swatch
    fills: list[tuple[bytes, str, float]] = field(default_factory=list)  # (wkb, colour, alpha)
    outlines: list[tuple[bytes, str, float]] = field(default_factory=list)  # (wkb, colour, lw)
    focus: bytes | None = None  # the parcel itself
    footer: str = "ParkGIS"

    @property
    def etag(self) -> str:
        h = hashlib.sha256(f"v{RENDER_VERSION}|{self.view}|{self.swatch}|{self.footer}".encode())
        for text, size, colour, bold in self.lines:
            h.update(f"{text}\x00{size}{colour}{bold}\x01".encode())
        for g, colour, x in (*self.fills, *self.outlines):
            h.update(g + f"{colour}{x}".encode())
        h.update(self.focus or b"")
        return '"pv-' + h.hexdigest()[:24] + '"'


def parcel_card(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """The public fields of one live parcel that a link preview shows.

    Raises
    ------
    NotFound
        No live parcel has this code (unknown, malformed or retired).
    """
    row = None
    if CODE_RE.match(code):
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(CARD_SQL, {"code": code}).fetchone()
    if row is None:
        raise NotFound(f"没有编号为 {code[:64]} 的地块 / no parcel {code[:64]}")
    return row


def card_lines(card: dict[str, Any]) -> dict[str, str]:
    """Title and description of a parcel's link (Chinese first), from :func:`parcel_card`."""
    st_zh, st_en = i18n.label(f"status.{card['status']}")
    lu_zh, lu_en = i18n.label(i18n.landuse_key(card["landuse_code"]))
    mu, ha = float(card["area_mu"]), float(card["area_ha"])
    return {
        "title": f"地块 {card['code']} · {card['zone_name_zh']} / Parcel {card['code']}",
        "description": (
            f"{card['zone_name_zh']}，{st_zh}，{mu:,.1f} 亩（{ha:,.2f} 公顷），"
            f"{card['landuse_code']} {lu_zh}。"
            f" {card['zone_name_en']}: {st_en.lower()}, {mu:,.1f} mu ({ha:,.2f} ha),"
            f" {card['landuse_code']} {lu_en}."
        ),
    }


def _parcel_scene(conn: psycopg.Connection, card: dict[str, Any]) -> Scene:
    with conn.cursor(row_factory=dict_row) as cur:
        g = cur.execute(GEOM_SQL, {"code": card["code"]}).fetchone()
        assert g is not None  # the card was just read in the same transaction
        view = view_for(g["xmin"], g["ymin"], g["xmax"], g["ymax"])
        x0, y0, x1, y1 = view.bounds
        box = {"srid": card["gk_srid"], "x0": x0, "y0": y0, "x1": x1, "y1": y1}
        near = cur.execute(
            NEIGHBOURS_SQL, {**box, "code": card["code"], "n": NEIGHBOURS_MAX}
        ).fetchall()
        zones = cur.execute(ZONES_NEAR_SQL, box).fetchall()
    footer = _footer(conn)
    st_zh, st_en = i18n.label(f"status.{card['status']}")
    lu_zh, lu_en = i18n.label(i18n.landuse_key(card["landuse_code"]))
    mu, ha = float(card["area_mu"]), float(card["area_ha"])
    return Scene(
        view=view,
        lines=[
            (str(card["zone_name_zh"]), 20, "#0b3d62", True),
            (str(card["zone_name_en"]), 13, "#51606d", False),
            ("", 10, "#000000", False),
            (str(card["code"]), 40, "#111111", True),
            (f"{mu:,.1f} 亩 · {ha:,.2f} 公顷", 30, "#111111", True),
            (f"{mu:,.1f} mu · {ha:,.2f} ha", 16, "#51606d", False),
            ("", 10, "#000000", False),
            (f"{st_zh} / {st_en}", 18, "#222222", False),
            (f"{card['landuse_code']} {lu_zh}", 16, "#222222", False),
            (lu_en, 13, "#51606d", False),
        ],
        swatch=(7, layers.STATUS_COLOURS.get(card["status"], "#bbbbbb")),
        fills=[(bytes(n["geom"]), *_status_fill(n["status"])) for n in near],
        outlines=[(bytes(z["geom"]), ZONE_EDGE, 2.2) for z in zones],
        focus=bytes(g["parcel"]),
        footer=footer,
    )


def _footer(conn: psycopg.Connection) -> str:
    """The picture's footnote; the bundled illustrative sample says what it is (issue 15)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(ZONE_CODES_SQL).fetchone()
    codes = set(row["codes"]) if row else set()
    return "ParkGIS · 示例数据 / sample data" if is_sample(codes) else "ParkGIS"


def _status_fill(status: str) -> tuple[str, float]:
    return layers.STATUS_COLOURS.get(status, "#bbbbbb"), layers.STATUS_OPACITY.get(status, 0.4)


def parcel_preview(
    conn: psycopg.Connection, code: str, if_none_match: str | None = None
) -> tuple[str, bytes | None]:
    """The preview of one parcel: ``(etag, png)``; ``png`` is None when ``if_none_match``
    already names this picture (answer 304).

    Raises
    ------
    NotFound
        No live parcel has this code.
    """
    scene = _parcel_scene(conn, parcel_card(conn, code))
    return _answer(scene, if_none_match)


def park_totals(conn: psycopg.Connection) -> dict[str, Any]:
    """Available parcels and their area (mu): the headline of the park's link."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(PARK_TOTALS_SQL).fetchone()
    assert row is not None  # an aggregate always has a row
    return {"n": int(row["n"]), "mu": float(row["mu"])}


def park_preview(
    conn: psycopg.Connection, if_none_match: str | None = None
) -> tuple[str, bytes | None]:
    """The preview of the whole map (``/``): parks and parcels, and the vacant land's total."""
    with conn.cursor(row_factory=dict_row) as cur:
        ext = cur.execute(PARK_SQL).fetchone()
        if ext is None or ext["gk_srid"] is None:
            raise NotFound("尚未载入园区 / no park loaded")
        view = view_for(ext["xmin"], ext["ymin"], ext["xmax"], ext["ymax"], PARK_PAD)
        x0, y0, x1, y1 = view.bounds
        box = {"srid": ext["gk_srid"], "x0": x0, "y0": y0, "x1": x1, "y1": y1}
        parcels = cur.execute(NEIGHBOURS_SQL, {**box, "code": "", "n": 20_000}).fetchall()
        zones = cur.execute(ZONES_NEAR_SQL, box).fetchall()
    tot = park_totals(conn)
    title_zh, title_en = i18n.label("ui.title")
    scene = Scene(
        view=view,
        lines=[
            (title_zh, 22, "#0b3d62", True),
            (title_en, 13, "#51606d", False),
            ("", 12, "#000000", False),
            (f"可供地 {tot['n']} 宗", 28, "#111111", True),
            (f"{tot['mu']:,.0f} 亩 · {tot['mu'] / 15:,.1f} 公顷", 28, "#111111", True),
            (f"{tot['n']} parcels available", 16, "#51606d", False),
            (f"{tot['mu']:,.0f} mu · {tot['mu'] / 15:,.1f} ha", 16, "#51606d", False),
        ],
        swatch=(3, layers.STATUS_COLOURS["available"]),
        fills=[(bytes(p["geom"]), *_status_fill(p["status"])) for p in parcels],
        outlines=[(bytes(z["geom"]), ZONE_EDGE, 2.2) for z in zones],
        footer=_footer(conn),
    )
    return _answer(scene, if_none_match)


# -- drawing -------------------------------------------------------------------------------------

_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CACHE_SIZE = 64
# matplotlib's font cache and text layout are not thread-safe and FastAPI runs def routes in
# threads: previews and briefs draw under the briefs' one lock.
_LOCK = RENDER_LOCK


def _answer(scene: Scene, if_none_match: str | None) -> tuple[str, bytes | None]:
    etag = scene.etag
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return etag, None
    with _LOCK:
        png = _CACHE.get(etag)
        if png is None:
            png = render(scene)
            _CACHE[etag] = png
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(etag)
    return etag, png


def _path(geom: BaseGeometry) -> MplPath | None:
    """A compound path of every ring (holes included) or line of ``geom``."""
    parts: list[MplPath] = []
    for g in getattr(geom, "geoms", [geom]):
        if g.geom_type == "Polygon":
            rings: Iterable[Any] = [g.exterior, *g.interiors]
            parts += [MplPath(list(r.coords), closed=True) for r in rings]
        elif g.geom_type in ("LineString", "LinearRing"):
            parts.append(MplPath(list(g.coords)))
        elif g.geom_type.startswith("Multi") or g.geom_type == "GeometryCollection":
            sub = _path(g)
            if sub is not None:
                parts.append(sub)
    return MplPath.make_compound_path(*parts) if parts else None


def _patch(ax: Any, geom_wkb: bytes, *, face: str = "none", alpha: float = 1.0, **kw: Any) -> None:
    path = _path(wkb.loads(geom_wkb))
    if path is None:
        return
    if face != "none":  # the fill's alpha must not fade the outline
        ax.add_patch(PathPatch(path, facecolor=face, alpha=alpha, edgecolor="none"))
    ax.add_patch(PathPatch(path, facecolor="none", **kw))


def render(scene: Scene) -> bytes:
    """The scene as a :data:`WIDTH` × :data:`HEIGHT` PNG."""
    setup_fonts()
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, MAP_W / WIDTH, 1.0))
    x0, y0, x1, y1 = scene.view.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_facecolor(BACKGROUND)
    ax.set_axis_off()
    ax.add_patch(_frame(x0, y0, x1, y1))
    for g, colour, alpha in scene.fills:
        _patch(ax, g, face=colour, alpha=alpha, edgecolor="white", linewidth=0.8)
    for g, colour, lw in scene.outlines:
        _patch(ax, g, edgecolor=colour, linewidth=lw, linestyle=(0, (6, 3)))
    if scene.focus is not None:
        _patch(ax, scene.focus, face=PARCEL_FILL, alpha=0.85, edgecolor=PARCEL_EDGE, linewidth=4)
    _scale_bar(ax, scene.view)
    _panel(fig, scene.lines, scene.swatch, scene.footer)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": "ParkGIS"})
    return buf.getvalue()


def _frame(x0: float, y0: float, x1: float, y1: float) -> PathPatch:
    box = _rect(x0, y0, x1, y1)
    return PathPatch(box, facecolor=BACKGROUND, edgecolor="none", zorder=-1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> MplPath:
    # closed=True turns the last vertex into CLOSEPOLY (ignored): the first comes again.
    return MplPath([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], closed=True)


def _scale_bar(ax: Any, view: View) -> None:
    """A round-number bar of about a fifth of the map's width, bottom left."""
    target = MAP_W / 5 * view.m_per_px
    step = min(
        (s for s in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000) if s >= target / 2),
        default=10000,
    )
    x0, y0, _, _ = view.bounds
    x, y = x0 + 24 * view.m_per_px, y0 + 24 * view.m_per_px
    ax.plot([x, x + step], [y, y], color="#222222", linewidth=3, solid_capstyle="butt")
    label = f"{step / 1000:g} km" if step >= 1000 else f"{step} m"
    ax.text(x, y + 8 * view.m_per_px, label, fontsize=12, color="#222222")


def _panel(
    fig: Figure,
    lines: Sequence[tuple[str, float, str, bool]],
    swatch: tuple[int, str] | None,
    footer: str,
) -> None:
    """The text beside the map, clipped to the panel: a long name never spills onto the map."""
    px = fig.add_axes((MAP_W / WIDTH, 0.0, 1 - MAP_W / WIDTH, 1.0))
    px.set_xlim(0, WIDTH - MAP_W)
    px.set_ylim(HEIGHT, 0)
    px.set_axis_off()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    room = WIDTH - MAP_W - 32 - 20
    y = 48.0
    for i, (text, size, colour, bold) in enumerate(lines):
        t = px.text(
            32,
            y,
            text,
            fontsize=size,
            color=colour,
            va="top",
            fontweight="bold" if bold else "normal",
            clip_on=True,
        )
        # Shrink a long line to fit (down to 60 %); a hostile name longer still is clipped.
        wide = t.get_window_extent(renderer=renderer).width
        if wide > room:
            size = max(size * room / wide, size * 0.6)
            t.set_fontsize(size)
        t.set_clip_path(px.patch)
        if swatch and i == swatch[0]:
            px.add_patch(
                PathPatch(_rect(8, y + 4, 24, y + 22), facecolor=swatch[1], edgecolor="#666666")
            )
        y += size * 1.45 + 6
    px.text(32, HEIGHT - 28, footer, fontsize=11, color="#8a96a3")


def page_og(conn: psycopg.Connection, base_url: str, code: str | None = None) -> str:
    """The Open Graph tags of ``/`` (``code`` None) or of one parcel's shared link.

    Raises
    ------
    NotFound
        No live parcel has this code.
    """
    if code is None:
        return investor.home_og(base_url, park_totals(conn))
    card = parcel_card(conn, code)
    lines = card_lines(card)
    return investor.og_meta(
        base_url,
        lines["title"],
        lines["description"],
        investor.parcel_preview_path(card["code"]),
        investor.parcel_page_path(card["code"]),
        image_alt=f"地块 {card['code']} 及其周边地块与园区边界 / "
        f"parcel {card['code']} with its neighbours and the park boundary",
    )
