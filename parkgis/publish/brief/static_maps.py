"""Static maps for the printed brief: the main map, the locator and the park overview.

Drawn with matplotlib from our own layers (no basemap: briefs render offline). The main map
and the overview are in the zone's Gauss–Krüger metres, so the scale bar is exact and grid
north is true north to within 0.1° (Weihui lies 0.07° from the 114°E central meridian). The
locator is in CGCS2000 lon/lat with the aspect corrected for latitude.

Colours come from :mod:`parkgis.publish.maps.layers` so a parcel that is green on the web map is
green on paper; the parcel of the brief is filled with :data:`HIGHLIGHT` and nothing else
on the page uses that colour (the tests find the parcel by it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrow, Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from parkgis.publish.brief.layout import INK, MUTED
from parkgis.publish.maps import layers

HIGHLIGHT = layers.HIGHLIGHT_COLOUR  # "#ff00aa": the brief's parcel, nowhere else
# The same magenta a shade darker for the legend swatch and the small-map markers, so that
# pure HIGHLIGHT pixels on the page are the parcel's fill and nothing else.
MARK = "#e8109b"
UPGRADE_GLOW = "#ffd43b"
FOOTPRINT = "#ffffff"
ZONE_APPROVED = "#c0392b"
ZONE_PROPOSED = "#e67e22"
LINE_KINDS = (
    "expressway",
    "national_road",
    "trunk_road",
    "local_road",
    "railway",
    "rail_siding",
    "power_line",
    "water_main",
    "gas_main",
    "sewer",
    "heat_main",
    "telecom",
)
# Drawn on the main map (utilities other than power are left to the distance table: six
# parallel pipes along every road would bury the parcels).
MAIN_LINE_KINDS = (
    "expressway",
    "national_road",
    "trunk_road",
    "local_road",
    "railway",
    "rail_siding",
    "power_line",
)
POINT_MARKERS = {
    "substation": ("s", "#e03131"),
    "water_plant": ("o", "#1c7ed6"),
    "wastewater_plant": ("o", "#5f3dc4"),
    "gas_station": ("D", "#d9a400"),
    "rail_station": ("^", "#212529"),
}


def L(zh: str, en: str, lang: str, sep: str = " ") -> str:
    """A label in the brief's language(s): Chinese first."""
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh}{sep}{en}"


def _pw(px: float) -> float:
    """Leaflet pixel weights (layers.py) to print points: a 3 px road is ~1.2 pt on paper."""
    return 0.42 * px


def polygon_patch(geom: BaseGeometry, **kw: Any) -> PathPatch | None:
    """A matplotlib patch of a (multi)polygon, holes included."""
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    if not polys:
        return None
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for p in polys:
        for ring in [p.exterior, *p.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            c = np.full(len(xy), MplPath.LINETO)
            c[0] = MplPath.MOVETO
            c[-1] = MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    return PathPatch(MplPath(np.concatenate(verts), np.concatenate(codes)), **kw)


def _lines(geom: BaseGeometry) -> list[np.ndarray]:
    if geom.geom_type in ("LineString", "LinearRing"):
        return [np.asarray(geom.coords)[:, :2]]
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return _lines(geom.boundary)
    if hasattr(geom, "geoms"):
        out: list[np.ndarray] = []
        for g in geom.geoms:
            out.extend(_lines(g))
        return out
    return []


def _line_style(kind: str, status: str) -> dict[str, Any]:
    st = layers.INFRA_STYLES.get(kind, layers.DEFAULT_LINE)
    style: dict[str, Any] = {
        "color": st.color,
        "lw": _pw(st.weight) + 0.2,
        "solid_capstyle": "round",
    }
    if st.dash:
        style["dashes"] = tuple(float(v) * 0.45 for v in st.dash.split())
    if status in ("planned", "under_construction", "under_way"):
        style["dashes"] = (3.0, 2.0) if status == "planned" else (1.2, 1.6)
    return style


def _clip_box(ax: Axes) -> shapely.Polygon:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    return shapely.box(x0, y0, x1, y1)


def _fit_limits(
    ax: Axes, bounds: tuple[float, float, float, float], pad: float = 0.05, y_scale: float = 1.0
) -> None:
    """Set limits holding ``bounds`` (padded) with the axes box's aspect, so that an equal
    aspect needs no further adjustment (``y_scale``: data units of y per unit of x on paper)."""
    x0, y0, x1, y1 = bounds
    w, h = (x1 - x0), (y1 - y0) * y_scale
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    pos = ax.get_position()
    fw, fh = ax.figure.get_size_inches()
    box = (pos.width * fw) / (pos.height * fh)
    if w / h > box:
        h = w / box
    else:
        w = h * box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2 / y_scale, cy + h / 2 / y_scale)
    ax.set_aspect(y_scale, adjustable="box")


def _frame(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_color("#8a96a3")
        s.set_linewidth(0.6)


def nice_length(max_m: float) -> float:
    """The largest 1/2/5 × 10^n metres not above ``max_m``."""
    e = 10 ** math.floor(math.log10(max_m))
    for m in (5, 2, 1):
        if m * e <= max_m:
            return m * e
    return e


def scale_bar(
    ax: Axes, lang: str, frac: float = 0.28, loc: str = "lower right", size: float = 5.5
) -> None:
    """A two-segment scale bar in map metres (the axes are in GK metres)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length((x1 - x0) * frac)
    pad = 0.03 * (x1 - x0)
    h = 0.012 * (y1 - y0)
    if loc == "lower right":
        bx = x1 - pad - length
    else:
        bx = x0 + pad
    by = y0 + 0.045 * (y1 - y0)
    ax.add_patch(
        Rectangle(
            (bx - 0.3 * pad, by - 0.5 * h),
            length + 0.6 * pad,
            0.085 * (y1 - y0),
            fc="white",
            ec="none",
            alpha=0.85,
            zorder=20,
        )
    )
    for i in range(2):
        ax.add_patch(
            Rectangle(
                (bx + i * length / 2, by),
                length / 2,
                h,
                fc=INK if i == 0 else "white",
                ec=INK,
                lw=0.5,
                zorder=21,
            )
        )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx, by + 1.8 * h, "0", fontsize=size, ha="center", va="bottom", color=INK, zorder=22)
    ax.text(
        bx + length,
        by + 1.8 * h,
        label,
        fontsize=size,
        ha="center",
        va="bottom",
        color=INK,
        zorder=22,
    )


def north_arrow(ax: Axes, size: float = 6.5) -> None:
    """A north arrow in the top-right corner (grid north = true north within 0.1°)."""
    ax.annotate(
        "",
        xy=(0.955, 0.955),
        xytext=(0.955, 0.875),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>,head_width=0.35,head_length=0.7", "color": INK, "lw": 1.0},
        zorder=30,
    )
    ax.text(
        0.955,
        0.962,
        "N",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=size,
        fontweight="bold",
        color=INK,
        zorder=30,
    )


def _label(
    ax: Axes,
    x: float,
    y: float,
    s: str,
    size: float = 5.0,
    color: str = INK,
    weight: str = "normal",
    halo: bool = True,
    **kw: Any,
) -> None:
    import matplotlib.patheffects as pe

    effects = [pe.withStroke(linewidth=1.6, foreground="white")] if halo else None
    ax.text(
        x,
        y,
        s,
        fontsize=size,
        color=color,
        fontweight=weight,
        ha=kw.pop("ha", "center"),
        va=kw.pop("va", "center"),
        path_effects=effects,
        zorder=kw.pop("zorder", 25),
        clip_on=True,
        parse_math=False,
        **kw,
    )


def _name(row: dict[str, Any], lang: str) -> str:
    return row["name_en"] if lang == "en" else row["name_zh"]


# What draw_main's steps found in the frame, for the legend.
Seen = dict[str, Any]


def draw_main(ax: Axes, f: Any, lang: str) -> dict[str, Any]:
    """The parcel in its surroundings; returns what the legend needs to show.

    Layers are drawn bottom to top, one helper each (their z-orders agree with this order).

    Parameters
    ----------
    ax : Axes
        An empty axes whose box has the aspect of ``f.window``.
    f : BriefFacts
    lang : str
    """
    x0, y0, x1, y1 = f.window
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_facecolor("#fbfbf8")
    _frame(ax)
    clip = _clip_box(ax)
    seen: dict[str, Any] = {
        "statuses": set(),
        "kinds": set(),
        "upgrades": False,
        "enterprises": False,
        "anchors": False,
        "zones": set(),
    }
    for step in (
        _draw_river,
        _draw_parcels,
        _draw_zones,
        _draw_lines,
        _draw_upgrades,
        _draw_point_infra,
        _label_neighbours,
        _draw_target,
        _draw_footprint,
        _draw_enterprises,
        _label_target,
    ):
        step(ax, f, lang, clip, seen)
    north_arrow(ax)
    scale_bar(ax, lang)
    return seen


def _draw_river(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """River polygons under everything."""
    for r in f.infrastructure.rows:
        if r["kind"] == "river":
            p = polygon_patch(r["geom"], fc="#cfe6f7", ec="#8cc2e8", lw=0.4, zorder=1)
            if p is not None:
                ax.add_patch(p)
                seen["kinds"].add("river")


def _draw_parcels(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Neighbouring parcels by status (the brief's own parcel comes later)."""
    for r in f.parcels.rows:
        if r["code"] == f.code:
            continue
        st = r["status"]
        p = polygon_patch(
            r["geom"],
            fc=layers.STATUS_COLOURS.get(st, "#cccccc"),
            alpha=min(1.0, layers.STATUS_OPACITY.get(st, 0.5) * 0.8),
            ec="white",
            lw=0.5,
            zorder=3,
        )
        if p is not None:
            ax.add_patch(p)
            if r["geom"].intersects(clip):
                seen["statuses"].add(st)


def _draw_zones(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Zone boundaries over the parcels."""
    for z in f.zones.rows:
        if not z["geom"].intersects(clip):
            continue
        proposed = z["status"] == "proposed"
        p = polygon_patch(
            z["geom"],
            fc="none",
            ec=ZONE_PROPOSED if proposed else ZONE_APPROVED,
            lw=1.1,
            ls=(0, (5, 2.5)) if proposed else "-",
            zorder=6,
        )
        if p is not None:
            ax.add_patch(p)
            seen["zones"].add(z["status"])


def _draw_lines(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Roads, rail and power lines, with the names of the main roads."""
    span = f.window[2] - f.window[0]
    order = {k: i for i, k in enumerate(MAIN_LINE_KINDS)}
    road_labels: dict[str, tuple[float, float, float]] = {}
    for r in sorted(f.infrastructure.rows, key=lambda r: order.get(r["kind"], -1)):
        kind = r["kind"]
        if kind not in MAIN_LINE_KINDS:
            continue
        g = r["geom"].intersection(clip.buffer(span * 0.05))
        if g.is_empty:
            continue
        style = _line_style(kind, r["status"])
        z = 8 if kind in ("railway", "rail_siding") else 7
        if kind in ("railway", "rail_siding"):
            # Railway: a dark line with white ties, the cartographic convention.
            for xy in _lines(g):
                ax.plot(
                    xy[:, 0],
                    xy[:, 1],
                    color="#343a40",
                    lw=style["lw"] + 0.8,
                    zorder=z,
                    solid_capstyle="butt",
                )
                ax.plot(
                    xy[:, 0],
                    xy[:, 1],
                    color="white",
                    lw=style["lw"] * 0.45,
                    zorder=z,
                    dashes=(3, 3),
                )
        else:
            if kind in ("trunk_road", "national_road", "expressway"):
                for xy in _lines(g):  # casing
                    ax.plot(
                        xy[:, 0],
                        xy[:, 1],
                        color="#8a6d3b",
                        lw=style["lw"] + 0.9,
                        zorder=z - 0.1,
                        solid_capstyle="round",
                        alpha=0.6,
                    )
            for xy in _lines(g):
                ax.plot(xy[:, 0], xy[:, 1], zorder=z, **style)
        seen["kinds"].add(kind)
        if kind in ("expressway", "national_road", "trunk_road", "railway"):
            inner = r["geom"].intersection(clip.buffer(-span * 0.06))
            if not inner.is_empty and inner.length > span * 0.2:
                mid = inner.interpolate(0.5, normalized=True)
                a = inner.interpolate(0.45, normalized=True)
                b = inner.interpolate(0.55, normalized=True)
                ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
                if ang > 90:
                    ang -= 180
                elif ang < -90:
                    ang += 180
                road_labels[_name(r, lang)] = (mid.x, mid.y, ang)
    for s, (x, y, ang) in road_labels.items():
        _label(ax, x, y, s, size=4.8, color="#6b4e16", rotation=ang, rotation_mode="anchor")


def _draw_upgrades(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Upgrades: a glow under the line or around the point, and the finish date."""
    span = f.window[2] - f.window[0]
    for u in f.upgrades_map.rows:
        g = u["geom"].intersection(clip)
        if g.is_empty:
            continue
        seen["upgrades"] = True
        if g.geom_type in ("Point", "MultiPoint"):
            pts = [g] if g.geom_type == "Point" else list(g.geoms)
            for pt in pts:
                ax.plot(
                    pt.x,
                    pt.y,
                    "o",
                    ms=11,
                    color=UPGRADE_GLOW,
                    alpha=0.75,
                    zorder=9,
                    mec="#e8a600",
                    mew=0.6,
                )
            lx, ly = pts[0].x, pts[0].y
        else:
            for xy in _lines(g):
                ax.plot(
                    xy[:, 0],
                    xy[:, 1],
                    color=UPGRADE_GLOW,
                    lw=5.5,
                    alpha=0.7,
                    zorder=6.5,
                    solid_capstyle="round",
                )
            rp = (
                g.representative_point()
                if g.geom_type.endswith("Polygon")
                else g.interpolate(0.5, normalized=True)
            )
            lx, ly = rp.x, rp.y
        when = u["finish_date"].strftime("%Y-%m") if u.get("finish_date") else ""
        _label(
            ax,
            lx,
            ly - 0.028 * span,
            f"{u['code']} · {when}",
            size=4.6,
            color="#7a5b00",
            weight="bold",
        )


def _draw_point_infra(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Point infrastructure (substations, plants, stations) with names."""
    span = f.window[2] - f.window[0]
    for r in f.infrastructure.rows:
        mk = POINT_MARKERS.get(r["kind"])
        if mk is None or r["geom"].geom_type not in ("Point", "Polygon", "MultiPolygon"):
            continue
        pt = r["geom"] if r["geom"].geom_type == "Point" else r["geom"].representative_point()
        if not clip.contains(pt):
            continue
        marker, colour = mk
        ax.plot(
            pt.x,
            pt.y,
            marker,
            ms=5.5,
            color=colour,
            mec="white",
            mew=0.7,
            zorder=12,
            alpha=1.0 if r["status"] == "existing" else 0.55,
        )
        _label(ax, pt.x, pt.y + 0.03 * span, _name(r, lang), size=4.6, color=colour)
        seen["kinds"].add(r["kind"])


def _label_neighbours(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Codes of the neighbouring parcels where there is room."""
    span = f.window[2] - f.window[0]
    # Neighbouring parcels: their codes, where there is room (an occupied parcel is named by
    # its enterprise's label instead).
    occupied = {e.get("parcel_code") for e in f.enterprises.rows}
    for r in f.parcels.rows:
        if r["code"] == f.code or r["code"] in occupied:
            continue
        g = r["geom"]
        if not clip.buffer(-span * 0.03).contains(g.representative_point()):
            continue
        if g.area < (span * 0.055) ** 2:
            continue
        rp = g.representative_point()
        _label(ax, rp.x, rp.y, r["code"], size=4.3, color="#2d3a45", halo=True, zorder=14)


def _draw_target(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """The brief's parcel, in the highlight colour."""
    for target in (r for r in f.parcels.rows if r["code"] == f.code):
        p = polygon_patch(target["geom"], fc=HIGHLIGHT, ec="#7a0052", lw=1.2, zorder=15)
        ax.add_patch(p)


def _draw_footprint(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """The project's footprint, when one was fitted."""
    if f.fit is not None and f.fit.footprint is not None:
        fp = polygon_patch(
            f.fit.footprint,
            fc=FOOTPRINT,
            alpha=0.55,
            ec="#111111",
            lw=0.9,
            ls=(0, (3, 1.5)),
            zorder=16,
        )
        if fp is not None:
            ax.add_patch(fp)
        seen["footprint"] = True


def _draw_enterprises(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """Enterprises: anchors as stars, others as dots, by chain-role colour."""
    span = f.window[2] - f.window[0]
    for e in f.enterprises.rows:
        pt = e["geom"]
        if not clip.buffer(-span * 0.01).contains(pt):
            continue
        colour = layers.MARKER_CSS.get(layers.role_icon(e["chain_role"])[0], "#888888")
        if e["is_anchor"]:
            ax.plot(pt.x, pt.y, "*", ms=9, color=colour, mec="white", mew=0.6, zorder=18)
            seen["anchors"] = True
        else:
            ax.plot(pt.x, pt.y, "o", ms=4.2, color=colour, mec="white", mew=0.6, zorder=18)
            seen["enterprises"] = True
        _label(
            ax,
            pt.x,
            pt.y - 0.026 * span,
            _name(e, lang),
            size=4.8,
            color="#20303c",
            weight="bold" if e["is_anchor"] else "normal",
            zorder=19,
        )


def _label_target(ax: Axes, f: Any, lang: str, clip: shapely.Polygon, seen: Seen) -> None:
    """The parcel's own label, above everything."""
    for target in (r for r in f.parcels.rows if r["code"] == f.code):
        rp = target["geom"].representative_point()
        _label(
            ax,
            rp.x,
            rp.y,
            f.code,
            size=7.2,
            color="white",
            weight="bold",
            halo=False,
            zorder=26,
            bbox={"boxstyle": "round,pad=0.25", "fc": "#7a0052", "ec": "none", "alpha": 0.9},
        )


def legend(ax: Axes, seen: dict[str, Any], lang: str, fit_name: str | None = None) -> None:
    """The main map's legend, listing only what is on the map.

    Long because it lists every legend entry with its symbol, in legend order.
    """
    from parkgis.publish import i18n

    handles: list[Any] = []

    def lab(key: str) -> str:
        zh, en = i18n.label(key)
        return L(zh, en, lang)

    handles.append(Patch(fc=MARK, ec="#7a0052", lw=0.8, label=L("本地块", "This parcel", lang)))
    if seen.get("footprint"):
        handles.append(
            Patch(
                fc="white",
                ec="#111111",
                ls="--",
                lw=0.8,
                label=L("拟建厂房", "Project footprint", lang),
            )
        )
    for st in layers.STATUS_ORDER:
        if st in seen["statuses"]:
            handles.append(
                Patch(
                    fc=layers.STATUS_COLOURS[st],
                    alpha=min(1.0, layers.STATUS_OPACITY[st] * 0.8),
                    ec="white",
                    label=lab(f"status.{st}"),
                )
            )
    if "approved" in seen["zones"]:
        handles.append(
            Line2D(
                [],
                [],
                color=ZONE_APPROVED,
                lw=1.1,
                label=L("园区边界（已批）", "Zone boundary (approved)", lang),
            )
        )
    if "proposed" in seen["zones"]:
        handles.append(
            Line2D(
                [],
                [],
                color=ZONE_PROPOSED,
                lw=1.1,
                ls="--",
                label=L("园区边界（拟纳入）", "Zone boundary (proposed)", lang),
            )
        )
    for kind in (
        "expressway",
        "national_road",
        "trunk_road",
        "local_road",
        "railway",
        "rail_siding",
        "power_line",
    ):
        if kind in seen["kinds"]:
            st = _line_style(kind, "existing")
            if kind in ("railway", "rail_siding"):
                st = {"color": "#343a40", "lw": st["lw"] + 0.8}
            else:
                st.pop("solid_capstyle", None)
            handles.append(Line2D([], [], label=lab(f"infra.{kind}"), **st))
    for kind, (marker, colour) in POINT_MARKERS.items():
        if kind in seen["kinds"]:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    color=colour,
                    ls="none",
                    ms=4.5,
                    mec="white",
                    label=lab(f"infra.{kind}"),
                )
            )
    if seen["upgrades"]:
        handles.append(
            Line2D(
                [],
                [],
                color=UPGRADE_GLOW,
                lw=4.5,
                alpha=0.8,
                label=L("提升工程（完工年月）", "Upgrade (finish month)", lang),
            )
        )
    if seen["anchors"]:
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                color="#555",
                ls="none",
                ms=7,
                label=L("龙头企业", "Anchor enterprise", lang),
            )
        )
    if seen["enterprises"]:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color="#555",
                ls="none",
                ms=4,
                label=L("入驻企业", "Enterprise", lang),
            )
        )
    leg = ax.legend(
        handles=handles,
        loc="lower left",
        fontsize=4.9,
        frameon=True,
        framealpha=0.92,
        edgecolor="#c9d1d9",
        fancybox=False,
        borderpad=0.6,
        labelspacing=0.45,
        handlelength=2.0,
        handleheight=0.9,
        ncols=1,
    )
    leg.set_zorder(40)
    leg.get_frame().set_linewidth(0.4)


def draw_locator(ax: Axes, f: Any, lang: str) -> None:
    """Weihui within Xinxiang (lon/lat), with the parks marked.

    Long because the locator's layers are drawn in order, each with its style.
    """
    _frame(ax)
    ax.set_facecolor("white")
    counties = f.counties
    weihui = f.county["geom"] if f.county else None
    geoms = [c["geom"] for c in counties] + ([weihui] if weihui is not None else [])
    if not geoms:
        ax.text(
            0.5,
            0.5,
            L("无行政区划数据", "no boundaries", lang),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=6,
            color=MUTED,
        )
        return
    for c in counties:
        is_weihui = c["name_zh"] == "卫辉市"
        p = polygon_patch(
            c["geom"], fc="#e9edf1" if not is_weihui else "#fde3c8", ec="#9aa5b1", lw=0.35, zorder=2
        )
        if p is not None:
            ax.add_patch(p)
        rp = c["geom"].representative_point()
        # The city's districts are too small at this scale for a label.
        if not is_weihui and c["geom"].area > 0.035:
            name = c["name_en"] if lang == "en" else c["name_zh"]
            ax.text(
                rp.x,
                rp.y,
                name,
                fontsize=3.9,
                ha="center",
                va="center",
                color="#6b7785",
                zorder=5,
                clip_on=True,
            )
    if weihui is not None:
        p = polygon_patch(weihui, fc="#fde3c8", ec="#c0392b", lw=0.9, zorder=3)
        ax.add_patch(p)
    # Zones: tiny at this scale, so a marker at each.
    from pyproj import Transformer

    t = Transformer.from_crs(f.srid, 4490, always_xy=True)
    for z in f.zones.rows:
        c = z["geom"].centroid
        lon, lat = t.transform(c.x, c.y)
        ax.plot(
            lon,
            lat,
            "o",
            ms=2.6,
            color=ZONE_APPROVED if z["status"] == "approved" else ZONE_PROPOSED,
            mec="white",
            mew=0.3,
            zorder=6,
        )
    c = f.parcel_geom.centroid
    lon, lat = t.transform(c.x, c.y)
    ax.plot(lon, lat, "o", ms=5.5, mfc="none", mec=MARK, mew=1.1, zorder=7)
    name = (
        f.county["name_en"]
        if (f.county and lang == "en")
        else (f.county["name_zh"] if f.county else "")
    )
    if weihui is not None:
        rp = weihui.representative_point()
        ax.text(
            rp.x,
            rp.y + 0.05,
            name,
            fontsize=5,
            fontweight="bold",
            color="#8c2f1f",
            ha="center",
            va="bottom",
            zorder=8,
        )
    xs = shapely.union_all(geoms).bounds
    _fit_limits(ax, xs, pad=0.03, y_scale=1 / math.cos(math.radians((xs[1] + xs[3]) / 2)))


def draw_overview(ax: Axes, f: Any, lang: str) -> None:
    """The parcel's place in its park (and the neighbouring parks within view)."""
    _frame(ax)
    ax.set_facecolor("white")
    zone = f.zone["geom"]
    x0, y0, x1, y1 = zone.bounds
    # Include the parcel window so its frame can be drawn.
    w0, v0, w1, v1 = f.window
    _fit_limits(ax, (min(x0, w0), min(y0, v0), max(x1, w1), max(y1, v1)), pad=0.06)
    for z in f.zones.rows:
        proposed = z["status"] == "proposed"
        p = polygon_patch(
            z["geom"],
            fc="#f6efe9" if not proposed else "#fbf3ea",
            ec=ZONE_PROPOSED if proposed else ZONE_APPROVED,
            lw=0.7,
            ls="--" if proposed else "-",
            zorder=2,
        )
        if p is not None:
            ax.add_patch(p)
    for r in f.infrastructure.rows:
        if r["kind"] in ("trunk_road", "national_road", "expressway"):
            for xy in _lines(r["geom"]):
                ax.plot(xy[:, 0], xy[:, 1], color="#e0a84e", lw=0.6, zorder=3)
        elif r["kind"] in ("railway", "rail_siding"):
            for xy in _lines(r["geom"]):
                ax.plot(xy[:, 0], xy[:, 1], color="#343a40", lw=0.6, zorder=3)
    # The main map's frame, so the reader sees what the big map shows.
    ax.add_patch(Rectangle((w0, v0), w1 - w0, v1 - v0, fc="none", ec=INK, lw=0.6, ls=":", zorder=6))
    c = f.parcel_geom.centroid
    ax.plot(c.x, c.y, "o", ms=4.5, color=MARK, mec="white", mew=0.6, zorder=7)
    name = f.zone["name_en"] if lang == "en" else f.zone["name_zh"]
    ax.text(
        0.03,
        0.04,
        name,
        transform=ax.transAxes,
        fontsize=5,
        color="#8c2f1f",
        fontweight="bold",
        zorder=8,
    )
    scale_bar(ax, lang, frac=0.3, size=4.5)


def draw_cover_map(ax: Axes, d: Any, lang: str, highlight: set[str]) -> None:
    """The deck's overview: the zones, their parcels, the brief parcels highlighted.

    Long because the cover map's layers are drawn in order, each with its style.
    """
    _frame(ax)
    geoms = [z["geom"] for z in d.zones.rows if z["code"] in d.zone_codes] or [
        z["geom"] for z in d.zones.rows
    ]
    x0, y0, x1, y1 = shapely.union_all(geoms).bounds
    pad = 0.05 * max(x1 - x0, y1 - y0)
    _fit_limits(ax, (x0, y0, x1, y1), pad=0.05)
    ax.set_facecolor("#fbfbf8")
    clip = shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    for r in d.infrastructure.rows:
        if r["kind"] == "river":
            p = polygon_patch(r["geom"], fc="#cfe6f7", ec="#8cc2e8", lw=0.3, zorder=1)
            if p is not None:
                ax.add_patch(p)
    for r in d.parcels.rows:
        hl = r["code"] in highlight
        p = polygon_patch(
            r["geom"],
            fc=HIGHLIGHT if hl else layers.STATUS_COLOURS.get(r["status"], "#ccc"),
            alpha=1.0 if hl else 0.35,
            ec="white",
            lw=0.3,
            zorder=3,
        )
        if p is not None:
            ax.add_patch(p)
    for z in d.zones.rows:
        proposed = z["status"] == "proposed"
        p = polygon_patch(
            z["geom"],
            fc="none",
            ec=ZONE_PROPOSED if proposed else ZONE_APPROVED,
            lw=1.0,
            ls="--" if proposed else "-",
            zorder=5,
        )
        if p is not None:
            ax.add_patch(p)
        if z["geom"].intersects(clip):
            rp = z["geom"].representative_point()
            _label(
                ax,
                rp.x,
                z["geom"].bounds[3],
                L(z["name_zh"], z["name_en"], lang, "\n"),
                size=6,
                color="#8c2f1f",
                weight="bold",
                va="bottom",
                zorder=30,
            )
    for r in d.infrastructure.rows:
        kind = r["kind"]
        g = r["geom"].intersection(clip)
        if g.is_empty:
            continue
        if kind in ("expressway", "national_road", "trunk_road"):
            for xy in _lines(g):
                ax.plot(xy[:, 0], xy[:, 1], color="#e0a84e", lw=0.9, zorder=4)
        elif kind in ("railway", "rail_siding"):
            for xy in _lines(g):
                ax.plot(xy[:, 0], xy[:, 1], color="#343a40", lw=0.9, zorder=4)
        elif kind == "substation" and g.geom_type == "Point":
            ax.plot(g.x, g.y, "s", ms=4, color="#e03131", mec="white", zorder=6)
    # Codes of the highlighted parcels where there is room.
    span = x1 - x0
    for r in d.parcels.rows:
        if r["code"] in highlight and r["geom"].area > (span * 0.02) ** 2:
            rp = r["geom"].representative_point()
            _label(ax, rp.x, rp.y, r["code"].split("-")[-1], size=3.6, color="#4a0033", zorder=20)
    north_arrow(ax)
    scale_bar(ax, lang, frac=0.22)
    ax.legend(
        handles=[
            Patch(fc=HIGHLIGHT, label=L("本册地块", "Parcels in this deck", lang)),
            *[
                Patch(fc=layers.STATUS_COLOURS[s], alpha=0.35, label=L(*_status(s), lang))
                for s in layers.STATUS_ORDER
            ],
        ],
        loc="lower left",
        fontsize=5.5,
        framealpha=0.92,
        edgecolor="#c9d1d9",
        fancybox=False,
    )


def _status(s: str) -> tuple[str, str]:
    from parkgis.publish import i18n

    return i18n.label(f"status.{s}")


__all__ = [
    "HIGHLIGHT",
    "L",
    "draw_main",
    "draw_locator",
    "draw_overview",
    "draw_cover_map",
    "legend",
    "polygon_patch",
    "FancyArrow",
]
