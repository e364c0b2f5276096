"""The investor map page and its endpoints, over HTTP (TestClient) on the sample database."""

from __future__ import annotations

import re

import folium
import folium.plugins as plugins
import psycopg
import pytest

from parkgis.publish import i18n
from parkgis.publish.maps import assets, layers

ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')


def _assets(html: str) -> list[str]:
    return [u for u in ASSET_RE.findall(html) if u.endswith((".js", ".css")) or "/static/" in u]


def test_page_is_folium_map_with_local_assets_only(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    assert 'class="folium-map"' in html
    urls = _assets(html)
    assert urls, "the page loads its assets"
    # every script and stylesheet comes from our own /static
    assert all(u.startswith("/static/") for u in urls), [
        u for u in urls if not u.startswith("/static/")
    ]
    assert assets.remote_urls(html) == [] or all(
        not u.endswith((".js", ".css")) for u in assets.remote_urls(html)
    )
    for needed in (
        "leaflet/leaflet.js",
        "leaflet.vectorgrid/",
        "leaflet.markercluster/",
        "leaflet.fullscreen/",
        "leaflet-minimap/",
        "/static/js/investor.js",
        "/static/css/investor.css",
    ):
        assert needed in html, needed
    for u in urls:
        assert client.get(u).status_code == 200, u


def test_page_carries_tiles_not_parcels(client, sample_db):
    html = client.get("/").text
    assert "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}" in html
    with psycopg.connect(sample_db) as conn:
        codes = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status <> 'historic' ORDER BY code"
            )
        ]
        zones = [r[0] for r in conn.execute("SELECT name_zh FROM zones")]
    assert len(codes) > 5
    # parcels are drawn from tiles: their codes are not embedded (page weight stays flat)
    embedded = [c for c in codes if f'"{c}"' in html]
    assert len(embedded) <= len(codes) // 4, embedded[:10]
    for z in zones:
        assert z in html


PAGE_LABELS = [
    ("卫辉市产业集聚区 · 投资地图", "Weihui Industrial Cluster Zone · Investor map"),
    ("找地", "Find land"),
    ("咨询此地块", "Ask about this site"),
    ("结果", "Results"),
    ("对比", "Compare"),
    ("通电", "Power"),
    ("距铁路不超过（米）", "Rail within (m)"),
]
STATUS_LABELS = {
    "available": ("可供地", "Available"),
    "reserved": ("已预留", "Reserved"),
    "listed": ("挂牌中", "Listed (tender)"),
    "allocated": ("已出让", "Allocated"),
    "under_construction": ("在建", "Under construction"),
    "operational": ("已投产", "Operational"),
    "not_for_supply": ("不供地", "Not for supply"),
    "historic": ("已注销", "Retired"),
}


def test_page_labels_are_bilingual(client):
    html = client.get("/").text
    # the page chrome; the layer control and legend are checked in the browser tests
    # literal expectations (the wording is the spec), not read back from parkgis.publish.i18n
    for zh, en in PAGE_LABELS:
        assert f'data-zh="{zh}"' in html and f'data-en="{en}"' in html, en
    assert '<html lang="zh-CN">' in html


def test_page_offers_tianditu_only_with_a_key(sample_db):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from parkgis.settings import Settings

    with TestClient(create_app(Settings(tianditu_key="abc123"), database_url=sample_db)) as c:
        html = c.get("/").text
    assert "tianditu.gov.cn/vec_w" in html and "tk=abc123" in html
    assert "cva_w" in html


def test_page_without_key_has_no_tianditu(client):
    assert "tianditu.gov.cn" not in client.get("/").text


def test_page_etag_revalidates(client):
    r = client.get("/")
    r2 = client.get("/", headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304


def test_sheet(client, sample_db):
    with psycopg.connect(sample_db) as conn:
        code, mu, zone = conn.execute(
            "SELECT code, area_mu, zone_code FROM parcels WHERE status = 'available' "
            "ORDER BY code LIMIT 1"
        ).fetchone()
    r = client.get(f"/api/parcels/{code}/sheet")
    assert r.status_code == 200
    s = r.json()
    p = s["parcel"]
    assert p["code"] == code and p["zone_code"] == zone
    assert p["area_mu"] == pytest.approx(float(mu), rel=1e-12)
    assert p["area_ha"] == pytest.approx(float(mu) / 15, rel=1e-12)
    assert set(p["services"]) == {
        "road",
        "water",
        "drainage",
        "power",
        "gas",
        "heat",
        "telecom",
        "levelled",
    }
    assert "note_internal" not in p
    assert s["links"]["brief_pdf"] == f"/api/parcels/{code}/brief.pdf"
    assert set(s["distances"]) >= {"rail", "substation", "road"}
    assert s["anchors"], "the sample has anchor enterprises"
    assert all(a["distance_m"] >= 0 for a in s["anchors"])


def test_sheet_distances_agree_with_search(client):
    fc = client.get("/api/parcels/available", params={"limit": 5}).json()
    for f in fc["features"]:
        code = f["properties"]["code"]
        s = client.get(f"/api/parcels/{code}/sheet").json()
        for cat in ("rail", "substation", "road"):
            a, b = f["properties"][f"dist_{cat}_m"], s["distances"][cat]["m"]
            assert (a is None and b is None) or a == pytest.approx(b, abs=1e-6), (code, cat)


@pytest.mark.parametrize("code,status", [("NO-SUCH-1", 404), ("bad code!", 400)])
def test_sheet_refuses(client, code, status):
    r = client.get(f"/api/parcels/{code}/sheet")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


def test_search_box(client, sample_db):
    with psycopg.connect(sample_db) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status <> 'historic' ORDER BY code LIMIT 1"
        ).fetchone()[0]
        ent_zh, ent_code = conn.execute(
            "SELECT name_zh, code FROM enterprises ORDER BY code LIMIT 1"
        ).fetchone()
    r = client.get("/api/map/search", params={"q": code})
    assert r.json()["parcels"][0]["code"] == code
    r = client.get("/api/map/search", params={"q": ent_zh[:2]})
    assert ent_code in [e["code"] for e in r.json()["enterprises"]]
    # a user's % is a literal character, not a wildcard
    assert client.get("/api/map/search", params={"q": "%"}).json() == {
        "parcels": [],
        "enterprises": [],
    }
    assert client.get("/api/map/search", params={"q": ""}).status_code == 400


def test_county_geojson(client):
    r = client.get("/api/map/county")
    assert r.status_code == 200
    fc = r.json()
    assert fc["features"] and fc["features"][0]["properties"]["name_zh"]


def test_localise_rewrites_every_plugin_and_inline_is_self_contained():
    m = folium.Map(tiles=None)
    plugins.MarkerCluster().add_to(m)
    plugins.Fullscreen().add_to(m)
    plugins.MeasureControl().add_to(m)
    plugins.MiniMap().add_to(m)
    plugins.Draw().add_to(m)
    plugins.VectorGridProtobuf("/t/{z}/{x}/{y}", "t").add_to(m)
    folium.Marker([35.4, 114.1], icon=folium.Icon(icon="industry", prefix="fa")).add_to(m)
    assets.localise(m)
    html = m.get_root().render()
    urls = _assets(html)
    assert urls and all(u.startswith("/static/vendor/") for u in urls)
    inlined = assets.inline_html(html)
    assert "/static/" not in inlined
    assert "<script src=" not in inlined and '<link rel="stylesheet"' not in inlined
    assert "data:font/woff2;base64," in inlined  # Font Awesome travels with the file
    assert "L.Control.MiniMap" in inlined


def test_localise_refuses_unvendored_assets():
    m = folium.Map(tiles=None)
    plugins.HeatMap([[35.4, 114.1]]).add_to(m)  # leaflet-heat is not vendored
    with pytest.raises(assets.UnvendoredAsset):
        assets.localise(m)


def test_every_status_has_a_colour_and_a_label():
    from parkgis.db.collections import PARCEL_STATUSES

    for s in PARCEL_STATUSES:
        assert re.fullmatch(r"#[0-9a-f]{6}", layers.STATUS_COLOURS[s])
        assert i18n.label(f"status.{s}") == STATUS_LABELS[s]


def test_the_sample_says_it_is_illustrative(client) -> None:
    # Honest data: the bundled sample is labelled on the public page itself, Chinese first.
    html = client.get("/").text
    assert 'id="pg-sample"' in html
    assert html.index("示例数据") < html.index("sample data")


@pytest.mark.parametrize("path", ["/", "/parcel/WH-A-012"])
def test_one_viewport_that_lets_people_zoom(client, path):
    r = client.get(path)
    assert r.status_code == 200
    metas = re.findall(r'<meta name="viewport"[^>]*>', r.text)
    assert metas == ['<meta name="viewport" content="width=device-width, initial-scale=1">']
