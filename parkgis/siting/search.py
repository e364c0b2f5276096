"""Availability search: which vacant parcels meet an investor's conditions.

:class:`AvailabilityQuery` is the typed query (parsed and validated from URL-style parameters by
:meth:`AvailabilityQuery.from_params`, shared by the API and the CLI); :func:`search` runs it on
a sync connection; :func:`to_geojson`, :func:`to_csv` and :func:`to_gpkg` write the result.

Distances are measured in each parcel's CGCS2000 Gauss-Krüger projection (``geom_gk``), only
against features of the same projection (``gk_srid`` equal), through
``ST_SetSRID(geom_gk, 0)`` so that a province-wide table with several GK zones never mixes
SRIDs. They are precomputed per parcel and kept exact by triggers (``parcel_nearest``,
migration 0013; read as of the query's date). The page is found first and everything else is
computed for its rows only; how a distance filter is evaluated (driven from the store's
distance index, or a probe per candidate) depends on its reach — see the notes above the SQL.

As of a date (issue 13): distances and 七通一平 are from what is in service on ``as_of``
(default today in the park) — ``infra_as_of`` and ``svc_as_of`` (migration 0011; 七通一平
read from its precomputed store ``parcel_services``, migration 0014): what exists, what a
completed upgrade built by then and that upgrade's own works; planned and under-way works
never count. Rail access is :data:`RAIL_ACCESS_KINDS` (sidings and freight
stations; never the main line), the definition fit, the sheet and the brief share.

Terrain (issue 8): ``max_slope_deg`` is tested against the parcel's *mean* slope
(``parcel_terrain.slope_mean_deg``); the steepest cell (``slope_max_deg``) is reported but not
filtered, as the fit engine does (one ditch does not rule out a site that is levelled anyway).
``max_flood_share`` is tested against ``flood_share`` (0..1, the share of the area with flood
depth > 0) and ``max_earthwork_wan`` against the cost of levelling the parcel flat, in 万元:
(``earthwork_cut_m3`` + ``earthwork_fill_m3``) × ``yuan_per_m3`` / 10000, the rate set by the
entry point from its settings (``settings.earthwork``). A parcel without figures does not
pass a terrain filter (its conditions cannot be shown to hold); a terrain filter with no
terrain loaded at all is refused (:class:`TerrainNotLoaded`, 422) rather than answered with
nothing.

Lapsed reservations: :func:`search` first returns reservations past their ``reserved_until`` to
``available`` (:func:`expire_lapsed`, through :func:`parkgis.land.lifecycle.expire_reservations`,
audited), so that a search never lists a lapsed reservation as reserved. The check is one probe
of the partial index ``parcels_reserved_until_idx`` (migration 0002); a failure to expire (a
read-only replica, a lock) is logged and the search goes on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
import psycopg

from parkgis.db.collections import (
    PARCEL_STATUSES,
    VACANT_STATUSES,
    svc_filter_sql,
    svc_join,
    svc_sql,
)
from parkgis.errors import InvalidInput, ParkGISError
from parkgis.geo.network import DESTINATIONS, DRIVE_LIMITS
from parkgis.jsonvalues import jsonable
from parkgis.land import lifecycle
from parkgis.settings import EarthworkSettings

log = logging.getLogger("parkgis.siting.search")

# The vocabulary lives in parkgis.vocabulary; re-exported for existing importers.
from parkgis.vocabulary import DISTANCES, RAIL_ACCESS_KINDS, SERVICES  # noqa: E402, F401

#: Upper bound of a "drive time to X <= N minutes" filter.
MAX_DRIVE_MIN = 1440.0

SEARCH_STATUSES = tuple(s for s in PARCEL_STATUSES if s != "historic")
MAX_DISTANCE_M = 100_000.0
# Past this many parcels in the table, a full page reports the planner's estimate of the total
# (flagged) instead of counting: a count with distance filters probes every candidate, which
# at 10^5 parcels costs ~0.3 s against ~30 ms for the page. A park, even a county, stays far
# below it and is counted exactly. The API uses min(this, settings.count_exact_max).
COUNT_EXACT_MAX_PARCELS = 20_000
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
    "slope": "slope_mean_deg",
    "flood": "flood_share",
    "earthwork": "earthwork_m3",
}
# Sort columns that may be NULL (the others are NOT NULL in the schema).
NULLABLE_SORTS = frozenset(
    {"land_price_wan_per_mu", "slope_mean_deg", "flood_share", "earthwork_m3"}
)
# Terrain sort keys -> expression on the parcel_terrain alias t (the cost in 万元 is the volume
# times a positive rate: sorting by the volume is sorting by the cost).
TERRAIN_SORTS: dict[str, str] = {
    "slope": "t.slope_mean_deg",
    "flood": "t.flood_share",
    "earthwork": "(t.earthwork_cut_m3 + t.earthwork_fill_m3)",
}
MAX_SLOPE_DEG = 90.0
MAX_EARTHWORK_WAN = 1e9
MAX_YUAN_PER_M3 = 10_000.0

PARAMS: dict[str, str] = {
    "zone": "园区编号（可多个，逗号分隔） / zone code(s)",
    "landuse": "用地分类代码前缀（1001 匹配 100102） / land-use code prefix(es)",
    "min_mu": "最小面积（亩） / minimum area (mu)",
    "max_mu": "最大面积（亩） / maximum area (mu)",
    "status": "状态（默认 available,reserved,listed） / status(es)",
    "svc": "必须具备的配套（road,water,drainage,power,gas,heat,telecom,levelled） / "
    "required servicing",
    **{
        p: f"距{zh}最大距离（米） / max distance to a {en} (m)"
        for p, _k, zh, en in DISTANCES.values()
    },
    **{
        p: f"到{DESTINATIONS[d][0]}最长车程（分钟，路网计算；路网外为估算） / max drive time to "
        f"the {DESTINATIONS[d][1]} (minutes, on the road network; estimated beyond it)"
        for p, d in DRIVE_LIMITS.items()
    },
    "near_role": "邻近产业链环节企业（如 can_making） / chain role of a nearby enterprise",
    "near_role_m": "与该环节企业的最大距离（米） / max distance to it (m)",
    "max_slope_deg": "最大平均坡度（度；按平均坡度筛选，最大坡度只列出不筛选） / max mean slope "
    "(degrees; the steepest cell is reported, not filtered)",
    "max_flood_share": "最大易涝面积比例（0–1） / max flood-prone share of the area (0..1)",
    "max_earthwork_wan": "最大场地平整费用（万元，(挖方+填方)×单价） / max levelling cost "
    "(10k CNY, (cut + fill) × rate)",
    "yuan_per_m3": "土方单价（元/立方米，默认取配置） / earthwork rate (CNY/m³), default from "
    "settings",
    "sort": "排序：" + ", ".join(SORTS) + "（前缀 - 表示降序） / sort key, '-' for descending",
    "limit": f"每页条数（1–{MAX_LIMIT}） / page size",
    "offset": "偏移 / offset",
    "f": "输出格式 geojson | csv | gpkg / output format",
    "as_of": "按该日期在用的基础设施计算配套和距离（YYYY-MM-DD，默认今天） / infrastructure in "
    "service on this date (YYYY-MM-DD, default today)",
}

_ZONE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LANDUSE_RE = re.compile(r"^[0-9]{2,6}$")
_ROLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _bad(param: str, value: str, why_zh: str, why_en: str) -> InvalidInput:
    return InvalidInput(
        f"参数 {param}={value!r}：{why_zh} / {param}={value!r}: {why_en}", param=param
    )


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


#: Dates ``as_of`` accepts: the sample's history starts in the 2010s, and a date centuries away
#: is a typing slip, not a question.
AS_OF_RANGE = (date(1990, 1, 1), date(2100, 12, 31))


def parse_as_of(raw: str, param: str = "as_of") -> date:
    """``as_of=YYYY-MM-DD`` (design §4b) as a date; :class:`InvalidInput` (400) otherwise."""
    v = (raw or "").strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        raise _bad(param, raw, "日期格式应为 YYYY-MM-DD", "must be a date YYYY-MM-DD")
    try:
        d = date.fromisoformat(v)
    except ValueError:
        raise _bad(param, raw, "不是有效日期", "not a valid date") from None
    if not AS_OF_RANGE[0] <= d <= AS_OF_RANGE[1]:
        raise _bad(
            param,
            raw,
            f"应在 {AS_OF_RANGE[0]} 与 {AS_OF_RANGE[1]} 之间",
            f"must be between {AS_OF_RANGE[0]} and {AS_OF_RANGE[1]}",
        )
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
    max_slope_deg : Decimal or None
        Maximum mean slope (degrees) of ``parcel_terrain``.
    max_flood_share : Decimal or None
        Maximum flood-prone share (0..1).
    max_earthwork_wan : Decimal or None
        Maximum levelling cost (万元) at ``yuan_per_m3``.
    yuan_per_m3 : Decimal or None
        Earthwork rate; ``None``: ``settings.earthwork_yuan_per_m3``.
    sort : str
        Key of :data:`SORTS`, ``-`` prefix for descending.
    limit, offset : int
    as_of : date or None
        Servicing and distances from what is in service on this date; ``None``: today.
    """

    zones: tuple[str, ...] = ()
    landuse: tuple[str, ...] = ()
    min_mu: Decimal | None = None
    max_mu: Decimal | None = None
    statuses: tuple[str, ...] = VACANT_STATUSES
    services: tuple[str, ...] = ()
    max_dist: dict[str, float] = field(default_factory=dict)
    max_drive_min: dict[str, float] = field(default_factory=dict)
    near_role: str | None = None
    near_role_m: float | None = None
    max_slope_deg: Decimal | None = None
    max_flood_share: Decimal | None = None
    max_earthwork_wan: Decimal | None = None
    yuan_per_m3: Decimal | None = None
    sort: str = "code"
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    as_of: date | None = None

    @classmethod
    def from_params(
        cls, items: Iterable[tuple[str, str]], earthwork: EarthworkSettings | None = None
    ) -> AvailabilityQuery:
        """Parse URL-style ``(name, value)`` pairs; lists may repeat or use commas.

        ``earthwork``: the caller's ``settings.earthwork``, the rate when ``yuan_per_m3`` is
        not given (else the query keeps none and :func:`earthwork_rate` uses the shipped one).

        Raises
        ------
        InvalidInput
            For an unknown parameter or any value out of its domain.

        Long because it is a flat list of parameters, each validated in a few lines.
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
        max_drive_min: dict[str, float] = {}
        for param, dest in DRIVE_LIMITS.items():
            if (v := single(param)) is not None:
                max_drive_min[dest] = float(_number(param, v, MAX_DRIVE_MIN))
        near_role = single("near_role")
        near_role_m = single("near_role_m")
        if near_role is not None and not _ROLE_RE.match(near_role):
            raise _bad("near_role", near_role, "产业链环节格式错误", "not a chain role")
        if (near_role is None) != (near_role_m is None):
            raise _bad(
                "near_role_m" if near_role else "near_role",
                near_role or near_role_m or "",
                "near_role 与 near_role_m 须同时给出",
                "near_role and near_role_m go together",
            )
        role_m = (
            float(_number("near_role_m", near_role_m, MAX_DISTANCE_M))
            if near_role_m is not None
            else None
        )
        terrain: dict[str, Decimal | None] = {}
        for name, hi in (
            ("max_slope_deg", MAX_SLOPE_DEG),
            ("max_flood_share", 1.0),
            ("max_earthwork_wan", MAX_EARTHWORK_WAN),
            ("yuan_per_m3", MAX_YUAN_PER_M3),
        ):
            terrain[name] = _number(name, v, hi) if (v := single(name)) is not None else None
        if terrain["yuan_per_m3"] is not None and terrain["yuan_per_m3"] <= 0:
            raise _bad(
                "yuan_per_m3", str(terrain["yuan_per_m3"]), "应大于 0", "must be greater than 0"
            )
        sort = single("sort") or "code"
        if sort.removeprefix("-") not in SORTS:
            raise _bad("sort", sort, "不支持的排序", f"unknown sort key; one of {list(SORTS)}")
        if sort.removeprefix("-") == "dist_role" and near_role is None:
            raise _bad("sort", sort, "需要 near_role", "needs near_role")
        limit = _int("limit", v, 1, MAX_LIMIT) if (v := single("limit")) else DEFAULT_LIMIT
        offset = _int("offset", v, 0, 10_000_000) if (v := single("offset")) else 0
        as_of = parse_as_of(v) if (v := single("as_of")) is not None else None
        if terrain["yuan_per_m3"] is None and earthwork is not None:
            terrain["yuan_per_m3"] = Decimal(str(earthwork.yuan_per_m3))
        return cls(
            as_of=as_of,
            zones=tuple(zones),
            landuse=tuple(landuse),
            min_mu=min_mu,
            max_mu=max_mu,
            statuses=tuple(dict.fromkeys(statuses)),
            services=tuple(services),
            max_dist=max_dist,
            max_drive_min=max_drive_min,
            near_role=near_role,
            near_role_m=role_m,
            sort=sort,
            limit=limit,
            offset=offset,
            **terrain,
        )

    def rasters_needed(self) -> set[str]:
        """Raster kinds (``dem``, ``flood``) the terrain filters of this query need."""
        need = set()
        if self.max_slope_deg is not None or self.max_earthwork_wan is not None:
            need.add("dem")
        if self.max_flood_share is not None:
            need.add("flood")
        return need


class TerrainNotLoaded(ParkGISError):
    """A terrain filter on a database with no terrain loaded: the filter cannot be honoured."""

    status = 422
    title_zh = "无法按地形筛选"
    title_en = "Terrain filter unavailable"


# --- SQL -----------------------------------------------------------------------------------
# Fragments are module constants; every value is a bind parameter.
#
# Shape (designed for a province-scale table, 10^6 parcels): the page is found first —
# parcels filtered and ordered, LIMIT/OFFSET — and only its rows are joined back for geometry,
# the other columns and the remaining distances; nothing materialises every hit unless the
# order needs it. The total is counted separately (see :func:`search`) unless known in passing.
#
# Distances are read from the precomputed store ``parcel_nearest`` (migration 0013, issue 16):
# per parcel and category (and per chain role, ``role:<role>``) the steps of its nearest
# in-service feature over time; the row with ``since <= as_of < until`` is the nearest as of
# the query's date — the same distance the nearest-neighbour query over ``infra_as_of`` gives
# (tests/db/test_access.py), kept exact by triggers.
#
# A distance category enters the page query in one of three forms:
# * "near" — driven from the store's (category, distance) index: the parcels whose distance
#   as of the date is <= d, the parcel conditions applied in the join. Used for a short reach
#   (d <= NEAR_REACH_M: few parcels qualify) and when the page is sorted by the category it
#   filters on. The (first) near set is the base of the page (parcels are not scanned
#   again), and its size is the exact total, counted in passing.
# * "within" — the other filters (many parcels qualify): per candidate parcel, one probe of
#   the store's primary key; candidates come in the order of the sort, so the scan stops as
#   soon as the page is full.
# * "knn" — a sort by a distance without that filter: per candidate, the distance as of the
#   date (``access_m``, an SQL function the planner inlines into a join).
# Every distance not measured in the page is an ``access_m`` look-up for the page's rows only.
# Reach (m) up to which a filter is a "near" set, per category: a short reach leaves few
# parcels that a per-candidate probe would have to hunt for.
NEAR_REACH_M: dict[str, float] = {"substation": 1000.0, "role": 2000.0}

# The store's rows valid on the query's date (alias a).
_VALID_SQL = "a.since <= %(as_of)s AND a.until > %(as_of)s"
NEAR_ACCESS_SQL = (
    """(
        SELECT {cols}, a.m
          FROM parcel_nearest a
          JOIN parcels q ON q.id = a.parcel_id{q_attr}
         WHERE a.cat = %({acat})s AND a.m <= %({d})s
           AND """
    + _VALID_SQL
    + ")"
)
# Columns a near set carries when it is the base of the page (one row per parcel).
NEAR_BASE_COLUMNS = (
    "q.id, q.code, q.gk_srid, q.geom_gk, q.zone_code, q.status, "
    "q.landuse_code, q.area_m2, q.land_price_wan_per_mu"
)

# "Is the distance as of the date within d?" per candidate: one primary-key probe (OFFSET 0
# keeps it a per-row sub-plan: pulled up into a semi-join, the planner would read every
# candidate and hash, instead of stopping at the end of the page).
WITHIN_ACCESS_SQL = (
    """EXISTS (
        SELECT 1 FROM parcel_nearest a
         WHERE a.parcel_id = p.id AND a.cat = %({acat})s AND a.m <= %({d})s
           AND """
    + _VALID_SQL
    + " OFFSET 0)"
)

# The same question for a category of the reach row (``parcel_reach``, migration 0017, joined
# as r on the code): the final distance is a lower bound on every date and the distance itself
# from its first day on, so the probe runs only for a step still to come after the date. The
# plain column test leads, so the planner can drive a page in code order from the reach row
# when it is the selective part ("water and gas within 1 km": 1.4 % of parcels).
REACH_ACCESS_SQL = "r.{cat}_m <= %({d})s AND (r.{cat}_since <= %(as_of)s OR {probe})"
# The row holds every category of DISTANCES (tests/db/test_access.py checks its columns); a
# chain role's reach stays a probe.
REACH_JOIN_SQL = "JOIN parcel_reach r ON r.code = p.code"

# The distance as of the date, as a LATERAL join on the parcel alias {a} (NULL: no feature
# of the category in service in the parcel's GK zone).
NEAREST_ACCESS_SQL = "LEFT JOIN LATERAL access_m({a}.id, %({acat})s, %(as_of)s) n_{cat} ON true"

SEARCH_SQL_TEMPLATE = """
WITH page AS (
    SELECT p.id, p.code, {sort_expr} AS sort_key{page_dist}{total}
      FROM {from_} {page_joins}
     WHERE {where}
     ORDER BY {sort_expr}{direction}{tiebreak}
     LIMIT %(limit)s OFFSET %(offset)s
)
SELECT h.code, h.zone_code, h.status, h.landuse_code, h.landuse_alias,
       h.area_m2, h.area_mu{num} AS area_mu, h.area_ha{num} AS area_ha,
       {svc_columns}, h.land_price_wan_per_mu{num} AS land_price_wan_per_mu,
       h.reserved_until,
       {dist_columns},
       ht.elev_mean_m, ht.slope_mean_deg, ht.slope_max_deg, ht.flood_share,
       ht.earthwork_cut_m3 + ht.earthwork_fill_m3 AS earthwork_m3,
       (ht.earthwork_cut_m3 + ht.earthwork_fill_m3) * %(yuan_per_m3)s / 10000.0
           AS earthwork_wan{shape_columns}{final_total}
  FROM page g JOIN parcels h ON h.id = g.id
  LEFT JOIN parcel_terrain ht ON ht.parcel_code = h.code {final_joins}
 ORDER BY g.sort_key{direction}, g.code
"""

# What each output needs of the shape (``{shape_columns}`` above): GeoJSON and GeoPackage the
# geometry (9 decimals of a degree, ~0.1 mm), CSV a point on the surface; nothing is computed
# only to be dropped.
SHAPE_COLUMNS_SQL: dict[str, str] = {
    "geometry": ",\n       ST_AsGeoJSON(h.geom, 9) AS geometry",
    "lonlat": ",\n       ST_X(hp.pos) AS lon, ST_Y(hp.pos) AS lat",
}
# The point of the CSV's lon/lat, computed once per row (not once per coordinate).
LONLAT_JOIN_SQL = "CROSS JOIN LATERAL (SELECT ST_PointOnSurface(h.geom) AS pos) hp"
# Outputs -> the shape columns they read.
OUTPUT_SHAPES: dict[str, tuple[str, ...]] = {
    "all": ("lonlat", "geometry"),
    "geojson": ("geometry",),
    "gpkg": ("geometry",),
    "csv": ("lonlat",),
}

COUNT_SQL_TEMPLATE = "SELECT count(*) FROM {from_} {joins}\n WHERE {where}"
# The rows the count would count, for the planner's estimate (top node = all rows).
ESTIMATE_SQL_TEMPLATE = "EXPLAIN (FORMAT JSON) SELECT p.id FROM {from_} {joins}\n WHERE {where}"
RELTUPLES_SQL = "SELECT reltuples::bigint FROM pg_class WHERE oid = 'parcels'::regclass"
# A search's settings, local to its transaction (see :func:`_latency_settings`).
LATENCY_SETTINGS_SQL = (
    "SELECT set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('join_collapse_limit', '1', true),"
    " set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)"
)
# An exact count reads every match: the server's own join methods again.
COUNT_SETTINGS_SQL = """SELECT set_config(name, reset_val, true) FROM pg_settings
 WHERE name IN ('enable_hashjoin', 'enable_mergejoin')"""

# Terrain of the candidates (alias t): an inner join when a terrain filter must hold (a parcel
# without figures does not pass), a left join when the page is only sorted by a figure. Per
# candidate it is one probe of parcel_terrain's primary key.
TERRAIN_JOIN_SQL = "JOIN parcel_terrain t ON t.parcel_code = p.code"
TERRAIN_LEFT_JOIN_SQL = "LEFT JOIN parcel_terrain t ON t.parcel_code = p.code"
TERRAIN_FILTERS_SQL: dict[str, str] = {
    "max_slope_deg": "t.slope_mean_deg <= %(max_slope_deg)s",
    "max_flood_share": "t.flood_share <= %(max_flood_share)s",
    # the same expression the result reports, so that what is shown is what was tested
    "max_earthwork_wan": "(t.earthwork_cut_m3 + t.earthwork_fill_m3) * %(yuan_per_m3)s "
    "/ 10000.0 <= %(max_earthwork_wan)s",
}
ACTIVE_RASTER_KINDS_SQL = "SELECT kind FROM rasters WHERE active"
# Is any reservation lapsed? One probe of parcels_reserved_until_idx (partial, status =
# 'reserved'; migration 0002); the write happens only when the answer is yes.
LAPSED_SQL = """SELECT 1 FROM parcels
 WHERE status = 'reserved' AND reserved_until < %(today)s LIMIT 1"""


@dataclass(frozen=True)
class _Built:
    page: str
    count: str
    estimate: str
    params: dict[str, Any]


def _build(q: AvailabilityQuery, output: str = "all") -> _Built:
    """The SQL of a query; ``output`` (a key of :data:`OUTPUT_SHAPES`) trims the final columns.

    For ``geojson`` the numeric columns come as float8 (what the JSON carries anyway: the
    cast rounds the decimal exactly as ``float(Decimal)`` does), so that no Decimal is built.

    Long because it is one template filled once: the page, count and estimate share the
    fragments (joins, where, forms) built here, and splitting further would pass them all.
    """
    shapes = OUTPUT_SHAPES[output]
    params: dict[str, Any] = {
        "statuses": list(q.statuses),
        "limit": q.limit,
        "offset": q.offset,
        "yuan_per_m3": earthwork_rate(q),
        "as_of": q.as_of or lifecycle.park_today(),
    }
    attr = _attribute_conditions(q, params)
    where = [c.format(a="p") for c in attr]
    q_attr = "".join("\n                   AND " + c.format(a="q") for c in attr)
    for cat in DISTANCES:
        params[f"acat_{cat}"] = cat
    key, sort_cat, direction = _order(q)
    cats = list(DISTANCES) + (["role"] if q.near_role is not None else [])
    reach, form = _distance_forms(q, params, sort_cat)
    near = [c for c in form if form[c] == "near"]
    if near:
        # A near set holds only parcels meeting the conditions on their own columns, with the
        # columns the page needs: it is the base of the page (no second scan of parcels).
        where = where[len(attr) :] or ["true"]

    def near_sql(cat: str, cols: str) -> str:
        return NEAR_ACCESS_SQL.format(acat=f"acat_{cat}", d=reach[cat], q_attr=q_attr, cols=cols)

    dist = {c: f"n_{c}.m" for c in cats}
    if near:
        from_ = near_sql(near[0], NEAR_BASE_COLUMNS) + " p"
        dist[near[0]] = "p.m"
    else:
        from_ = "parcels p"

    def page_join(cat: str) -> str:
        if form[cat] == "knn":
            return _nearest_join(cat, "p")
        if form[cat] == "within" or cat == near[0]:
            return ""
        return f"JOIN {near_sql(cat, 'q.id')} n_{cat} ON n_{cat}.id = p.id"

    reach_join = []
    for cat, param in reach.items():
        if form[cat] != "within":
            continue
        probe = WITHIN_ACCESS_SQL.format(acat=f"acat_{cat}", d=param)
        if cat in DISTANCES:
            where.append(REACH_ACCESS_SQL.format(cat=cat, d=param, probe=probe))
            reach_join = [REACH_JOIN_SQL]
        else:
            where.append(probe)
    terrain_filters = [name for name in TERRAIN_FILTERS_SQL if getattr(q, name) is not None]
    for name in terrain_filters:
        params[name] = float(getattr(q, name))
        where.append(TERRAIN_FILTERS_SQL[name])
    terrain_join = (
        TERRAIN_JOIN_SQL
        if terrain_filters
        else TERRAIN_LEFT_JOIN_SQL
        if key in TERRAIN_SORTS
        else ""
    )
    measured = [c for c in form if form[c] != "within"]  # distances known in the page
    where_sql = "\n       AND ".join(where)
    sort_expr = (
        dist[sort_cat]
        if sort_cat
        else TERRAIN_SORTS[key]
        if key in TERRAIN_SORTS
        else f"p.{SORTS[key]}"
    )
    # A near-based page has every match in hand before it sorts: counting them costs nothing —
    # unless it is sorted by that very distance, when the store's (category, distance) index
    # gives the order and the page stops after its rows; the total is then counted (or, at
    # province scale, estimated) like any other (at 10^6: 134 -> ~10 ms for "within 1.5 km of a
    # can maker, nearest first", where 26 000 parcels lie within reach).
    counted = bool(near) and sort_cat != near[0]
    page = SEARCH_SQL_TEMPLATE.format(
        total=", count(*) OVER () AS total" if counted else "",
        final_total=",\n       g.total AS number_matched" if counted else "",
        from_=from_,
        sort_expr=sort_expr,
        direction=direction,
        tiebreak="" if sort_expr == "p.code" else ", p.code",
        page_dist="".join(f", {dist[c]} AS dist_{c}_m" for c in measured),
        page_joins="\n      ".join(
            reach_join
            + [j for c in form if (j := page_join(c))]
            + ([terrain_join] if terrain_join else [])
        ),
        where=where_sql,
        dist_columns=",\n       ".join(
            f"g.dist_{c}_m" if c in measured else f"n_{c}.m AS dist_{c}_m" for c in cats
        ),
        final_joins="\n  ".join(
            [svc_join("h", "hs")]
            + [_nearest_join(c, "h") for c in cats if c not in measured]
            + ([LONLAT_JOIN_SQL] if "lonlat" in shapes else [])
        ),
        num="::float8" if output == "geojson" else "",
        svc_columns=",\n       ".join(
            f"{svc_sql(s, '%(as_of)s', 'h', 'hs')} AS svc_{s}" for s in SERVICES
        ),
        shape_columns="".join(SHAPE_COLUMNS_SQL[k] for k in shapes),
    )
    # The count needs only the filtering joins.
    joins = "\n      ".join(
        reach_join
        + [j for c in form if c in reach and (j := page_join(c))]
        + ([TERRAIN_JOIN_SQL] if terrain_filters else [])
    )
    return _Built(
        page,
        COUNT_SQL_TEMPLATE.format(from_=from_, joins=joins, where=where_sql),
        ESTIMATE_SQL_TEMPLATE.format(from_=from_, joins=joins, where=where_sql),
        params,
    )


def _attribute_conditions(q: AvailabilityQuery, params: dict[str, Any]) -> list[str]:
    """Conditions on the parcel's own columns, as templates on the alias {a}: they filter the
    candidates (p) and, repeated inside a "near" set (q), keep that set small."""
    attr = ["{a}.status = ANY(%(statuses)s)", "{a}.status <> 'historic'"]
    if q.zones:
        attr.append("{a}.zone_code = ANY(%(zones)s)")
        params["zones"] = list(q.zones)
    if q.landuse:
        # prefixes are digits only (validated), so LIKE has no wildcard to escape
        attr.append("{a}.landuse_code LIKE ANY(%(landuse_like)s)")
        params["landuse_like"] = [f"{lu}%" for lu in q.landuse]
    if q.min_mu is not None:
        attr.append("{a}.area_mu >= %(min_mu)s")
        params["min_mu"] = q.min_mu
    if q.max_mu is not None:
        attr.append("{a}.area_mu <= %(max_mu)s")
        params["max_mu"] = q.max_mu
    for s in q.services:
        attr.append(svc_filter_sql(s, "%(as_of)s", "{a}"))  # s is one of SERVICES (validated)
    for i, (dest, minutes) in enumerate(sorted(q.max_drive_min.items())):
        # parcel_access (migration 0012, parkgis.geo.network): no route, no match
        attr.append(
            "EXISTS (SELECT 1 FROM parcel_access pa WHERE pa.parcel_code = {a}.code"
            f" AND pa.dest = %(drive_dest_{i})s AND pa.drive_s <= %(drive_s_{i})s)"
        )
        params[f"drive_dest_{i}"] = dest
        params[f"drive_s_{i}"] = minutes * 60.0
    return attr


def _order(q: AvailabilityQuery) -> tuple[str, str | None, str]:
    """The sort key, the distance category sorted by (if any) and the SQL direction."""
    key = q.sort.removeprefix("-")
    desc = q.sort.startswith("-")
    # Missing values sort last; on NOT NULL columns plain ASC/DESC, so that an index (forward
    # or backward) can deliver the order and the scan stop at the end of the page.
    if key.startswith("dist_") or SORTS[key] in NULLABLE_SORTS:
        direction = " DESC NULLS LAST" if desc else " ASC NULLS LAST"
    else:
        direction = " DESC" if desc else " ASC"
    sort_cat = key.removeprefix("dist_") if key.startswith("dist_") else None
    return key, sort_cat, direction


def _distance_forms(
    q: AvailabilityQuery,
    params: dict[str, Any],
    sort_cat: str | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Per distance category: the bind parameter of its maximum (``reach``) and the form it
    is measured in in the page query (``near``/``within``/``knn``, see the notes above)."""
    reach: dict[str, str] = {}  # category -> bind parameter of its maximum distance
    for cat, d in q.max_dist.items():
        params[f"max_{cat}"] = d
        reach[cat] = f"max_{cat}"
    if q.near_role is not None:
        params["near_role"] = q.near_role
        params["acat_role"] = f"role:{q.near_role}"
        params["near_role_m"] = q.near_role_m
        reach["role"] = "near_role_m"
    form: dict[str, str] = {}
    for cat, param in reach.items():
        short = params[param] <= NEAR_REACH_M.get(cat, -1.0)
        form[cat] = "near" if short or cat == sort_cat else "within"
    if sort_cat and sort_cat not in form:
        form[sort_cat] = "knn"
    return reach, form


def earthwork_rate(q: AvailabilityQuery) -> float:
    """The earthwork rate (元/m³) of a query: its own — an entry point fills it from its
    settings (``settings.earthwork``) — else the product default; the core reads no global
    settings."""
    return float(q.yuan_per_m3 if q.yuan_per_m3 is not None else EarthworkSettings().yuan_per_m3)


def build_sql(q: AvailabilityQuery) -> tuple[str, dict[str, Any]]:
    """The SQL text of the page and its bind parameters (one builder for every caller).

    Returns
    -------
    tuple of (str, dict)
    """
    b = _build(q)
    return b.page, b.params


def _nearest_join(cat: str, alias: str) -> str:
    return NEAREST_ACCESS_SQL.format(acat=f"acat_{cat}", cat=cat, a=alias)


@dataclass
class SearchResult:
    """Rows of one page, the total number matched and the query that made them.

    ``exact`` is false when ``number_matched`` is the planner's estimate (see :func:`search`).
    """

    query: AvailabilityQuery
    rows: list[dict[str, Any]]
    number_matched: int
    exact: bool = True


def check_terrain(conn: psycopg.Connection, q: AvailabilityQuery) -> None:
    """Refuse terrain filters that no loaded raster can answer.

    Raises
    ------
    TerrainNotLoaded
        A slope or earthwork filter without an active DEM, a flood filter without an active
        flood raster.
    """
    need = q.rasters_needed()
    if not need:
        return
    cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
    missing = need - {r[0] for r in cur.execute(ACTIVE_RASTER_KINDS_SQL)}
    if "dem" in missing:
        raise TerrainNotLoaded(
            "尚未加载地形数据，无法按坡度或土方筛选：请先运行 parkgis terrain load / no terrain "
            "loaded (no DEM): run parkgis terrain load",
            missing=sorted(missing),
        )
    if "flood" in missing:
        raise TerrainNotLoaded(
            "尚未加载洪涝数据，无法按易涝比例筛选：请运行 parkgis terrain load DEM --flood "
            "FLOOD / no flood raster loaded: run parkgis terrain load DEM --flood FLOOD",
            missing=sorted(missing),
        )


def expire_lapsed(conn: psycopg.Connection, now: datetime | None = None) -> list[str]:
    """Return lapsed reservations to ``available`` before a search; the codes expired.

    Cheap when nothing lapsed (one probe of a partial index, no write). The expiry itself is
    :func:`parkgis.land.lifecycle.expire_reservations` (audited: one ``expire`` event per parcel).
    It
    runs in its own transaction (a savepoint when the caller is in one), and never fails the
    search: a read-only connection, a lock or any database refusal is logged and the search
    goes on with the statuses as stored.
    """
    try:
        with conn.transaction():
            cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
            if cur.execute(LAPSED_SQL, {"today": lifecycle.park_today(now)}).fetchone() is None:
                return []
            return lifecycle.expire_reservations(conn, now)
    except psycopg.Error as exc:
        log.warning("lapsed reservations not expired before a search / 预留到期未能释放: %s", exc)
        return []


def search(
    conn: psycopg.Connection,
    q: AvailabilityQuery,
    exact_max: int | None = None,
    expire: bool = True,
    now: datetime | None = None,
    output: str = "all",
) -> SearchResult:
    """Run an availability search.

    Parameters
    ----------
    conn : psycopg.Connection
    q : AvailabilityQuery
    exact_max : int, optional
        How the total is found: when the page is not full it is offset + rows (exact, free);
        otherwise it is counted, unless the parcels table holds more than ``exact_max`` rows
        (province scale), where it is the planner's estimate — never below what is known to
        match — and ``exact`` is false. ``None`` (CLI, tests): always exact.
    expire : bool, default True
        Expire lapsed reservations first (:func:`expire_lapsed`).
    now : datetime, optional
        The clock for expiry (tests); default now.
    output : {"all", "geojson", "csv", "gpkg"}, default "all"
        The writer the rows are for: each reads only its shape columns (``geometry`` for
        GeoJSON and GeoPackage, ``lon``/``lat`` for CSV; "all": both), and for "geojson" the
        decimal columns are floats (see :func:`to_geojson_bytes`).

    Returns
    -------
    SearchResult

    Raises
    ------
    TerrainNotLoaded
        A terrain filter while the raster it needs is not loaded (nothing is expired then).
    """
    check_terrain(conn, q)
    if expire:
        expire_lapsed(conn, now)
    b = _build(q, output)
    with _latency_settings(conn):
        return _page_and_total(conn, q, b, exact_max)


@contextmanager
def _latency_settings(conn: psycopg.Connection) -> Iterator[None]:
    """Settings for a latency query (a page of 100 rows) for what runs inside.

    * No parallel workers: on a few cores a worker's start (16 ms at 10^6 for a zone sorted
      by rail distance, against 4 ms of work) costs more than it saves, and under load the
      workers only queue.
    * Joins in the order written (``join_collapse_limit = 1``): the SQL already finds the
      page first and joins its rows back, and searching the orders of a dozen joins took
      4.2-4.7 ms of planning per statement at 10^6 against 1.0-1.3 ms, with the same plans'
      execution times (all eight shapes of bench/search.py, 2026-12-03).
    * Nested loops only (no hash or merge join): a page stops after its rows, walking an index
      in the sort's order and probing the other side. The planner costs the reach row's test
      (:data:`REACH_ACCESS_SQL`) as if its probe always ran, and at 10^6 hashed 130 000 reach
      rows for "a zone, water within 1 km" (108-135 ms, nested loops 7 ms) or merge-scanned
      37 000 parcels for "water and gas within 1 km" (85 ms, nested loops 9-15 ms); the other
      eleven shapes tried were the same or faster. An exact count restores the server's join
      methods (:data:`COUNT_SETTINGS_SQL`): it reads every match.

    The settings are local to the transaction: the caller's own (the API's request), or one
    opened here on an autocommit connection (CLI, bench) — no savepoint, whose round trips
    would cost every search two more and end no sooner than the caller's transaction
    anyway."""
    if conn.autocommit:
        with conn.transaction():
            conn.execute(LATENCY_SETTINGS_SQL)
            yield
    else:
        conn.execute(LATENCY_SETTINGS_SQL)
        yield


def _page_and_total(
    conn: psycopg.Connection, q: AvailabilityQuery, b: _Built, exact_max: int | None
) -> SearchResult:
    rows = conn.cursor(row_factory=psycopg.rows.dict_row).execute(b.page, b.params).fetchall()
    known = q.offset + len(rows)
    if rows and "number_matched" in rows[0]:
        total = int(rows[0]["number_matched"])
        for r in rows:
            del r["number_matched"]
        return SearchResult(q, rows, total)
    if (rows and len(rows) < q.limit) or (not rows and q.offset == 0):
        return SearchResult(q, rows, known)
    tup = conn.cursor(row_factory=psycopg.rows.tuple_row)
    if exact_max is not None:
        reltuples = int(tup.execute(RELTUPLES_SQL).fetchone()[0])
        if reltuples > exact_max:
            plan = tup.execute(b.estimate, b.params).fetchone()[0]
            estimate = int(plan[0]["Plan"].get("Plan Rows", 0))
            return SearchResult(q, rows, max(estimate, known), False)
    tup.execute(COUNT_SETTINGS_SQL)
    return SearchResult(q, rows, int(tup.execute(b.count, b.params).fetchone()[0]))


def explain(conn: psycopg.Connection, q: AvailabilityQuery, analyze: bool = True) -> str:
    """The query plan of the page (for benchmarks: shows which indexes are used)."""
    text, params = build_sql(q)
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if analyze else "EXPLAIN "
    with _latency_settings(conn):  # as search() runs it
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
    *[
        (f"dist_{c}_m", f"距{zh}（米）", f"Distance to {en} (m)")
        for c, (_p, _k, zh, en) in DISTANCES.items()
    ],
    ("elev_mean_m", "平均高程（米）", "Mean elevation (m)"),
    ("slope_mean_deg", "平均坡度（度）", "Mean slope (deg)"),
    ("slope_max_deg", "最大坡度（度）", "Max slope (deg)"),
    ("flood_share", "易涝面积比例", "Flood-prone share"),
    ("earthwork_m3", "场地平整土方（立方米，挖方+填方）", "Levelling earthwork (m3, cut + fill)"),
    ("earthwork_wan", "场地平整费用（万元）", "Levelling cost (10k CNY)"),
]
ROLE_COLUMN = ("dist_role_m", "距产业链企业（米）", "Distance to chain-role enterprise (m)")
LONLAT_COLUMNS = [("lon", "经度", "Longitude"), ("lat", "纬度", "Latitude")]


def _columns(result: SearchResult) -> list[tuple[str, str, str]]:
    cols = list(COLUMNS)
    if result.query.near_role is not None:
        cols.append(ROLE_COLUMN)
    return cols


def _collection(result: SearchResult, features: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "numberMatched": result.number_matched,
        "numberReturned": len(features),
        "features": features,
    }
    if not result.exact:
        out["numberMatchedEstimated"] = True
    # the rate behind every earthwork_wan of the page
    out["earthworkYuanPerM3"] = earthwork_rate(result.query)
    return out


def to_geojson(result: SearchResult) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4490 lon/lat, treated as CRS84)."""
    cols = _columns(result)
    return _collection(
        result,
        [
            {
                "type": "Feature",
                "id": r["code"],
                "properties": {c: jsonable(r.get(c)) for c, _zh, _en in cols},
                "geometry": json.loads(r["geometry"]),
            }
            for r in result.rows
        ],
    )


def to_geojson_bytes(result: SearchResult) -> bytes:
    """:func:`to_geojson`, encoded: the same document, written without a parse of the geometry.

    The geometry text of PostGIS goes into the output as it is (``orjson.Fragment``), and the
    properties are the row's values as read (with ``output="geojson"`` the decimals already
    are floats, the same doubles ``float(Decimal)`` gives; any Decimal left is converted).
    """
    names = [c for c, _zh, _en in _columns(result)]
    return orjson.dumps(
        _collection(
            result,
            [
                {
                    "type": "Feature",
                    "id": r["code"],
                    "properties": {c: r.get(c) for c in names},
                    "geometry": orjson.Fragment(r["geometry"]),
                }
                for r in result.rows
            ],
        ),
        default=jsonable,
    )


def to_csv(result: SearchResult) -> bytes:
    """CSV in UTF-8 with a BOM (so Excel reads the Chinese), headers "中文 English"."""
    from parkgis.cells import formula_safe

    cols = _columns(result) + LONLAT_COLUMNS
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([f"{zh} {en}" for _c, zh, en in cols])
    for r in result.rows:
        w.writerow(
            ["" if r.get(c) is None else formula_safe(jsonable(r.get(c))) for c, _zh, _en in cols]
        )
    return buf.getvalue().encode("utf-8-sig")


def to_gpkg(result: SearchResult, layer: str = "available_parcels") -> bytes:
    """A GeoPackage (EPSG:4490) with one layer of the page's parcels."""
    import geopandas as gpd
    import shapely

    cols = _columns(result)
    data = {c: [jsonable(r.get(c)) for r in result.rows] for c, _zh, _en in cols}
    geoms = [shapely.from_geojson(r["geometry"]) for r in result.rows]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4490")
    fd, path = tempfile.mkstemp(suffix=".gpkg")
    os.close(fd)
    os.unlink(path)  # let GDAL create it
    try:
        gdf.to_file(
            path, layer=layer, driver="GPKG", engine="pyogrio", geometry_type="MultiPolygon"
        )
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)
