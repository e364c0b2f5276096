"""The investor map in a real browser: Debian's headless chromium driven by selenium.

Each test loads ``/`` from uvicorn on loopback (``live_server``) and checks what a user sees:
no console error, tiles from our server drawn as coloured parcels, the filter, the sheet, the
language toggle, the inquiry form, and that no request leaves the origin. Screenshots go to
``tests/artifacts/`` (look at them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import browser as browser_support
import psycopg
import pytest
from browser import open_map, wait_for

from parkgis.publish.maps import layers

pytestmark = browser_support.MARKS


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browser_support.driver() as d:
        yield d


def apply_filters(driver, **values: str) -> list[str]:
    """Type ``values`` into the side panel's filter fields, run the query, return the codes
    listed."""
    from selenium.webdriver.common.by import By

    form = driver.find_element(By.ID, "pg-filter")
    for name, value in values.items():
        form.find_element(By.NAME, name).send_keys(value)
    driver.find_element(By.ID, "pg-apply").click()
    wait_for(driver, "document.querySelector('#pg-count').textContent.match(/^[0-9]/)")
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#pg-results tbody tr[data-code]'))"
        ".map(tr => tr.dataset.code)"
    )


def request_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def wait_tiles(driver) -> int:
    return wait_for(
        driver,
        "window.PG && PG.tilesLoaded > 0 && !PG.state.overlays.parcels._loading && PG.tilesLoaded",
    )


def parcel_pixels(png: bytes) -> dict[str, int]:
    """Count screenshot pixels close to each status colour (over a white-ish background)."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    out = {}
    for status, hexcol in layers.STATUS_COLOURS.items():
        rgb = np.array([int(hexcol[i : i + 2], 16) for i in (1, 3, 5)])
        a = layers.STATUS_OPACITY[status]
        # drawn over the light map background: colour*a + bg*(1-a), bg ~ #f2efe9
        bg = np.array([0xF2, 0xEF, 0xE9])
        blended = rgb * a + bg * (1 - a)
        d = np.abs(img - blended).sum(axis=2)
        out[status] = int((d < 30).sum())
    return out


def test_map_draws_parcels_from_our_tiles_without_errors(browser, live_server, artifacts):
    open_map(browser, live_server + "/")
    wait_tiles(browser)
    time.sleep(0.5)  # let the canvas paint the last tile before the screenshot
    png = browser.get_screenshot_as_png()
    (artifacts / "investor-map.png").write_bytes(png)
    urls = request_urls(browser)
    tiles = [u for u in urls if "/ogc/collections/parcels/tiles/WebMercatorQuad/" in u]
    assert tiles and all(u.startswith(live_server + "/") for u in tiles)
    px = parcel_pixels(png)
    assert px["available"] > 500, px
    assert sum(px.values()) > 2000, px
    errors = severe(browser)
    assert errors == [], errors
    outside = [u for u in urls if not u.startswith((live_server + "/", "data:", "blob:"))]
    assert outside == [], outside


def test_layer_control_legend_and_controls_present(browser, live_server):
    open_map(browser, live_server + "/")
    for css in (
        ".leaflet-control-layers",
        ".pg-legend",
        ".leaflet-control-scale",
        ".leaflet-control-measure",
        ".leaflet-control-zoom-fullscreen, .fullscreen-icon",
        ".leaflet-control-minimap",
        ".marker-cluster, .awesome-marker",
    ):
        assert browser.execute_script(f"return document.querySelectorAll('{css}').length"), css
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label span.i18n'))"
        ".map(e => e.textContent)"
    )
    assert "地块（按状态）" in names and "无底图（离线）" in names, names


def expected_codes(sample_db: str, min_mu: float, max_rail_m: float) -> list[str]:
    # The same definition the search uses: vacant, area in exact mu, an existing rail siding
    # within max_rail_m metres in the parcel's Gauss-Krüger projection.
    with psycopg.connect(sample_db) as conn:
        rows = conn.execute(
            """SELECT p.code FROM parcels p
                WHERE p.status IN ('available', 'reserved', 'listed') AND p.area_mu >= %s
                  AND EXISTS (SELECT 1 FROM infrastructure i
                               WHERE i.kind = 'rail_siding' AND i.status = 'existing'
                                 AND i.gk_srid = p.gk_srid
                                 AND ST_DWithin(i.geom_gk, p.geom_gk, %s))
                ORDER BY p.code""",
            (min_mu, max_rail_m),
        ).fetchall()
    return [r[0] for r in rows]


def test_filter_lists_the_expected_parcels(browser, live_server, sample_db, artifacts):

    open_map(browser, live_server + "/")
    want = expected_codes(sample_db, 30, 1500)
    assert want, "the sample must have parcels near a rail siding"
    with psycopg.connect(sample_db) as conn:
        vacant = conn.execute(
            "SELECT count(*) FROM parcels WHERE status IN ('available', 'reserved', 'listed')"
        ).fetchone()[0]
    assert len(want) < vacant, "the filter must reduce the list"
    got = apply_filters(browser, min_mu="30", max_rail_m="1500")
    assert sorted(got) == want
    # sorted by area, largest first (the default)
    areas = browser.execute_script("return PG.state.rows.map(r => r.area_mu)")
    assert areas == sorted(areas, reverse=True)
    assert "f=" in browser.execute_script("return location.hash")
    browser.get_screenshot_as_file(str(artifacts / "investor-map-filter.png"))
    assert severe(browser) == []


def test_click_parcel_opens_sheet_and_permalink_restores(
    browser, live_server, sample_db, artifacts
):
    with psycopg.connect(sample_db) as conn:
        code, lon, lat = conn.execute(
            "SELECT code, ST_X(c), ST_Y(c) FROM (SELECT code, ST_PointOnSurface(geom) c, area_m2 "
            "FROM parcels WHERE status = 'available') s ORDER BY area_m2 DESC LIMIT 1"
        ).fetchone()
    open_map(browser, live_server + "/")
    browser.execute_script(
        "PG.state.map.setView([arguments[0], arguments[1]], 17, {animate: false});", lat, lon
    )
    wait_tiles(browser)
    time.sleep(0.3)
    # a real click at the parcel's pixel, on the tile canvas
    from selenium.webdriver.common.action_chains import ActionChains

    pt = browser.execute_script(
        "var p = PG.state.map.latLngToContainerPoint([arguments[0], arguments[1]]);"
        "var r = PG.state.map.getContainer().getBoundingClientRect();"
        "return [p.x + r.left, p.y + r.top];",
        lat,
        lon,
    )
    body = browser.find_element("tag name", "body")
    ActionChains(browser).move_to_element_with_offset(
        body, int(pt[0] - body.rect["width"] / 2), int(pt[1] - body.rect["height"] / 2)
    ).click().perform()
    wait_for(
        browser,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(code)}",
    )
    text = browser.find_element("id", "pg-sheet").text
    assert code in text and "七通一平" in text and "亩" in text
    assert (
        browser.find_element("id", "pg-brief")
        .get_attribute("href")
        .endswith(f"/api/parcels/{code}/brief.pdf")
    )
    browser.get_screenshot_as_file(str(artifacts / "investor-map-sheet.png"))
    # permalink: reload from the URL in English, the sheet and the view come back
    browser.find_element("id", "pg-lang").click()
    link = browser.execute_script("return PG.permalink()")
    assert f"sel={code}" in link and "lang=en" in link
    open_map(browser, link)
    wait_for(
        browser,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(code)}",
    )
    assert browser.execute_script("return PG.state.lang") == "en"
    assert browser.execute_script("return PG.state.map.getZoom()") == 17
    assert "Servicing" in browser.find_element("id", "pg-sheet").text
    assert severe(browser) == []


def test_search_box_finds_a_parcel_and_an_enterprise(browser, live_server, sample_db):
    with psycopg.connect(sample_db) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code DESC LIMIT 1"
        ).fetchone()[0]
        ent_code, ent_zh = conn.execute(
            "SELECT code, name_zh FROM enterprises WHERE is_anchor ORDER BY code LIMIT 1"
        ).fetchone()
    open_map(browser, live_server + "/")
    box = browser.find_element("id", "pg-search")
    box.send_keys(code)
    wait_for(browser, f"document.querySelector('.pg-hit[data-parcel={json.dumps(code)}]')")
    browser.find_element("css selector", f'.pg-hit[data-parcel="{code}"]').click()
    wait_for(
        browser,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(code)}",
    )
    box.clear()
    box.send_keys(ent_zh[:3])
    wait_for(browser, f"document.querySelector('.pg-hit[data-enterprise={json.dumps(ent_code)}]')")
    browser.find_element("css selector", f'.pg-hit[data-enterprise="{ent_code}"]').click()
    popup = wait_for(
        browser,
        "Array.from(document.querySelectorAll('.leaflet-popup-content'))"
        ".map(e => e.textContent).join(' ')",
    )
    assert ent_zh in popup
    assert severe(browser) == []


def test_language_toggle_switches_labels(browser, live_server):
    open_map(browser, live_server + "/")
    title = browser.find_element("css selector", ".pg-title")
    assert title.text.startswith("卫辉市产业集聚区")
    browser.find_element("id", "pg-lang").click()
    wait_for(browser, "document.documentElement.lang === 'en'")
    assert title.text.startswith("Weihui Industrial Cluster Zone")
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label span.i18n'))"
        ".map(e => e.textContent)"
    )
    assert "Parcels (by status)" in names, names
    legend = browser.find_element("css selector", ".pg-legend").get_attribute("textContent")
    assert "Available" in legend and "可供地" not in legend
    placeholder = browser.find_element("id", "pg-search").get_attribute("placeholder")
    assert placeholder.startswith("Search")
    browser.find_element("id", "pg-lang").click()
    wait_for(browser, "document.documentElement.lang === 'zh-CN'")
    assert title.text.startswith("卫辉市产业集聚区")


def test_compare_up_to_four(browser, live_server, sample_db):
    with psycopg.connect(sample_db) as conn:
        codes = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 5"
            )
        ]
    open_map(browser, live_server + "/")
    for c in codes:
        browser.execute_script("PG.addCompare(arguments[0])", c)
    assert browser.execute_script("return PG.state.compare") == codes[:4]
    browser.find_element("id", "pg-compare-btn").click()
    wait_for(
        browser, "document.querySelectorAll('#pg-compare-body th .pg-cmp-remove').length === 4"
    )
    header = browser.execute_script(
        "return Array.from(document.querySelectorAll('#pg-compare-body .pg-cmp-remove'))"
        ".map(b => b.dataset.code)"
    )
    assert header == codes[:4]
    body = browser.find_element("id", "pg-compare-body").get_attribute("textContent")
    assert "七通一平" in body and "亩" in body


def test_inquiry_form_stores_a_row_and_refuses_bad_input(live_server_rw, sample_db_rw, artifacts):
    from selenium.webdriver.common.by import By

    with browser_support.driver() as driver:
        with psycopg.connect(sample_db_rw) as conn:
            code = conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
            ).fetchone()[0]
        open_map(driver, live_server_rw + "/")
        driver.find_element(By.ID, "pg-ask-top").click()
        wait_for(driver, "document.querySelector('#pg-inquiry-modal').dataset.shown === '1'")
        form = driver.find_element(By.ID, "pg-inquiry-form")
        # bad: contact is neither a phone number nor an e-mail address
        form.find_element(By.NAME, "name").send_keys("张三")
        form.find_element(By.NAME, "contact").send_keys("xx")
        form.find_element(By.NAME, "message").send_keys("想了解地块")
        driver.find_element(By.ID, "pg-inquiry-send").click()
        wait_for(driver, "document.querySelector('#pg-inquiry-msg').dataset.result")
        msg = driver.find_element(By.ID, "pg-inquiry-msg")
        assert msg.get_attribute("data-result") == "error" and "请检查" in msg.text
        with psycopg.connect(sample_db_rw) as conn:
            assert conn.execute("SELECT count(*) FROM inquiries").fetchone()[0] == 0
        # good
        driver.execute_script(
            "document.querySelector('#pg-inquiry-msg').removeAttribute('data-result')"
        )
        c = form.find_element(By.NAME, "contact")
        c.clear()
        c.send_keys("zhangsan@example.com")
        form.find_element(By.NAME, "company").send_keys("新乡饮料有限公司")
        form.find_element(By.NAME, "parcels").send_keys(code)
        form.find_element(By.NAME, "consent").click()
        driver.find_element(By.ID, "pg-inquiry-send").click()
        wait_for(driver, "document.querySelector('#pg-inquiry-msg').dataset.result")
        assert msg.get_attribute("data-result") == "ok", msg.text
        assert "已收到" in msg.text
        driver.get_screenshot_as_file(str(artifacts / "investor-map-inquiry.png"))
        with psycopg.connect(sample_db_rw) as conn:
            rows = conn.execute(
                "SELECT name, contact, company, parcel_codes, client FROM inquiries"
            ).fetchall()
        assert rows == [("张三", "zhangsan@example.com", "新乡饮料有限公司", [code], "127.0.0.1")]
        assert severe(driver) == [] or all("/api/inquiries" in e["message"] for e in severe(driver))


# The zones group holds the fetched GeoJSON layer, which holds one polygon per park.
FIRST_ZONE = (
    "var l = PG.state.overlays.zones.getLayers()[0].getLayers()[0];"
    " return l.getBounds().getCenter();"
)


def test_amap_basemap_shifts_overlays_to_gcj02(browser, live_server):
    """Switching to AMap moves our vector overlays by the GCJ-02 offset (no tile is fetched
    in the test: the AMap tile requests are blocked, which is the offline case)."""
    open_map(browser, live_server + "/")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*autonavi*"]})
    before = browser.execute_script(FIRST_ZONE)
    browser.execute_script(
        "var s = PG.state; s.map.removeLayer(s.bases.none); s.map.addLayer(s.bases.amap);"
    )
    after = browser.execute_script(FIRST_ZONE)
    from parkgis.geo.gcj02 import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(before["lng"], before["lat"])
    assert after["lng"] == pytest.approx(float(glon), abs=2e-5)
    assert after["lat"] == pytest.approx(float(glat), abs=2e-5)
    assert "base=amap" in browser.execute_script("return location.hash")
    browser.execute_script(
        "var s = PG.state; s.map.removeLayer(s.bases.amap); s.map.addLayer(s.bases.none);"
    )
    back = browser.execute_script(FIRST_ZONE)
    assert back["lng"] == pytest.approx(before["lng"], abs=1e-9)
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})


def test_measure_control_agrees_with_the_store(browser, live_server, sample_db):
    """Our measuring tool (leaflet-measure needs eval, which the CSP refuses): the area of a
    parcel's ring and the length of its first edge, against PostGIS on the ellipsoid."""
    with psycopg.connect(sample_db) as conn:
        ring, area, edge = conn.execute("""
            SELECT ST_AsGeoJSON(ST_ExteriorRing(ST_GeometryN(geom, 1)))::json -> 'coordinates',
                   ST_Area(geom::geography),
                   ST_Distance(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)::geography,
                               ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 2)::geography)
              FROM parcels WHERE status = 'available' ORDER BY area_m2 DESC LIMIT 1""").fetchone()
    open_map(browser, live_server + "/")
    assert (
        browser.execute_script(
            "return document.querySelectorAll('.leaflet-control-measure a').length"
        )
        == 1
    )
    got_area, got_edge = browser.execute_script(
        """
        var lls = arguments[0].slice(0, -1).map(function (c) { return L.latLng(c[1], c[0]); });
        return [PG.measure.area(lls), PG.measure.length(lls.slice(0, 2))];""",
        ring,
    )
    # Spherical formulas against the ellipsoid: well within half a percent at this latitude.
    assert abs(got_area - area) / area < 0.005, (got_area, area)
    assert abs(got_edge - edge) / edge < 0.005, (got_edge, edge)


@pytest.mark.parametrize(
    "path",
    ["/parcel/WH-NOPE-404", "/parcel/%3Cimg%20src%3Dx%20onerror%3D%22window.__pwned%3D1%22%3E"],
)
def test_an_old_parcel_link_lands_on_the_map_saying_not_found(browser, live_server, path):
    """A shared link to a parcel that is gone (split, merged) or never was: the map, status
    404 (checked over HTTP in test_og.py), and the sheet says so with the code as text."""
    open_map(browser, live_server + path)
    text = wait_for(
        browser,
        "(document.querySelector('#pg-sheet-body .alert-warning') || {}).textContent",
    )
    assert text.startswith("未找到: "), text  # Chinese first (the page's default language)
    code = browser.execute_script("return decodeURIComponent(arguments[0])", path.split("/")[-1])
    assert text.endswith(code), (text, code)  # shown as text, never as markup
    assert browser.execute_script("return window.__pwned || null") is None
    assert severe_js(browser) == []
    assert wait_tiles(browser) > 0  # the park is drawn behind the sheet


def severe_js(driver) -> list[dict]:
    """Severe console entries other than the answers of our server (the sheet's 404)."""
    return [e for e in severe(driver) if e.get("source") != "network"]
