"""Split and merge: children tile the parent exactly, lineage is recorded, bad edits are refused.

The blades are built in the parcel's Gauss–Krüger projection and sent as lon/lat GeoJSON over
real HTTP, the way the planner map sends them.
"""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from workbench_helpers import add_users, login, one, rows, small_park

from parkgis.errors import Conflict, InvalidData
from parkgis.parcel_edit import merge_parcels, split_parcel

TOL_M2 = 0.01

# A north–south line through the middle of the parcel's largest inscribed circle, 50 m past
# its bounding box on both sides, as lon/lat GeoJSON.
SQL_CUT_LINE = """
SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
         ST_MakePoint(ST_X(c.center), ST_YMin(p.geom_gk) - 50),
         ST_MakePoint(ST_X(c.center), ST_YMax(p.geom_gk) + 50)), p.gk_srid), 4490), 12)::json AS g
  FROM parcels p, ST_MaximumInscribedCircle(p.geom_gk) c WHERE p.code = %s
"""
# A circle well inside the parcel (half the largest inscribed circle).
SQL_INNER_CIRCLE = """
SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Buffer(c.center, c.radius / 2, 32), p.gk_srid),
                                 4490), 12)::json AS g
  FROM parcels p, ST_MaximumInscribedCircle(p.geom_gk) c WHERE p.code = %s
"""
# A line 0.3 m inside the west edge of the bounding box: it leaves a sliver (or nothing).
SQL_SLIVER_LINE = """
SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
         ST_MakePoint(ST_XMin(p.geom_gk) + 0.3, ST_YMin(p.geom_gk) - 50),
         ST_MakePoint(ST_XMin(p.geom_gk) + 0.3, ST_YMax(p.geom_gk) + 50)), p.gk_srid), 4490),
       12)::json AS g
  FROM parcels p WHERE p.code = %s
"""
SQL_TILING = """
SELECT (SELECT area_m2 FROM parcels WHERE code = %(parent)s) AS parent_m2,
       sum(c.area_m2) AS children_m2,
       ST_Area(ST_SymDifference(ST_Union(c.geom_gk),
               (SELECT geom_gk FROM parcels WHERE code = %(parent)s))) AS symdiff_m2,
       -- children re-projected from their stored EPSG:4490 geometry, as any client would
       sum(ST_Area(ST_Transform(c.geom, 4547))) AS reprojected_m2
  FROM parcels c WHERE %(parent)s = ANY(c.parent_codes) AND c.status <> 'historic'
"""
SQL_PAIR_OVERLAP = """
SELECT coalesce(max(ST_Area(ST_Intersection(a.geom_gk, b.geom_gk))), 0) AS m2
  FROM parcels a JOIN parcels b ON a.code < b.code
 WHERE a.code = ANY(%(codes)s) AND b.code = ANY(%(codes)s)
"""
SQL_ADJACENT_PAIR = """
SELECT a.code AS a, b.code AS b
  FROM parcels a JOIN parcels b
    ON a.code < b.code AND a.zone_code = b.zone_code AND a.status = b.status
   AND a.landuse_code = b.landuse_code AND a.geom && b.geom
   AND ST_Dimension(ST_Intersection(a.geom_gk, b.geom_gk)) = 1
 WHERE a.status = 'available'
 ORDER BY a.code, b.code LIMIT 1
"""


def _geojson(url: str, sql: str, code: str) -> dict:
    return one(url, sql, (code,))["g"]


def _tag(c: httpx.Client, code: str) -> str:
    return c.get(f"/api/parcels/{code}").headers["etag"]


@pytest.fixture
def env(sample_db_rw: str, live_server_rw: str):
    add_users(sample_db_rw)
    with httpx.Client(base_url=live_server_rw, timeout=120) as c:
        yield sample_db_rw, c, login(c, "plan")


def _largest_available(url: str) -> str:
    return one(url, "SELECT code FROM parcels WHERE status = 'available' "
                    "ORDER BY area_m2 DESC LIMIT 1")["code"]


def test_split_by_line_tiles_parent_exactly(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    parent = one(url, "SELECT area_m2, version FROM parcels WHERE code = %s", (code,))
    r = c.post(f"/api/parcels/{code}/split",
               json={"blade": _geojson(url, SQL_CUT_LINE, code), "note": "按道路分割"},
               headers={**plan, "If-Match": _tag(c, code)})
    assert r.status_code == 201, r.text
    out = r.json()
    kids = [k["code"] for k in out["children"]]
    assert kids == [f"{code}-1", f"{code}-2"]
    assert [f["id"] for f in out["features"]] == kids
    t = one(url, SQL_TILING, {"parent": code})
    assert abs(t["children_m2"] - parent["area_m2"]) < TOL_M2
    assert abs(t["reprojected_m2"] - parent["area_m2"]) < TOL_M2
    assert t["symdiff_m2"] < TOL_M2
    assert one(url, SQL_PAIR_OVERLAP, {"codes": kids})["m2"] < TOL_M2
    print(f"split {code}: parent {parent['area_m2']:.4f} m², children "
          f"{t['children_m2']:.4f} m², |diff| {abs(t['children_m2'] - parent['area_m2']):.2e}")
    # lineage and audit
    assert one(url, "SELECT status FROM parcels WHERE code = %s", (code,))["status"] == "historic"
    for k in kids:
        p = one(url, "SELECT parent_codes, status, zone_code FROM parcels WHERE code = %s", (k,))
        assert p["parent_codes"] == [code] and p["status"] == "available"
    ev = rows(url, "SELECT parcel_code, actor, action, note, data FROM parcel_events "
                   "WHERE parcel_code = ANY(%s) AND actor = 'plan' ORDER BY id", ([code, *kids],))
    assert [(e["parcel_code"], e["action"]) for e in ev] == [
        (code, "split"), (kids[0], "create"), (kids[1], "create")]
    assert ev[0]["data"] == {"children": kids} and ev[0]["note"] == "按道路分割"
    assert ev[1]["data"]["lineage"] == {"op": "split", "parents": [code], "siblings": kids}
    # a historic parcel admits nothing
    r = c.post(f"/api/parcels/{code}/reserve", json={}, headers={**plan, "If-Match": "*"})
    assert r.status_code in (409, 422)
    r = c.post(f"/api/parcels/{code}/split", json=_geojson(url, SQL_CUT_LINE, kids[0]),
               headers={**plan, "If-Match": "*"})
    assert r.status_code == 409


def test_split_by_polygon_inside_outside_then_merge_back(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    area = one(url, "SELECT area_m2 FROM parcels WHERE code = %s", (code,))["area_m2"]
    r = c.post(f"/api/parcels/{code}/split", json=_geojson(url, SQL_INNER_CIRCLE, code),
               headers={**plan, "If-Match": _tag(c, code)})
    assert r.status_code == 201, r.text
    kids = {k["inside"]: k["code"] for k in r.json()["children"]}
    assert set(kids) == {True, False}
    holes = one(url, "SELECT ST_NumInteriorRings(ST_GeometryN(geom_gk, 1)) AS n FROM parcels "
                     "WHERE code = %s", (kids[False],))["n"]
    assert holes == 1   # the outside part rings the inside one
    t = one(url, SQL_TILING, {"parent": code})
    assert abs(t["children_m2"] - area) < TOL_M2 and t["symdiff_m2"] < TOL_M2
    # and back together: the merged parcel has the original area
    codes = sorted(kids.values())
    r = c.post("/api/parcels/merge", json={"codes": codes},
               headers={**plan, "If-Match": ", ".join(_tag(c, k) for k in codes)})
    assert r.status_code == 201, r.text
    merged = r.json()["code"]
    assert merged == f"{codes[0]}-M1"
    m = one(url, "SELECT area_m2, parent_codes, status, "
                 "ST_NumInteriorRings(ST_GeometryN(geom_gk, 1)) AS holes FROM parcels "
                 "WHERE code = %s", (merged,))
    assert abs(m["area_m2"] - area) < TOL_M2
    assert m["parent_codes"] == codes and m["status"] == "available" and m["holes"] == 0
    ev = rows(url, "SELECT parcel_code, action, data FROM parcel_events WHERE actor = 'plan' "
                   "AND action IN ('merge', 'create') AND parcel_code = ANY(%s) ORDER BY id",
              ([*codes, merged],))
    assert [(e["parcel_code"], e["action"]) for e in ev[-3:]] == [
        (codes[0], "merge"), (codes[1], "merge"), (merged, "create")]
    assert ev[-1]["data"]["lineage"] == {"op": "merge", "parents": codes}


def test_merge_adjacent_sample_parcels(env) -> None:
    url, c, plan = env
    pair = rows(url, SQL_ADJACENT_PAIR)
    if not pair:
        pytest.skip("the sample data has no adjacent available pair of one land use")
    codes = [pair[0]["a"], pair[0]["b"]]
    before = one(url, "SELECT sum(area_m2) AS m2 FROM parcels WHERE code = ANY(%s)", (codes,))
    r = c.post("/api/parcels/merge", json={"codes": codes, "note": "合并供地"},
               headers={**plan, "If-Match": ", ".join(_tag(c, k) for k in codes)})
    assert r.status_code == 201, r.text
    new = one(url, "SELECT area_m2 FROM parcels WHERE code = %s", (r.json()["code"],))
    assert abs(new["area_m2"] - before["m2"]) < TOL_M2
    assert r.json()["feature"]["properties"]["parent_codes"] == codes


def test_refusals_leave_the_store_unchanged(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    snapshot = "SELECT (SELECT count(*) FROM parcels) AS parcels, " \
               "(SELECT count(*) FROM parcel_events) AS events, " \
               "(SELECT version FROM parcels WHERE code = %s) AS version"
    before = one(url, snapshot, (code,))
    tag = _tag(c, code)
    h = {**plan, "If-Match": tag}
    far_line = {"type": "LineString", "coordinates": [[100.0, 30.0], [100.1, 30.1]]}
    bad = [
        (_geojson(url, SQL_SLIVER_LINE, code), 422),                    # sliver
        (far_line, 422),                                                 # misses the parcel
        ({"type": "Point", "coordinates": [114.0, 35.4]}, 422),          # not a blade
        ({"type": "LineString", "coordinates": [[114.0]]}, 422),         # broken GeoJSON
        ({"type": "LineString", "coordinates": [[514000, 3918000], [515000, 3918000]]}, 422),
        ({"type": "FeatureCollection", "features": []}, 422),
    ]
    for blade, status in bad:
        r = c.post(f"/api/parcels/{code}/split", json=blade, headers=h)
        assert r.status_code == status, (blade, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    # a line that stops inside the parcel does not cut it
    half = _geojson(url, SQL_CUT_LINE, code)
    half["coordinates"] = [half["coordinates"][0],
                           [(a + b) / 2 for a, b in zip(*half["coordinates"], strict=True)]]
    assert c.post(f"/api/parcels/{code}/split", json=half, headers=h).status_code == 422
    # missing / stale If-Match
    line = _geojson(url, SQL_CUT_LINE, code)
    assert c.post(f"/api/parcels/{code}/split", json=line, headers=plan).status_code == 428
    assert c.post(f"/api/parcels/{code}/split", json=line,
                  headers={**plan, "If-Match": f'"{code}-999"'}).status_code == 412
    # status not editable
    busy = one(url, "SELECT code FROM parcels WHERE status = 'allocated' LIMIT 1")["code"]
    r = c.post(f"/api/parcels/{busy}/split", json=_geojson(url, SQL_CUT_LINE, busy),
               headers={**plan, "If-Match": "*"})
    assert r.status_code == 409
    # merge refusals: not adjacent, one parcel, mixed status, stale/missing versions
    far = one(url, """SELECT b.code FROM parcels a, parcels b WHERE a.code = %s
                       AND b.status = 'available' AND b.zone_code = a.zone_code
                       AND b.landuse_code = a.landuse_code AND b.code <> a.code
                       AND NOT ST_Intersects(a.geom, b.geom) LIMIT 1""", (code,))["code"]
    pair = sorted([code, far])
    tags = ", ".join(_tag(c, k) for k in pair)
    r = c.post("/api/parcels/merge", json={"codes": pair}, headers={**plan, "If-Match": tags})
    assert r.status_code == 422 and "adjacent" in r.json()["detail"]
    assert c.post("/api/parcels/merge", json={"codes": [code]},
                  headers={**plan, "If-Match": tags}).status_code == 400
    assert c.post("/api/parcels/merge", json={"codes": pair}, headers=plan).status_code == 428
    r = c.post("/api/parcels/merge", json={"codes": pair},
               headers={**plan, "If-Match": _tag(c, code)})
    assert r.status_code == 412
    r = c.post("/api/parcels/merge", json={"codes": [code, busy]},
               headers={**plan, "If-Match": "*"})
    assert r.status_code == 409
    assert one(url, snapshot, (code,)) == before


def test_split_core_on_exact_squares(empty_db: str) -> None:
    """On 100 m squares the numbers are known: a cut at x = 30 m gives 3000 and 7000 m²."""
    small_park(empty_db)
    line = one(empty_db, """SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
                   ST_MakePoint(515030, 3917950), ST_MakePoint(515030, 3918150)), 4547), 4490),
                   15)::json AS g""")["g"]
    with psycopg.connect(empty_db, row_factory=dict_row) as conn:
        out = split_parcel(conn, "T-1", line, "plan", 1)
        areas = sorted(round(k["area_m2"], 2) for k in out["children"])
        assert areas == [3000.0, 7000.0]
        assert out["check"]["area_diff_m2"] < 1e-4
        with pytest.raises(Conflict):            # T-1 is historic now
            split_parcel(conn, "T-1", line, "plan", None)
        with pytest.raises(InvalidData, match="adjacent|相邻"):
            merge_parcels(conn, ["T-2", "T-4"], "plan", None)     # a gap between them
        conn.execute("UPDATE parcels SET status = 'not_for_supply' WHERE code = 'T-3'")
        with pytest.raises(Conflict):            # mixed status
            merge_parcels(conn, ["T-2", "T-3"], "plan", None)
        east = next(k["code"] for k in out["children"] if round(k["area_m2"]) == 7000)
        out = merge_parcels(conn, [east, "T-2"], "plan", None)
        assert round(out["area_m2"], 2) == 17000.0
        # children are numbered north to south, then west to east
        out2 = split_parcel(conn, "T-4", json.loads(json.dumps(
            one(empty_db, """SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
                   ST_MakePoint(515350, 3917950), ST_MakePoint(515350, 3918150)), 4547), 4490),
                   15)::json AS g""")["g"])), "plan", None)
        assert [k["code"] for k in out2["children"]] == ["T-4-1", "T-4-2"]
