"""OGC API – Features under /ogc, checked against the standard's rules on the sample data.

Part 1 (core, GeoJSON, OAS 3.0), Part 2 (CRS), Part 3 (filter, queryables). Every bad parameter
is a 400 problem+json that changes nothing.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from parkgis.db.collections import COLLECTIONS, CONFIDENTIAL_FIELDS

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture(scope="module")
def db(sample_db: str):
    with psycopg.connect(sample_db, autocommit=True) as conn:
        yield conn


def scalar(conn: psycopg.Connection, sql: str, params: list | None = None):
    return conn.execute(sql, params or []).fetchone()[0]


def public_codes(conn: psycopg.Connection, where: str = "TRUE") -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT code FROM parcels WHERE status <> 'historic' AND ({where}) ORDER BY code"
        )
    ]


def rels(doc: dict) -> dict[str, dict]:
    return {ln["rel"]: ln for ln in doc["links"]}


def get_items(client: TestClient, path: str, **params) -> dict:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GEOJSON
    return r.json()


# --- landing, API definition, conformance ----------------------------------------------------


def test_landing_page_links(client: TestClient) -> None:
    r = client.get("/ogc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    links = rels(r.json())
    for rel in ("self", "service-desc", "service-doc", "conformance", "data"):
        assert rel in links, rel
    assert links["service-desc"]["href"].endswith("/ogc/api")
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["data"]["href"].endswith("/ogc/collections")
    assert links["conformance"]["href"].endswith("/ogc/conformance")
    assert links["service-doc"]["href"].endswith("/docs")
    assert client.get(urlsplit(links["service-doc"]["href"]).path).status_code == 200


def test_api_definition_is_openapi_30_with_its_media_type(client: TestClient) -> None:
    r = client.get("/ogc/api")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert "/ogc/collections/{collectionId}/items" in doc["paths"]
    # Per-collection items paths carry the filter-lang enum and the queryable properties:
    # that is where GDAL's OAPIF driver decides whether to push filters to us.
    params = {p["name"]: p for p in doc["paths"]["/collections/parcels/items"]["get"]["parameters"]}
    assert "cql2-text" in params["filter-lang"]["schema"]["enum"]
    assert "status" in params and "note_internal" not in params


def test_conformance_lists_the_classes_we_honour(client: TestClient) -> None:
    r = client.get("/ogc/conformance")
    assert r.status_code == 200
    conf = set(r.json()["conformsTo"])
    for uri in (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        # the four QGIS needs before it pushes a filter (design §5)
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    ):
        assert uri in conf, uri


# --- collections ------------------------------------------------------------------------------


def test_collections_list_every_public_collection(client: TestClient, db) -> None:
    r = client.get("/ogc/collections")
    assert r.status_code == 200
    doc = r.json()
    assert rels(doc)["self"]["href"].endswith("/ogc/collections")
    by_id = {c["id"]: c for c in doc["collections"]}
    assert set(by_id) == {
        "zones",
        "parcels",
        "infrastructure",
        "upgrades",
        "enterprises",
        "approvals",
        "places",
    }
    for cid, c in by_id.items():
        links = rels(c)
        assert links["items"]["type"] == GEOJSON
        assert links["items"]["href"].endswith(f"/ogc/collections/{cid}/items")
        assert links["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["href"].endswith(
            f"/ogc/collections/{cid}/queryables"
        )
        assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]["href"].endswith(
            f"/ogc/collections/{cid}/tiles/WebMercatorQuad"
        )
        assert c["crs"][0] == CRS84
        assert {EPSG + "4490", EPSG + "4547", EPSG + "3857"} <= set(c["crs"])
        assert c["storageCrs"] == EPSG + "4490"
        if cid == "approvals" and "extent" not in c:
            continue  # empty in the GeoPackage sample (the ledger sample brings batches)
        bbox = c["extent"]["spatial"]["bbox"]
        assert isinstance(bbox, list) and isinstance(bbox[0], list) and len(bbox[0]) == 4
    # The parcels extent is that of the public (non-historic) rows, lon/lat.
    want = db.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(geom) e FROM parcels WHERE status <> 'historic') s"
    ).fetchone()
    assert by_id["parcels"]["extent"]["spatial"]["bbox"][0] == pytest.approx(list(want), abs=1e-9)
    x1, y1, x2, y2 = want
    assert 113.5 < x1 < x2 < 114.5 and 35.0 < y1 < y2 < 35.8  # Weihui, lon first


def test_one_collection_and_unknown_collection(client: TestClient) -> None:
    r = client.get("/ogc/collections/parcels")
    assert r.status_code == 200 and r.json()["id"] == "parcels"
    for path in (
        "/ogc/collections/nope",
        "/ogc/collections/nope/items",
        "/ogc/collections/nope/queryables",
        "/ogc/collections/projects/items",
        "/ogc/collections/users/items",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == PROBLEM


# --- queryables -------------------------------------------------------------------------------


@pytest.mark.parametrize("cid", sorted(COLLECTIONS))
def test_queryables_are_a_json_schema_of_public_properties(client: TestClient, cid: str) -> None:
    r = client.get(f"/ogc/collections/{cid}/queryables")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    assert doc["$id"].endswith(f"/ogc/collections/{cid}/queryables")
    assert doc["$schema"].startswith("https://json-schema.org/")
    assert doc["type"] == "object"
    props = doc["properties"]
    assert props["geometry"]["format"].startswith("geometry-")
    assert set(props) - {"geometry"} == {p.name for p in COLLECTIONS[cid].props}
    assert not set(props) & CONFIDENTIAL_FIELDS
    for name, schema in props.items():
        if name != "geometry":
            assert schema["type"] in ("string", "number", "integer", "boolean"), name


# --- items: shape, counting, paging ----------------------------------------------------------


def test_items_shape_and_counts(client: TestClient, db) -> None:
    doc = get_items(client, "/ogc/collections/parcels/items")
    assert doc["type"] == "FeatureCollection"
    n = scalar(db, "SELECT count(*) FROM parcels WHERE status <> 'historic'")
    assert doc["numberMatched"] == n
    assert doc["numberReturned"] == len(doc["features"]) == min(10, n)
    assert doc["timeStamp"].endswith("Z")
    links = rels(doc)
    assert links["self"]["type"] == GEOJSON and "next" in links and "prev" not in links
    f = doc["features"][0]
    assert f["type"] == "Feature" and isinstance(f["id"], str)
    assert f["id"] == f["properties"]["code"]
    assert f["geometry"]["type"] == "MultiPolygon"
    assert "crs" not in f["geometry"]


def test_paging_with_next_links_walks_every_item_once(client: TestClient, db) -> None:
    want = public_codes(db)
    url = "/ogc/collections/parcels/items?limit=37&sortby=code&properties=code"
    got: list[str] = []
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        doc = r.json()
        assert doc["numberMatched"] == len(want)
        got += [f["id"] for f in doc["features"]]
        links = rels(doc)
        if pages:
            assert "prev" in links
        nxt = links.get("next")
        if nxt:
            q = parse_qs(urlsplit(nxt["href"]).query)
            # every parameter of the request is carried over
            assert q["limit"] == ["37"] and q["sortby"] == ["code"] and q["properties"] == ["code"]
        url = nxt["href"] if nxt else None
        pages += 1
    assert got == want
    assert pages == -(-len(want) // 37)


def test_no_confidential_field_on_any_public_item(client: TestClient, db) -> None:
    # Make sure there is something to leak: the sample carries internal notes/contacts.
    for cid in COLLECTIONS:
        doc = get_items(client, f"/ogc/collections/{cid}/items", limit=10000)
        assert doc["numberReturned"] == doc["numberMatched"]
        for f in doc["features"]:
            assert not set(f["properties"]) & CONFIDENTIAL_FIELDS
            assert set(f["properties"]) == {p.name for p in COLLECTIONS[cid].props}
        text = json.dumps(doc, ensure_ascii=False)
        for col in CONFIDENTIAL_FIELDS:
            assert f'"{col}"' not in text


def test_historic_parcels_are_not_public(client: TestClient, db) -> None:
    codes = {
        f["id"]
        for f in get_items(client, "/ogc/collections/parcels/items", limit=10000)["features"]
    }
    assert codes == set(public_codes(db))
    historic = db.execute("SELECT code FROM parcels WHERE status = 'historic' LIMIT 1").fetchone()
    if historic:
        assert client.get(f"/ogc/collections/parcels/items/{historic[0]}").status_code == 404


def test_item_by_id(client: TestClient, db) -> None:
    code = public_codes(db)[0]
    r = client.get(f"/ogc/collections/parcels/items/{code}")
    assert r.status_code == 200
    assert r.headers["content-type"] == GEOJSON
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == code
    assert rels(f)["collection"]["href"].endswith("/ogc/collections/parcels")
    r = client.get("/ogc/collections/parcels/items/NO-SUCH-PARCEL")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_properties_subset_and_sortby(client: TestClient, db) -> None:
    doc = get_items(
        client,
        "/ogc/collections/parcels/items",
        properties="code,area_mu",
        sortby="-area_mu",
        limit=10000,
    )
    assert all(set(f["properties"]) == {"code", "area_mu"} for f in doc["features"])
    areas = [f["properties"]["area_mu"] for f in doc["features"]]
    assert areas == sorted(areas, reverse=True)
    doc = get_items(
        client,
        "/ogc/collections/parcels/items",
        sortby="+zone_code,-code",
        properties="",
        limit=10000,
    )
    assert all(f["properties"] == {} for f in doc["features"])
    want = [
        r[0]
        for r in db.execute(
            "SELECT code FROM parcels WHERE status <> 'historic' ORDER BY zone_code, code DESC"
        )
    ]
    assert [f["id"] for f in doc["features"]] == want


def test_numbers_always_carry_a_decimal_point(client: TestClient) -> None:
    r = client.get(
        "/ogc/collections/parcels/items", params={"limit": 10000, "properties": "area_mu"}
    )
    assert '"area_mu" : ' in r.text or '"area_mu": ' in r.text
    for f in r.json()["features"]:
        assert isinstance(f["properties"]["area_mu"], float)


def test_property_equality_query_parameter(client: TestClient, db) -> None:
    doc = get_items(client, "/ogc/collections/parcels/items", status="available", limit=10000)
    assert sorted(f["id"] for f in doc["features"]) == public_codes(db, "status = 'available'")
    assert doc["numberMatched"] == len(public_codes(db, "status = 'available'")) > 0
    doc = get_items(client, "/ogc/collections/parcels/items", svc_power="true", limit=10000)
    assert doc["numberMatched"] == len(public_codes(db, "svc_power"))


def test_result_type_hits(client: TestClient, db) -> None:
    doc = get_items(client, "/ogc/collections/parcels/items", resultType="hits", status="available")
    assert doc["features"] == [] and doc["numberReturned"] == 0
    assert doc["numberMatched"] == len(public_codes(db, "status = 'available'"))


def test_number_matched_is_estimated_past_the_threshold(sample_db_rw: str) -> None:
    from api.main import create_app
    from parkgis.settings import Settings

    with psycopg.connect(sample_db_rw, autocommit=True) as conn:
        conn.execute("ANALYZE parcels")
        n = scalar(conn, "SELECT count(*) FROM parcels WHERE status <> 'historic'")
    with TestClient(create_app(Settings(count_exact_max=5), database_url=sample_db_rw)) as c:
        doc = c.get("/ogc/collections/parcels/items", params={"limit": 3}).json()
        assert doc.get("numberMatchedEstimated") is True
        assert 0.5 * n <= doc["numberMatched"] <= 1.5 * n  # the planner's estimate
        assert "next" in rels(doc)
        # a narrow filter under the threshold is counted exactly
        doc = c.get("/ogc/collections/parcels/items", params={"filter": "code = 'NO-SUCH'"}).json()
        assert doc["numberMatched"] == 0 and "numberMatchedEstimated" not in doc


# --- filters end to end -----------------------------------------------------------------------

FILTERS = [
    ("status = 'available'", "status = 'available'"),
    (
        "status IN ('available','reserved','listed') AND area_mu >= 30",
        "status IN ('available','reserved','listed') AND area_mu >= 30",
    ),
    (
        "NOT (svc_power = TRUE) OR landuse_code LIKE '1101%'",
        "NOT svc_power OR landuse_code LIKE '1101%'",
    ),
    ("area_mu BETWEEN 20 AND 60", "area_mu BETWEEN 20 AND 60"),
    ("enterprise_code IS NOT NULL", "enterprise_code IS NOT NULL"),
    ("\"zone_code\" = 'WH-CZ' OR zone_code <> 'WH-CZ'", "TRUE"),
]


@pytest.mark.parametrize(("cql", "where"), FILTERS)
def test_cql2_filters_end_to_end(client: TestClient, db, cql: str, where: str) -> None:
    doc = get_items(
        client,
        "/ogc/collections/parcels/items",
        filter=cql,
        **{"filter-lang": "cql2-text"},
        limit=10000,
    )
    want = public_codes(db, where)
    assert sorted(f["id"] for f in doc["features"]) == want
    assert doc["numberMatched"] == len(want)


def test_spatial_filter_and_bbox_in_every_crs_agree(client: TestClient, db) -> None:
    x1, y1, x2, y2 = 114.00, 35.37, 114.05, 35.42
    want = public_codes(db, f"ST_Intersects(geom, ST_MakeEnvelope({x1},{y1},{x2},{y2},4490))")
    assert want, "the box should hit parcels"

    def ids(**params) -> list[str]:
        return sorted(
            f["id"]
            for f in get_items(client, "/ogc/collections/parcels/items", limit=10000, **params)[
                "features"
            ]
        )

    assert ids(bbox=f"{x1},{y1},{x2},{y2}") == want
    assert ids(bbox=f"{y1},{x1},{y2},{x2}", **{"bbox-crs": EPSG + "4490"}) == want  # lat first
    assert ids(filter=f"S_INTERSECTS(geometry, BBOX({x1},{y1},{x2},{y2}))") == want
    assert (
        ids(
            filter=f"S_INTERSECTS(geometry, POLYGON(({y1} {x1}, {y1} {x2}, {y2} {x2}, "
            f"{y2} {x1}, {y1} {x1})))",
            **{"filter-crs": EPSG + "4490"},
        )
        == want
    )
    # In projected CRSs the same box is not exactly the same area: compare with PostGIS.
    gk = db.execute(
        f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
        f"ST_Transform(ST_MakeEnvelope({x1},{y1},{x2},{y2},4490), 4547)::box2d b) s"
    ).fetchone()
    want_gk = public_codes(
        db,
        f"ST_Intersects(geom, ST_Transform(ST_Segmentize("
        f"ST_MakeEnvelope({gk[0]},{gk[1]},{gk[2]},{gk[3]},4547), "
        f"greatest({gk[2] - gk[0]},{gk[3] - gk[1]}) / 16), 4490))",
    )
    # EPSG:4547 is northing first: bbox = minN, minE, maxN, maxE
    assert ids(bbox=f"{gk[1]},{gk[0]},{gk[3]},{gk[2]}", **{"bbox-crs": "EPSG:4547"}) == want_gk
    assert set(want) <= set(want_gk)


def test_bbox_crossing_the_antimeridian_is_accepted(client: TestClient) -> None:
    doc = get_items(client, "/ogc/collections/parcels/items", bbox="170,-10,-170,10")
    assert doc["numberMatched"] == 0


# --- CRS output -------------------------------------------------------------------------------


def _first_xy(f: dict) -> list[float]:
    return f["geometry"]["coordinates"][0][0][0]


def test_output_crs_and_content_crs_header(client: TestClient, db) -> None:
    code = public_codes(db)[0]
    lon, lat = db.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(ST_ExteriorRing("
        "ST_GeometryN(geom, 1)), 1) p FROM parcels WHERE code = %s) s",
        [code],
    ).fetchone()
    path = f"/ogc/collections/parcels/items/{code}"

    r = client.get(path)
    assert r.headers["content-crs"] == f"<{CRS84}>"
    assert _first_xy(r.json()) == pytest.approx([lon, lat], abs=1e-8)

    r = client.get(path, params={"crs": EPSG + "4490"})  # latitude first, per EPSG
    assert r.headers["content-crs"] == f"<{EPSG}4490>"
    assert _first_xy(r.json()) == pytest.approx([lat, lon], abs=1e-8)

    r = client.get(path, params={"crs": EPSG + "4547"})  # northing first, metres
    assert r.headers["content-crs"] == f"<{EPSG}4547>"
    n, e = _first_xy(r.json())
    assert 3.85e6 < n < 3.95e6 and 450_000 < e < 550_000
    want_e, want_n = db.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_SetSRID("
        "ST_MakePoint(%s, %s), 4490), 4547) p) s",
        [lon, lat],
    ).fetchone()
    assert (n, e) == pytest.approx((want_n, want_e), abs=0.001)

    r = client.get(path, params={"crs": EPSG + "3857"})  # easting first, metres
    x, y = _first_xy(r.json())
    assert 1.26e7 < x < 1.28e7 and 4.1e6 < y < 4.3e6

    doc = get_items(client, "/ogc/collections/parcels/items", crs=EPSG + "4547", limit=1)
    assert 3.85e6 < _first_xy(doc["features"][0])[0] < 3.95e6


# --- bad parameters: 400 problem+json, never 500, nothing changes -----------------------------

BAD = [
    {"bbox": "114,35,115"},
    {"bbox": "a,b,c,d"},
    {"bbox": "114,35,115,36,1"},
    {"bbox": "114,36,115,35"},  # miny > maxy
    {"bbox": "114,35,115,95"},  # latitude out of range
    {"bbox": "-200,35,115,36"},
    {"bbox": "nan,35,115,36"},
    {"bbox": "114,35,115,36", "bbox-crs": "EPSG:9999"},
    {"bbox": "600000,3.9e6,500000,4e6", "bbox-crs": "EPSG:3857"},  # projected minx > maxx
    {"crs": "EPSG:4326"},
    {"crs": "http://www.opengis.net/def/crs/EPSG/0/2000"},
    {"crs": "'; DROP TABLE parcels; --"},
    {"filter-crs": "EPSG:1"},
    {"limit": "-1"},
    {"limit": "0"},
    {"limit": "10001"},
    {"limit": "99999999999999999999999"},
    {"limit": "ten"},
    {"limit": "1.5"},
    {"offset": "-5"},
    {"offset": "x"},
    {"filter": "status = "},
    {"filter": "status = 'available"},
    {"filter": "nope = 1"},
    {"filter": "note_internal IS NOT NULL"},
    {"filter": "status = 'x'; DROP TABLE parcels; --"},
    {"filter": "1=1; DELETE FROM parcels"},
    {"filter": "status = 'available' OR 1=1 --"},
    {"filter": "code = (SELECT code FROM parcels LIMIT 1)"},
    {"filter": "pg_sleep(5) IS NULL"},
    {"filter": "status = 'available'", "filter-lang": "cql2-json"},
    {"filter": "status = 'available'", "filter-lang": "sql"},
    {"sortby": "nope"},
    {"sortby": "code;DROP TABLE parcels"},
    {"sortby": "code DESC"},
    {"sortby": "note_internal"},
    {"sortby": "(SELECT 1)"},
    {"properties": "code,nope"},
    {"properties": "note_internal"},
    {"properties": "code,(select password_hash from users)"},
    {"properties": "*"},
    {"status": "available", "nope": "1"},  # unknown query parameter
    {"area_mu": "lots"},
    {"svc_power": "maybe"},
    {"reserved_until": "2030-02-30"},
    {"limit": "5", "limit ": "6"},
    {"datetime": "2024-01-01"},
    {"resultType": "everything"},
    {"f": "xml"},
]


@pytest.mark.parametrize("params", BAD, ids=[json.dumps(p, ensure_ascii=False) for p in BAD])
def test_bad_parameters_are_400_problem_json(client: TestClient, params: dict) -> None:
    r = client.get("/ogc/collections/parcels/items", params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == 400 and body["detail"]


def test_repeated_parameter_and_bad_item_crs_are_400(client: TestClient, db) -> None:
    r = client.get("/ogc/collections/parcels/items?limit=1&limit=2")
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    code = public_codes(db)[0]
    for q in ("crs=EPSG:1", "bbox=1,2,3,4"):
        r = client.get(f"/ogc/collections/parcels/items/{code}?{q}")
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM


def test_bad_parameters_change_nothing(client: TestClient, db) -> None:
    def state() -> tuple:
        return (
            scalar(db, "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM parcels p"),
            scalar(db, "SELECT count(*) FROM parcel_events"),
            scalar(db, "SELECT to_regclass('public.parcels') IS NOT NULL"),
            scalar(db, "SELECT sum(version) FROM data_versions"),
        )

    before = state()
    for params in BAD:
        client.get("/ogc/collections/parcels/items", params=params)
    assert state() == before
