"""Split and merge: children tile the parent exactly, lineage is recorded, bad edits are refused.

The blades are built in the parcel's Gauss–Krüger projection and sent as lon/lat GeoJSON over
real HTTP, the way the planner map sends them.
"""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
import shapely
from psycopg.rows import dict_row
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from workbench_helpers import add_users, login, one, rows, small_park

from parkgis.errors import Conflict, InvalidData
from parkgis.land.parcel_edit import merge_parcels, split_parcel

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
# Geometry as stored (EPSG:4490 lon/lat) and the parcel's Gauss-Krueger zone: the tests measure
# in that zone themselves (pyproj + shapely), independent of the product's own tiling check.
SQL_STORED = "SELECT code, ST_AsBinary(geom) AS wkb, gk_srid FROM parcels WHERE code = ANY(%s)"
REL_TOL = 1e-6  # of the parent's area (issue 12)


def _in_zone(url: str, codes: list[str]) -> tuple[dict[str, BaseGeometry], int]:
    """The stored outlines of ``codes`` projected into their (common) GK zone, and its EPSG."""
    got = rows(url, SQL_STORED, (codes,))
    srids = {r["gk_srid"] for r in got}
    assert len(got) == len(codes) and len(srids) == 1, got
    srid = srids.pop()
    to_gk = Transformer.from_crs(4490, srid, always_xy=True).transform
    return {
        r["code"]: shapely.transform(shapely.from_wkb(bytes(r["wkb"])), to_gk, interleaved=False)
        for r in got
    }, srid


def _assert_tiles(parent: BaseGeometry, children: list[BaseGeometry]) -> None:
    """Children cover the parent to 1e-6 of its area and do not overlap each other."""
    tol = REL_TOL * parent.area
    assert parent.area > 100  # a real parcel, so the tolerance is meaningful
    assert unary_union(children).symmetric_difference(parent).area <= tol
    assert abs(sum(c.area for c in children) - parent.area) <= tol
    for i, a in enumerate(children):
        for b in children[i + 1 :]:
            assert a.intersection(b).area <= tol


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
    return one(
        url, "SELECT code FROM parcels WHERE status = 'available' ORDER BY area_m2 DESC LIMIT 1"
    )["code"]


def test_split_by_line_tiles_parent_exactly(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    parent = one(url, "SELECT area_m2, version FROM parcels WHERE code = %s", (code,))
    r = c.post(
        f"/api/parcels/{code}/split",
        json={"blade": _geojson(url, SQL_CUT_LINE, code), "note": "按道路分割"},
        headers={**plan, "If-Match": _tag(c, code)},
    )
    assert r.status_code == 201, r.text
    out = r.json()
    kids = [k["code"] for k in out["children"]]
    assert kids == [f"{code}-1", f"{code}-2"]
    assert [f["id"] for f in out["features"]] == kids
    geoms, _srid = _in_zone(url, [code, *kids])  # the parent keeps its outline as historic
    _assert_tiles(geoms[code], [geoms[k] for k in kids])
    assert abs(geoms[code].area - parent["area_m2"]) <= REL_TOL * geoms[code].area
    # lineage and audit
    assert one(url, "SELECT status FROM parcels WHERE code = %s", (code,))["status"] == "historic"
    for k in kids:
        p = one(url, "SELECT parent_codes, status, zone_code FROM parcels WHERE code = %s", (k,))
        assert p["parent_codes"] == [code] and p["status"] == "available"
    ev = rows(
        url,
        "SELECT parcel_code, actor, action, note, data FROM parcel_events "
        "WHERE parcel_code = ANY(%s) AND actor = 'plan' ORDER BY id",
        ([code, *kids],),
    )
    assert [(e["parcel_code"], e["action"]) for e in ev] == [
        (code, "split"),
        (kids[0], "create"),
        (kids[1], "create"),
    ]
    assert ev[0]["data"] == {"children": kids} and ev[0]["note"] == "按道路分割"
    assert ev[1]["data"]["lineage"] == {"op": "split", "parents": [code], "siblings": kids}
    # a historic parcel admits nothing
    r = c.post(f"/api/parcels/{code}/reserve", json={}, headers={**plan, "If-Match": "*"})
    # an empty body is refused for what it lacks (a reservation's end date), precisely
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "until" and "(until)" in r.json()["detail"]
    r = c.post(
        f"/api/parcels/{code}/split",
        json=_geojson(url, SQL_CUT_LINE, kids[0]),
        headers={**plan, "If-Match": "*"},
    )
    assert r.status_code == 409


def test_split_by_polygon_inside_outside_then_merge_back(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    area = one(url, "SELECT area_m2 FROM parcels WHERE code = %s", (code,))["area_m2"]
    r = c.post(
        f"/api/parcels/{code}/split",
        json=_geojson(url, SQL_INNER_CIRCLE, code),
        headers={**plan, "If-Match": _tag(c, code)},
    )
    assert r.status_code == 201, r.text
    kids = {k["inside"]: k["code"] for k in r.json()["children"]}
    assert set(kids) == {True, False}
    holes = one(
        url,
        "SELECT ST_NumInteriorRings(ST_GeometryN(geom_gk, 1)) AS n FROM parcels WHERE code = %s",
        (kids[False],),
    )["n"]
    assert holes == 1  # the outside part rings the inside one
    geoms, _srid = _in_zone(url, [code, *kids.values()])
    _assert_tiles(geoms[code], [geoms[k] for k in kids.values()])
    # and back together: the merged parcel has the original area
    codes = sorted(kids.values())
    r = c.post(
        "/api/parcels/merge",
        json={"codes": codes},
        headers={**plan, "If-Match": ", ".join(_tag(c, k) for k in codes)},
    )
    assert r.status_code == 201, r.text
    merged = r.json()["code"]
    assert merged == f"{codes[0]}-M1"
    m = one(
        url,
        "SELECT area_m2, parent_codes, status, "
        "ST_NumInteriorRings(ST_GeometryN(geom_gk, 1)) AS holes FROM parcels "
        "WHERE code = %s",
        (merged,),
    )
    assert abs(m["area_m2"] - area) < TOL_M2
    geoms, _srid = _in_zone(url, [code, merged, *codes])
    _assert_tiles(geoms[merged], [geoms[k] for k in codes])  # the parts tile the merged one
    assert geoms[merged].symmetric_difference(geoms[code]).area <= REL_TOL * geoms[code].area
    assert m["parent_codes"] == codes and m["status"] == "available" and m["holes"] == 0
    ev = rows(
        url,
        "SELECT parcel_code, action, data FROM parcel_events WHERE actor = 'plan' "
        "AND action IN ('merge', 'create') AND parcel_code = ANY(%s) ORDER BY id",
        ([*codes, merged],),
    )
    assert [(e["parcel_code"], e["action"]) for e in ev[-3:]] == [
        (codes[0], "merge"),
        (codes[1], "merge"),
        (merged, "create"),
    ]
    assert ev[-1]["data"]["lineage"] == {"op": "merge", "parents": codes}


def test_merge_adjacent_sample_parcels(env) -> None:
    url, c, plan = env
    pair = rows(url, SQL_ADJACENT_PAIR)
    if not pair:
        pytest.skip("the sample data has no adjacent available pair of one land use")
    codes = [pair[0]["a"], pair[0]["b"]]
    before = one(url, "SELECT sum(area_m2) AS m2 FROM parcels WHERE code = ANY(%s)", (codes,))
    r = c.post(
        "/api/parcels/merge",
        json={"codes": codes, "note": "合并供地"},
        headers={**plan, "If-Match": ", ".join(_tag(c, k) for k in codes)},
    )
    assert r.status_code == 201, r.text
    new = one(url, "SELECT area_m2 FROM parcels WHERE code = %s", (r.json()["code"],))
    assert abs(new["area_m2"] - before["m2"]) < TOL_M2
    geoms, _srid = _in_zone(url, [r.json()["code"], *codes])
    _assert_tiles(geoms[r.json()["code"]], [geoms[k] for k in codes])
    assert r.json()["feature"]["properties"]["parent_codes"] == codes


def test_refusals_leave_the_store_unchanged(env) -> None:
    url, c, plan = env
    code = _largest_available(url)
    snapshot = (
        "SELECT (SELECT count(*) FROM parcels) AS parcels, "
        "(SELECT count(*) FROM parcel_events) AS events, "
        "(SELECT version FROM parcels WHERE code = %s) AS version"
    )
    before = one(url, snapshot, (code,))
    tag = _tag(c, code)
    h = {**plan, "If-Match": tag}
    far_line = {"type": "LineString", "coordinates": [[100.0, 30.0], [100.1, 30.1]]}
    bad = [
        (_geojson(url, SQL_SLIVER_LINE, code), 422),  # sliver
        (far_line, 422),  # misses the parcel
        ({"type": "Point", "coordinates": [114.0, 35.4]}, 422),  # not a blade
        ({"type": "LineString", "coordinates": [[114.0]]}, 422),  # broken GeoJSON
        ({"type": "LineString", "coordinates": [[514000, 3918000], [515000, 3918000]]}, 422),
        ({"type": "FeatureCollection", "features": []}, 422),
    ]
    for blade, status in bad:
        r = c.post(f"/api/parcels/{code}/split", json=blade, headers=h)
        assert r.status_code == status, (blade, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    # a line that stops inside the parcel does not cut it
    half = _geojson(url, SQL_CUT_LINE, code)
    half["coordinates"] = [
        half["coordinates"][0],
        [(a + b) / 2 for a, b in zip(*half["coordinates"], strict=True)],
    ]
    assert c.post(f"/api/parcels/{code}/split", json=half, headers=h).status_code == 422
    # missing / stale If-Match
    line = _geojson(url, SQL_CUT_LINE, code)
    assert c.post(f"/api/parcels/{code}/split", json=line, headers=plan).status_code == 428
    assert (
        c.post(
            f"/api/parcels/{code}/split", json=line, headers={**plan, "If-Match": f'"{code}-999"'}
        ).status_code
        == 412
    )
    # status not editable
    busy = one(url, "SELECT code FROM parcels WHERE status = 'allocated' LIMIT 1")["code"]
    r = c.post(
        f"/api/parcels/{busy}/split",
        json=_geojson(url, SQL_CUT_LINE, busy),
        headers={**plan, "If-Match": "*"},
    )
    assert r.status_code == 409
    # merge refusals: not adjacent, one parcel, mixed status, stale/missing versions
    far = one(
        url,
        """SELECT b.code FROM parcels a, parcels b WHERE a.code = %s
                       AND b.status = 'available' AND b.zone_code = a.zone_code
                       AND b.landuse_code = a.landuse_code AND b.code <> a.code
                       AND NOT ST_Intersects(a.geom, b.geom) LIMIT 1""",
        (code,),
    )["code"]
    pair = sorted([code, far])
    tags = ", ".join(_tag(c, k) for k in pair)
    r = c.post("/api/parcels/merge", json={"codes": pair}, headers={**plan, "If-Match": tags})
    assert r.status_code == 422 and "adjacent" in r.json()["detail"]
    assert (
        c.post(
            "/api/parcels/merge", json={"codes": [code]}, headers={**plan, "If-Match": tags}
        ).status_code
        == 400
    )
    assert c.post("/api/parcels/merge", json={"codes": pair}, headers=plan).status_code == 428
    r = c.post(
        "/api/parcels/merge", json={"codes": pair}, headers={**plan, "If-Match": _tag(c, code)}
    )
    assert r.status_code == 412
    r = c.post(
        "/api/parcels/merge", json={"codes": [code, busy]}, headers={**plan, "If-Match": "*"}
    )
    assert r.status_code == 409
    assert one(url, snapshot, (code,)) == before


def test_split_core_on_exact_squares(empty_db: str) -> None:
    """On 100 m squares the numbers are known: a cut at x = 30 m gives 3000 and 7000 m²."""
    small_park(empty_db)
    line = one(
        empty_db,
        """SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
                   ST_MakePoint(515030, 3917950), ST_MakePoint(515030, 3918150)), 4547), 4490),
                   15)::json AS g""",
    )["g"]
    with psycopg.connect(empty_db, row_factory=dict_row) as conn:
        out = split_parcel(conn, "T-1", line, "plan", 1)
        areas = sorted(round(k["area_m2"], 2) for k in out["children"])
        assert areas == [3000.0, 7000.0]
        assert out["check"]["area_diff_m2"] < 1e-4
        with pytest.raises(Conflict):  # T-1 is historic now
            split_parcel(conn, "T-1", line, "plan", None)
        with pytest.raises(InvalidData, match="adjacent|相邻"):
            merge_parcels(conn, ["T-2", "T-4"], "plan", None)  # a gap between them
        conn.execute("UPDATE parcels SET status = 'not_for_supply' WHERE code = 'T-3'")
        with pytest.raises(Conflict):  # mixed status
            merge_parcels(conn, ["T-2", "T-3"], "plan", None)
        east = next(k["code"] for k in out["children"] if round(k["area_m2"]) == 7000)
        out = merge_parcels(conn, [east, "T-2"], "plan", None)
        assert round(out["area_m2"], 2) == 17000.0
        # children are numbered north to south, then west to east
        out2 = split_parcel(
            conn,
            "T-4",
            json.loads(
                json.dumps(
                    one(
                        empty_db,
                        """SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine(
                   ST_MakePoint(515350, 3917950), ST_MakePoint(515350, 3918150)), 4547), 4490),
                   15)::json AS g""",
                    )["g"]
                )
            ),
            "plan",
            None,
        )
        assert [k["code"] for k in out2["children"]] == ["T-4-1", "T-4-2"]
