"""Vector tiles: decoded with mapbox-vector-tile, checked against the parcels in the database."""

from __future__ import annotations

import httpx
import mapbox_vector_tile
import psycopg
import pytest
from tilemath import MVT_EXTENT as EXTENT
from tilemath import MVT_MEDIA_TYPE, pixel_in, tile_of

from parkgis.db.collections import COLLECTIONS, CONFIDENTIAL_FIELDS

TILE = "/ogc/collections/{cid}/tiles/WebMercatorQuad/{z}/{x}/{y}"
Z = 16


def _decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def _rings(geom: dict) -> list[list[list[float]]]:
    c = geom["coordinates"]
    if geom["type"] == "Polygon":
        return c
    if geom["type"] == "MultiPolygon":
        return [r for poly in c for r in poly]
    if geom["type"] in ("LineString", "MultiPoint"):
        return [c]
    if geom["type"] == "MultiLineString":
        return c
    return [[c]]


def _bbox(geom: dict) -> tuple[float, float, float, float]:
    pts = [p for ring in _rings(geom) for p in ring]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.fixture(scope="module")
def known(sample_db: str) -> dict:
    """A live available parcel, its point on surface, and a historic parcel (if any)."""
    with psycopg.connect(sample_db) as conn:
        code, lon, lat = conn.execute(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()
        hist = conn.execute(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM parcels WHERE status = 'historic' ORDER BY code LIMIT 1"
        ).fetchone()
        centres = dict(
            conn.execute(
                "SELECT 'zones', ST_AsText(ST_PointOnSurface(ST_Collect(geom))) FROM zones "
                "UNION ALL "
                "SELECT 'enterprises', ST_AsText(ST_PointOnSurface(ST_Collect(geom))) "
                "FROM enterprises"
            ).fetchall()
        )
    return {"code": code, "lon": lon, "lat": lat, "historic": hist, "centres": centres}


def test_parcel_tile_has_the_parcel_at_the_right_place(client, known) -> None:
    x, y = tile_of(known["lon"], known["lat"], Z)
    r = client.get(TILE.format(cid="parcels", z=Z, x=x, y=y))
    assert r.status_code == 200
    assert r.headers["content-type"] == MVT_MEDIA_TYPE
    tile = _decode(r.content)
    assert list(tile) == ["parcels"]
    layer = tile["parcels"]
    assert layer["extent"] == EXTENT
    feats = {f["properties"]["code"]: f for f in layer["features"]}
    assert known["code"] in feats
    f = feats[known["code"]]
    assert f["properties"]["status"] == "available"
    px, py = pixel_in(known["lon"], known["lat"], Z, x, y)
    x0, y0, x1, y1 = _bbox(f["geometry"])
    assert x0 <= px <= x1 and y0 <= py <= y1, (px, py, (x0, y0, x1, y1))
    for feat in layer["features"]:
        # clipped to the tile plus its 64-unit buffer
        bx0, by0, bx1, by1 = _bbox(feat["geometry"])
        assert -64 <= bx0 and bx1 <= EXTENT + 64 and -64 <= by0 and by1 <= EXTENT + 64
        assert "status" in feat["properties"]
        assert not CONFIDENTIAL_FIELDS & set(feat["properties"])
        assert feat["properties"]["status"] != "historic"
        assert set(feat["properties"]) <= set(COLLECTIONS["parcels"].tile_props)


def test_historic_parcels_are_not_tiled(client, known) -> None:
    if known["historic"] is None:
        pytest.skip("the sample has no historic parcel")
    code, lon, lat = known["historic"]
    x, y = tile_of(lon, lat, Z)
    tile = _decode(client.get(TILE.format(cid="parcels", z=Z, x=x, y=y)).content)
    codes = {f["properties"]["code"] for f in tile.get("parcels", {}).get("features", [])}
    assert code not in codes


@pytest.mark.parametrize("cid", sorted(COLLECTIONS))
def test_every_collection_tiles_with_its_own_layer_name(client, known, cid) -> None:
    # z12 tile over the zones: every sample layer has something there (upgrades may not; the
    # approval batches come with the ledger sample; places are tens of km away)
    from shapely import wkt

    c = wkt.loads(known["centres"]["zones"])
    x, y = tile_of(c.x, c.y, 12)
    r = client.get(TILE.format(cid=cid, z=12, x=x, y=y))
    assert r.status_code == 200
    tile = _decode(r.content)
    if cid not in ("upgrades", "approvals", "places"):
        assert list(tile) == [cid]
    assert set(tile) <= {cid}
    for layer in tile.values():
        for f in layer["features"]:
            assert not CONFIDENTIAL_FIELDS & set(f["properties"])
            assert set(f["properties"]) <= set(COLLECTIONS[cid].tile_props)


def test_low_zoom_is_simplified_but_still_there(client, known) -> None:
    x, y = tile_of(known["lon"], known["lat"], 10)
    tile = _decode(client.get(TILE.format(cid="parcels", z=10, x=x, y=y)).content)
    assert tile["parcels"]["features"]


def test_empty_tile_is_200_with_empty_body(client) -> None:
    r = client.get(TILE.format(cid="parcels", z=10, x=0, y=0))  # mid-Pacific
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == MVT_MEDIA_TYPE


def test_etag_and_304(client, known) -> None:
    x, y = tile_of(known["lon"], known["lat"], Z)
    url = TILE.format(cid="parcels", z=Z, x=x, y=y)
    r = client.get(url)
    tag = r.headers["etag"]
    assert "max-age" in r.headers["cache-control"] and "public" in r.headers["cache-control"]
    r2 = client.get(url, headers={"If-None-Match": tag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == tag
    r3 = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200 and r3.content == r.content


def test_an_edit_invalidates_the_cached_tile(sample_db_rw, live_server_rw) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        code, lon, lat = conn.execute(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()
    x, y = tile_of(lon, lat, Z)
    url = live_server_rw + TILE.format(cid="parcels", z=Z, x=x, y=y)

    def status_in_tile(r: httpx.Response) -> str:
        feats = _decode(r.content)["parcels"]["features"]
        return next(f["properties"]["status"] for f in feats if f["properties"]["code"] == code)

    first = httpx.get(url)
    again = httpx.get(url)
    assert again.headers["x-tile-cache"] == "hit"  # the cache is on and holds the tile
    assert status_in_tile(first) == status_in_tile(again) == "available"
    with psycopg.connect(sample_db_rw) as conn:
        conn.execute("UPDATE parcels SET status = 'reserved' WHERE code = %s", (code,))
    after = httpx.get(url)
    assert after.headers["x-tile-cache"] == "miss"
    assert after.headers["etag"] != first.headers["etag"]
    assert status_in_tile(after) == "reserved"
    # the old ETag no longer short-circuits to 304
    assert httpx.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 200


@pytest.mark.parametrize(
    "path,status",
    [
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/8/0", 404),  # x beyond 2^z
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/0/8", 404),
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/30/0/0", 404),  # zoom beyond the set
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/-1/0/0", 400),
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/a/0", 400),
        ("/ogc/collections/parcels/tiles/WebMercatorQuad/3/1.5/0", 400),
        ("/ogc/collections/parcels/tiles/WorldCRS84Quad/3/0/0", 404),
        ("/ogc/collections/projects/tiles/WebMercatorQuad/3/0/0", 404),  # not public
        ("/ogc/collections/nope/tiles/WebMercatorQuad", 404),
    ],
)
def test_bad_tile_requests_are_problems(client, path, status) -> None:
    r = client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status


def test_tilejson_and_tilesets(client, known) -> None:
    tj = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad").json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"][0].endswith("/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}")
    w, s, e, n = tj["bounds"]
    assert w <= known["lon"] <= e and s <= known["lat"] <= n
    assert tj["minzoom"] <= 12 <= tj["maxzoom"]
    assert tj["vector_layers"][0]["id"] == "parcels"
    assert "status" in tj["vector_layers"][0]["fields"]
    ts = client.get("/ogc/collections/parcels/tiles").json()
    assert ts["tilesets"][0]["tileMatrixSetURI"].endswith("WebMercatorQuad")
    assert any(
        link["rel"] == "item" and link["type"] == MVT_MEDIA_TYPE
        for link in ts["tilesets"][0]["links"]
    )


def test_the_fast_path_sends_the_security_headers_and_leaves_bodies_to_the_limit(
    client, known
) -> None:
    """The tile fast path runs outside every middleware (api.main): it sends the security
    headers itself — the non-HTML policy on a 200, none on a 304 (the browser keeps the cached
    one) — and a request declaring a body goes on to the body limit, which refuses one too
    large before any route or tile runs."""
    from api.headers import COMMON, NON_HTML_CSP

    x, y = tile_of(known["lon"], known["lat"], Z)
    url = TILE.format(cid="parcels", z=Z, x=x, y=y)
    r = client.get(url)
    assert r.status_code == 200 and r.headers["x-tile-cache"] in ("hit", "miss")
    assert {k: r.headers[k] for k in COMMON} == COMMON
    assert r.headers["content-security-policy"] == NON_HTML_CSP
    again = client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert {k: again.headers[k] for k in COMMON} == COMMON
    assert "content-security-policy" not in again.headers
    limit = client.app.state.settings.max_body_bytes
    big = client.request("GET", url, content=b"x" * (int(limit) + 1))
    assert big.status_code == 413
    assert big.headers["content-type"].startswith("application/problem+json")
    assert big.headers["x-frame-options"] == "DENY"
