"""Road-network access (issue #15): drive distances and times, and drive-time areas.

The graph, the per-parcel figures and the model's assumptions live in the database (migration
0012: ``road_speeds``, ``network_params``, ``road_edges``, ``parcel_access``); this module
refreshes them and answers the questions the sheet, the brief, search, fit and the map ask.

The model, documented here because every figure depends on it:

* Roads of the kinds in ``road_speeds`` (expressway 100, national road 60, trunk road 40, local
  street 25 km/h — loaded trucks) are noded where they cross; the expressway joins the other
  roads only at interchanges (where it meets a national or trunk road; the sample's are
  illustrative, like its road layout).
* A parcel or destination joins the network at the nearest point of the nearest road a truck
  may enter (not the expressway); the gap between them is driven at ``off_network_kmh``.
* A destination farther than ``max_access_m`` from the network (Xinxiang, Zhengzhou, the
  airport) is estimated: straight line × ``detour_factor`` at ``estimate_kmh``, marked
  ``estimate: true``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row, tuple_row

from parkgis.errors import InvalidInput

PARK_TZ = ZoneInfo("Asia/Shanghai")

#: Destination categories: sheet/brief key -> (label zh, label en).
DESTINATIONS: dict[str, tuple[str, str]] = {
    "interchange": ("高速互通立交", "expressway interchange"),
    "rail_yard": ("公铁物流园货运站", "rail freight yard"),
    "county_seat": ("卫辉市区", "county seat"),
    "xinxiang": ("新乡市", "Xinxiang"),
    "zhengzhou": ("郑州市", "Zhengzhou"),
    "airport": ("郑州新郑国际机场", "Zhengzhou Xinzheng airport"),
}

#: Search/fit fields "drive time to X <= N minutes": field name -> destination category.
DRIVE_LIMITS: dict[str, str] = {f"max_drive_min_{k}": k for k in DESTINATIONS}

#: Drive-time areas: allowed minutes and how many thresholds one request may ask for.
ISOCHRONE_MAX_MIN = 60
ISOCHRONE_MAX_N = 6


# After a full build: what it was built from (migration 0015).
BUILT_SQL = """
INSERT INTO network_builds (id, inputs, built_for, built_at)
VALUES (true, network_inputs(%(d)s), %(d)s, now())
ON CONFLICT (id) DO UPDATE
   SET inputs = EXCLUDED.inputs, built_for = EXCLUDED.built_for, built_at = EXCLUDED.built_at
"""
# Whether the inputs on a date differ from those of the last full build (true: never built).
STALE_SQL = """
SELECT network_inputs(%(d)s) IS DISTINCT FROM (SELECT b.inputs FROM network_builds b)
"""


def refresh(
    conn: psycopg.Connection, codes: list[str] | None = None, as_of: dt.date | None = None
) -> int:
    """Rebuild the graph and every parcel's access (``codes`` None), or only the named parcels'
    access (a split's children, a merge's result). Runs in the caller's transaction.

    Returns
    -------
    int
        Rows in ``parcel_access`` written.
    """
    # tuple rows whatever the connection's row factory (the API's pool hands out dict rows)
    cur = conn.cursor(row_factory=tuple_row)
    if codes is None:
        day = as_of or _today()
        cur.execute("SELECT refresh_road_network(%s)", (day,))
        row = cur.execute("SELECT refresh_parcel_access(NULL)").fetchone()
        cur.execute(BUILT_SQL, {"d": day})
    else:
        row = cur.execute("SELECT refresh_parcel_access(%s::text[])", (list(codes),)).fetchone()
    return int(row[0]) if row else 0


def refresh_if_changed(conn: psycopg.Connection, as_of: dt.date | None = None) -> bool:
    """The full :func:`refresh` for ``as_of``, only when the network's inputs on that day
    (a road in service from it, an edit of the roads, places, speeds or parameters) differ
    from those of the last full build; whether it ran."""
    day = as_of or _today()
    row = conn.cursor(row_factory=tuple_row).execute(STALE_SQL, {"d": day}).fetchone()
    if not (row and row[0]):
        return False
    refresh(conn, as_of=day)
    return True


def _today() -> dt.date:
    # the park's today (Asia/Shanghai), as parkgis.land.lifecycle.park_today says; geo sits
    # below land, so it is spelled out here rather than imported
    return dt.datetime.now(PARK_TZ).date()


def parcel_access(conn: psycopg.Connection, code: str) -> dict[str, dict[str, Any]]:
    """``{dest: {target_code, name_zh, name_en, straight_m, drive_m, drive_min, estimate}}``
    for one parcel; a destination with no figure is absent."""
    cur = conn.cursor(row_factory=dict_row)
    out: dict[str, dict[str, Any]] = {}
    for r in cur.execute(
        "SELECT dest, target_code, name_zh, name_en, straight_m, drive_m, drive_s, estimate"
        "  FROM parcel_access WHERE parcel_code = %s ORDER BY dest",
        (code,),
    ):
        out[r["dest"]] = {
            "code": r["target_code"],
            "name_zh": r["name_zh"],
            "name_en": r["name_en"],
            "m": _round(r["straight_m"], 1),
            "drive_m": _round(r["drive_m"], 1),
            "drive_min": _round(None if r["drive_s"] is None else r["drive_s"] / 60.0, 2),
            "estimate": bool(r["estimate"]),
        }
    return out


def _round(v: float | None, nd: int) -> float | None:
    return None if v is None else round(float(v), nd)


def parse_minutes(raw: str) -> list[int]:
    """``"5,10,15"`` -> [5, 10, 15]; each 1..ISOCHRONE_MAX_MIN, at most ISOCHRONE_MAX_N."""
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not parts or len(parts) > ISOCHRONE_MAX_N:
        raise InvalidInput(
            f"minutes 须为 1–{ISOCHRONE_MAX_N} 个以逗号分隔的整数 / minutes must be "
            f"1 to {ISOCHRONE_MAX_N} comma-separated integers",
            field="minutes",
        )
    out: list[int] = []
    for p in parts:
        if not p.isdigit() or not 1 <= int(p) <= ISOCHRONE_MAX_MIN:
            raise InvalidInput(
                f"minutes 每项须为 1–{ISOCHRONE_MAX_MIN} 的整数 / each minutes "
                f"value must be an integer from 1 to {ISOCHRONE_MAX_MIN}",
                field="minutes",
            )
        out.append(int(p))
    return sorted(set(out))


ISOCHRONE_SQL = """
WITH origin AS (
    SELECT z.gk_srid, ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490), z.gk_srid) AS g
      FROM (SELECT gk_srid FROM road_edges GROUP BY gk_srid ORDER BY count(*) DESC LIMIT 1) z
), acc AS (
    SELECT a.*, o.gk_srid FROM origin o CROSS JOIN LATERAL network_access(o.g, o.gk_srid) a
), legs AS (  -- seconds from the origin to the two ends of its access edge
    SELECT acc.source AS vid,
           acc.off_m / (network_param('off_network_kmh') / 3.6) + acc.frac * acc.cost AS s
      FROM acc
    UNION ALL
    SELECT acc.target,
           acc.off_m / (network_param('off_network_kmh') / 3.6) + (1 - acc.frac) * acc.cost
      FROM acc
), reach AS (  -- best time to every vertex within the largest threshold
    SELECT d.node AS vid, min(l.s + d.agg_cost) AS s
      FROM legs l
      CROSS JOIN LATERAL pgr_drivingDistance(
          'SELECT id, source, target, cost, reverse_cost FROM road_edges',
          l.vid, greatest(%(max_s)s - l.s, 0), false) d
     GROUP BY d.node
), t AS (SELECT unnest(%(minutes)s::int[]) AS minutes)
SELECT t.minutes,
       ST_AsGeoJSON(ST_Transform(ST_Buffer(ST_Union(piece), network_param('isochrone_buffer_m'),
                                           'quad_segs=4'), 4326), 6) AS geojson,
       count(piece) AS pieces
  FROM t
  CROSS JOIN LATERAL (
      -- Each edge reached from either end, as far as the time left allows.
      SELECT CASE WHEN coalesce(rs.s + e.cost <= t.minutes * 60, false)
                    OR coalesce(rt.s + e.cost <= t.minutes * 60, false)
                       THEN e.geom_gk
                  ELSE ST_Collect(ARRAY[
                      CASE WHEN rs.s < t.minutes * 60 THEN
                          ST_LineSubstring(e.geom_gk, 0, least(1, (t.minutes * 60 - rs.s) / e.cost))
                      END,
                      CASE WHEN rt.s < t.minutes * 60 THEN
                          ST_LineSubstring(e.geom_gk,
                                           greatest(0, 1 - (t.minutes * 60 - rt.s) / e.cost), 1)
                      END]) END AS piece
        FROM road_edges e
        LEFT JOIN reach rs ON rs.vid = e.source
        LEFT JOIN reach rt ON rt.vid = e.target
       WHERE (rs.s < t.minutes * 60 OR rt.s < t.minutes * 60)
      UNION ALL
      -- The stretch of the origin's own edge within reach, and the way out to it.
      SELECT ST_Collect(ARRAY[
                 ST_ShortestLine(o.g, ST_LineInterpolatePoint(e.geom_gk, acc.frac)),
                 ST_LineSubstring(e.geom_gk,
                     greatest(0, acc.frac - greatest(0, t.minutes * 60 - acc.off_m
                                                      / (network_param('off_network_kmh') / 3.6))
                                            / e.cost),
                     least(1, acc.frac + greatest(0, t.minutes * 60 - acc.off_m
                                                   / (network_param('off_network_kmh') / 3.6))
                                         / e.cost))])
        FROM acc JOIN road_edges e ON e.id = acc.edge_id CROSS JOIN origin o
       WHERE acc.off_m / (network_param('off_network_kmh') / 3.6) < t.minutes * 60
  ) p
 GROUP BY t.minutes
 ORDER BY t.minutes DESC
"""


#: How far from the road network a drive-time origin may lie.
ISOCHRONE_REACH_M = 20_000.0
NEAR_NETWORK_SQL = """
SELECT EXISTS (
  SELECT 1
    FROM (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom_gk)::geometry, gk_srid), 4490) AS ext
            FROM road_edges GROUP BY gk_srid) z
   WHERE ST_DWithin(z.ext::geography,
                    ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490)::geography, %(reach)s)
) AS near
"""


def isochrones(
    conn: psycopg.Connection, lon: float, lat: float, minutes: list[int]
) -> dict[str, Any]:
    """Drive-time areas from a point: a GeoJSON FeatureCollection, one polygon per threshold
    (largest first, so a map draws the smaller on top): the reached roads (``road_edges``, by
    pgr_drivingDistance from both ends of the point's access edge, partial edges cut where the
    time runs out) buffered by ``isochrone_buffer_m``.

    Raises
    ------
    InvalidInput
        Coordinates outside lon/lat range, or no road network loaded.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("经纬度超出范围 / lon/lat out of range", field="lon")
    if not minutes:
        raise InvalidInput("minutes 不能为空 / minutes is empty", field="minutes")
    cur = conn.cursor(row_factory=dict_row)
    if cur.execute("SELECT 1 FROM road_edges LIMIT 1").fetchone() is None:
        raise InvalidInput("尚未装载路网 / no road network is loaded")
    # A point far from the network has no access edge, and one outside the network's
    # Gauss-Krueger zone cannot even be projected into it: refuse it as input.
    near = cur.execute(NEAR_NETWORK_SQL, {"lon": lon, "lat": lat, "reach": ISOCHRONE_REACH_M})
    if not (row := near.fetchone()) or not row["near"]:
        raise InvalidInput(
            f"该点距路网超过 {ISOCHRONE_REACH_M / 1000:g} 公里 / the point is more than "
            f"{ISOCHRONE_REACH_M / 1000:g} km from the road network",
            field="lon",
        )
    rows = cur.execute(
        ISOCHRONE_SQL, {"lon": lon, "lat": lat, "minutes": minutes, "max_s": max(minutes) * 60.0}
    ).fetchall()
    by_min = {r["minutes"]: r for r in rows}
    features = []
    for m in sorted(minutes, reverse=True):
        r = by_min.get(m)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "minutes": m,
                    "label_zh": f"{m} 分钟车程",
                    "label_en": f"{m} min drive",
                },
                "geometry": json.loads(r["geojson"]) if r and r["geojson"] else None,
            }
        )
    return {"type": "FeatureCollection", "origin": [lon, lat], "features": features}


__all__ = [
    "DESTINATIONS",
    "DRIVE_LIMITS",
    "isochrones",
    "parcel_access",
    "parse_minutes",
    "refresh",
]
