"""The parcel sheet: everything the investor map shows when a parcel is clicked.

One function, :func:`parcel_sheet`, used by ``GET /api/parcels/{code}/sheet`` (and usable by
the CLI or the brief). Only public fields (see :mod:`parkgis.db.collections`) leave here: never
``note_internal`` nor an enterprise's contact.

Distances are metres in the parcel's CGCS2000 Gauss-Krüger projection, measured the way
:mod:`parkgis.siting.search` measures them (``ST_SetSRID(geom_gk, 0)`` between rows of the same
``gk_srid``), so the sheet and the search list never disagree about the same distance.

Everything is as of a date (``as_of``, default today; issue #13): 七通一平 and the key
distances come from what is in service then (``svc_as_of``/``infra_as_of``, migration 0011),
rail access by the one definition (:data:`parkgis.siting.search.RAIL_ACCESS_KINDS`), and upgrades
past
their finish date but not complete, or a holding project past its start date, are flagged
``overdue``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.db.collections import svc_join, svc_sql
from parkgis.errors import InvalidInput, NotFound
from parkgis.jsonvalues import jsonable
from parkgis.land.lifecycle import park_today
from parkgis.publish.i18n import quantity
from parkgis.vocabulary import DISTANCES, SERVICES

#: Radius (m) within which infrastructure counts as "nearby" on the sheet.
NEARBY_M = 2000.0
#: An upgrade within this distance (m) of the parcel is listed as serving it.
UPGRADE_SERVE_M = 1500.0
ANCHORS = 5
CODE_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

PARCEL_SQL = """
SELECT p.code, p.zone_code, z.name_zh AS zone_name_zh, z.name_en AS zone_name_en,
       z.status AS zone_status, p.status, p.landuse_code, p.landuse_alias,
       p.area_m2, p.area_mu, p.area_ha,
       {svc}, p.land_price_wan_per_mu, p.reserved_until,
       pr.code AS project_code, pr.stage AS project_stage, pr.start_date AS project_start,
       project_past_start(pr.stage, pr.start_date, %(as_of)s) AS project_overdue,
       p.enterprise_code, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,
       pt.elev_mean_m, pt.slope_mean_deg, pt.flood_share,
       p.gk_srid,
       ST_X(ST_PointOnSurface(p.geom)) AS lon, ST_Y(ST_PointOnSurface(p.geom)) AS lat,
       ST_XMin(p.geom) AS xmin, ST_YMin(p.geom) AS ymin,
       ST_XMax(p.geom) AS xmax, ST_YMax(p.geom) AS ymax
  FROM parcels p
  JOIN zones z ON z.code = p.zone_code
  LEFT JOIN enterprises e ON e.code = p.enterprise_code
  LEFT JOIN parcel_terrain pt ON pt.parcel_code = p.code
  LEFT JOIN projects pr ON pr.code = p.project_code
  {svc_join}
 WHERE p.code = %(code)s AND p.status <> 'historic'
""".replace(
    "{svc}", ",\n       ".join(f"{svc_sql(s, '%(as_of)s', 'p')} AS svc_{s}" for s in SERVICES)
).replace("{svc_join}", svc_join("p"))

# The nearest feature of each kind within NEARBY_M (existing, planned or under construction),
# and whether it is in service on the date asked.
NEARBY_INFRA_SQL = """
SELECT DISTINCT ON (i.kind)
       i.code, i.kind, i.name_zh, i.name_en, i.status, i.capacity, i.capacity_unit,
       i.voltage_kv, i.diameter_mm,
       i.code IN (SELECT f.code FROM infra_as_of(%(as_of)s) f) AS in_service,
       ST_Distance(ST_SetSRID(i.geom_gk, 0), ST_SetSRID(p.geom_gk, 0)) AS distance_m
  FROM parcels p
  JOIN infrastructure i
    ON i.gk_srid = p.gk_srid
   AND ST_DWithin(ST_SetSRID(i.geom_gk, 0), ST_SetSRID(p.geom_gk, 0), %(radius)s)
 WHERE p.code = %(code)s
 ORDER BY i.kind, distance_m, i.code
"""

# Key distances, one per search category, exactly as parkgis.siting.search reports them: to what is
# in service on the date asked (a completed upgrade's works by its own code).
KEY_DISTANCE_SQL = """
SELECT ST_Distance(ST_SetSRID(i.geom_gk, 0), ST_SetSRID(p.geom_gk, 0)) AS m,
       i.code, i.name_zh, i.name_en
  FROM parcels p
  JOIN infra_as_of(%(as_of)s) i ON i.gk_srid = p.gk_srid
 WHERE p.code = %(code)s AND i.kind = ANY(%(kinds)s)
 ORDER BY ST_SetSRID(i.geom_gk, 0) <-> ST_SetSRID(p.geom_gk, 0)
 LIMIT 1
"""

# The status on the date %(as_of)s of an upgrade ``u`` not complete then: one recorded complete
# later, or under way but starting later, was under way -- or planned, before its start -- on
# that date (a status only goes planned -> under_way -> completed). The investor map's
# upgrades layer says the same (parkgis.publish.maps.investor).
UPGRADE_STATUS_SQL = (
    "CASE WHEN u.status = 'planned' OR u.start_date > %(as_of)s::date "
    "THEN 'planned' ELSE 'under_way' END"
)

# Upgrades not complete by the date asked near the parcel: what will serve it, and when, with
# their status then; ``overdue`` past the finish date.
UPGRADES_SQL = f"""
SELECT u.code, u.kind, u.name_zh, u.name_en, {UPGRADE_STATUS_SQL} AS status,
       u.capacity_added, u.capacity_unit,
       u.cost_wan, u.start_date, u.finish_date, u.infra_code,
       upgrade_overdue(u.status, u.finish_date, %(as_of)s) AS overdue,
       ST_Distance(ST_SetSRID(u.geom_gk, 0), ST_SetSRID(p.geom_gk, 0)) AS distance_m
  FROM parcels p
  JOIN upgrades u
    ON u.gk_srid = p.gk_srid
   AND ST_DWithin(ST_SetSRID(u.geom_gk, 0), ST_SetSRID(p.geom_gk, 0), %(radius)s)
 WHERE p.code = %(code)s AND NOT upgrade_done(u.status, u.finish_date, %(as_of)s)
 ORDER BY u.finish_date NULLS LAST, distance_m, u.code
"""

ANCHORS_SQL = """
SELECT e.code, e.name_zh, e.name_en, e.industry, e.chain_role, e.is_anchor,
       ST_Distance(ST_SetSRID(e.geom_gk, 0), ST_SetSRID(p.geom_gk, 0)) AS distance_m
  FROM parcels p
  JOIN enterprises e ON e.gk_srid = p.gk_srid
 WHERE p.code = %(code)s AND e.is_anchor
 ORDER BY ST_SetSRID(e.geom_gk, 0) <-> ST_SetSRID(p.geom_gk, 0), e.code
 LIMIT %(n)s
"""


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in r.items()}


#: Sheet distance categories measured on the road network (parkgis.geo.network destination).
DRIVE_CATEGORIES: dict[str, str] = {"rail": "rail_yard"}


def _add_drive(conn: psycopg.Connection, code: str, distances: dict[str, Any]) -> None:
    """Network figures beside the straight ones (design §4b): ``drive_m``/``drive_min`` on a
    category whose feature has a route, and the access destinations (interchange, rail yard,
    county seat, cities) under ``distances.<dest>`` in the same shape, ``estimate`` marking
    those beyond the network."""
    from parkgis.geo import network

    access = network.parcel_access(conn, code)
    for cat, dest in DRIVE_CATEGORIES.items():
        a = access.get(dest)
        d = distances.get(cat)
        if a and d and d.get("code") == a["code"] and not a["estimate"]:
            d["drive_m"], d["drive_min"] = a["drive_m"], a["drive_min"]
    # nearest first as the model lists them (interchange ... airport), not alphabetically
    for dest, (zh, en) in network.DESTINATIONS.items():
        if a := access.get(dest):
            distances.setdefault(dest, {"label_zh": zh, "label_en": en, **a})


def parcel_sheet(
    conn: psycopg.Connection, code: str, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The public sheet of one live parcel.

    Parameters
    ----------
    conn : psycopg.Connection
    code : str
        Parcel code, e.g. ``WH-A-012``.
    as_of : date, optional
        What is in service on this date (default: today in the park).

    Returns
    -------
    dict
        ``parcel`` (fields, ``services`` as {name: bool}, ``centre`` [lon, lat], ``bbox``),
        ``as_of``, ``distances`` (per search category: metres and the feature),
        ``nearby_infrastructure`` (nearest per kind within :data:`NEARBY_M`, with
        ``in_service``), ``upgrades`` (not complete by ``as_of``, within
        :data:`UPGRADE_SERVE_M`, soonest first, ``overdue`` past their finish date),
        ``anchors`` (nearest anchor enterprises) and ``links`` (brief, permalink hash). The
        parcel carries ``project_overdue`` (its project past its start date, not started).

    Raises
    ------
    InvalidInput
        ``code`` is not a parcel code.
    NotFound
        No live parcel has that code.

    Long because the sheet's sections are assembled in the order they are shown.
    """
    import re

    if not re.match(CODE_RE, code or ""):
        raise InvalidInput(f"地块编号格式错误 / not a parcel code: {code!r}")
    as_of = as_of or park_today()
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(PARCEL_SQL, {"code": code, "as_of": as_of}).fetchone()
    if row is None:
        raise NotFound(f"没有编号为 {code} 的地块 / no parcel {code}")
    p = _row(row)
    p["services"] = {s: bool(p.pop(f"svc_{s}")) for s in SERVICES}
    p["services_count"] = sum(p["services"].values())
    p["centre"] = [p.pop("lon"), p.pop("lat")]
    p["bbox"] = [p.pop("xmin"), p.pop("ymin"), p.pop("xmax"), p.pop("ymax")]

    distances: dict[str, Any] = {}
    for cat, (_param, kinds, zh, en) in DISTANCES.items():
        d = cur.execute(
            KEY_DISTANCE_SQL, {"code": code, "kinds": list(kinds), "as_of": as_of}
        ).fetchone()
        distances[cat] = {"label_zh": zh, "label_en": en, **(_row(d) if d else {"m": None})}
    _add_drive(conn, code, distances)
    nearby = [
        _row(r)
        for r in cur.execute(
            NEARBY_INFRA_SQL, {"code": code, "radius": NEARBY_M, "as_of": as_of}
        ).fetchall()
    ]
    nearby.sort(key=lambda r: r["distance_m"])
    upgrades = [
        _row(r)
        for r in cur.execute(
            UPGRADES_SQL, {"code": code, "radius": UPGRADE_SERVE_M, "as_of": as_of}
        ).fetchall()
    ]
    for u in upgrades:
        # Pre-formatted so every reader of the sheet rounds alike (2.6 km, not "+3 km").
        u["capacity_text"] = (
            None
            if u.get("capacity_added") is None
            else quantity(u["capacity_added"], u.get("capacity_unit"), sign=True)
        )
    anchors = [_row(r) for r in cur.execute(ANCHORS_SQL, {"code": code, "n": ANCHORS})]
    return {
        "parcel": p,
        "as_of": as_of.isoformat(),
        "distances": distances,
        "nearby_infrastructure": nearby,
        "upgrades": upgrades,
        "anchors": anchors,
        "links": {
            "brief_pdf": f"/api/parcels/{code}/brief.pdf",
            "brief_html": f"/api/parcels/{code}/brief.html",
            "map": f"/#sel={code}",
        },
    }
