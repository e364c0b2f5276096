"""Availability search: which vacant parcels meet an investor's conditions.

:class:`AvailabilityQuery` is the typed query (parsed and validated from URL-style parameters by
:meth:`AvailabilityQuery.from_params`, shared by the API and the CLI); :func:`search` runs it on
a sync connection; :func:`to_geojson`, :func:`to_csv` and :func:`to_gpkg` write the result.

Distances are measured in each parcel's CGCS2000 Gauss-Krüger projection (``geom_gk``), only
against features of the same projection (``gk_srid`` equal), through
``ST_SetSRID(geom_gk, 0)`` so that a province-wide table with several GK zones never mixes
SRIDs (see migration 0003 for the indexes). Distance *filters* are driven from the few
infrastructure rows into the parcels' GiST index (``ST_DWithin``); the *reported* distances are
nearest-neighbour look-ups (``ORDER BY ... <-> ... LIMIT 1``), computed only for the page
returned unless the page is sorted by a distance.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

from parkgis.collections import PARCEL_STATUSES, VACANT_STATUSES
from parkgis.errors import InvalidInput

# Distance categories: (query parameter, infrastructure kinds, result column, zh, en)
DISTANCES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "rail": ("max_rail_m", ("rail_siding",), "铁路专用线", "rail siding"),
    "road": ("max_road_m", ("trunk_road", "national_road", "expressway"), "干线公路",
             "trunk road"),
    "substation": ("max_substation_m", ("substation",), "变电站", "substation"),
    "water": ("max_water_m", ("water_main",), "供水干管", "water main"),
    "gas": ("max_gas_m", ("gas_main",), "燃气干管", "gas main"),
}
# Infrastructure that is built; planned lines do not serve a parcel yet.
SERVING_STATUS = "existing"
SERVICES = ("road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled")
SEARCH_STATUSES = tuple(s for s in PARCEL_STATUSES if s != "historic")
MAX_DISTANCE_M = 100_000.0
MAX_LIMIT = 5000
DEFAULT_LIMIT = 100
FORMATS = ("geojson", "csv", "gpkg")

# sort key -> column of the "page" row (distances are columns added when sorted by)
SORTS: dict[str, str] = {
    "code": "code",
    "zone": "zone_code",
    "landuse": "landuse_code",
    "status": "status",
    "area_m2": "area_m2",
    "area_mu": "area_m2",
    "area_ha": "area_m2",
    "price": "land_price_wan_per_mu",
    **{f"dist_{k}": f"dist_{k}_m" for k in DISTANCES},
    "dist_role": "dist_role_m",
}

PARAMS: dict[str, str] = {
    "zone": "园区编号（可多个，逗号分隔） / zone code(s)",
    "landuse": "用地分类代码前缀（1001 匹配 100102） / land-use code prefix(es)",
    "min_mu": "最小面积（亩） / minimum area (mu)",
    "max_mu": "最大面积（亩） / maximum area (mu)",
    "status": "状态（默认 available,reserved,listed） / status(es)",
    "svc": "必须具备的配套（road,water,drainage,power,gas,heat,telecom,levelled） / "
           "required servicing",
    **{p: f"距{zh}最大距离（米） / max distance to a {en} (m)"
       for p, _k, zh, en in DISTANCES.values()},
    "near_role": "邻近产业链环节企业（如 can_making） / chain role of a nearby enterprise",
    "near_role_m": "与该环节企业的最大距离（米） / max distance to it (m)",
    "sort": "排序：" + ", ".join(SORTS) + "（前缀 - 表示降序） / sort key, '-' for descending",
    "limit": f"每页条数（1–{MAX_LIMIT}） / page size",
    "offset": "偏移 / offset",
    "f": "输出格式 geojson | csv | gpkg / output format",
}

_ZONE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LANDUSE_RE = re.compile(r"^[0-9]{2,6}$")
_ROLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _bad(param: str, value: str, why_zh: str, why_en: str) -> InvalidInput:
    return InvalidInput(f"参数 {param}={value!r}：{why_zh} / {param}={value!r}: {why_en}",
                        param=param)


def _list(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def _number(param: str, raw: str, hi: float) -> Decimal:
    try:
        d = Decimal(raw.strip())
    except InvalidOperation:
        raise _bad(param, raw, "不是数字", "not a number") from None
    if not d.is_finite() or d < 0 or d > Decimal(str(hi)):
        raise _bad(param, raw, f"应在 0 到 {hi:g} 之间", f"must be between 0 and {hi:g}")
    return d


def _int(param: str, raw: str, lo: int, hi: int) -> int:
    if not re.fullmatch(r"\s*[0-9]{1,9}\s*", raw):
        raise _bad(param, raw, f"应为 {lo} 到 {hi} 的整数", f"must be an integer {lo}..{hi}")
    v = int(raw)
    if not lo <= v <= hi:
        raise _bad(param, raw, f"应为 {lo} 到 {hi} 的整数", f"must be an integer {lo}..{hi}")
    return v


@dataclass(frozen=True)
class AvailabilityQuery:
    """A validated availability search.

    Attributes
    ----------
    zones : tuple of str
        Zone codes; empty means all.
    landuse : tuple of str
        Land-use code prefixes; ``1001`` matches ``100102``.
    min_mu, max_mu : Decimal or None
        Area range in mu, inclusive, compared with the exact ``area_mu``.
    statuses : tuple of str
        Default: the vacant ones (available, reserved, listed).
    services : tuple of str
        Servicing flags all required (``road`` -> ``svc_road`` ...).
    max_dist : dict
        Category (``rail``, ``road``, ``substation``, ``water``, ``gas``) -> metres.
    near_role, near_role_m : str or None, float or None
        An enterprise of this chain role within this many metres.
    sort : str
        Key of :data:`SORTS`, ``-`` prefix for descending.
    limit, offset : int
    """

    zones: tuple[str, ...] = ()
    landuse: tuple[str, ...] = ()
    min_mu: Decimal | None = None
    max_mu: Decimal | None = None
    statuses: tuple[str, ...] = VACANT_STATUSES
    services: tuple[str, ...] = ()
    max_dist: dict[str, float] = field(default_factory=dict)
    near_role: str | None = None
    near_role_m: float | None = None
    sort: str = "code"
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_params(cls, items: Iterable[tuple[str, str]]) -> AvailabilityQuery:
        """Parse URL-style ``(name, value)`` pairs; lists may repeat or use commas.

        Raises
        ------
        InvalidInput
            For an unknown parameter or any value out of its domain.
        """
        raw: dict[str, list[str]] = {}
        for k, v in items:
            if k not in PARAMS or k == "f":
                if k == "f":
                    continue
                raise _bad(k, v, "未知参数", "unknown parameter")
            raw.setdefault(k, []).append(v)

        def single(name: str) -> str | None:
            vals = raw.get(name)
            if not vals:
                return None
            if len(vals) > 1:
                raise _bad(name, ",".join(vals), "只能给一次", "given more than once")
            return vals[0]

        zones = _list(raw.get("zone", []))
        for z in zones:
            if not _ZONE_RE.match(z):
                raise _bad("zone", z, "园区编号格式错误", "not a zone code")
        landuse = _list(raw.get("landuse", []))
        for lu in landuse:
            if not _LANDUSE_RE.match(lu):
                raise _bad("landuse", lu, "应为 2–6 位数字", "must be 2 to 6 digits")
        statuses = _list(raw.get("status", [])) or list(VACANT_STATUSES)
        for s in statuses:
            if s not in SEARCH_STATUSES:
                raise _bad("status", s, "未知状态", f"unknown status; one of {SEARCH_STATUSES}")
        services = _list(raw.get("svc", []))
        for s in services:
            if s not in SERVICES:
                raise _bad("svc", s, "未知配套", f"unknown servicing; one of {SERVICES}")
        min_mu = max_mu = None
        if (v := single("min_mu")) is not None:
            min_mu = _number("min_mu", v, 1e7)
        if (v := single("max_mu")) is not None:
            max_mu = _number("max_mu", v, 1e7)
        if min_mu is not None and max_mu is not None and min_mu > max_mu:
            raise _bad("min_mu", str(min_mu), "大于 max_mu", "greater than max_mu")
        max_dist: dict[str, float] = {}
        for cat, (param, _k, _zh, _en) in DISTANCES.items():
            if (v := single(param)) is not None:
                max_dist[cat] = float(_number(param, v, MAX_DISTANCE_M))
        near_role = single("near_role")
        near_role_m = single("near_role_m")
        if near_role is not None and not _ROLE_RE.match(near_role):
            raise _bad("near_role", near_role, "产业链环节格式错误", "not a chain role")
        if (near_role is None) != (near_role_m is None):
            raise _bad("near_role_m" if near_role else "near_role", near_role or near_role_m or "",
                       "near_role 与 near_role_m 须同时给出",
                       "near_role and near_role_m go together")
        role_m = float(_number("near_role_m", near_role_m, MAX_DISTANCE_M)) \
            if near_role_m is not None else None
        sort = single("sort") or "code"
        if sort.removeprefix("-") not in SORTS:
            raise _bad("sort", sort, "不支持的排序", f"unknown sort key; one of {list(SORTS)}")
        if sort.removeprefix("-") == "dist_role" and near_role is None:
            raise _bad("sort", sort, "需要 near_role", "needs near_role")
        limit = _int("limit", v, 1, MAX_LIMIT) if (v := single("limit")) else DEFAULT_LIMIT
        offset = _int("offset", v, 0, 10_000_000) if (v := single("offset")) else 0
        return cls(zones=tuple(zones), landuse=tuple(landuse), min_mu=min_mu, max_mu=max_mu,
                   statuses=tuple(dict.fromkeys(statuses)), services=tuple(services),
                   max_dist=max_dist, near_role=near_role, near_role_m=role_m, sort=sort,
                   limit=limit, offset=offset)


# --- SQL -----------------------------------------------------------------------------------
# Fragments are module constants; every value is a bind parameter.

# Only what filtering and sorting need is materialised per hit; geometry and the rest are
# fetched for the rows of the page.
HIT_COLUMNS = """p.id, p.code, p.zone_code, p.status, p.landuse_code, p.area_m2,
       p.land_price_wan_per_mu, p.gk_srid"""

# Parcels within d metres of a feature of the given kinds, driven from the (few) features into
# the parcels' GiST index; the semi-join on id lets the planner hash this set.
NEAR_INFRA_SQL = """p.id IN (
        SELECT q.id FROM infrastructure i
          JOIN parcels q ON q.gk_srid = i.gk_srid
                        AND ST_DWithin(ST_SetSRID(q.geom_gk, 0), ST_SetSRID(i.geom_gk, 0), %({d})s)
         WHERE i.kind = ANY(%({kinds})s) AND i.status = 'existing')"""
NEAR_ROLE_SQL = """p.id IN (
        SELECT q.id FROM enterprises e
          JOIN parcels q ON q.gk_srid = e.gk_srid
                        AND ST_DWithin(ST_SetSRID(q.geom_gk, 0), ST_SetSRID(e.geom_gk, 0),
                                       %(near_role_m)s)
         WHERE e.chain_role = %(near_role)s)"""

# Nearest feature of some kinds in the same GK projection (KNN on the gk0 expression index).
NEAREST_INFRA_SQL = """LEFT JOIN LATERAL (
        SELECT ST_Distance(ST_SetSRID(i.geom_gk, 0), ST_SetSRID(h.geom_gk, 0)) AS m
          FROM infrastructure i
         WHERE i.kind = ANY(%({kinds})s) AND i.status = 'existing' AND i.gk_srid = h.gk_srid
         ORDER BY ST_SetSRID(i.geom_gk, 0) <-> ST_SetSRID(h.geom_gk, 0)
         LIMIT 1) n_{cat} ON true"""
NEAREST_ROLE_SQL = """LEFT JOIN LATERAL (
        SELECT ST_Distance(ST_SetSRID(e.geom_gk, 0), ST_SetSRID(h.geom_gk, 0)) AS m
          FROM enterprises e
         WHERE e.chain_role = %(near_role)s AND e.gk_srid = h.gk_srid
         ORDER BY ST_SetSRID(e.geom_gk, 0) <-> ST_SetSRID(h.geom_gk, 0)
         LIMIT 1) n_role ON true"""

SEARCH_SQL_TEMPLATE = """
WITH hits AS MATERIALIZED (
    SELECT {hit_columns}
      FROM parcels p
     WHERE {where}
), page AS (
    SELECT h.*{page_dist}
      FROM hits h {page_joins}
     ORDER BY {page_order}
     LIMIT %(limit)s OFFSET %(offset)s
)
SELECT h.code, h.zone_code, h.status, h.landuse_code, h.landuse_alias,
       h.area_m2, h.area_mu, h.area_ha,
       h.svc_road, h.svc_water, h.svc_drainage, h.svc_power, h.svc_gas, h.svc_heat,
       h.svc_telecom, h.svc_levelled, h.land_price_wan_per_mu, h.reserved_until,
       {dist_columns},
       ST_X(ST_PointOnSurface(h.geom)) AS lon, ST_Y(ST_PointOnSurface(h.geom)) AS lat,
       ST_AsGeoJSON(h.geom, 9) AS geometry,
       (SELECT count(*) FROM hits) AS number_matched
  FROM page g JOIN parcels h ON h.id = g.id {final_joins}
 ORDER BY {final_order}
"""


def build_sql(q: AvailabilityQuery) -> tuple[str, dict[str, Any]]:
    """The SQL text and bind parameters of a query (one builder for every caller).

    Returns
    -------
    tuple of (str, dict)
    """
    params: dict[str, Any] = {"statuses": list(q.statuses), "limit": q.limit,
                              "offset": q.offset}
    where = ["p.status = ANY(%(statuses)s)", "p.status <> 'historic'"]
    if q.zones:
        where.append("p.zone_code = ANY(%(zones)s)")
        params["zones"] = list(q.zones)
    if q.landuse:
        # prefixes are digits only (validated), so LIKE has no wildcard to escape
        where.append("p.landuse_code LIKE ANY(%(landuse_like)s)")
        params["landuse_like"] = [f"{lu}%" for lu in q.landuse]
    if q.min_mu is not None:
        where.append("p.area_mu >= %(min_mu)s")
        params["min_mu"] = q.min_mu
    if q.max_mu is not None:
        where.append("p.area_mu <= %(max_mu)s")
        params["max_mu"] = q.max_mu
    for s in q.services:
        where.append(f"p.svc_{s}")  # s is one of SERVICES (validated)
    for cat, (_p, kinds, _zh, _en) in DISTANCES.items():
        params[f"kinds_{cat}"] = list(kinds)
        if cat in q.max_dist:
            params[f"max_{cat}"] = q.max_dist[cat]
            where.append(NEAR_INFRA_SQL.format(d=f"max_{cat}", kinds=f"kinds_{cat}"))
    if q.near_role is not None:
        params["near_role"] = q.near_role
        params["near_role_m"] = q.near_role_m
        where.append(NEAR_ROLE_SQL)

    key = q.sort.removeprefix("-")
    direction = " DESC NULLS LAST" if q.sort.startswith("-") else " ASC NULLS LAST"
    col = SORTS[key]
    cats = list(DISTANCES) + (["role"] if q.near_role is not None else [])
    # A distance sort needs that distance for every hit (in "page"); the other distances are
    # looked up only for the rows of the page (outer query).
    sort_cat = key.removeprefix("dist_") if key.startswith("dist_") else None
    page_dist = page_joins = ""
    if sort_cat:
        hit_columns = HIT_COLUMNS + ", p.geom_gk"
        page_dist = f", n_{sort_cat}.m AS {col}"
        page_joins = _nearest_join(sort_cat)
        page_order = f"n_{sort_cat}.m{direction}, h.code"
    else:
        hit_columns = HIT_COLUMNS
        page_order = f"h.{col}{direction}, h.code"
    dist_columns = ",\n       ".join(
        f"g.dist_{c}_m" if c == sort_cat else f"n_{c}.m AS dist_{c}_m" for c in cats)
    final_joins = "\n  ".join(_nearest_join(c) for c in cats if c != sort_cat)
    text = SEARCH_SQL_TEMPLATE.format(
        hit_columns=hit_columns, where="\n       AND ".join(where), page_dist=page_dist,
        page_joins=page_joins, page_order=page_order, dist_columns=dist_columns,
        final_joins=final_joins, final_order=f"g.{col}{direction}, g.code")
    return text, params


def _nearest_join(cat: str) -> str:
    if cat == "role":
        return NEAREST_ROLE_SQL
    return NEAREST_INFRA_SQL.format(kinds=f"kinds_{cat}", cat=cat)


@dataclass
class SearchResult:
    """Rows of one page, the total number matched and the query that made them."""

    query: AvailabilityQuery
    rows: list[dict[str, Any]]
    number_matched: int


def search(conn: psycopg.Connection, q: AvailabilityQuery) -> SearchResult:
    """Run an availability search.

    Parameters
    ----------
    conn : psycopg.Connection
    q : AvailabilityQuery

    Returns
    -------
    SearchResult
    """
    text, params = build_sql(q)
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute(text, params).fetchall()
    total = int(rows[0]["number_matched"]) if rows else _count(conn, q)
    for r in rows:
        r.pop("number_matched", None)
    return SearchResult(q, rows, total)


def _count(conn: psycopg.Connection, q: AvailabilityQuery) -> int:
    # An empty page (offset past the end) still reports how many matched.
    if q.offset == 0:
        return 0
    text, params = build_sql(AvailabilityQuery(**{**q.__dict__, "offset": 0, "limit": 1}))
    row = conn.execute(text, params).fetchone()
    if row is None:
        return 0
    return int(row["number_matched"] if isinstance(row, dict) else row[-1])


def explain(conn: psycopg.Connection, q: AvailabilityQuery, analyze: bool = True) -> str:
    """The query plan (for benchmarks: shows which indexes are used)."""
    text, params = build_sql(q)
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if analyze else "EXPLAIN "
    rows = conn.execute(prefix + text, params).fetchall()
    return "\n".join(next(iter(r.values())) if isinstance(r, dict) else r[0] for r in rows)


# --- output --------------------------------------------------------------------------------

# (column, Chinese header, English header) in CSV/GPKG order; distances appended per result.
COLUMNS: list[tuple[str, str, str]] = [
    ("code", "地块编号", "Parcel code"),
    ("zone_code", "所属园区", "Zone"),
    ("status", "状态", "Status"),
    ("landuse_code", "用地分类代码", "Land-use code"),
    ("landuse_alias", "旧分类", "Old code (GB 50137)"),
    ("area_m2", "面积（平方米）", "Area (m2)"),
    ("area_mu", "面积（亩）", "Area (mu)"),
    ("area_ha", "面积（公顷）", "Area (ha)"),
    ("svc_road", "通路", "Road"),
    ("svc_water", "通给水", "Water supply"),
    ("svc_drainage", "通排水", "Drainage"),
    ("svc_power", "通电", "Power"),
    ("svc_gas", "通气", "Gas"),
    ("svc_heat", "通热", "Heat"),
    ("svc_telecom", "通信", "Telecom"),
    ("svc_levelled", "场地平整", "Site levelled"),
    ("land_price_wan_per_mu", "基准地价（万元/亩）", "Benchmark price (10k CNY/mu)"),
    ("reserved_until", "预留至", "Reserved until"),
    *[(f"dist_{c}_m", f"距{zh}（米）", f"Distance to {en} (m)")
      for c, (_p, _k, zh, en) in DISTANCES.items()],
]
ROLE_COLUMN = ("dist_role_m", "距产业链企业（米）", "Distance to chain-role enterprise (m)")
LONLAT_COLUMNS = [("lon", "经度", "Longitude"), ("lat", "纬度", "Latitude")]


def _columns(result: SearchResult) -> list[tuple[str, str, str]]:
    cols = list(COLUMNS)
    if result.query.near_role is not None:
        cols.append(ROLE_COLUMN)
    return cols


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        # float keeps 17 significant digits: exact to far below a square millimetre
        return float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def to_geojson(result: SearchResult) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4490 lon/lat, treated as CRS84)."""
    cols = _columns(result)
    features = []
    for r in result.rows:
        props = {c: _jsonable(r.get(c)) for c, _zh, _en in cols}
        features.append({"type": "Feature", "id": r["code"], "properties": props,
                         "geometry": json.loads(r["geometry"])})
    return {
        "type": "FeatureCollection",
        "numberMatched": result.number_matched,
        "numberReturned": len(features),
        "features": features,
    }


def to_csv(result: SearchResult) -> bytes:
    """CSV in UTF-8 with a BOM (so Excel reads the Chinese), headers "中文 English"."""
    cols = _columns(result) + LONLAT_COLUMNS
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([f"{zh} {en}" for _c, zh, en in cols])
    for r in result.rows:
        w.writerow(["" if r.get(c) is None else _jsonable(r.get(c)) for c, _zh, _en in cols])
    return buf.getvalue().encode("utf-8-sig")


def to_gpkg(result: SearchResult, layer: str = "available_parcels") -> bytes:
    """A GeoPackage (EPSG:4490) with one layer of the page's parcels."""
    import geopandas as gpd
    import shapely

    cols = _columns(result)
    data = {c: [_jsonable(r.get(c)) for r in result.rows] for c, _zh, _en in cols}
    geoms = [shapely.from_geojson(r["geometry"]) for r in result.rows]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4490")
    fd, path = tempfile.mkstemp(suffix=".gpkg")
    os.close(fd)
    os.unlink(path)  # let GDAL create it
    try:
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio",
                    geometry_type="MultiPolygon")
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)
