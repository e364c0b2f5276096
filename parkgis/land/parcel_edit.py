"""Split and merge parcels, keeping areas exact and lineage recorded.

Geometry is done in PostGIS, in the parcel's Gauss–Krüger projection (``geom_gk``, EPSG:4547
for Weihui): the blade is projected there, the parent's ``geom_gk`` is cut with ``ST_Split``
(a drawn polygon cuts along its boundary, so the inside and outside parts share one noding),
and each part is written back in EPSG:4490 with ``ST_Transform``. The parcels trigger then
re-projects it to ``geom_gk`` and measures it — the same PROJ pipeline both ways, so vertices
shared by two children stay identical and their areas add up to the parent's to well under
0.01 m². That is checked inside the transaction before anything is committed (sum of areas,
and the symmetric difference of the children's union with the parent), so a child set that
does not tile its parent can never be stored.

Rules
-----
- Only ``available`` and ``not_for_supply`` parcels are split or merged (a parcel under a hold
  belongs to a project; release it first) — 409 otherwise.
- A split must produce at least two parts; a part smaller than :data:`MIN_PART_M2` or narrower
  than :data:`MIN_PART_WIDTH_M` (the diameter of its largest inscribed circle) is a sliver and
  the split is refused with 422 — never silently dropped, which would leave a gap.
- A merge takes two or more parcels of one zone, one status and one land-use code whose union is
  a single polygon (they share edges; touching at a corner is not enough).
- Parents become ``historic`` (terminal) with an event ``split``/``merge`` whose ``data``
  names the new parcels; each new parcel gets ``parent_codes`` and an event ``create`` whose
  ``data.lineage`` names its parents and the operation.

New codes
---------
Split children of ``WH-A-012`` are ``WH-A-012-1``, ``WH-A-012-2``, … numbered north to south,
then west to east (continuing after the highest number already used). A merge is named after
the alphabetically first parent plus ``-M1`` (``-M2`` if taken, …).
"""

from __future__ import annotations

import importlib
import logging
import math
import re
from typing import Any

import psycopg
import shapely
from psycopg.rows import dict_row
from shapely.geometry import shape

from parkgis.db.audit import set_audit_context
from parkgis.errors import Conflict, InvalidData, InvalidInput, NotFound, PreconditionFailed
from parkgis.geo import network
from parkgis.geo.crs import BBox, bbox_sql
from parkgis.land.lifecycle import SQL_PARCEL

log = logging.getLogger("parkgis.land.parcel_edit")

#: Parts smaller than this (m²) or narrower than MIN_PART_WIDTH_M (m) are slivers.
MIN_PART_M2 = 1.0
MIN_PART_WIDTH_M = 1.0
#: Children must tile the parent to within this many m² (sum of areas, symmetric difference).
AREA_TOLERANCE_M2 = 0.01
EDITABLE = ("available", "not_for_supply")
#: Vertices that came back from GK within this many degrees (~0.1 mm) of a parent's vertex
#: are snapped onto it, so children keep exactly the 4490 vertices they share with neighbours
#: (a GK round trip moves a vertex by ~1e-15°, enough to leave nanometre slivers at edges).
SNAP_DEG = 1e-9
#: A merge unions on a 1 µm grid: neighbours' shared edges rarely coincide to the last bit,
#: and an exact union of nearly-coincident edges leaves nanometre spikes that turn invalid in
#: 4490. 1 µm moves no area anyone could measure (the tiling check still runs).
UNION_GRID_M = 1e-6
MAX_BLADE_VERTICES = 10_000
CODE_MAX = 64

SQL_LOCK_PARCELS = """
SELECT code, zone_code, status, landuse_code, version, gk_srid, area_m2
  FROM parcels WHERE code = ANY(%s) ORDER BY code FOR UPDATE
"""
# Children keep the parent's status (passed in: the parent row is already historic).
# The parts of a parent cut by a blade, in the parent's GK projection. A polygon blade cuts
# along its boundary; each part is then inside or outside it.
SQL_SPLIT_PARTS = """
WITH p AS (SELECT geom_gk, gk_srid FROM parcels WHERE code = %(code)s),
     b AS (SELECT ST_Transform(ST_SetSRID(ST_GeomFromWKB(%(blade)s), 4490), p.gk_srid) AS g
             FROM p),
     parts AS (
       SELECT (ST_Dump(ST_Split(p.geom_gk,
                  CASE WHEN ST_Dimension(b.g) = 2 THEN ST_Boundary(b.g) ELSE b.g END))).geom
              AS part,
              b.g
         FROM p, b)
SELECT ST_AsEWKB(part) AS ewkb,
       ST_Area(part) AS area_m2,
       2 * (ST_MaximumInscribedCircle(part)).radius AS width_m,
       CASE WHEN ST_Dimension(g) = 2 THEN ST_Intersects(ST_PointOnSurface(part), g) END AS inside,
       ST_Y(ST_PointOnSurface(part)) AS northing, ST_X(ST_PointOnSurface(part)) AS easting
  FROM parts
 WHERE ST_Dimension(part) = 2
"""
SQL_BLADE_HITS = """
SELECT ST_Intersects(geom, ST_SetSRID(ST_GeomFromWKB(%(blade)s), 4490)) AS hits
  FROM parcels WHERE code = %(code)s
"""
SQL_INSERT_CHILD = """
INSERT INTO parcels (code, zone_code, status, landuse_code, landuse_alias,
                     svc_road, svc_water, svc_drainage, svc_power, svc_gas, svc_heat,
                     svc_telecom, svc_levelled, land_price_wan_per_mu, note_internal,
                     parent_codes, geom)
SELECT %(child)s, zone_code, %(status)s, landuse_code, landuse_alias,
       svc_road, svc_water, svc_drainage, svc_power, svc_gas, svc_heat,
       svc_telecom, svc_levelled, land_price_wan_per_mu, note_internal,
       %(parents)s,
       ST_Multi(ST_Snap(ST_Transform(ST_GeomFromEWKB(%(part)s), 4490), geom, %(snap)s))
  FROM parcels WHERE code = %(source)s
RETURNING code, area_m2
"""
SQL_RETIRE = "UPDATE parcels SET status = 'historic' WHERE code = ANY(%s)"
SQL_CODES_LIKE = "SELECT code FROM parcels WHERE code LIKE %s"
# Children tile the parent: the area of the symmetric difference of their union and the parent.
SQL_TILING = """
SELECT coalesce(sum(c.area_m2), 0) AS children_m2,
       ST_Area(ST_SymDifference(ST_Union(c.geom_gk),
               (SELECT ST_Union(geom_gk) FROM parcels WHERE code = ANY(%(parents)s))))
           AS symdiff_m2,
       (SELECT sum(area_m2) FROM parcels WHERE code = ANY(%(parents)s)) AS parents_m2
  FROM parcels c WHERE c.code = ANY(%(children)s)
"""
SQL_MERGE_UNION = """
SELECT ST_AsEWKB(u) AS ewkb, ST_NumGeometries(u) AS n, ST_Area(u) AS area_m2,
       ST_NumInteriorRings(ST_GeometryN(u, 1)) AS holes
  FROM (SELECT ST_UnaryUnion(ST_Collect(geom_gk), %s) AS u
          FROM parcels WHERE code = ANY(%s)) s
"""
SQL_INSERT_MERGED = """
INSERT INTO parcels (code, zone_code, status, landuse_code, landuse_alias,
                     svc_road, svc_water, svc_drainage, svc_power, svc_gas, svc_heat,
                     svc_telecom, svc_levelled, land_price_wan_per_mu, note_internal,
                     parent_codes, geom)
SELECT %(child)s, min(zone_code), %(status)s, min(landuse_code), min(landuse_alias),
       bool_or(svc_road), bool_or(svc_water), bool_or(svc_drainage), bool_or(svc_power),
       bool_or(svc_gas), bool_or(svc_heat), bool_or(svc_telecom), bool_or(svc_levelled),
       -- area-weighted benchmark price; unknown if any part's price is unknown
       CASE WHEN count(land_price_wan_per_mu) = count(*)
            THEN sum(land_price_wan_per_mu * area_mu) / sum(area_mu) END,
       nullif(string_agg(note_internal, ' | ' ORDER BY code), ''),
       %(parents)s,
       ST_Multi(ST_Snap(ST_Transform(ST_GeomFromEWKB(%(geom)s), 4490),
                        (SELECT ST_Collect(geom) FROM parcels WHERE code = ANY(%(parents)s)),
                        %(snap)s))
  FROM parcels WHERE code = ANY(%(parents)s)
RETURNING code, area_m2
"""


def parse_blade(geojson: dict[str, Any]) -> shapely.Geometry:
    """A cutting line or polygon from GeoJSON (lon/lat, EPSG:4490/WGS84); 422 if unusable.

    Accepts a geometry, a Feature, or a FeatureCollection with exactly one feature, of type
    (Multi)LineString or (Multi)Polygon.
    """
    if not isinstance(geojson, dict):
        raise InvalidData("分割线须为 GeoJSON 对象 / the blade must be a GeoJSON object")
    g = geojson
    if g.get("type") == "FeatureCollection":
        feats = g.get("features") or []
        if len(feats) != 1:
            raise InvalidData(
                "FeatureCollection 须只含一个要素 / the FeatureCollection must "
                "hold exactly one feature"
            )
        g = feats[0]
    if g.get("type") == "Feature":
        g = g.get("geometry") or {}
    kinds = ("LineString", "MultiLineString", "Polygon", "MultiPolygon")
    if g.get("type") not in kinds:
        raise InvalidData(
            f"分割几何须为线或面（{', '.join(kinds)}） / the blade must be one of "
            f"{', '.join(kinds)}",
            got=g.get("type"),
        )
    try:
        geom = shape(g)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InvalidData(f"GeoJSON 几何无效 / invalid GeoJSON geometry: {exc}") from None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or len(coords) == 0:
        raise InvalidData("分割几何为空 / the blade is empty")
    if len(coords) > MAX_BLADE_VERTICES:
        raise InvalidData(f"分割几何顶点过多（>{MAX_BLADE_VERTICES}） / too many vertices")
    if not all(math.isfinite(v) for v in coords.ravel()) or not (
        (abs(coords[:, 0]) <= 180).all() and (abs(coords[:, 1]) <= 90).all()
    ):
        raise InvalidData("坐标须为经纬度（EPSG:4490） / coordinates must be lon/lat (EPSG:4490)")
    if not geom.is_valid:
        raise InvalidData(f"分割几何无效 / invalid blade: {shapely.is_valid_reason(geom)}")
    return geom


def _lock(cur: psycopg.Cursor[dict[str, Any]], codes: list[str]) -> dict[str, dict[str, Any]]:
    rows = {r["code"]: r for r in cur.execute(SQL_LOCK_PARCELS, (codes,)).fetchall()}
    missing = [c for c in codes if c not in rows]
    if missing:
        raise NotFound(f"地块不存在 / no such parcel: {', '.join(missing)}", codes=missing)
    return rows


def _check_versions(rows: dict[str, dict[str, Any]], expected: dict[str, int] | None) -> None:
    if expected is None:
        return
    stale = {
        c: r["version"] for c, r in rows.items() if c in expected and expected[c] != r["version"]
    }
    unnamed = [c for c in rows if c not in expected]
    if stale or unnamed:
        raise PreconditionFailed(
            f"地块已被修改或未提供版本，请刷新后重试 / parcels changed or their version was not "
            f"sent; reload and retry: {', '.join(sorted(set(stale) | set(unnamed)))}",
            current_versions={c: r["version"] for c, r in rows.items()},
        )


def _check_editable(rows: dict[str, dict[str, Any]], op: str) -> None:
    for c, r in rows.items():
        if r["status"] not in EDITABLE:
            zh = "分割" if op == "split" else "合并"
            raise Conflict(
                f"地块 {c} 当前状态为 {r['status']}，只能{zh}“可供应”或“暂不供应”的地块 / "
                f"parcel {c} is {r['status']}; only available or not_for_supply parcels can "
                f"be {op}{'ted' if op == 'split' else 'd'}",
                code=c,
                status_now=r["status"],
            )


def _next_codes(cur: psycopg.Cursor[dict[str, Any]], base: str, marker: str, n: int) -> list[str]:
    """``n`` unused codes ``base-<marker>k`` continuing after the highest k in use."""
    pattern = re.compile(rf"^{re.escape(base)}-{marker}(\d+)$")
    like = base.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "-%"
    used = [
        int(m.group(1))
        for (c,) in ((r["code"],) for r in cur.execute(SQL_CODES_LIKE, (like,)).fetchall())
        if (m := pattern.match(c))
    ]
    start = max(used, default=0) + 1
    codes = [f"{base}-{marker}{k}" for k in range(start, start + n)]
    if any(len(c) > CODE_MAX for c in codes):
        raise InvalidData(
            f"新地块编号超过 {CODE_MAX} 个字符 / new parcel codes would exceed "
            f"{CODE_MAX} characters"
        )
    return codes


def _one(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row of an aggregate, of an INSERT ... RETURNING or of a parcel locked before:
    there always is one."""
    assert row is not None
    return row


def _check_tiling(
    cur: psycopg.Cursor[dict[str, Any]], parents: list[str], children: list[str]
) -> dict[str, float]:
    t = _one(cur.execute(SQL_TILING, {"parents": parents, "children": children}).fetchone())
    diff = abs(t["children_m2"] - t["parents_m2"])
    if diff > AREA_TOLERANCE_M2 or t["symdiff_m2"] > AREA_TOLERANCE_M2:
        # Nothing is committed: the transaction rolls back.
        raise InvalidData(
            f"新地块未能精确覆盖原地块（面积差 {diff:.4f} m²，不重合部分 {t['symdiff_m2']:.4f} m²）"
            f" / the new parcels do not tile the old ones (area difference {diff:.4f} m², "
            f"symmetric difference {t['symdiff_m2']:.4f} m²)"
        )
    return {
        "parents_m2": t["parents_m2"],
        "children_m2": t["children_m2"],
        "area_diff_m2": diff,
        "symdiff_m2": t["symdiff_m2"],
    }


def _refresh_terrain(conn: psycopg.Connection, codes: list[str]) -> str:
    """Terrain figures for new parcels, when the terrain module is installed."""
    try:
        terrain = importlib.import_module("parkgis.geo.terrain")
    except ImportError:
        return "unavailable"
    refresh = getattr(terrain, "refresh_parcels", None)
    if refresh is None:
        return "unavailable"
    try:
        # A savepoint: a terrain failure must not undo the split, only leave figures missing.
        with conn.transaction():
            refresh(conn, codes)
    except Exception as exc:  # reported in the result, not swallowed silently
        log.warning("terrain refresh failed for %s: %s", codes, exc)
        return f"failed: {exc}"
    return "refreshed"


def split_parcel(
    conn: psycopg.Connection,
    code: str,
    blade: dict[str, Any] | shapely.Geometry,
    actor: str,
    expected_version: int | None,
    note: str | None = None,
) -> dict[str, Any]:
    """Split a parcel by a line (or along a polygon's boundary) into new parcels.

    Parameters
    ----------
    conn : psycopg.Connection
    code : str
        The parcel to split.
    blade : dict or shapely geometry
        GeoJSON (lon/lat) LineString/MultiLineString crossing the parcel, or a
        Polygon/MultiPolygon whose boundary cuts it into inside and outside parts.
    actor : str
        Recorded in the audit trail.
    expected_version : int or None
        The parent's version the caller saw (``If-Match``); None skips the check.
    note : str, optional
        Free text for the events.

    Returns
    -------
    dict
        ``{"parent": code, "children": [{code, area_m2, inside}...], "check": {...},
        "terrain": "refreshed" | "unavailable" | "failed: ..."}``.

    The checks, the children's insert and the lineage run in one transaction.
    """
    geom = blade if isinstance(blade, shapely.Geometry) else parse_blade(blade)
    wkb = shapely.to_wkb(geom)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = _lock(cur, [code])
        _check_versions(rows, None if expected_version is None else {code: expected_version})
        _check_editable(rows, "split")
        parts = _split_parts(cur, code, wkb)
        child_codes = _next_codes(cur, code, "", len(parts))
        set_audit_context(cur, actor, "split", note, {"children": child_codes})
        cur.execute(SQL_RETIRE, ([code],))
        children = _insert_children(
            cur, code, parts, child_codes, rows[code]["status"], actor, note
        )
        check = _check_tiling(cur, [code], child_codes)
        terrain = _refresh_terrain(conn, child_codes)
        network.refresh(conn, child_codes)
        features = [cur.execute(SQL_PARCEL, (c,)).fetchone() for c in child_codes]
    return {
        "parent": code,
        "children": children,
        "check": check,
        "terrain": terrain,
        "parcels": features,
    }


def _split_parts(
    cur: psycopg.Cursor[dict[str, Any]], code: str, wkb: bytes
) -> list[dict[str, Any]]:
    """The parts the blade cuts the parcel into, north to south then west to east; refused
    (:class:`InvalidData`) when the blade misses, does not cut through, or leaves a sliver."""
    if not _one(cur.execute(SQL_BLADE_HITS, {"blade": wkb, "code": code}).fetchone())["hits"]:
        raise InvalidData(f"分割线未与地块 {code} 相交 / the blade does not touch parcel {code}")
    parts = cur.execute(SQL_SPLIT_PARTS, {"code": code, "blade": wkb}).fetchall()
    if len(parts) < 2:
        raise InvalidData(
            f"分割线须完整穿过地块 {code}（或分割面须切出地块的一部分） / the line must cross "
            f"parcel {code} from edge to edge (or the polygon must cut off part of it)"
        )
    slivers = [p for p in parts if p["area_m2"] < MIN_PART_M2 or p["width_m"] < MIN_PART_WIDTH_M]
    if slivers:
        worst = min(slivers, key=lambda p: p["width_m"])
        raise InvalidData(
            f"分割会产生碎片（面积 {worst['area_m2']:.3f} m²，宽 {worst['width_m']:.3f} m；"
            f"下限 {MIN_PART_M2} m²、{MIN_PART_WIDTH_M} m），请调整分割线 / the split would "
            f"leave a sliver ({worst['area_m2']:.3f} m², {worst['width_m']:.3f} m wide; "
            f"minimum {MIN_PART_M2} m² and {MIN_PART_WIDTH_M} m); move the line",
            slivers=[{"area_m2": p["area_m2"], "width_m": p["width_m"]} for p in slivers],
        )
    parts.sort(key=lambda p: (-p["northing"], p["easting"]))
    return parts


def _insert_children(
    cur: psycopg.Cursor[dict[str, Any]],
    code: str,
    parts: list[dict[str, Any]],
    child_codes: list[str],
    status: str,
    actor: str,
    note: str | None,
) -> list[dict[str, Any]]:
    """Insert one child per part, each audited with its lineage; the children's summaries."""
    children = []
    for child, part in zip(child_codes, parts, strict=True):
        set_audit_context(
            cur,
            actor,
            "create",
            note,
            {"lineage": {"op": "split", "parents": [code], "siblings": child_codes}},
        )
        row = _one(
            cur.execute(
                SQL_INSERT_CHILD,
                {
                    "child": child,
                    "parents": [code],
                    "part": part["ewkb"],
                    "source": code,
                    "status": status,
                    "snap": SNAP_DEG,
                },
            ).fetchone()
        )
        children.append({"code": row["code"], "area_m2": row["area_m2"], "inside": part["inside"]})
    return children


def _merged_union(
    cur: psycopg.Cursor[dict[str, Any]], rows: dict[str, dict[str, Any]], codes: list[str]
) -> dict[str, Any]:
    """The union of the parcels to merge; refused unless they share zone, status and land
    use and form one piece (sharing edges, not only corners)."""
    for attr, zh in (("zone_code", "园区"), ("status", "状态"), ("landuse_code", "用地分类")):
        values = sorted({r[attr] for r in rows.values()})
        if len(values) > 1:
            exc = Conflict if attr == "status" else InvalidData
            raise exc(
                f"合并的地块须属同一{zh}（现为 {', '.join(values)}） / parcels to merge "
                f"must share one {attr} (got {', '.join(values)})",
                field=attr,
            )
    u = _one(cur.execute(SQL_MERGE_UNION, (UNION_GRID_M, codes)).fetchone())
    if u["n"] != 1:
        raise InvalidData(
            "所选地块不相邻（须共边，仅角点相接不算） / the parcels are not adjacent: "
            "they must share an edge, touching at a corner is not enough",
            parts=u["n"],
        )
    return u


def merge_parcels(
    conn: psycopg.Connection,
    codes: list[str],
    actor: str,
    expected_versions: dict[str, int] | None,
    note: str | None = None,
) -> dict[str, Any]:
    """Merge adjacent parcels into one new parcel.

    Parameters
    ----------
    conn : psycopg.Connection
    codes : list of str
        Two or more parcel codes: one zone, one status (available or not_for_supply), one
        land-use code, forming a single polygon.
    actor : str
    expected_versions : dict or None
        ``{code: version}`` as the caller saw them (``If-Match``); every parcel must be named.
        None skips the check.
    note : str, optional

    Returns
    -------
    dict
        ``{"parents": [...], "code": new code, "area_m2": ..., "check": {...}, "parcel": {...}}``.
    """
    codes = sorted(set(codes))
    if len(codes) < 2:
        raise InvalidData("合并至少需要两个不同的地块 / a merge needs at least two parcels")
    if len(codes) > 100:
        raise InvalidData("一次最多合并 100 个地块 / at most 100 parcels in one merge")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = _lock(cur, codes)
        _check_versions(rows, expected_versions)
        _check_editable(rows, "merge")
        u = _merged_union(cur, rows, codes)
        new_code = _next_codes(cur, codes[0], "M", 1)[0]
        set_audit_context(cur, actor, "merge", note, {"merged_into": new_code, "parents": codes})
        cur.execute(SQL_RETIRE, (codes,))
        set_audit_context(
            cur, actor, "create", note, {"lineage": {"op": "merge", "parents": codes}}
        )
        row = _one(
            cur.execute(
                SQL_INSERT_MERGED,
                {
                    "child": new_code,
                    "parents": codes,
                    "geom": u["ewkb"],
                    "status": rows[codes[0]]["status"],
                    "snap": SNAP_DEG,
                },
            ).fetchone()
        )
        check = _check_tiling(cur, codes, [new_code])
        terrain = _refresh_terrain(conn, [new_code])
        network.refresh(conn, [new_code])
        parcel = cur.execute(SQL_PARCEL, (new_code,)).fetchone()
    return {
        "parents": codes,
        "code": row["code"],
        "area_m2": row["area_m2"],
        "check": check,
        "terrain": terrain,
        "parcel": parcel,
    }


# -- the layer a planner edits on ---------------------------------------------------------------

EDIT_LAYER_MAX = 5000

# Live parcels as GeoJSON with their confidential fields. 7 decimals (~1 cm) so a drawn split
# line is placed against the stored outline, not a rounded one. ``{where}`` is a fixed fragment
# from :func:`parkgis.geo.crs.bbox_sql`; every value is a bound parameter.
SQL_EDIT_LAYER = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
         json_build_object('type', 'Feature', 'id', code,
           'properties', json_build_object(
              'code', code, 'status', status, 'zone_code', zone_code,
              'landuse_code', landuse_code, 'landuse_alias', landuse_alias,
              'area_m2', area_m2, 'area_mu', area_mu, 'project_code', project_code,
              'reserved_until', reserved_until, 'parent_codes', parent_codes,
              'version', version),
           'geometry', ST_AsGeoJSON(geom, 7)::json) ORDER BY code), '[]')) AS fc,
       count(*) AS n
  FROM (SELECT * FROM parcels t
         WHERE status <> 'historic' AND {where}
         ORDER BY code LIMIT %s OFFSET %s) p
"""


def edit_layer(
    conn: psycopg.Connection, box: BBox | None, limit: int = EDIT_LAYER_MAX, offset: int = 0
) -> dict[str, Any]:
    """Live parcels meeting ``box`` (all without one) by code, ``limit`` of them after the
    first ``offset``, as a GeoJSON FeatureCollection whose ``truncated`` says whether the limit
    cut it short. A box across the antimeridian is refused: west > east here is a typing slip,
    not a view of a park (the OGC API, for any client, does honour it)."""
    if box is not None and box.crosses_antimeridian:
        raise InvalidInput(
            "bbox: 西边界大于东边界 / bbox: west edge east of the east edge", param="bbox"
        )
    where, args = bbox_sql(box, "t.geom") if box is not None else ("true", [])
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_EDIT_LAYER.format(where=where), [*args, limit, offset]).fetchone()
    assert row is not None  # an aggregate always returns one row
    body: dict[str, Any] = row["fc"]
    body["truncated"] = int(row["n"]) >= limit
    return body
