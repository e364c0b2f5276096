"""Where a prospective project fits: hard constraints, weighted criteria, footprint, assembly.

A site is one available parcel or a group of 2–3 adjacent ones (:mod:`parkgis.siting.assembly`).
Every site is checked against the project's *hard constraints*; a site passing all of them is a
match and is scored 0–100 over weighted *criteria*; a site failing exactly one is a *near miss*,
named with that constraint. Every figure is computed in the zone's Gauss–Krüger projection.

Hard constraints (each applies only when the project states the requirement):

===============  =====================================================================
``available``    parcel status ``available`` — or reserved/listed *for this project*;
                 parcels reserved or listed for another project appear only as near misses
``area``         site area within ``min_area_mu`` … ``max_area_mu``
``landuse``      parcel land-use code starts with one of ``landuse_codes``
``footprint``    an L × W rectangle fits inside the site at some rotation
                 (:mod:`parkgis.siting.footprint`, tolerance 0.1 m)
``rail``         rail access within ``max_rail_m`` (``rail_required`` without a distance:
                 500 m, a siding's reach): a siding or freight station in service on the
                 date judged, never a main line (:data:`parkgis.siting.search.RAIL_ACCESS_KINDS`,
                 the same definition as search, the sheet and the brief)
``trunk_road``   a trunk or national road within ``max_trunk_road_m``
``sensitive``    with a ``hazard_class``: no sensitive use (residential 07, education 0804,
                 health 0806, welfare 0807 land) within ``min_sensitive_m``
``power``        a substation in reach with spare capacity ≥ ``power_kva``
``water``        a water plant in reach with spare capacity ≥ ``water_tpd``
``wastewater``   a wastewater plant in reach with spare capacity ≥ ``wastewater_tpd``
``slope``        mean slope ≤ ``max_slope_deg`` (``parcel_terrain.slope_mean_deg``; the
                 steepest cell is quoted, not tested: one ditch does not rule out a site
                 that is levelled anyway; skipped without terrain data)
``flood``        flood-prone share ≤ ``max_flood_share`` (skipped without terrain data)
``budget``       land cost (benchmark price × area) ≤ ``land_budget_wan``
===============  =====================================================================

Terrain also feeds two criteria: ``terrain`` (mean slope, flood share) and ``earthwork``, the
cost of levelling the site flat — (cut + fill) m³ from ``parcel_terrain`` × the setting
``earthwork_yuan_per_m3`` — scored 100 at nothing to move down to 0 at
:data:`EARTHWORK_ZERO_WAN_PER_MU`. A group's earthwork is the sum of its members' (each
levelled on its own: a lower bound).

Speed. :func:`match` does not build every candidate: status, area and land use are checked in
SQL (a parcel failing two of them can be neither a match nor a near miss), the other hard
constraints are evaluated vectorised, stage by stage, measuring distances only for parcels
still in play, and only the survivors — plus the members of groups that can still be listed —
become :class:`Site` records. Ranking singles, a first pass reads only what can be a match; the
near misses' full read happens only when the matches' footprint failures leave room in the
near-miss list (the ranking is the same either way). Assembly reads adjacency from
its store (``parcel_adjacency``, :mod:`parkgis.siting.assembly`), forms the groups of a pool
read in SQL before any site is built (in numpy), screens out those that surely fail two
constraints (:func:`_sure_failures`) and builds sites only for the parcels of the others;
it unions a group's geometry only when its footprint is tested. Servicing (七通一平 on the
date, eight index probes a parcel) and drive times (unless the project limits
them) are read for the kept sites only, not for every candidate row.

Assembly scope. Groups are looked for in every zone by default; ``assembly_zones`` narrows
them to some zones (a county's parks, say) — at a province's 10^6 parcels the default costs
3.5–3.8 s, a county's 3 zones 0.5–1.5 s (the target is 5 s). Singles are ranked everywhere
either way, and the body's ``assembly`` states which applied.

The drawn footprint. The footprint verdict holds within 0.1 m; the rectangle returned and
served is moved (or, fitting only within the tolerance, pulled in) to lie inside the site
with 5 mm to spare (:func:`parkgis.siting.footprint.drawn`), so it stays inside after the
transform to lon/lat and the 1e-8° rounding.

The date. A project is judged on its start date, or on the date asked (``as_of``, default
today) when the start date is earlier or unknown (:func:`judged_on`): infrastructure,
七通一平 and capacity are what is in service then (``infra_as_of``/``svc_as_of``, migration
0011). A completed upgrade counts from its finish date; a planned or under-way one never
does, whatever its dates promise — it is named in the reasons as not counted.

Capacity (one rule). A demand may be served by any facility of its kind whose reach holds the
site — its ``service_area`` if the data gives one, else its ``service_radius_m``, else
:data:`DEFAULT_REACH_M` — and is served by the nearest such facility with enough spare
capacity (:func:`_choose`); with none, the nearest in reach (the site fails on capacity), or
the site fails for lying out of every reach. The reason names the facility used and a nearer
one passed over. A facility's capacity on the date = its registered capacity (if in service:
``existing``, or built by an upgrade completed by then; an unlinked upgrade standing on a
planned facility of its kind builds it) + capacity upgrades completed by then. Spare capacity
= that − the draws of other projects that hold parcels (status reserved, listed, allocated,
under construction or operational with a ``project_code``); a project's draw, from its
largest held parcel, is attributed by the same rule. Assumed: resident enterprises without a
project record draw nothing we can count (no load figures are registered for them); kVA and
MVA are converted 1000:1, MW as MVA (pf ≈ 1), m³/d as t/d.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg.rows import dict_row, tuple_row
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from parkgis.db.collections import svc_join, svc_sql
from parkgis.errors import InvalidInput, NotFound
from parkgis.settings import SitingSettings
from parkgis.siting import assembly
from parkgis.siting.footprint import (
    FitTimeout,
    Placement,
    close_gaps,
    closed_bounds,
    drawn,
    fit_rectangle,
    too_long_for,
)
from parkgis.siting.search import RAIL_ACCESS_KINDS
from parkgis.vocabulary import DISTANCES, PUBLIC_PROJECT_FIELDS, SERVICES

MU_M2 = 10000.0 / 15.0

#: Default criterion weights; ``projects.weights`` overrides any of them by name.
DEFAULT_WEIGHTS: dict[str, float] = {
    "area_fit": 10,
    "power": 15,
    "water": 8,
    "wastewater": 7,
    "rail": 10,
    "road": 10,
    "chain": 15,
    "servicing": 10,
    "cost": 10,
    "terrain": 5,
    "earthwork": 5,
    "shape": 5,
    "gas": 5,
    "assembly": 5,
}
#: Levelling cost (wan yuan per mu) at which the earthwork criterion scores 0.
EARTHWORK_ZERO_WAN_PER_MU = 5.0

ROAD_KINDS = ("trunk_road", "national_road")
GAS_KINDS = ("gas_main", "gas_station")
FACILITY = {"power": "substation", "water": "water_plant", "wastewater": "wastewater_plant"}
SENSITIVE_LANDUSE = r"^(07|0804|0806|0807)"
DEFAULT_RAIL_M = 500.0
CHAIN_RADIUS_M = 3000.0
#: An upgrade without ``infra_code`` this close to a planned facility of its kind builds it.
BUILDS_WITHIN_M = 300.0
#: Reach (m) of a facility whose row gives neither ``service_radius_m`` nor ``service_area``:
#: a 110 kV substation feeds 10 kV lines of up to ~10 km in a plain county; a water or
#: wastewater plant serves its town's network, ~20 km across.
DEFAULT_REACH_M: dict[str, float] = {
    "substation": 10_000.0,
    "water_plant": 20_000.0,
    "wastewater_plant": 20_000.0,
}
HOLDING_STATUSES = ("reserved", "listed", "allocated", "under_construction", "operational")
KIND_ZH = {"substation": "变电站", "water_plant": "水厂", "wastewater_plant": "污水处理厂"}
UNIT = {"power": ("kVA", "kVA"), "water": ("吨/日", "t/d"), "wastewater": ("吨/日", "t/d")}
NEED = {"power": "power_kva", "water": "water_tpd", "wastewater": "wastewater_tpd"}
HARD_ZH = {
    "available": "可供应状态",
    "area": "面积",
    "landuse": "用地性质",
    "footprint": "厂房尺寸",
    "rail": "铁路专用线",
    "trunk_road": "干线公路",
    "sensitive": "卫生防护距离",
    "power": "供电容量",
    "water": "供水容量",
    "wastewater": "污水处理容量",
    "slope": "坡度",
    "flood": "洪涝",
    "budget": "土地费用",
    "drive_interchange": "到高速互通车程",
    "drive_rail_yard": "到货运站车程",
}
DRIVE_DEST_TEXT = {
    "interchange": ("高速互通立交", "expressway interchange"),
    "rail_yard": ("公铁物流园货运站", "rail freight yard"),
}
#: "Drive time to X <= N minutes" requirements -> parcel_access destination (parkgis.geo.network).
DRIVE_FIELDS: dict[str, str] = {
    "max_drive_min_interchange": "interchange",
    "max_drive_min_rail_yard": "rail_yard",
}

# --------------------------------------------------------------------------- requirement

REQUIREMENT_FIELDS = (
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
    "max_slope_deg",
    "max_flood_share",
    "weights",
    *DRIVE_FIELDS,
)
#: Fields shown in the ``project`` member of a match result: the one allow-list of
#: :mod:`parkgis.promotion.projects` (no budget, investment or tax figures, no weights), read
#: from :mod:`parkgis.vocabulary` because promotion's review imports this module.
PUBLIC_REQUIREMENT_FIELDS = tuple(f for f in REQUIREMENT_FIELDS if f in PUBLIC_PROJECT_FIELDS)


@dataclass
class Requirement:
    """What a project asks of a site (the requirement columns of ``projects``)."""

    code: str | None = None
    name_zh: str = "临时需求"
    name_en: str = "ad-hoc requirement"
    industry: str | None = None
    chain_role: str | None = None
    stage: str | None = None
    min_area_mu: float | None = None
    max_area_mu: float | None = None
    footprint_length_m: float | None = None
    footprint_width_m: float | None = None
    landuse_codes: list[str] = field(default_factory=list)
    power_kva: float | None = None
    water_tpd: float | None = None
    wastewater_tpd: float | None = None
    gas_m3pd: float | None = None
    rail_required: bool = False
    max_rail_m: float | None = None
    max_trunk_road_m: float | None = None
    hazard_class: str | None = None
    min_sensitive_m: float | None = None
    preferred_neighbours: list[str] = field(default_factory=list)
    start_date: dt.date | None = None
    land_budget_wan: float | None = None
    investment_wan: float | None = None
    expected_tax_wan: float | None = None
    max_slope_deg: float | None = None
    max_flood_share: float | None = None
    weights: dict[str, float] = field(default_factory=dict)
    #: drive time on the road network (minutes), see DRIVE_FIELDS
    max_drive_min_interchange: float | None = None
    max_drive_min_rail_yard: float | None = None

    def __post_init__(self) -> None:
        for f in REQUIREMENT_FIELDS:
            v = getattr(self, f)
            if isinstance(v, Decimal):
                setattr(self, f, float(v))
        if (
            self.min_area_mu is not None
            and self.max_area_mu is not None
            and self.max_area_mu < self.min_area_mu
        ):
            raise InvalidInput("max_area_mu < min_area_mu / 最大面积小于最小面积")
        if (self.footprint_length_m is None) != (self.footprint_width_m is None):
            raise InvalidInput("footprint needs both length and width / 厂房尺寸需同时给出长和宽")
        bad = [c for c in self.landuse_codes if not str(c).isdigit()]
        if bad:
            raise InvalidInput(f"landuse_codes must be digit prefixes: {bad}")

    @property
    def rail_limit_m(self) -> float | None:
        if self.max_rail_m is not None:
            return float(self.max_rail_m)
        return DEFAULT_RAIL_M if self.rail_required else None

    def public(self) -> dict[str, Any]:
        out = {}
        for f in PUBLIC_REQUIREMENT_FIELDS:
            v = getattr(self, f)
            out[f] = v.isoformat() if isinstance(v, dt.date) else v
        return out


PROJECT_SQL = "SELECT * FROM projects WHERE code = %s"


def load_requirement(conn: psycopg.Connection, code: str) -> Requirement:
    """The requirement of a stored project; :class:`NotFound` if there is no such code."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(PROJECT_SQL, (code,)).fetchone()
    if row is None:
        raise NotFound(f"项目 {code} 不存在 / no project {code}")
    return Requirement(**{f: row[f] for f in REQUIREMENT_FIELDS if f in row and row[f] is not None})


# --------------------------------------------------------------------------- data access


def _near_sql(cats: Sequence[str]) -> str:
    """The ids of the parcels that can lie within ``%(<cat>_t)s`` metres (GK) of a feature of
    each of the store's categories ``cats`` on some date: a superset, never a miss.

    For the parcel's own GK zone the store decides: the final distance of ``parcel_reach``
    (a lower bound for every date, over kinds that include fit's) within every bound. A
    feature of another zone, which the store does not measure, brings in every parcel of
    another zone within its box widened by the bound in degrees (the (gk_srid, geom) index of
    migration 0018 finds them). The widening is safe: a GK distance (CGCS2000 3-degree zones,
    EPSG:4534-4554 by the parcels' CHECK, central scale factor 1, so >= 1 everywhere) is
    never shorter than the geodesic one, a degree of latitude is >= 110 km, one of longitude
    >= 111 km * cos(latitude) on the ellipsoid, and a path of length t changes the latitude
    by at most t / 110 km.
    """
    own = " AND ".join(_near_own_sql(c) for c in cats)
    parts = [f"SELECT r.parcel_id FROM parcel_reach r WHERE {own}"]
    parts += [_near_other_zone_sql(c) for c in cats]
    return "\nUNION\n".join(parts)


def _near_own_sql(c: str) -> str:
    """Whether the ``parcel_reach`` row ``r`` can lie within ``%(<c>_t)s`` metres of a feature
    of category ``c`` of the parcel's own GK zone (:func:`_near_sql`); NULL without a row.

    >>> _near_own_sql("rail")
    'r.rail_m <= %(rail_t)s'
    """
    return f"r.{c}_m <= %({c}_t)s"


def _near_other_zone_sql(c: str) -> str:
    """The ids of the parcels of another GK zone than a feature of category ``c``, within
    the feature's box widened by ``%(<c>_t)s`` metres (:func:`_near_sql`)."""
    dlat = f"%({c}_t)s / 110000.0"
    dlon = (
        f"%({c}_t)s / (111000.0 * cos(radians(least(89.0, greatest(abs(ST_YMin(x.geom)),"
        f" abs(ST_YMax(x.geom))) + {dlat}))))"
    )
    return "\nUNION\n".join(
        f"SELECT p.id FROM {table} x JOIN parcels p ON p.gk_srid <> x.gk_srid"
        f" AND p.geom && ST_Expand(x.geom, {dlon}, {dlat})"
        f" WHERE x.kind = ANY(%({c}_kinds)s)"
        for table in ("infrastructure", "upgrades")
    )


CANDIDATES_SQL = """
SELECT c.code, c.zone_code, c.status, c.project_code, c.reserved_until, c.landuse_code,
       c.area_m2, c.gk_srid, c.land_price_wan_per_mu, c.status_ok,
       c.landuse_ok, c.area_ok, t.slope_mean_deg, t.slope_max_deg,
       t.flood_share, t.earthwork_cut_m3, t.earthwork_fill_m3, ST_AsBinary(c.geom_gk) AS wkb,
       -- drive times decide a hard constraint only when the project sets a limit;
       -- otherwise they are read with the servicing, for the kept sites only
       CASE WHEN %(drive)s THEN (SELECT a.drive_s / 60.0 FROM parcel_access a
         WHERE a.parcel_code = c.code AND a.dest = 'interchange') END AS drive_min_interchange,
       CASE WHEN %(drive)s THEN (SELECT a.drive_s / 60.0 FROM parcel_access a
         WHERE a.parcel_code = c.code AND a.dest = 'rail_yard') END AS drive_min_rail_yard
  FROM (
    SELECT c.* FROM (
        SELECT p.code, p.zone_code, p.status, p.project_code, p.reserved_until,
               p.landuse_code, p.area_m2, p.gk_srid, p.land_price_wan_per_mu, p.geom_gk,
               -- The three hard constraints decidable from the row alone; a site failing two
               -- of them is neither a match nor a near miss (nor usable in an assembled group).
               (p.status = 'available' OR COALESCE(p.project_code = %(project)s, false))
                   AS status_ok,
               (%(lu_any)s OR p.landuse_code LIKE ANY(%(lu_like)s::text[])) AS landuse_ok,
               ((%(min_m2)s::float8 IS NULL OR p.area_m2 >= %(min_m2)s)
                AND (%(max_m2)s::float8 IS NULL OR p.area_m2 <= %(max_m2)s)) AS area_ok
          FROM parcels p
         WHERE p.status IN ('available', 'reserved', 'listed')
           AND (%(codes)s::text[] IS NULL OR p.code = ANY(%(codes)s))
           AND (%(zones)s::text[] IS NULL OR p.zone_code = ANY(%(zones)s))
           -- the band below as a plain range the area index can serve (:func:`_area_range`)
           AND (%(area_lo)s::float8 IS NULL OR p.area_m2 >= %(area_lo)s)
           AND (%(area_hi)s::float8 IS NULL OR p.area_m2 <= %(area_hi)s)
           -- near every distance bound (:func:`_near_sql`), when a gap bound sets one
           AND (%(ids)s::bigint[] IS NULL OR p.id = ANY(%(ids)s))
           -- Below the band only where no group may use the parcel: outside the zones
           -- assembly is narrowed to, a small parcel is a far near miss on area only.
           AND (COALESCE(p.area_m2 < CASE WHEN %(pool_zones)s::text[] IS NULL
                                           OR p.zone_code = ANY(%(pool_zones)s)
                                          THEN %(band_lo)s::float8
                                          ELSE %(band_lo_out)s::float8 END, false)
                OR (%(band_hi)s::float8 IS NOT NULL AND p.area_m2 > %(band_hi)s))
               = %(outside)s
    ) c
     WHERE NOT %(prune)s
        OR (NOT status_ok)::int + (NOT landuse_ok)::int + (NOT area_ok)::int <= 1
  ) c
  LEFT JOIN parcel_terrain t ON t.parcel_code = c.code
 -- A first pass reads only the parcels that can be a match (status, land use and area right)
 -- or, with assembly, a group member (status and land use right).
 WHERE (NOT %(first)s
        OR COALESCE(c.status_ok AND c.landuse_ok
                    AND (c.area_ok OR (%(assemble)s AND (%(pool_zones)s::text[] IS NULL
                                                         OR c.zone_code = ANY(%(pool_zones)s)))),
                    false))
   -- With a gap bound (no group member read), a failure whose gap exceeds it is never
   -- listed: status and land use fail by fixed gaps (rail and road: ``ids``).
   AND (%(status_fails)s OR c.status_ok)
   AND (%(landuse_fails)s OR c.landuse_ok)
 ORDER BY c.code
"""

#: The projection facilities are read in (then transformed into each candidate's): the
#: store's first, whatever the project's candidates, so every read of one match agrees.
FACILITY_SRID_SQL = "SELECT coalesce(min(gk_srid), 4547) FROM zones"

#: 七通一平 in service on the date judged (svc_as_of, migration 0011, read from its store
#: parcel_services, migration 0014): measured only for the sites kept after pruning (at 10^6
#: the candidate read has ~10^5 rows, the kept sites ~10^3–10^4), never in the candidate read.
SERVICING_SQL = (
    """
SELECT p.code,
       ({svc_sum}) AS svc,
       {svc_gas} AS svc_gas,
       (SELECT a.drive_s / 60.0 FROM parcel_access a
         WHERE a.parcel_code = p.code AND a.dest = 'interchange') AS drive_min_interchange,
       (SELECT a.drive_s / 60.0 FROM parcel_access a
         WHERE a.parcel_code = p.code AND a.dest = 'rail_yard') AS drive_min_rail_yard
  FROM parcels p {svc_join}
 WHERE p.code = ANY(%(codes)s)
""".replace("{svc_sum}", " + ".join(f"{svc_sql(s, '%(as_of)s', 'p')}::int" for s in SERVICES))
    .replace("{svc_gas}", svc_sql("gas", "%(as_of)s", "p"))
    .replace("{svc_join}", svc_join("p"))
)

INFRA_SQL = """
SELECT code, kind, name_zh, name_en, ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM infra_as_of(%(as_of)s)
 WHERE kind = ANY(%(kinds)s)
"""

#: The facility register (every status: a planned facility is named when it is late).
FACILITIES_SQL = """
SELECT code, kind, name_zh, name_en, status, capacity, capacity_unit, service_radius_m,
       ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb,
       ST_AsBinary(ST_Transform(service_area, %(srid)s)) AS area_wkb
  FROM infrastructure
 WHERE kind = ANY(%(kinds)s)
"""

UPGRADES_SQL = """
SELECT code, infra_code, kind, name_zh, name_en, capacity_added, capacity_unit, start_date,
       finish_date, status, upgrade_done(status, finish_date, %(as_of)s) AS done,
       ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), %(srid)s)) AS wkb
  FROM upgrades
 WHERE kind = ANY(%(kinds)s)
"""

DRAWS_SQL = """
SELECT p.code AS parcel_code, p.project_code, p.area_m2, pr.power_kva, pr.water_tpd,
       pr.wastewater_tpd, ST_AsBinary(ST_Transform(p.geom, %(srid)s)) AS wkb
  FROM parcels p
  JOIN projects pr ON pr.code = p.project_code
 WHERE p.status = ANY(%(statuses)s)
   AND p.project_code IS DISTINCT FROM %(project)s
"""

SENSITIVE_SQL = """
SELECT code, landuse_code, ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM parcels
 WHERE status <> 'historic' AND landuse_code ~ %(pattern)s
"""

ENTERPRISES_SQL = """
SELECT code, name_zh, name_en, chain_role, ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM enterprises
 WHERE chain_role = ANY(%(roles)s)
"""


def _unit_factor(kind: str, unit: str | None) -> float:
    u = (unit or "").strip().lower().replace("³", "3").replace(" ", "")
    if kind == "substation":
        if u in ("kva", "kw"):
            return 1.0
        return 1000.0  # MVA (the usual unit), MW at pf ≈ 1
    if u.startswith("万") or u.startswith("10^4") or u.startswith("1e4"):
        return 10000.0
    return 1.0  # t/d, m3/d


@dataclass
class Facility:
    code: str
    kind: str
    name_zh: str
    name_en: str
    geom: BaseGeometry
    registered: float  # in kVA or t/d
    exists: bool
    added: list[tuple[str, str, float, dt.date | None]] = field(default_factory=list)
    late: list[tuple[str, str, float, dt.date | None, str]] = field(default_factory=list)
    draw: float = 0.0
    drawers: list[str] = field(default_factory=list)
    builders: list[tuple] = field(default_factory=list)
    reach_m: float = math.inf  # service radius (m) the data gives, else the default
    area: BaseGeometry | None = None  # service area, where the data gives one

    @property
    def capacity(self) -> float:
        base = self.registered if self.exists else 0.0
        return base + sum(a[2] for a in self.added)

    @property
    def spare(self) -> float:
        return self.capacity - self.draw


def _facility_register(rows: list[dict], reach: dict[str, float]) -> dict[str, Facility]:
    """Facilities with a registered capacity, keyed by code; reach from the row or the default."""
    fac: dict[str, Facility] = {}
    for r in rows:
        if r["capacity"] is None:
            continue
        f = _unit_factor(r["kind"], r["capacity_unit"])
        radius = r["service_radius_m"]
        fac[r["code"]] = Facility(
            r["code"],
            r["kind"],
            r["name_zh"],
            r["name_en"],
            shapely.from_wkb(r["wkb"]).representative_point(),
            float(r["capacity"]) * f,
            r["status"] == "existing",
            reach_m=float(radius) if radius is not None else reach.get(r["kind"], math.inf),
            area=shapely.from_wkb(r["area_wkb"]) if r["area_wkb"] is not None else None,
        )
    return fac


def _apply_upgrades(fac: dict[str, Facility], ups: list[dict], reach: dict[str, float]) -> None:
    """Capacity upgrades on the date judged: a completed one counts from its finish date
    (``done``), a planned or under-way one never does and is named as ``late``."""
    for u in ups:
        if u["capacity_added"] is None:
            continue
        amount = float(u["capacity_added"]) * _unit_factor(u["kind"], u["capacity_unit"])
        done = bool(u["done"])
        late = (u["name_zh"], u["name_en"], amount, u["finish_date"], u["code"])
        target = fac.get(u["infra_code"]) if u["infra_code"] else None
        if target is None and u["infra_code"] is None:
            # An unlinked upgrade standing on a planned facility of its kind builds that
            # facility; elsewhere it is a new facility of its own.
            g = shapely.from_wkb(u["wkb"])
            target = next(
                (
                    f
                    for f in fac.values()
                    if f.kind == u["kind"]
                    and not f.exists
                    and f.geom.distance(g) <= BUILDS_WITHIN_M
                ),
                None,
            )
            if target is None:
                target = fac[u["code"]] = Facility(
                    u["code"],
                    u["kind"],
                    u["name_zh"],
                    u["name_en"],
                    g,
                    amount,
                    False,
                    reach_m=reach.get(u["kind"], math.inf),
                )
        if target is None:
            continue
        if not target.exists and target.registered > 0 and not target.builders:
            target.builders.append(late)
            if done:
                target.exists = True
            else:
                target.late.append(late)
        elif done:
            target.added.append(late[:4])
        else:
            target.late.append(late)


def _load_facilities(
    conn: psycopg.Connection,
    srid: int,
    req: Requirement,
    on: dt.date,
    reach: dict[str, float] | None = None,
) -> dict[str, list[Facility]]:
    """Facilities by criterion name with their capacity in service on ``on`` (the date the
    project is judged on) and the draws of the projects already holding land."""
    reach = DEFAULT_REACH_M if reach is None else reach
    kinds = list(FACILITY.values())
    with conn.cursor(row_factory=dict_row) as cur:
        infra = cur.execute(FACILITIES_SQL, {"srid": srid, "kinds": kinds}).fetchall()
        ups = cur.execute(UPGRADES_SQL, {"srid": srid, "kinds": kinds, "as_of": on}).fetchall()
        draws = cur.execute(
            DRAWS_SQL, {"srid": srid, "statuses": list(HOLDING_STATUSES), "project": req.code}
        ).fetchall()
    fac = _facility_register(infra, reach)
    _apply_upgrades(fac, ups, reach)
    out: dict[str, list[Facility]] = {}
    for crit, kind in FACILITY.items():
        # Only facilities in service by the date can serve; the others are named in
        # reasons through ``late`` when they are nearer.
        out[crit] = [f for f in fac.values() if f.kind == kind]
    _attribute_draws(out, draws)
    return out


def _attribute_draws(facilities: dict[str, list[Facility]], draws: list[dict]) -> None:
    """One draw per holding project, from its largest parcel, served by the same rule as a
    candidate site (:func:`_choose`): the nearest facility in reach with enough spare."""
    largest: dict[str, dict] = {}
    for d in draws:
        cur_ = largest.get(d["project_code"])
        if cur_ is None or d["area_m2"] > cur_["area_m2"]:
            largest[d["project_code"]] = d
    for crit, fl in facilities.items():
        live = _live(fl)
        if not len(live):
            continue
        for proj, d in sorted(largest.items()):
            need = d[NEED[crit]]
            if not need:
                continue
            g = shapely.from_wkb(d["wkb"])
            dist = np.array([[fl[j].geom.distance(g) for j in live]])
            inside = np.array([[_in_reach(fl[j], g, dist[0, k]) for k, j in enumerate(live)]])
            spare = np.array([fl[j].spare for j in live])
            pick, _skip = _choose(dist, inside, spare, float(need))
            if pick[0] < 0:
                # Out of every facility's reach: the nearest one carries it (it is connected
                # somehow, and its load is real).
                pick[0] = int(np.argmin(dist[0]))
            f = fl[live[pick[0]]]
            f.draw += float(need)
            f.drawers.append(proj)


def _live(fl: list[Facility]) -> np.ndarray:
    """Indices of the facilities in service (on the date judged) with a capacity."""
    return np.array([i for i, f in enumerate(fl) if f.exists and f.capacity > 0], dtype=int)


def _in_reach(f: Facility, g: BaseGeometry, dist: float) -> bool:
    if f.area is not None:
        return bool(f.area.intersects(g))
    return bool(dist <= f.reach_m)


def _choose(
    dist: np.ndarray, inside: np.ndarray, spare: np.ndarray, need: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The one capacity rule (issue #13): per row, the nearest facility in reach with enough
    spare capacity; failing that the nearest in reach (which then fails on capacity); −1
    when none is in reach. Also the nearest facility in reach that was passed over for lack
    of spare capacity (−1 if none), for the reason text.

    ``dist``/``inside`` are rows × facilities; ``spare`` per facility.
    """
    n, m = dist.shape
    if m == 0:
        return np.full(n, -1), np.full(n, -1)
    big = np.where(inside, dist, np.inf)
    nearest = np.where(np.isfinite(big.min(axis=1)), big.argmin(axis=1), -1)
    if not need:
        return nearest, np.full(n, -1)
    enough = np.where(spare[None, :] >= need, big, np.inf)
    best = np.where(np.isfinite(enough.min(axis=1)), enough.argmin(axis=1), -1)
    pick = np.where(best >= 0, best, nearest)
    skipped = np.where((best >= 0) & (nearest != best), nearest, -1)
    return pick, skipped


def _in_projection(
    fl: list[Facility], src: int, dst: int, attr: str = "geom"
) -> list[BaseGeometry | None]:
    """The facilities' geometries (``attr``: ``geom`` or ``area``) moved from EPSG ``src`` to
    EPSG ``dst``.

    Facilities are loaded once, in one projection, so that capacity and draws are counted once
    per facility; candidates in another Gauss–Krüger zone (a province spans several) must be
    measured against the facilities in *their* projection, or the distances are meaningless.
    """
    geoms = [getattr(f, attr) for f in fl]
    if src == dst:
        return geoms
    t = _TRANSFORMERS.get((src, dst))
    if t is None:
        t = _TRANSFORMERS[(src, dst)] = Transformer.from_crs(src, dst, always_xy=True)
    return [
        None
        if g is None
        else shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        for g in geoms
    ]


_TRANSFORMERS: dict[tuple[int, int], Transformer] = {}


# --------------------------------------------------------------------------- site records


@dataclass
class Site:
    """One parcel or an assembled group, with everything the checks read."""

    codes: tuple[str, ...]
    zone: str
    geom: BaseGeometry  # GK, metres
    srid: int
    area_m2: float
    landuse_ok: bool
    landuse: str
    status_ok: bool
    status_note: tuple[str, str] | None
    own_reservation: bool
    svc: float  # 0..8 connections, area-weighted for groups
    gas_svc: bool
    price_total_wan: float | None
    slope: float | None
    flood: float | None
    d_rail: float
    d_road: float
    d_gas: float
    d_sensitive: float
    d_chain: float
    chain_name: tuple[str, str] | None
    chain_count: int
    fac: dict[str, int]  # criterion -> index into facilities list
    fac_dist: dict[str, float]
    pending: dict[str, int] = field(default_factory=dict)  # nearer facility not yet built
    #: criterion -> a nearer facility in reach passed over for lack of spare capacity (−1)
    skipped: dict[str, int] = field(default_factory=dict)
    #: criterion -> distance to the nearest facility in service, in reach or not
    nearest_fac_m: dict[str, float] = field(default_factory=dict)
    slope_max: float | None = None  # steepest cell, degrees (terrain data only)
    #: destination -> drive minutes on the road network (absent: no route)
    drive_min: dict[str, float] = field(default_factory=dict)
    earthwork_m3: float | None = None  # cut + fill to level the site flat
    #: Hard constraints (footprint aside) the vectorised pruning found failed: the same
    #: comparisons as :func:`_hard`, so > 0 means :func:`_hard` is not empty (0: not known).
    staged_fails: int = 0

    @property
    def area_mu(self) -> float:
        return self.area_m2 / MU_M2


def _nearest(
    tree: shapely.STRtree | None, geoms: np.ndarray, within: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest item and distance per geometry (−1/∞ without one; with ``within``, without one
    that near — the bound is widened by a hair so a distance equal to it is still found)."""
    n = len(geoms)
    if tree is None or n == 0:
        return np.full(n, -1), np.full(n, np.inf)
    reach = None if within is None else within * (1 + 1e-9) + 1e-6
    idx, dist = tree.query_nearest(
        geoms, max_distance=reach, return_distance=True, all_matches=False
    )
    out_i = np.full(n, -1)
    out_d = np.full(n, np.inf)
    out_i[idx[0]] = idx[1]
    out_d[idx[0]] = dist
    return out_i, out_d


#: What the reads of one :func:`match` share (facilities, feature trees): each read of its
#: (up to six: a first pass, gap tiers, outside the band, group members) would otherwise load
#: the same register and parse the same features again. Keyed by statement and parameters.
Memo = dict[Any, Any]


def _tree(
    conn: psycopg.Connection, sql: str, params: dict, memo: Memo | None = None
) -> tuple[shapely.STRtree | None, list[dict]]:
    key = (sql, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
    if memo is not None and key in memo:
        return memo[key]  # type: ignore[no-any-return]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, params).fetchall()
    out = (
        (shapely.STRtree(shapely.from_wkb([r["wkb"] for r in rows])), rows) if rows else (None, [])
    )
    if memo is not None:
        memo[key] = out
    return out


@dataclass
class Context:
    req: Requirement
    on: dt.date  # the date the project is judged on (:func:`judged_on`)
    facilities: dict[str, list[Facility]]
    sites: list[Site]
    by_code: dict[str, Site]
    earthwork_yuan_per_m3: float = 25.0


def _opt(v: Any) -> float:
    return np.nan if v is None else float(v)


class _Staged:
    """Per-row arrays of one projection's candidates, filled as the pruning goes.

    ``fails`` counts the hard constraints (footprint aside) a row is known to fail; a row is
    *live* while it may still be a match or a near miss (≤ 1 failure; ``strict``: a match,
    no failure) or serve an assembled group (``pool``). Costly figures (nearest distances)
    are computed for live rows only, in order of the constraints they decide, so each stage
    measures fewer rows.
    """

    def __init__(
        self,
        geoms: np.ndarray,
        fails: np.ndarray,
        pool: np.ndarray,
        prune: bool,
        strict: bool = False,
        max_gap: float | None = None,
    ) -> None:
        self.geoms, self.fails, self.pool, self.prune = geoms, fails, pool, prune
        self.strict = strict
        #: A near miss is wanted only up to this gap (None: any): see :meth:`nearest`.
        self.max_gap = max_gap

    def live(self) -> np.ndarray:
        if not self.prune:
            return np.ones(len(self.geoms), dtype=bool)
        return (self.fails <= (0 if self.strict else 1)) | self.pool

    def nearest(
        self, tree: shapely.STRtree | None, limit: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-item index and distance for the live rows (−1/∞ elsewhere and unmeasured).

        ``limit``: the constraint this distance decides. A pruned row that already fails
        another constraint and serves no group is only asked whether something lies within
        it (∞ if not: a second failure prunes it, so its exact distance is never read) — a
        bounded search, much cheaper than the nearest line across a province. With
        ``max_gap`` the other rows serving no group are asked within the distance of that
        gap (∞ beyond it). Every other live row gets its exact distance.
        """
        n = len(self.geoms)
        i_out, d_out = np.full(n, -1), np.full(n, np.inf)
        live = self.live()
        bounded = np.zeros(n, dtype=bool)
        slack = np.zeros(n, dtype=bool)
        if self.prune and limit is not None:
            bounded = live & (self.fails >= 1) & ~self.pool
            if self.max_gap is not None:
                slack = live & ~bounded & ~self.pool
        # With a gap bound (a near-miss read: no match, no group member), a row failing here
        # matters only with a gap (d - limit) / max(limit, 1) of at most max_gap: farther
        # than that it is never listed, so its distance is not needed -- found or not, it
        # fails alike. Most rows of a province lie far beyond a rail limit.
        wide = (
            None
            if limit is None or self.max_gap is None
            else (limit + self.max_gap * max(limit, 1.0))
        )
        for rows, reach in (
            (live & ~bounded & ~slack, None),
            (bounded, limit),
            (slack, wide),
        ):
            idx = np.flatnonzero(rows)
            if tree is not None and len(idx):
                i, d = _nearest(tree, self.geoms[idx], reach)
                i_out[idx], d_out[idx] = i, d
        return i_out, d_out


def judged_on(req: Requirement, as_of: dt.date | None = None) -> dt.date:
    """The date a project is judged on: its start date (issue #13), but never before the date
    asked (default today) — a start date already past cannot be met with works finished
    before it, only with what is in service when building can actually begin."""
    on = as_of or dt.date.today()
    return max(req.start_date, on) if req.start_date is not None else on


def _build_context(
    conn: psycopg.Connection,
    req: Requirement,
    as_of: dt.date | None = None,
    *,
    prune: bool = False,
    assemble: bool = True,
    codes: Sequence[str] | None = None,
    area_gap: float | None = None,
    outside_band: bool = False,
    first_pass: bool = False,
    members: bool = True,
    siting: SitingSettings | None = None,
    reach: dict[str, float] | None = None,
    pool_zones: Sequence[str] | None = None,
    max_gap: float | None = None,
    only_zones: Sequence[str] | None = None,
    memo: Memo | None = None,
) -> Context:
    """Candidate sites with every figure the checks and criteria read.

    Parameters
    ----------
    conn : psycopg.Connection
    req : Requirement
    as_of : date, optional
        The date asked (default today); the project is judged on :func:`judged_on`.
    prune : bool, default False
        Keep only parcels that can still be a match or a near miss (at most one hard
        constraint failed, the footprint aside) or — with ``assemble`` — a member of an
        assembled group. The status/area/land-use part of this is done in SQL (indexed), the
        rest vectorised before any per-site work. :func:`match` prunes; a caller looking one
        parcel up (a brief) does not, or passes ``codes``.
    assemble : bool, default True
        With ``prune``: also keep the parcels an assembled group may use.
    codes : sequence of str, optional
        Only these parcels.
    area_gap : float, optional
        Leave out parcels whose area misses the project's range by more than this share
        (their ``area`` failure would have a larger gap) — except, with ``assemble``, the
        small ones an assembled group may use.
    outside_band : bool, default False
        Read exactly the parcels that ``area_gap`` (with the same ``assemble``) leaves out.
    first_pass : bool, default False
        With ``prune``: keep only what can be a match (no hard constraint failed so far) or,
        with ``assemble``, a group member; parcels failing status, land use or area are not
        even read. A near miss is then never kept unless it is a group member: a caller
        needing near misses builds the full (pruned) context — :func:`match` does so only
        when the matches' footprint failures do not already fill its near-miss list.
    members : bool, default True
        With ``prune`` and ``assemble``: keep the parcels a group may use. False reads the
        same parcels as with it (``assemble`` still sets the area band) but keeps only
        matches and near misses, for a caller that already holds the group members.
    siting : SitingSettings, optional
        The caller's siting settings (the levelling rate); default: the product defaults.
    reach : dict, optional
        Facility reach (m) by kind where the data gives none; default :data:`DEFAULT_REACH_M`.
    pool_zones : sequence of str, optional
        With ``assemble``: only parcels of these zones may be group members (default: all).
    max_gap : float, optional
        With ``prune`` and no group members kept: a caller that wants near misses only up to
        this gap (:func:`match`'s near-miss reads). A distance limit's failure beyond it is
        not measured (∞): such a site is never listed; the read starts from the parcels that
        can lie within the rail and road bounds (:func:`_near_sql`) and leaves out status and
        land-use failures when their fixed gaps exceed it.
    only_zones : sequence of str, optional
        Only parcels of these zones (:func:`match`'s read of group members when assembly is
        narrowed).
    memo : Memo, optional
        Shared by the reads of one match: the facilities and feature trees are loaded once.

    Returns
    -------
    Context

    Long (over 80 lines) only by this docstring: the body is the read and one loop.
    """
    on = judged_on(req, as_of)
    prefixes = tuple(str(c) for c in req.landuse_codes)
    # The SQL prefilter is loosened by a relative 1e-9 so that float rounding can never drop a
    # parcel the exact Python checks below would keep.
    lo_m2 = req.min_area_mu * MU_M2 * (1 - 1e-9) if req.min_area_mu is not None else None
    hi_m2 = req.max_area_mu * MU_M2 * (1 + 1e-9) if req.max_area_mu is not None else None
    band_lo = band_hi = band_lo_out = None
    if area_gap is not None:
        if req.min_area_mu is not None:
            band_lo_out = req.min_area_mu * (1 - area_gap) * MU_M2 * (1 - 1e-9)
            band_lo = None if assemble else band_lo_out
        if req.max_area_mu is not None:
            band_hi = req.max_area_mu * (1 + area_gap) * MU_M2 * (1 + 1e-9)
    zones = sorted(set(pool_zones)) if pool_zones is not None and assemble else None
    # A first pass keeps no failure at all (gap bound 0); group members are always measured.
    gap_bound = (
        0.0 if first_pass and prune else max_gap if prune and not (assemble and members) else None
    )
    # a first pass of singles reads only the areas that match, any other read the band
    area = _area_range(
        *((lo_m2, hi_m2) if first_pass and prune and not assemble else (band_lo, band_hi)),
        outside_band,
    )
    params = {
        **_gap_params(conn, req, gap_bound, area),
        **area,
        "band_lo": band_lo,
        "band_lo_out": band_lo_out if zones is not None else band_lo,
        "pool_zones": zones,
        "band_hi": band_hi,
        "outside": outside_band,
        "project": req.code,
        "lu_any": not prefixes,
        "lu_like": [p + "%" for p in prefixes],
        "min_m2": lo_m2,
        "max_m2": hi_m2,
        "codes": list(codes) if codes is not None else None,
        "zones": sorted(set(only_zones)) if only_zones is not None else None,
        "prune": prune,
        "first": bool(first_pass and prune),
        "assemble": assemble,
        "as_of": on,
        "drive": any(getattr(req, f) is not None for f in DRIVE_FIELDS),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(CANDIDATES_SQL, params).fetchall()
    srids = sorted({r["gk_srid"] for r in rows})
    # Facilities are read in one projection (FACILITY_SRID_SQL), then moved into each part's.
    if memo is not None and "facilities" in memo:
        facility_srid, facilities = memo["facilities"]
    else:
        with conn.cursor(row_factory=tuple_row) as cur:
            facility_srid = int(cur.execute(FACILITY_SRID_SQL).fetchone()[0])  # type: ignore[index]
        facilities = _load_facilities(conn, facility_srid, req, on, reach)
        if memo is not None:
            memo["facilities"] = facility_srid, facilities
    sites: list[Site] = []
    for srid in srids:
        part = [r for r in rows if r["gk_srid"] == srid]
        sites.extend(
            _sites_of(
                conn,
                req,
                srid,
                part,
                facilities,
                prune,
                assemble and members,
                strict=bool(first_pass and prune),
                facility_srid=facility_srid,
                as_of=on,
                pool_zones=zones,
                max_gap=gap_bound,
                memo=memo,
            )
        )
    return Context(
        req,
        on,
        facilities,
        sites,
        {s.codes[0]: s for s in sites},
        float((siting or SitingSettings()).earthwork.yuan_per_m3),
    )


def _gap_params(
    conn: psycopg.Connection,
    req: Requirement,
    gap_bound: float | None,
    area: dict[str, Any],
) -> dict[str, Any]:
    """The candidate read's bounds for a caller that lists failures only up to ``gap_bound``
    (None: any failure, nothing left out): which fixed-gap failures may be read, and the ids
    of the parcels near enough to rail and road (None: all), bounded as
    :meth:`_Staged.nearest` measures them, with the same hair of slack. The ids are used
    only when fewer than the parcels of the read's area range (``area``, :func:`_area_range`):
    a bound that leaves most parcels in (a road within 800 m holds a fifth of a province)
    costs more as an id list than the range's own read."""
    out: dict[str, Any] = {
        "status_fails": gap_bound is None or STATUS_GAP <= gap_bound,
        "landuse_fails": gap_bound is None or LANDUSE_GAP <= gap_bound,
        "ids": None,
    }
    road = req.max_trunk_road_m
    limits = {"rail": req.rail_limit_m, "road": None if road is None else float(road)}
    bounds = {
        c: (lim + gap_bound * max(lim, 1.0)) * (1 + 1e-9) + 1e-6
        for c, lim in limits.items()
        if lim is not None and gap_bound is not None
    }
    if bounds:
        params = {f"{c}_t": t for c, t in bounds.items()}
        params.update({f"{c}_kinds": list(DISTANCES[c][1]) for c in bounds})
        with conn.cursor(row_factory=tuple_row) as cur:
            # the planner's estimate from the area histogram: a count would cost more than
            # the choice it informs
            plan = cur.execute(AREA_RANGE_PLAN_SQL, area).fetchone()
            in_range = int(plan[0][0]["Plan"]["Plan Rows"])  # type: ignore[index]
            params["cap"] = min(in_range, NEAR_SET_CAP)
            near = cur.execute(_near_sql(sorted(bounds)) + " LIMIT %(cap)s + 1", params)
            ids = [r[0] for r in near]
        out["ids"] = sorted(ids) if len(ids) <= params["cap"] else None
    return out


#: The most parcels a near set (:func:`_near_sql`) is read with (an id list of that length
#: costs about 0.3 s at 10^6; the size band's read it would narrow, little more).
NEAR_SET_CAP = 200_000

#: The live parcels of the read's area range, as the planner estimates them.
AREA_RANGE_PLAN_SQL = """
EXPLAIN (FORMAT JSON)
SELECT 1 FROM parcels
 WHERE status <> 'historic'
   AND (%(area_lo)s::float8 IS NULL OR area_m2 >= %(area_lo)s)
   AND (%(area_hi)s::float8 IS NULL OR area_m2 <= %(area_hi)s)
"""


def _area_range(lo: float | None, hi: float | None, outside: bool) -> dict[str, Any]:
    """The candidate read's area range (m²) as bounds an index can serve: a superset of what
    the band's exact test keeps (None: unbounded). A read of what lies outside the band has
    no single range."""
    if outside:
        return {"area_lo": None, "area_hi": None}
    return {"area_lo": lo, "area_hi": hi}


def _sites_of(
    conn: psycopg.Connection,
    req: Requirement,
    srid: int,
    part: list[dict],
    facilities: dict[str, list[Facility]],
    prune: bool,
    assemble: bool,
    strict: bool = False,
    facility_srid: int | None = None,
    as_of: dt.date | None = None,
    pool_zones: Sequence[str] | None = None,
    max_gap: float | None = None,
    memo: Memo | None = None,
) -> list[Site]:
    """Sites of one projection's candidate rows (see :func:`_build_context`): the row checks,
    then each stage of distances measured on the rows still live, then the records."""
    on = as_of or dt.date.today()
    rows = _row_checks(req, part)
    pool = rows["pool"] if assemble else np.zeros(len(part), dtype=bool)
    if pool_zones is not None:
        zset = set(pool_zones)
        pool = pool & np.array([r["zone_code"] in zset for r in part], dtype=bool)
    geoms = shapely.from_wkb([r["wkb"] for r in part])
    st = _Staged(geoms, rows["fails"], pool, prune, strict, max_gap)
    dists = _distance_stage(conn, req, srid, st, on, memo)
    fac_geoms = {
        crit: _in_projection(fl, facility_srid or srid, srid) for crit, fl in facilities.items()
    }
    fac_areas = {
        crit: _in_projection(fl, facility_srid or srid, srid, "area")
        for crit, fl in facilities.items()
    }
    fac = _facility_stage(req, st, facilities, fac_geoms, fac_areas)
    # What is left is kept; criteria-only figures are measured on it alone.
    keep = st.live()
    # Only a site that can still be scored needs its servicing: one with no failure so far, a
    # group member, or any site when nothing is pruned (a brief scores its parcel whatever
    # fails); a near miss is never scored.
    scored = keep & ((st.fails == 0) | pool) if prune else keep
    kept = {part[k]["code"]: part[k] for k in np.flatnonzero(scored)}
    if kept:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(SERVICING_SQL, {"codes": list(kept), "as_of": on})
            for code, svc, gas, d_interchange, d_rail_yard in cur:
                r = kept[code]
                r["svc"], r["svc_gas"] = svc, gas
                r["drive_min_interchange"] = d_interchange
                r["drive_min_rail_yard"] = d_rail_yard
    extra = _criteria_figures(conn, req, srid, st, keep, on, memo)
    pending = _pending_stage(st, facilities, fac_geoms, fac["dist"])
    return [
        _site_record(part[k], k, req, srid, st, rows, dists, fac, extra, pending, facilities, prune)
        for k in np.flatnonzero(keep)
    ]


def _row_checks(req: Requirement, part: list[dict]) -> dict[str, np.ndarray]:
    """Cheap figures and the hard constraints they decide, vectorised; the comparisons are
    the same expressions as in :func:`_hard` so a pruned row really fails ≥ 2 constraints."""
    prefixes = tuple(str(c) for c in req.landuse_codes)
    area_mu = np.array([float(r["area_m2"]) for r in part]) / MU_M2
    status_ok = np.array(
        [
            r["status"] == "available" or (req.code is not None and r["project_code"] == req.code)
            for r in part
        ],
        dtype=bool,
    )
    landuse_ok = np.array(
        [(not prefixes) or r["landuse_code"].startswith(prefixes) for r in part], dtype=bool
    )
    price = np.array(
        [
            float(r["land_price_wan_per_mu"]) * float(r["area_m2"]) / MU_M2
            if r["land_price_wan_per_mu"] is not None
            else np.nan
            for r in part
        ]
    )
    slope = np.array([_opt(r["slope_mean_deg"]) for r in part])
    flood = np.array([_opt(r["flood_share"]) for r in part])
    fails = (~status_ok).astype(int) + (~landuse_ok)
    if req.min_area_mu is not None:
        fails += area_mu < req.min_area_mu
    if req.max_area_mu is not None:
        fails += area_mu > req.max_area_mu
    if req.max_slope_deg is not None:
        fails += slope > req.max_slope_deg  # NaN (no terrain) compares False
    if req.max_flood_share is not None:
        fails += flood > req.max_flood_share
    if req.land_budget_wan is not None:
        fails += price > req.land_budget_wan
    for f, dest in DRIVE_FIELDS.items():
        lim = getattr(req, f)
        if lim is not None:  # no route counts as too far
            fails += np.array(
                [
                    r[f"drive_min_{dest}"] is None or float(r[f"drive_min_{dest}"]) > lim
                    for r in part
                ]
            )
    pool = status_ok & landuse_ok
    if req.max_area_mu is not None:
        pool &= area_mu < req.max_area_mu
    return {
        "status_ok": status_ok,
        "landuse_ok": landuse_ok,
        "price": price,
        "fails": fails,
        "pool": pool,
    }


def _distance_stage(
    conn: psycopg.Connection,
    req: Requirement,
    srid: int,
    st: _Staged,
    on: dt.date,
    memo: Memo | None = None,
) -> dict[str, np.ndarray]:
    """Rail access, trunk road and sensitive land, each measured only on the rows still live
    and counted as a failure where the project states the limit."""
    lim = req.rail_limit_m
    rail_t, _ = _tree(
        conn, INFRA_SQL, {"srid": srid, "kinds": list(RAIL_ACCESS_KINDS), "as_of": on}, memo
    )
    _, d_rail = st.nearest(rail_t, lim)
    if lim is not None:
        st.fails += d_rail > lim
    road_t, _ = _tree(conn, INFRA_SQL, {"srid": srid, "kinds": list(ROAD_KINDS), "as_of": on}, memo)
    _, d_road = st.nearest(road_t, req.max_trunk_road_m)
    if req.max_trunk_road_m is not None:
        st.fails += d_road > req.max_trunk_road_m
    # Read only when it decides the constraint: no criterion or reason quotes it otherwise.
    d_sens = np.full(len(st.geoms), np.inf)
    if req.hazard_class and req.min_sensitive_m:
        sens_t, _ = _tree(conn, SENSITIVE_SQL, {"srid": srid, "pattern": SENSITIVE_LANDUSE}, memo)
        _, d_sens = st.nearest(sens_t)
        st.fails += d_sens < req.min_sensitive_m
    return {"rail": d_rail, "road": d_road, "sensitive": d_sens}


def _facility_stage(
    req: Requirement,
    st: _Staged,
    facilities: dict[str, list[Facility]],
    fac_geoms: dict[str, list],
    fac_areas: dict[str, list],
) -> dict[str, dict[str, np.ndarray]]:
    """The serving facility per live row and criterion by the one capacity rule
    (:func:`_choose`), with its distance, the nearer one passed over, and the distance to the
    nearest facility in service whether or not in reach (for an out-of-reach reason)."""
    n = len(st.geoms)
    out: dict[str, dict[str, np.ndarray]] = {"idx": {}, "dist": {}, "skipped": {}, "nearest": {}}
    idx = np.flatnonzero(st.live())
    for crit, fl in facilities.items():
        live = _live(fl)
        i_out, d_out = np.full(n, -1), np.full(n, np.inf)
        s_out, near_out = np.full(n, -1), np.full(n, np.inf)
        need = getattr(req, NEED[crit])
        if len(live) and len(idx):
            g = st.geoms[idx]
            dist = np.column_stack([shapely.distance(g, fac_geoms[crit][j]) for j in live])
            inside = np.column_stack(
                [
                    shapely.intersects(g, fac_areas[crit][j])
                    if fac_areas[crit][j] is not None
                    else dist[:, k] <= fl[j].reach_m
                    for k, j in enumerate(live)
                ]
            )
            spare = np.array([fl[j].spare for j in live])
            pick, skip = _choose(dist, inside, spare, need)
            i_out[idx] = np.where(pick >= 0, live[np.maximum(pick, 0)], -1)
            d_out[idx] = np.where(pick >= 0, dist[np.arange(len(idx)), np.maximum(pick, 0)], np.inf)
            s_out[idx] = np.where(skip >= 0, live[np.maximum(skip, 0)], -1)
            near_out[idx] = dist.min(axis=1)
        if need and len(live):
            all_spare = np.array([f.spare for f in fl])
            served = i_out >= 0
            # short of capacity at the chosen one, or no facility in reach at all
            st.fails += np.where(
                served, all_spare[np.maximum(i_out, 0)] < need, np.isfinite(near_out)
            )
        out["idx"][crit], out["dist"][crit] = i_out, d_out
        out["skipped"][crit], out["nearest"][crit] = s_out, near_out
    return out


def _criteria_figures(
    conn: psycopg.Connection,
    req: Requirement,
    srid: int,
    st: _Staged,
    keep: np.ndarray,
    on: dt.date,
    memo: Memo | None = None,
) -> dict[str, Any]:
    """Figures only the criteria read (gas, chain partners), for the kept rows."""
    n = len(st.geoms)
    d_gas = np.full(n, np.inf)
    if req.gas_m3pd:  # the gas criterion, the only reader
        gas_t, _ = _tree(
            conn, INFRA_SQL, {"srid": srid, "kinds": list(GAS_KINDS), "as_of": on}, memo
        )
        _, d_gas = st.nearest(gas_t)
    chain_t, chain_rows = (None, [])
    if req.preferred_neighbours:
        chain_t, chain_rows = _tree(
            conn, ENTERPRISES_SQL, {"srid": srid, "roles": list(req.preferred_neighbours)}, memo
        )
    i_chain, d_chain = st.nearest(chain_t)
    chain_counts = np.zeros(n, dtype=int)
    kidx = np.flatnonzero(keep)
    if chain_t is not None and len(kidx):
        pairs = chain_t.query(st.geoms[kidx], predicate="dwithin", distance=CHAIN_RADIUS_M)
        chain_counts[kidx] = np.bincount(pairs[0], minlength=len(kidx))
    return {
        "d_gas": d_gas,
        "i_chain": i_chain,
        "d_chain": d_chain,
        "chain_rows": chain_rows,
        "chain_counts": chain_counts,
    }


def _pending_stage(
    st: _Staged,
    facilities: dict[str, list[Facility]],
    fac_geoms: dict[str, list],
    fac_d: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """A facility not yet in service but nearer than the serving one is worth naming."""
    n = len(st.geoms)
    out: dict[str, np.ndarray] = {}
    for crit, fl in facilities.items():
        pending = [k for k, f in enumerate(fl) if not f.exists and f.late]
        if pending:
            pi, pd_ = st.nearest(shapely.STRtree([fac_geoms[crit][k] for k in pending]))
            out[crit] = np.where(
                (pi >= 0) & (pd_ < fac_d[crit]), np.array(pending)[np.maximum(pi, 0)], -1
            )
        else:
            out[crit] = np.full(n, -1)
    return out


def _site_record(
    r: dict,
    k: int,
    req: Requirement,
    srid: int,
    st: _Staged,
    rows: dict[str, np.ndarray],
    dists: dict[str, np.ndarray],
    fac: dict[str, dict[str, np.ndarray]],
    extra: dict[str, Any],
    pending: dict[str, np.ndarray],
    facilities: dict[str, list[Facility]],
    prune: bool,
) -> Site:
    """The :class:`Site` of candidate row ``k``."""
    ok = bool(rows["status_ok"][k])
    note = None
    if not ok:
        until = r["reserved_until"].isoformat() if r["reserved_until"] else "—"
        if r["status"] == "listed":
            note = (
                "正在招拍挂公示，已挂牌给其他项目",
                "a tender/auction/listing notice is running for another party",
            )
        else:
            note = (f"已为其他项目预留至 {until}", f"reserved for another project until {until}")
    cut, fill = r["earthwork_cut_m3"], r["earthwork_fill_m3"]
    price = rows["price"][k]
    i_chain = extra["i_chain"]
    return Site(
        codes=(r["code"],),
        zone=r["zone_code"],
        geom=st.geoms[k],
        srid=srid,
        area_m2=float(r["area_m2"]),
        landuse_ok=bool(rows["landuse_ok"][k]),
        landuse=r["landuse_code"],
        status_ok=ok,
        status_note=note,
        own_reservation=ok and r["status"] != "available",
        # NaN: not read, the site is never scored (see _sites_of)
        svc=float(r["svc"]) if r.get("svc") is not None else math.nan,
        gas_svc=bool(r.get("svc_gas")),
        price_total_wan=None if np.isnan(price) else float(price),
        slope=r["slope_mean_deg"],
        flood=r["flood_share"],
        d_rail=float(dists["rail"][k]),
        d_road=float(dists["road"][k]),
        d_gas=float(extra["d_gas"][k]),
        d_sensitive=float(dists["sensitive"][k]),
        d_chain=float(extra["d_chain"][k]),
        chain_name=(
            (extra["chain_rows"][i_chain[k]]["name_zh"], extra["chain_rows"][i_chain[k]]["name_en"])
            if i_chain[k] >= 0
            else None
        ),
        chain_count=int(extra["chain_counts"][k]),
        fac={c: int(fac["idx"][c][k]) for c in facilities},
        fac_dist={c: float(fac["dist"][c][k]) for c in facilities},
        pending={c: int(pending[c][k]) for c in facilities},
        skipped={c: int(fac["skipped"][c][k]) for c in facilities},
        nearest_fac_m={c: float(fac["nearest"][c][k]) for c in facilities},
        slope_max=r["slope_max_deg"],
        earthwork_m3=(float(cut) + float(fill) if cut is not None and fill is not None else None),
        drive_min={
            d: float(r[f"drive_min_{d}"])
            for d in DRIVE_FIELDS.values()
            if r.get(f"drive_min_{d}") is not None
        },
        staged_fails=int(st.fails[k]) if prune else 0,
    )


def _combine(parts: Sequence[Site], *, with_geometry: bool = True) -> Site:
    """A group of adjacent parcels as one site (distances: the nearest member).

    Every hard check and criterion except the footprint and the shape reads the members'
    figures only; ``with_geometry=False`` leaves ``geom`` None (set it with
    :func:`_union_geometry` before a footprint test) so groups are screened before any union.
    """
    area = sum(p.area_m2 for p in parts)
    w = [p.area_m2 / area for p in parts]

    def wmean(vals: Iterable[float | None]) -> float | None:
        vals = list(vals)
        if any(v is None for v in vals):
            return None
        return float(sum(v * x for v, x in zip(vals, w, strict=True)))

    nearest_chain = min(parts, key=lambda p: p.d_chain)
    fac: dict[str, int] = {}
    fac_dist: dict[str, float] = {}
    pending: dict[str, int] = {}
    skipped: dict[str, int] = {}
    nearest_fac: dict[str, float] = {}
    for crit in parts[0].fac:
        best = min(parts, key=lambda p: p.fac_dist[crit])
        fac[crit], fac_dist[crit] = best.fac[crit], best.fac_dist[crit]
        pending[crit] = best.pending.get(crit, -1)
        skipped[crit] = best.skipped.get(crit, -1)
        nearest_fac[crit] = min(p.nearest_fac_m.get(crit, math.inf) for p in parts)
    prices = [p.price_total_wan for p in parts]
    return Site(
        codes=tuple(sorted(c for p in parts for c in p.codes)),
        zone=parts[0].zone,
        geom=close_gaps([p.geom for p in parts]) if with_geometry else None,
        srid=parts[0].srid,
        area_m2=area,
        landuse_ok=all(p.landuse_ok for p in parts),
        landuse=parts[0].landuse,
        status_ok=all(p.status_ok for p in parts),
        status_note=next((p.status_note for p in parts if p.status_note), None),
        own_reservation=any(p.own_reservation for p in parts),
        svc=float(wmean(p.svc for p in parts)),
        gas_svc=all(p.gas_svc for p in parts),
        price_total_wan=None if any(x is None for x in prices) else float(sum(prices)),
        slope=wmean(p.slope for p in parts),
        flood=wmean(p.flood for p in parts),
        d_rail=min(p.d_rail for p in parts),
        d_road=min(p.d_road for p in parts),
        d_gas=min(p.d_gas for p in parts),
        d_sensitive=min(p.d_sensitive for p in parts),
        d_chain=nearest_chain.d_chain,
        chain_name=nearest_chain.chain_name,
        chain_count=max(p.chain_count for p in parts),
        fac=fac,
        fac_dist=fac_dist,
        pending=pending,
        skipped=skipped,
        nearest_fac_m=nearest_fac,
        slope_max=(
            None if any(p.slope_max is None for p in parts) else max(p.slope_max for p in parts)
        ),
        # Each member levelled on its own: a lower bound for levelling the group as one.
        earthwork_m3=(
            None
            if any(p.earthwork_m3 is None for p in parts)
            else float(sum(p.earthwork_m3 for p in parts))
        ),
        # a group is reached through its best-placed member
        drive_min={
            d: min(p.drive_min[d] for p in parts if d in p.drive_min)
            for d in DRIVE_FIELDS.values()
            if any(d in p.drive_min for p in parts)
        },
    )


def _union_geometry(site: Site, ctx: Context) -> Site:
    """Fill in the geometry of a group built with ``with_geometry=False``."""
    if site.geom is None:
        site.geom = close_gaps([ctx.by_code[c].geom for c in site.codes])
    return site


# --------------------------------------------------------------------------- checks


#: A footprint failure's gap (near misses are ordered by gap, then by number of parcels).
FOOTPRINT_GAP = 0.3
#: The gaps of a failure on status (not available) and on land use: fixed, as neither has a
#: measure of how far off it is.
STATUS_GAP = 0.5
LANDUSE_GAP = 1.0


@dataclass
class Failure:
    name: str
    reason_zh: str
    reason_en: str
    gap: float  # relative shortfall, for ordering near misses (smaller = nearer)


def _m(x: float) -> str:
    return f"{x:,.0f} m" if math.isfinite(x) else "∞"


def _date(d: dt.date | None) -> str:
    return d.strftime("%Y-%m") if d else "—"


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def _capacity_text(
    ctx: Context, crit: str, f: Facility, need: float, s: Site | None = None
) -> tuple[str, str]:
    """The reason for a capacity criterion: the facility used (named), its capacity on the
    date judged, the draws on it, a nearer one passed over for lack of spare capacity, and
    the upgrades not counted (not complete by then)."""
    uz, ue = UNIT[crit]
    start = ctx.req.start_date
    parts_zh = [f"由{f.name_zh}供给：可用容量 {_fmt(f.capacity)} {uz}"]
    parts_en = [f"served by {f.name_en}: capacity {_fmt(f.capacity)} {ue}"]
    for nz, ne, amt, fin in f.added:
        parts_zh.append(f"（含{nz} +{_fmt(amt)}，{_date(fin)} 完工）")
        parts_en.append(f" (incl. {ne} +{_fmt(amt)}, completed {_date(fin)})")
    if f.draw:
        parts_zh.append(f"，已被 {len(f.drawers)} 个项目占用 {_fmt(f.draw)}")
        parts_en.append(f", {_fmt(f.draw)} taken by {len(f.drawers)} project(s)")
    parts_zh.append(f"，剩余 {_fmt(f.spare)} {uz}，项目需要 {_fmt(need)} {uz}")
    parts_en.append(f", {_fmt(f.spare)} {ue} spare; the project needs {_fmt(need)} {ue}")
    if s is not None and s.skipped.get(crit, -1) >= 0:
        o = ctx.facilities[crit][s.skipped[crit]]
        parts_zh.append(f"；更近的{o.name_zh}剩余 {_fmt(o.spare)} {uz}，不足")
        parts_en.append(f"; the nearer {o.name_en} has only {_fmt(o.spare)} {ue} spare")
    late = list(f.late)
    if s is not None and s.pending.get(crit, -1) >= 0:
        late += ctx.facilities[crit][s.pending[crit]].late
    when_zh = f"项目开工日期 {_date(start)}" if start else "今天"
    when_en = f"your start date {_date(start)}" if start else "today"
    for nz, ne, amt, fin, _code in late:
        parts_zh.append(
            f"；{nz}（+{_fmt(amt)}）计划 {_date(fin)} 完工，按{when_zh}尚未建成，未计入"
        )
        parts_en.append(
            f"; {ne} (+{_fmt(amt)}) due {_date(fin)}, not complete by {when_en}, not counted"
        )
    return "".join(parts_zh), "".join(parts_en)


def _reach_failure(ctx: Context, crit: str, s: Site) -> Failure:
    """No facility of the kind in service has the site within its reach."""
    kind = FACILITY[crit]
    d = s.nearest_fac_m.get(crit, math.inf)
    reach = max((f.reach_m for f in ctx.facilities.get(crit, []) if f.exists), default=0.0)
    return Failure(
        crit,
        f"服务范围内无在用{KIND_ZH[kind]}（最近 {_m(d)}）",
        f"no {kind.replace('_', ' ')} in service has the site within its reach (nearest {_m(d)})",
        (d - reach) / max(reach, 1.0) if math.isfinite(d) else 1.0,
    )


def _hard(ctx: Context, s: Site, *, confidential: bool) -> list[Failure]:
    """Every hard constraint the site fails, except the footprint (checked separately).

    Long because it is the list of the constraints, one short block each, in the order the
    reasons are shown.
    """
    req, out = ctx.req, []
    if not s.status_ok:
        zh, en = s.status_note or ("不可供应", "not available")
        out.append(Failure("available", zh, en, STATUS_GAP))
    a = s.area_mu
    if req.min_area_mu is not None and a < req.min_area_mu:
        out.append(
            Failure(
                "area",
                f"面积 {a:.1f} 亩，小于要求的 {req.min_area_mu:g} 亩",
                f"{a:.1f} mu, below the {req.min_area_mu:g} mu asked",
                (req.min_area_mu - a) / req.min_area_mu,
            )
        )
    if req.max_area_mu is not None and a > req.max_area_mu:
        out.append(
            Failure(
                "area",
                f"面积 {a:.1f} 亩，超过上限 {req.max_area_mu:g} 亩",
                f"{a:.1f} mu, above the {req.max_area_mu:g} mu limit",
                (a - req.max_area_mu) / req.max_area_mu,
            )
        )
    if not s.landuse_ok:
        allowed = "/".join(req.landuse_codes)
        out.append(
            Failure(
                "landuse",
                f"用地性质 {s.landuse} 不在 {allowed} 之列",
                f"land use {s.landuse} is not one of {allowed}",
                LANDUSE_GAP,
            )
        )
    lim = req.rail_limit_m
    if lim is not None and s.d_rail > lim:
        out.append(
            Failure(
                "rail",
                f"最近铁路专用线/货运站 {_m(s.d_rail)}，超过 {_m(lim)}",
                f"nearest rail siding/freight station {_m(s.d_rail)}, beyond {_m(lim)}",
                (s.d_rail - lim) / max(lim, 1.0),
            )
        )
    if req.max_trunk_road_m is not None and s.d_road > req.max_trunk_road_m:
        lim = float(req.max_trunk_road_m)
        out.append(
            Failure(
                "trunk_road",
                f"最近干线公路 {_m(s.d_road)}，超过 {_m(lim)}",
                f"nearest trunk road {_m(s.d_road)}, beyond {_m(lim)}",
                (s.d_road - lim) / max(lim, 1.0),
            )
        )
    if req.hazard_class and req.min_sensitive_m and s.d_sensitive < req.min_sensitive_m:
        lim = float(req.min_sensitive_m)
        out.append(
            Failure(
                "sensitive",
                f"距居住/学校/医院等敏感用地 {_m(s.d_sensitive)}，"
                f"{req.hazard_class} 类项目要求 ≥ {_m(lim)}",
                f"sensitive land (homes, schools, hospitals) {_m(s.d_sensitive)} "
                f"away; hazard class {req.hazard_class} needs ≥ {_m(lim)}",
                (lim - s.d_sensitive) / lim,
            )
        )
    for crit in FACILITY:
        need = getattr(req, NEED[crit])
        if not need:
            continue
        fl = ctx.facilities.get(crit) or []
        i = s.fac.get(crit, -1)
        if i < 0:
            if math.isfinite(s.nearest_fac_m.get(crit, math.inf)):
                out.append(_reach_failure(ctx, crit, s))
            continue  # no capacity data: reported as skipped by the criterion
        f = fl[i]
        if f.spare < need:
            zh, en = _capacity_text(ctx, crit, f, need, s)
            out.append(Failure(crit, zh, en, (need - f.spare) / need))
    if req.max_slope_deg is not None and s.slope is not None and s.slope > req.max_slope_deg:
        out.append(
            Failure(
                "slope",
                f"平均坡度 {s.slope:.1f}°，超过 {req.max_slope_deg:g}°",
                f"mean slope {s.slope:.1f}°, above {req.max_slope_deg:g}°",
                (s.slope - req.max_slope_deg) / max(req.max_slope_deg, 0.1),
            )
        )
    if req.max_flood_share is not None and s.flood is not None and s.flood > req.max_flood_share:
        out.append(
            Failure(
                "flood",
                f"易涝面积占 {s.flood:.0%}，超过 {req.max_flood_share:.0%}",
                f"{s.flood:.0%} flood-prone, above {req.max_flood_share:.0%}",
                (s.flood - req.max_flood_share) / max(req.max_flood_share, 0.01),
            )
        )
    for f, dest in DRIVE_FIELDS.items():
        lim = getattr(req, f)
        got = s.drive_min.get(dest)
        if lim is not None and (got is None or got > lim):
            zh_dest, en_dest = DRIVE_DEST_TEXT[dest]
            out.append(
                Failure(
                    f"drive_{dest}",
                    f"到{zh_dest}车程 {got:.1f} 分钟，超过 {lim:g} 分钟"
                    if got is not None
                    else f"路网上无法到达{zh_dest}",
                    f"{got:.1f} min drive to the {en_dest}, beyond {lim:g} min"
                    if got is not None
                    else f"no road route to the {en_dest}",
                    1.0 if got is None else (got - lim) / max(lim, 1.0),
                )
            )
    if (
        req.land_budget_wan is not None
        and s.price_total_wan is not None
        and s.price_total_wan > req.land_budget_wan
    ):
        cost = s.price_total_wan
        if confidential:
            zh = (
                f"按基准地价估算土地费用 {cost:,.0f} 万元，超出预算 {req.land_budget_wan:,.0f} 万元"
            )
            en = (
                f"land at the benchmark price costs about {cost:,.0f} wan yuan, over the "
                f"{req.land_budget_wan:,.0f} wan budget"
            )
        else:
            zh = f"按基准地价估算土地费用约 {cost:,.0f} 万元，不符合项目的用地费用条件"
            en = (
                f"land at the benchmark price costs about {cost:,.0f} wan yuan, outside "
                "the project's land-cost terms"
            )
        out.append(
            Failure("budget", zh, en, (cost - req.land_budget_wan) / max(req.land_budget_wan, 1.0))
        )
    return out


def _footprint(
    req: Requirement, s: Site, deadline: float | None = None
) -> tuple[Placement | None, Failure | None]:
    """The placement or the failure; :class:`FitTimeout` past ``deadline`` (undecided)."""
    if req.footprint_length_m is None or req.footprint_width_m is None:
        return None, None
    L, W = float(req.footprint_length_m), float(req.footprint_width_m)
    p = fit_rectangle(s.geom, L, W, deadline=deadline)
    if p is not None:
        # the verdict is within the tolerance; what is drawn lies inside the site
        p = drawn(s.geom, p)
    if p is None:
        mrr = s.geom.minimum_rotated_rectangle
        xy = np.asarray(mrr.exterior.coords)
        sides = sorted([float(np.hypot(*(xy[1] - xy[0]))), float(np.hypot(*(xy[2] - xy[1])))])
        return None, Failure(
            "footprint",
            f"{L:g}×{W:g} m 厂房在任何角度都放不下"
            f"（地块外接矩形约 {sides[1]:.0f}×{sides[0]:.0f} m）",
            f"a {L:g} × {W:g} m building fits at no angle (the site's bounding rectangle is "
            f"about {sides[1]:.0f} × {sides[0]:.0f} m)",
            FOOTPRINT_GAP,
        )
    return p, None


def _too_long(req: Requirement, parts: Sequence[Site]) -> Failure | None:
    """The footprint's failure on a group, proven from its members' bounds alone (the
    footprint is longer than the extent the closed union can have), or None: not proven."""
    if req.footprint_length_m is None or req.footprint_width_m is None:
        return None
    L, W = float(req.footprint_length_m), float(req.footprint_width_m)
    box = closed_bounds([p.geom.bounds for p in parts])
    if not too_long_for(box, L, W):
        return None
    span = math.hypot(box[2] - box[0], box[3] - box[1])
    return Failure(
        "footprint",
        f"{L:g}×{W:g} m 厂房长于地块范围（对角线不足 {span:.0f} m）",
        f"a {L:g} × {W:g} m building is longer than the site's extent (diagonal under "
        f"{span:.0f} m)",
        FOOTPRINT_GAP,
    )


def _listable(near: list[tuple[float, float, NearMiss]], gap: float, site: Site, k: int) -> bool:
    """Whether a near miss of ``site`` with ``gap`` could still rank among the first ``k`` of
    ``near`` (ordered as :func:`match` orders it): fewer than ``k`` come before it. The list
    only grows, so once False, False for good."""
    key = (gap, len(site.codes), site.codes)
    ahead = 0
    for g, _, nm in near:
        if (g, len(nm.site.codes), nm.site.codes) < key:
            ahead += 1
            if ahead >= k:
                return False
    return True


# --------------------------------------------------------------------------- criteria


def _clip(x: float) -> float:
    return float(min(100.0, max(0.0, x)))


_Add = Any  # the criterion recorder of :func:`_criteria`: add(name, score, zh, en)


def _criteria(
    ctx: Context, s: Site, placement: Placement | None, confidential: bool
) -> list[dict[str, Any]]:
    """Every weighted criterion of a site, each with its score 0–100 and bilingual reason
    (a criterion without data is listed with weight 0 and no score)."""
    req = ctx.req
    w = dict(DEFAULT_WEIGHTS)
    w.update({k: float(v) for k, v in (req.weights or {}).items() if k in DEFAULT_WEIGHTS})
    out: list[dict[str, Any]] = []

    def add(name: str, score: float | None, zh: str, en: str) -> None:
        out.append(
            {
                "name": name,
                "weight": 0.0 if score is None else w[name],
                "score": None if score is None else round(_clip(score), 1),
                "reason_zh": zh,
                "reason_en": en,
            }
        )

    _size_criteria(req, s, placement, add)
    _capacity_criteria(ctx, s, add)
    _access_criteria(req, s, add)
    _cost_criteria(req, s, confidential, add)
    _terrain_criteria(ctx, s, add)
    if req.gas_m3pd:
        add(
            "gas",
            100 if s.gas_svc else 100 * (1 - s.d_gas / 3000),
            ("已通燃气" if s.gas_svc else f"未通燃气，距燃气管网 {_m(s.d_gas)}")
            + f"，需求 {req.gas_m3pd:g} m³/日",
            ("gas connected" if s.gas_svc else f"no gas connection; main {_m(s.d_gas)} away")
            + f"; needs {req.gas_m3pd:g} m³/day",
        )
    if len(s.codes) > 1:
        add(
            "assembly",
            100 - 40 * (len(s.codes) - 1),
            f"需合并 {len(s.codes)} 宗相邻地块供地",
            f"{len(s.codes)} adjacent parcels assembled",
        )
    if s.own_reservation:
        out.append(
            {
                "name": "reserved_for_project",
                "weight": 0.0,
                "score": None,
                "reason_zh": "该地块已为本项目预留",
                "reason_en": "this parcel is already reserved for this project",
            }
        )
    return out


def _size_criteria(req: Requirement, s: Site, placement: Placement | None, add: _Add) -> None:
    """Area fit and, with a footprint, the shape."""
    a = s.area_mu
    lo, hi = req.min_area_mu, req.max_area_mu
    if lo is not None or hi is not None:
        lo_, hi_ = lo if lo is not None else hi, hi if hi is not None else lo
        mid = (lo_ + hi_) / 2
        # 1e-9 mu: a subnormal requirement (5e-324) made 0.05·mid underflow to a zero divisor
        half = max((hi_ - lo_) / 2, 0.05 * mid, 1e-9)
        add(
            "area_fit",
            100 - 60 * abs(a - mid) / half,
            f"面积 {a:.1f} 亩，要求 {lo_:g}–{hi_:g} 亩",
            f"{a:.1f} mu against {lo_:g}–{hi_:g} mu",
        )
    if placement is not None:
        L, W = req.footprint_length_m, req.footprint_width_m
        used = L * W / s.area_m2
        mrr_ratio = s.area_m2 / s.geom.minimum_rotated_rectangle.area
        add(
            "shape",
            100 * mrr_ratio,
            f"{L:g}×{W:g} m 厂房可放入（方位角 {placement.angle_deg:.0f}°），占地块 {used:.0%}；"
            f"地块规整度 {mrr_ratio:.0%}",
            f"the {L:g} × {W:g} m building fits (bearing {placement.angle_deg:.0f}° from grid "
            f"east), using {used:.0%} of the site; site regularity {mrr_ratio:.0%}",
        )


def _capacity_criteria(ctx: Context, s: Site, add: _Add) -> None:
    """Power, water and wastewater: headroom at the facility the capacity rule chose."""
    for crit in FACILITY:
        need = getattr(ctx.req, NEED[crit])
        if not need:
            continue
        fl = ctx.facilities.get(crit) or []
        i = s.fac.get(crit, -1)
        if i < 0:
            add(
                crit,
                None,
                f"无{KIND_ZH[FACILITY[crit]]}容量数据，未评估",
                f"no {FACILITY[crit].replace('_', ' ')} capacity on record; not assessed",
            )
            continue
        f = fl[i]
        zh, en = _capacity_text(ctx, crit, f, need, s)
        headroom = (f.spare - need) / max(f.capacity, 1e-9)
        add(crit, 40 + 60 * min(1.0, headroom / 0.5), zh, en)


def _access_criteria(req: Requirement, s: Site, add: _Add) -> None:
    """Rail access, trunk road, chain partners and servicing (七通一平)."""
    lim = req.rail_limit_m
    if lim is not None:
        add(
            "rail",
            100 * (1 - s.d_rail / max(2 * lim, 1.0)),
            f"距最近铁路专用线/货运站 {_m(s.d_rail)}（要求 ≤ {_m(lim)}）",
            f"{_m(s.d_rail)} to the nearest rail siding/freight station (limit {_m(lim)})",
        )
    road_lim = float(req.max_trunk_road_m) if req.max_trunk_road_m is not None else 2000.0
    add(
        "road",
        100 * (1 - s.d_road / max(2 * road_lim, 1.0)),
        f"距最近干线公路 {_m(s.d_road)}",
        f"{_m(s.d_road)} to the nearest trunk road",
    )
    if req.preferred_neighbours:
        roles = "、".join(req.preferred_neighbours)
        if s.chain_name is None or not math.isfinite(s.d_chain):
            add(
                "chain",
                0,
                f"园区内暂无上下游企业（{roles}）",
                f"no up/downstream firm ({', '.join(req.preferred_neighbours)}) in the park",
            )
        else:
            nz, ne = s.chain_name
            add(
                "chain",
                100 * max(0.0, 1 - s.d_chain / CHAIN_RADIUS_M) * 0.8
                + 20 * min(1.0, s.chain_count / 3),
                f"距上下游企业{nz} {_m(s.d_chain)}，{CHAIN_RADIUS_M / 1000:g} km 内有 "
                f"{s.chain_count} 家",
                f"{_m(s.d_chain)} from {ne}; {s.chain_count} chain partner(s) within "
                f"{CHAIN_RADIUS_M / 1000:g} km",
            )
    add(
        "servicing",
        100 * s.svc / 8,
        f"七通一平已完成 {s.svc:.0f}/8 项",
        f"{s.svc:.0f} of 8 site services in place (七通一平)",
    )


def _cost_criteria(req: Requirement, s: Site, confidential: bool, add: _Add) -> None:
    """Land cost against the budget (quoted only when confidential) or per mu."""
    if s.price_total_wan is None:
        add("cost", None, "无基准地价，未评估", "no benchmark land price; not assessed")
        return
    cost = s.price_total_wan
    if req.land_budget_wan:
        share = cost / req.land_budget_wan
        if confidential:
            zh = f"估算土地费用 {cost:,.0f} 万元，为预算的 {share:.0%}"
            en = f"land about {cost:,.0f} wan yuan, {share:.0%} of the budget"
        else:
            # The budget is confidential: "within budget" would bound it for anyone reading a
            # public brief, so public callers get the price alone.
            per_mu = cost / s.area_mu
            zh = f"基准地价 {per_mu:.1f} 万元/亩，合计约 {cost:,.0f} 万元"
            en = f"benchmark price {per_mu:.1f} wan/mu, about {cost:,.0f} wan yuan in all"
        add("cost", 100 * (1.2 - share) / 0.7, zh, en)
    else:
        per_mu = cost / s.area_mu
        add(
            "cost",
            100 - per_mu,
            f"基准地价 {per_mu:.1f} 万元/亩，合计约 {cost:,.0f} 万元",
            f"benchmark price {per_mu:.1f} wan/mu, about {cost:,.0f} wan yuan in all",
        )


def _terrain_criteria(ctx: Context, s: Site, add: _Add) -> None:
    """Slope and flood share, and the levelling cost, where terrain data is loaded."""
    if s.slope is None and s.flood is None:
        add(
            "terrain",
            None,
            "无地形数据（未加载 DEM/洪涝栅格），未评估",
            "no terrain data loaded (DEM/flood rasters); not assessed",
        )
        return
    slope, flood = s.slope or 0.0, s.flood or 0.0
    steepest_zh = f"（最陡 {s.slope_max:.1f}°）" if s.slope_max is not None else ""
    steepest_en = f" (steepest {s.slope_max:.1f}°)" if s.slope_max is not None else ""
    add(
        "terrain",
        100 - 10 * slope - 200 * flood,
        f"平均坡度 {slope:.1f}°{steepest_zh}，易涝面积占 {flood:.0%}",
        f"mean slope {slope:.1f}°{steepest_en}, {flood:.0%} flood-prone",
    )
    if s.earthwork_m3 is None:
        add("earthwork", None, "无土方估算，未评估", "no earthwork estimate; not assessed")
        return
    a = s.area_mu
    rate = ctx.earthwork_yuan_per_m3
    cost_wan = s.earthwork_m3 * rate / 10000.0
    per_mu = cost_wan / a if a > 0 else 0.0
    add(
        "earthwork",
        100 * (1 - per_mu / EARTHWORK_ZERO_WAN_PER_MU),
        f"场地平整土方约 {s.earthwork_m3:,.0f} m³（挖+填），按 {rate:g} 元/m³ 约 "
        f"{cost_wan:,.1f} 万元（{per_mu:.2f} 万元/亩）",
        f"levelling moves about {s.earthwork_m3:,.0f} m³ (cut + fill), about "
        f"{cost_wan:,.1f} wan yuan at {rate:g} yuan/m³ ({per_mu:.2f} wan/mu)",
    )


def _score(criteria: list[dict[str, Any]]) -> float:
    tw = sum(c["weight"] for c in criteria if c["score"] is not None)
    if tw <= 0:
        return 0.0
    return round(sum(c["weight"] * c["score"] for c in criteria if c["score"] is not None) / tw, 1)


# --------------------------------------------------------------------------- output

_TO_LONLAT: dict[int, Transformer] = {}


def _mapping(geom: BaseGeometry) -> dict[str, Any]:
    m = shapely.geometry.mapping(geom)
    return {"type": m["type"], "coordinates": _listify(m["coordinates"])}


def _listify(c: Any) -> Any:
    if isinstance(c, tuple | list):
        if c and isinstance(c[0], float | int):
            return [float(x) for x in c]
        return [_listify(x) for x in c]
    return c


@dataclass
class Match:
    site: Site
    placement: Placement | None
    criteria: list[dict[str, Any]]
    score: float

    def body(self) -> dict[str, Any]:
        fp = None
        if self.placement is not None:
            fp = _mapping(_to_lonlat(self.placement.geometry, self.site.srid))
        return {
            "parcels": list(self.site.codes),
            "score": self.score,
            "area_mu": round(self.site.area_mu, 4),
            "criteria": self.criteria,
            "footprint": fp,
        }


def _to_lonlat(geom: BaseGeometry, srid: int) -> BaseGeometry:
    t = _TO_LONLAT.get(srid)
    if t is None:
        t = _TO_LONLAT[srid] = Transformer.from_crs(srid, 4490, always_xy=True)
    g = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return shapely.set_precision(g, 1e-8)


@dataclass
class NearMiss:
    site: Site
    failure: Failure

    def body(self) -> dict[str, Any]:
        return {
            "parcels": list(self.site.codes),
            "failed": self.failure.name,
            "failed_zh": HARD_ZH.get(self.failure.name, self.failure.name),
            "reason_zh": self.failure.reason_zh,
            "reason_en": self.failure.reason_en,
        }


@dataclass
class MatchResult:
    requirement: Requirement
    matches: list[Match]
    near_misses: list[NearMiss]
    stats: dict[str, Any] = field(default_factory=dict)
    #: the date the project was judged on (:func:`judged_on`)
    judged_on: dt.date | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of ``parkgis match --json`` and ``GET /api/projects/{code}/matches``.

        ``incomplete`` appears only when the time budget ran out: the sites whose footprint
        was not decided are named, and are neither matches nor near misses.
        """
        out = {
            "project": self.requirement.public(),
            "judged_on": self.judged_on.isoformat() if self.judged_on else None,
            "matches": [m.body() for m in self.matches],
            "near_misses": [n.body() for n in self.near_misses],
            "assembly": _assembly_scope(self.stats.get("assembly")),
        }
        undecided = self.stats.get("undecided")
        if undecided:
            s = self.stats.get("time_budget_s")
            out["incomplete"] = {
                "reason_zh": f"计算时间超过 {s:g} 秒上限，以下地块的厂房布置未判定，未列入结果",
                "reason_en": f"the {s:g} s time budget ran out: whether the footprint fits "
                f"these sites was not decided, and they are not listed",
                "undecided": [list(c) for c in undecided],
            }
        return out


def _assembly_scope(scope: dict[str, Any] | None) -> dict[str, Any]:
    """Where groups of adjacent parcels were looked for (the body's ``assembly``)."""
    scope = scope or {"enabled": False, "zones": None}
    zones = scope["zones"]
    if not scope["enabled"]:
        zh, en = "未做相邻地块合并", "no parcels were assembled"
    elif zones is None:
        zh, en = (
            "在全部园区内合并相邻地块（默认）",
            "adjacent parcels assembled in every zone (default)",
        )
    else:
        zh = f"仅在 {len(zones)} 个园区内合并相邻地块：{'、'.join(zones)}"
        en = f"adjacent parcels assembled only in {len(zones)} zone(s): {', '.join(zones)}"
    return {"enabled": scope["enabled"], "zones": zones, "scope_zh": zh, "scope_en": en}


# --------------------------------------------------------------------------- the ranking


def match(
    conn: psycopg.Connection,
    req: Requirement,
    *,
    top: int = 10,
    near_miss_limit: int = 10,
    assemble: bool = True,
    confidential: bool = False,
    as_of: dt.date | None = None,
    siting: SitingSettings | None = None,
    reach: dict[str, float] | None = None,
    time_budget_s: float | None = None,
    assembly_zones: Sequence[str] | None = None,
) -> MatchResult:
    """Rank the sites where a project fits.

    Parameters
    ----------
    conn : psycopg.Connection
    req : Requirement
        A stored project's (:func:`load_requirement`) or an ad-hoc requirement.
    top : int
        Matches returned (best first).
    near_miss_limit : int
        Near misses returned (nearest first).
    assemble : bool
        Also consider groups of 2–3 adjacent available parcels.
    confidential : bool
        Whether reasons may quote the project's land budget (staff tools only).
    as_of : date, optional
        The date asked (default today). The project is judged on its start date, or on this
        date when the start date is earlier or unknown (:func:`judged_on`): infrastructure,
        servicing and capacity are what is in service then.
    siting : SitingSettings, optional
        The caller's siting settings (the levelling rate); default: the product defaults.
    reach : dict, optional
        Facility reach by kind where the data gives none (:data:`DEFAULT_REACH_M`).
    time_budget_s : float, optional
        Past this many seconds no more costly footprint searches start (the quick accepts
        and rejects still answer); the sites left undecided are reported in
        ``stats["undecided"]`` and the body's ``incomplete``. None: no limit (the CLI).
    assembly_zones : sequence of str, optional
        Zone codes groups of parcels are assembled in. Default None: every zone (at a
        province's 10^6 parcels 3.5–3.8 s; one county's or park's zones, well under
        the 5 s target). Singles are ranked everywhere either way. The body's ``assembly``
        says which applied.

    Returns
    -------
    MatchResult

    Long because its numpy-style docstring documents every parameter; the body is short.
    """
    if top < 0 or near_miss_limit < 0:
        raise InvalidInput("top and near_miss_limit must be ≥ 0")
    banded = req.min_area_mu is not None or req.max_area_mu is not None
    area_gap = NEAR_MISS_AREA_GAP if banded else None
    # A first pass reads only what can be a match; near misses failing one constraint other
    # than the footprint are read after it, by gap tiers, only while the list has room. Group
    # members are read apart: only those of a group that can be listed (:func:`_group_members`).
    memo: Memo = {}

    def build(grouped: bool = False, **kw: Any) -> Context:
        return _build_context(
            conn,
            req,
            as_of,
            prune=True,
            assemble=grouped,
            area_gap=area_gap,
            siting=siting,
            reach=reach,
            pool_zones=assembly_zones,
            memo=memo,
            **kw,
        )

    ctx = build(first_pass=True)
    stats: dict[str, Any] = {
        "candidates": len(ctx.sites),
        "footprint_tests": 0,
        "undecided": [],
        "time_budget_s": time_budget_s,
        "assembly": {
            "enabled": assemble,
            "zones": sorted(set(assembly_zones)) if assembly_zones is not None else None,
        },
    }
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    ranked = _rank_singles(ctx, confidential, stats, deadline)
    _one_failure_near_misses(
        req, ranked, build, area_gap, near_miss_limit, confidential, stats, deadline
    )
    matches, near = ranked.matches, ranked.near
    if assemble:
        codes, groups = _group_members(conn, req, assembly_zones)
        members = build(True, only_zones=assembly_zones, codes=codes)
        stats["candidates_members"] = len(members.sites)
        _assemble(
            members,
            groups,
            ranked.single_ok,
            matches,
            near,
            top,
            near_miss_limit,
            confidential,
            stats,
            deadline,
        )

    matches.sort(key=lambda m: (-m.score, len(m.site.codes), m.site.codes))
    near.sort(key=lambda t: (t[0], len(t[2].site.codes), t[2].site.codes))
    return MatchResult(req, matches[:top], [n for _, _, n in near[:near_miss_limit]], stats, ctx.on)


@dataclass
class _Ranked:
    """Singles sorted so far: matches, near misses (gap, 0, miss), the codes matching alone
    and the sites failing exactly one constraint other than the footprint."""

    matches: list[Match] = field(default_factory=list)
    near: list[tuple[float, float, NearMiss]] = field(default_factory=list)
    single_ok: set[str] = field(default_factory=set)
    one_off: list[tuple[Site, Failure]] = field(default_factory=list)


def _rank_singles(
    ctx: Context, confidential: bool, stats: dict[str, Any], deadline: float | None = None
) -> _Ranked:
    """Every single site of ``ctx``: a match, a footprint near miss, or one failure."""
    out = _Ranked()
    for s in ctx.sites:
        if s.staged_fails >= 2:
            continue  # a group member only: neither a match nor a near miss
        fails = _hard(ctx, s, confidential=confidential)
        if len(fails) == 1:
            out.one_off.append((s, fails[0]))
        elif not fails:
            stats["footprint_tests"] += 1
            try:
                placement, fp_fail = _footprint(ctx.req, s, deadline)
            except FitTimeout:
                stats["undecided"].append(s.codes)
                continue
            if fp_fail is None:
                crit = _criteria(ctx, s, placement, confidential)
                out.matches.append(Match(s, placement, crit, _score(crit)))
                out.single_ok.add(s.codes[0])
            else:
                out.near.append((fp_fail.gap, 0.0, NearMiss(s, fp_fail)))
    return out


def _one_failure_near_misses(
    req: Requirement,
    ranked: _Ranked,
    build: Any,
    area_gap: float | None,
    near_miss_limit: int,
    confidential: bool,
    stats: dict[str, Any],
    deadline: float | None = None,
) -> None:
    """Near misses failing one constraint other than the footprint (they must still hold the
    footprint), nearest first, while one could still rank among the nearest
    ``near_miss_limit``. After a first pass, reads the parcels it left out in tiers of gap
    (:data:`NEAR_MISS_TIERS`: each read only as wide as the list could still take), then
    those outside the area band, each only when they could still make the list.

    Long (over 80 lines) with its comments: one loop whose three steps (read more, widen the band,
    test the next) share the cursor ``k`` and the list; split, they would pass it all around.
    """
    near = ranked.near
    cutoff: list[float] = [-1, 0.0]  # (len(near) it was computed at, k-th smallest gap)

    def kth() -> float:
        """The largest gap that can still enter the list (∞ while it is not full)."""
        if len(near) < near_miss_limit:
            return math.inf
        # the list only grows: its k-th smallest gap is recomputed only when it has
        if cutoff[0] != len(near):
            cutoff[:] = [len(near), heapq.nsmallest(near_miss_limit, (t[0] for t in near))[-1]]
        return cutoff[1]

    def room(gap: float) -> bool:
        # footprint near misses found so far may already fill the list, but only with
        # their own gap
        return near_miss_limit > 0 and gap <= kth()

    def one_failure(ctx: Context, above: float) -> list[tuple[Site, Failure]]:
        return [
            (s, f[0])
            for s in ctx.sites
            if len(f := _hard(ctx, s, confidential=confidential)) == 1 and f[0].gap > above
        ]

    one_off = sorted(ranked.one_off, key=_gap_order)
    k = 0
    # one_off holds every one-failure site with a gap up to `upto` (after a first pass: none)
    upto = -math.inf
    tiers = iter(NEAR_MISS_TIERS)
    while True:
        nxt = one_off[k][1].gap if k < len(one_off) else math.inf
        if nxt > upto:
            # Every site up to `upto` is tested; a site not read yet may come before the next
            # one. Read the next tier of gaps (never beyond what could still enter the list:
            # once it is full, its k-th smallest gap), keeping the sites not tested yet.
            if upto == math.inf or not room(math.nextafter(upto, math.inf)):
                break
            bound = min(next(tiers), kth())
            ctx = build(members=False, max_gap=bound if math.isfinite(bound) else None)
            stats["candidates_full"] = stats.get("candidates_full", 0) + len(ctx.sites)
            one_off, k, upto = sorted(one_failure(ctx, upto), key=_gap_order), 0, bound
            continue
        if area_gap is not None and nxt > area_gap:
            # The parcels left out by the area band fail on area by a larger gap: they rank
            # after everything tested so far, so they are read now, and only if they could
            # still make the list.
            if not room(area_gap):
                break
            rest = build(outside_band=True, max_gap=upto if math.isfinite(upto) else None)
            stats["candidates_outside_band"] = len(rest.sites)
            one_off[k:] = sorted(one_off[k:] + one_failure(rest, -math.inf), key=_gap_order)
            area_gap = None
            continue
        if k >= len(one_off) or not room(nxt):
            break
        s, f = one_off[k]
        k += 1
        stats["footprint_tests"] += 1
        try:
            if _footprint(req, s, deadline)[1] is None:
                near.append((f.gap, 0.0, NearMiss(s, f)))
        except FitTimeout:
            stats["undecided"].append(s.codes)


def _gap_order(t: tuple[Site, Failure]) -> tuple[float, tuple[str, ...]]:
    return t[1].gap, tuple(t[0].codes)


#: The gaps the near-miss read of a first pass widens through: a read bounded by a gap reads
#: only the parcels that can fail by at most that much (at 10^6 a few thousand instead of
#: ~10^5), and the next tier is read only if the list is not full with gaps up to it.
NEAR_MISS_TIERS = (0.25, 1.0, math.inf)


#: :func:`match` first reads no parcel whose area misses the project's range by more than this
#: share (at a province's scale they are most of the land). Such a parcel can only be a near
#: miss failing on area, ranked after every nearer one; they are read only if the near-miss
#: list gets that far.
NEAR_MISS_AREA_GAP = 0.25


#: Assembled groups whose footprint is tested at most (best pre-scored first).
MAX_GROUP_FOOTPRINT_TESTS = 400


def _pool(ctx: Context, single_ok: set[str], only: Sequence[str] | None) -> list[Site]:
    """Parcels a group may use: usable on their own terms, no match alone, in the zones
    assembly is narrowed to (``only``; None: every zone)."""
    zones = set(only) if only is not None else None
    mx = ctx.req.max_area_mu
    return [
        s
        for s in ctx.sites
        if (zones is None or s.zone in zones)
        and s.status_ok
        and s.landuse_ok
        and s.codes[0] not in single_ok
        and (mx is None or s.area_mu < mx)
    ]


#: The parcels a group may use, read wider than :func:`_pool` (which needs the sites built):
#: no single match left out; the candidate read's status and land use; under the project's
#: largest area (loosened as the candidate read is); ``extra``: the benchmark price per mu.
GROUP_POOL_SQL = """
SELECT p.id, p.code, p.area_m2, p.land_price_wan_per_mu::float8 AS extra
  FROM parcels p
 WHERE p.status IN ('available', 'reserved', 'listed')
   AND (p.status = 'available' OR COALESCE(p.project_code = %(project)s, false))
   AND (%(lu_any)s OR p.landuse_code LIKE ANY(%(lu_like)s::text[]))
   AND (%(max_m2)s::float8 IS NULL OR p.area_m2 < %(max_m2)s)
   AND (%(zones)s::text[] IS NULL OR p.zone_code = ANY(%(zones)s))
"""

#: Whether parcels ``codes`` can lie within the rail and the road bound (:func:`_near_sql`
#: as flags: the own zone's reach on the row, the other zones' parcels near a feature joined;
#: as IN, a set the planner overestimates would be scanned once per parcel).
NEAR_FLAGS_SQL = """
SELECT p.code, {rail}, {road}
  FROM parcels p
  LEFT JOIN parcel_reach r ON r.parcel_id = p.id {joins}
 WHERE p.code = ANY(%(codes)s)
"""


def _group_members(
    conn: psycopg.Connection, req: Requirement, zones: Sequence[str] | None
) -> tuple[list[str], list[tuple[str, ...]]]:
    """The groups of adjacent parcels that can be a match or a near miss, and their parcels,
    read before any site is built.

    The pool read here holds :func:`_pool`'s (wider: no site built, no single match known),
    the size test is :func:`_group_candidates`'s loosened by 1e-9, and a group is left out
    only when it fails two hard constraints for sure (:func:`_sure_failures`: area and
    budget from the pool's rows, then rail and road read for the members of the groups still
    in), so the groups hold every group :func:`_group_candidates` keeps. The parcels of no
    such group are never measured: at 10^6 parcels, an assembly in every zone measured
    177 000 parcels before.
    """
    prefixes = tuple(str(c) for c in req.landuse_codes)
    params: dict[str, Any] = {
        "project": req.code,
        "lu_any": not prefixes,
        "lu_like": [p + "%" for p in prefixes],
        "max_m2": req.max_area_mu * MU_M2 * (1 + 1e-9) if req.max_area_mu is not None else None,
        "zones": sorted(set(zones)) if zones is not None else None,
    }
    lo, hi = req.min_area_mu, req.max_area_mu
    found = assembly.sized_groups(
        conn,
        GROUP_POOL_SQL,
        params,
        min_group_m2=lo * 0.8 * MU_M2 * (1 - 1e-9) if lo is not None else None,
        max_group_m2=hi * 1.2 * MU_M2 * (1 + 1e-9) if hi is not None else None,
    )
    # the price as _row_checks computes it (NULL: NaN, unknown, so never over a budget)
    price = np.array(found.extra, dtype=float) * found.area_m2 / MU_M2
    area_s, price_s = found.slots(found.area_m2, 0.0), found.slots(price, 0.0)
    near = np.ones((len(found.codes), 2), dtype=bool)  # not read yet: may be near
    sure = _sure_failures(
        req, area_s, price_s, found.slots(near[:, 0], False), found.slots(near[:, 1], False)
    )
    todo = np.unique(found.rows[sure <= 1])
    todo = todo[todo >= 0]
    flags = _near_flags(conn, req, [found.codes[i] for i in todo.tolist()])
    if flags is not None:
        near[todo] = flags
        sure = _sure_failures(
            req, area_s, price_s, found.slots(near[:, 0], False), found.slots(near[:, 1], False)
        )
    kept = found.tuples(sure <= 1)
    return sorted({c for g in kept for c in g}), kept


def _near_flags(conn: psycopg.Connection, req: Requirement, codes: list[str]) -> np.ndarray | None:
    """Whether each of ``codes`` can lie within the rail and the road bound (len × 2; None
    when the project sets neither)."""
    road = req.max_trunk_road_m
    limits = {"rail": req.rail_limit_m, "road": None if road is None else float(road)}
    if all(v is None for v in limits.values()) or not codes:
        return None
    params: dict[str, Any] = {"codes": codes}
    near, joins = {}, ""
    for c, lim in limits.items():
        if lim is None:
            near[c] = "true"
            continue
        # as the candidate read bounds a first pass (gap 0), with the same hair of slack
        params[f"{c}_t"] = lim * (1 + 1e-9) + 1e-6
        params[f"{c}_kinds"] = list(DISTANCES[c][1])
        joins += f" LEFT JOIN ({_near_other_zone_sql(c)}) x_{c}(id) ON x_{c}.id = p.id"
        near[c] = f"(coalesce({_near_own_sql(c)}, false) OR x_{c}.id IS NOT NULL)"
    sql = (
        NEAR_FLAGS_SQL.replace("{rail}", near["rail"])
        .replace("{road}", near["road"])
        .replace("{joins}", joins)
    )
    with conn.cursor(row_factory=tuple_row) as cur:
        got = {code: (rail, rd) for code, rail, rd in cur.execute(sql, params)}
    # a parcel gone since the pool's read (another transaction) is only "maybe near"
    return np.array([got.get(c, (True, True)) for c in codes], dtype=bool).reshape(len(codes), 2)


def _sure_failures(
    req: Requirement,
    area_m2: np.ndarray,
    price_wan: np.ndarray,
    near_rail: np.ndarray,
    near_road: np.ndarray,
) -> np.ndarray:
    """How many hard constraints each group surely fails, from its members' rows alone
    (groups × 3 arrays, members in the group's order, a pair's third slot 0 / False; a price
    NaN where unknown): area and budget by :func:`_hard`'s comparisons on the figures
    :func:`_combine` sums (slot by slot, as it does: to the bit), rail and road when no
    member can lie within the bound. A lower bound of ``len(_hard(...))`` per group.

    Examples
    --------
    >>> req = Requirement(min_area_mu=100, max_area_mu=200, land_budget_wan=1000)
    >>> mu = MU_M2
    >>> area = np.array([[40 * mu, 40 * mu, 0.0], [40 * mu, 40 * mu, 30 * mu]])
    >>> price = np.array([[600.0, 600.0, 0.0], [600.0, 600.0, np.nan]])
    >>> rail = np.array([[True, True, False], [True, True, False]])
    >>> road = np.array([[False, False, False], [False, False, True]])
    >>> _sure_failures(req, area, price, rail, road).tolist()  # 80 mu, 1200 wan, no road
    [3, 0]
    """
    mu = (area_m2[:, 0] + area_m2[:, 1] + area_m2[:, 2]) / MU_M2
    n = np.zeros(len(mu), dtype=int)
    if req.min_area_mu is not None:
        n += mu < req.min_area_mu
    if req.max_area_mu is not None:
        n += mu > req.max_area_mu
    if req.land_budget_wan is not None:
        # NaN (a price unknown) compares False: no budget failure, as _hard
        n += (price_wan[:, 0] + price_wan[:, 1] + price_wan[:, 2]) > req.land_budget_wan
    n += ~near_rail.any(axis=1)
    n += ~near_road.any(axis=1)
    return n


def _assemble(
    ctx: Context,
    groups: list[tuple[str, ...]],
    single_ok: set[str],
    matches: list[Match],
    near: list[tuple[float, float, NearMiss]],
    top: int,
    near_miss_limit: int,
    confidential: bool,
    stats: dict[str, Any],
    deadline: float | None = None,
) -> None:
    """Groups of 2–3 adjacent parcels, each usable on its own terms, none a match alone;
    ``groups``: those of a pool holding this one, of about the right size
    (:func:`_group_members`)."""
    req = ctx.req
    pool = {s.codes[0] for s in _pool(ctx, single_ok, stats.get("assembly", {}).get("zones"))}
    groups = [g for g in groups if all(c in pool for c in g)]
    stats["groups"] = len(groups)
    cands = _group_candidates(ctx, groups, confidential)
    found = 0
    for _pre, site, fails in cands[:MAX_GROUP_FOOTPRINT_TESTS]:
        if not fails and found >= top:
            continue
        if fails and len(near) >= 2 * near_miss_limit:
            continue
        stats["footprint_tests"] += 1
        # A footprint longer than the group's extent fails without the union (a 3000 x 10 m
        # warehouse on the sample: 400 unions). Its near miss keeps its place in the list
        # (later groups are tested while the list is short); the union is built for its
        # usual wording only if it could be shown.
        short = _too_long(req, [ctx.by_code[c] for c in site.codes])
        if short is not None and fails:
            continue  # two failures: neither a match nor a near miss
        if short is not None and not _listable(near, short.gap, site, near_miss_limit):
            near.append((short.gap, 0.0, NearMiss(site, short)))
            continue
        try:
            placement, fp_fail = _footprint(req, _union_geometry(site, ctx), deadline)
        except FitTimeout:
            stats["undecided"].append(site.codes)
            continue
        if not fails and fp_fail is None:
            crit = _criteria(ctx, site, placement, confidential)
            matches.append(Match(site, placement, crit, _score(crit)))
            found += 1
        elif not fails and fp_fail is not None:
            near.append((fp_fail.gap, 0.0, NearMiss(site, fp_fail)))
        elif fails and fp_fail is None:
            near.append((fails[0].gap, 0.0, NearMiss(site, fails[0])))


def _group_candidates(
    ctx: Context, groups: Iterable[Sequence[str]], confidential: bool
) -> list[tuple[float, Site, list[Failure]]]:
    """Groups within the area bounds failing at most one hard constraint, screened on their
    members' figures (no union yet), best first: no failure, then by score."""
    req = ctx.req
    cands: list[tuple[float, Site, list[Failure]]] = []
    for g in groups:
        parts = [ctx.by_code[c] for c in g]
        area_mu = sum(p.area_m2 for p in parts) / MU_M2
        if req.min_area_mu is not None and area_mu < req.min_area_mu * 0.8:
            continue
        if req.max_area_mu is not None and area_mu > req.max_area_mu * 1.2:
            continue
        site = _combine(parts, with_geometry=False)
        fails = _hard(ctx, site, confidential=confidential)
        if len(fails) > 1:
            continue
        crit = _criteria(ctx, site, None, confidential)
        cands.append((_score(crit), site, fails))
    cands.sort(key=lambda t: (len(t[2]), -t[0], t[1].codes))
    return cands


@dataclass
class SiteVerdict:
    """The engine's verdict on one parcel for one requirement (whatever its rank)."""

    code: str
    score: float
    failures: list[Failure]
    criteria: list[dict[str, Any]]
    placement: Placement | None


def evaluate_site(
    conn: psycopg.Connection,
    req: Requirement,
    code: str,
    as_of: dt.date | None = None,
    *,
    siting: SitingSettings | None = None,
    reach: dict[str, float] | None = None,
) -> SiteVerdict | None:
    """Score one parcel with the same checks and criteria :func:`match` ranks by (judged on
    the same date, :func:`judged_on`).

    A brief needs the verdict on *its* parcel even when that parcel is not in the top list.
    Returns ``None`` when the parcel is not a candidate at all (not open to supply).
    """
    ctx = _build_context(conn, req, as_of, codes=[code], siting=siting, reach=reach)
    site = ctx.by_code.get(code)
    if site is None:
        return None
    failures = _hard(ctx, site, confidential=False)
    placement = None
    if req.footprint_length_m is not None:
        placement, fp_fail = _footprint(req, site)
        if fp_fail is not None:
            failures.append(fp_fail)
    criteria = _criteria(ctx, site, placement, False)
    return SiteVerdict(code, _score(criteria), failures, criteria, placement)


def match_project(conn: psycopg.Connection, code: str, **kw: Any) -> MatchResult:
    """:func:`match` for a stored project (NotFound for an unknown code)."""
    return match(conn, load_requirement(conn, code), **kw)


def parcel_scores(result: MatchResult) -> dict[str, float]:
    """Best score per parcel code among the matches (for maps)."""
    out: dict[str, float] = defaultdict(float)
    for m in result.matches:
        for c in m.site.codes:
            out[c] = max(out[c], m.score)
    return dict(out)
