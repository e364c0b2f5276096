"""Orientation on the investor map in headless chromium (issue 15 point 2, issue 14 point 5).

* The headline panel and the park labels show the available parcels and mu per park; the
  expected figures are computed here from the sample package itself (geopandas: the parcels
  marked available, their areas in the parks' Gauss-Krüger projection), not by the ledger.
* With no basemap at county zoom (9-11) the sourced place names are on screen, inside the map
  and not overlapping each other; at parcel zoom the far cities' labels are gone.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterator

import browser as browser_support
import psycopg
import pytest
from browser import wait_for
from conftest import SAMPLE_GPKG

pytestmark = browser_support.MARKS
M2_PER_MU = 10000 / 15


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browser_support.driver() as d:
        yield d


def open_map(driver, url: str) -> None:
    browser_support.open_map(driver, url)
    wait_for(driver, "document.body.getAttribute('data-pg-orientation') === '1'")


def expected_available(sample_db: str) -> dict[str, tuple[int, float]]:
    """zone -> (parcels, mu) of the package's available parcels, areas by geopandas in the
    Gauss-Krüger zone the store keeps for each parcel."""
    import geopandas as gpd

    parcels = gpd.read_file(SAMPLE_GPKG, layer="parcels")
    with psycopg.connect(sample_db) as conn:
        srid = dict(conn.execute("SELECT code, gk_srid FROM parcels").fetchall())
        zones = [r[0] for r in conn.execute("SELECT code FROM zones")]
    acc: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for z in zones:
        acc[z]  # every park is listed, also one with nothing available
    avail = parcels[parcels["status"] == "available"]
    for code, zone, geom in zip(avail["code"], avail["zone_code"], avail.geometry, strict=True):
        area = gpd.GeoSeries([geom], crs=parcels.crs).to_crs(srid[code]).area.iloc[0]
        acc[zone][0] += 1
        acc[zone][1] += area / M2_PER_MU
    return {z: (int(n), m) for z, (n, m) in acc.items()}


ZH = re.compile(r"可供地块 ([\d,]+) 宗 · ([\d,.]+) 亩")
EN = re.compile(r"([\d,]+) parcels · ([\d,.]+) mu available")


def _nums(m: re.Match | None) -> tuple[int, float]:
    assert m is not None
    return int(m.group(1).replace(",", "")), float(m.group(2).replace(",", ""))


def panel(driver) -> dict[str, str]:
    return driver.execute_script(
        "const o = {}; document.querySelectorAll('#pg-headline li[data-zone]')"
        ".forEach(li => { o[li.dataset.zone] = li.textContent; }); return o;"
    )


def test_headline_and_park_labels_agree_with_the_sample(browser, live_server, sample_db, artifacts):
    want = expected_available(sample_db)
    assert sum(n for n, _ in want.values()) > 0  # the sample has land to offer
    open_map(browser, live_server + "/")
    browser.save_screenshot(str(artifacts / "orientation-headline.png"))
    rows = panel(browser)
    assert set(rows) == set(want) | {"ALL"}
    for zone, (n, mu) in want.items():
        got_n, got_mu = _nums(ZH.search(rows[zone]))
        assert got_n == n, zone
        assert got_mu == pytest.approx(mu, abs=0.051), zone  # shown to one decimal
    tot_n, tot_mu = _nums(ZH.search(rows["ALL"]))
    assert tot_n == sum(n for n, _ in want.values())
    assert tot_mu == pytest.approx(sum(m for _, m in want.values()), abs=0.051)
    # the ledger's public figures say the same (what the panel was drawn from)
    ledger = browser.execute_script("return fetch('/api/ledger/public').then(r => r.json());")
    for p in ledger["parks"]:
        assert (p["parcels"], p["area_mu"]) == _nums(ZH.search(rows[p["zone_code"]]))
    # each park is labelled on the map with its figures
    labels = browser.execute_script(
        "const o = {}; document.querySelectorAll('[data-pg-label=park][data-code]')"
        ".forEach(e => { o[e.dataset.code] = e.textContent; }); return o;"
    )
    assert set(labels) == set(want)
    for zone in want:
        assert _nums(ZH.search(labels[zone])) == _nums(ZH.search(rows[zone]))
    # English after the toggle, same numbers
    browser.find_element("id", "pg-lang").click()
    wait_for(browser, "document.documentElement.lang === 'en'")
    rows_en = panel(browser)
    for zone in want:
        assert _nums(EN.search(rows_en[zone])) == _nums(ZH.search(rows[zone]))
    browser.find_element("id", "pg-lang").click()
    wait_for(browser, "document.documentElement.lang === 'zh-CN'")
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], [e["message"] for e in errors]


LABELS_JS = """
const box = document.querySelector('.folium-map').getBoundingClientRect();
return Array.from(document.querySelectorAll('[data-pg-label][data-code]')).map(e => {
  const r = e.getBoundingClientRect();
  return {code: e.dataset.code, kind: e.dataset.pgLabel, shown: e.dataset.shown === '1',
          visible: getComputedStyle(e).visibility === 'visible',
          text: e.textContent, l: r.left, t: r.top, r: r.right, b: r.bottom,
          inside: r.left >= box.left && r.right <= box.right && r.top >= box.top
                  && r.bottom <= box.bottom};
});
"""


def labels_at(driver, lat: float, lon: float, zoom: int) -> list[dict]:
    driver.execute_script(f"PG.state.map.setView([{lat}, {lon}], {zoom}, {{animate: false}});")
    wait_for(driver, f"PG.state.map.getZoom() === {zoom}")
    time.sleep(0.3)  # the declutter runs on moveend
    return driver.execute_script(LABELS_JS)


def _overlap(a: dict, b: dict) -> bool:
    return a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]


def test_place_names_readable_at_county_zoom_without_basemap(
    browser, live_server, sample_db, artifacts
):
    with psycopg.connect(sample_db) as conn:
        places = conn.execute(
            "SELECT code, name_zh, ST_Y(geom), ST_X(geom) FROM places ORDER BY code"
        ).fetchall()
        clat, clon = conn.execute(
            "SELECT ST_Y(c), ST_X(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) c FROM zones) s"
        ).fetchone()
    assert places  # the sample ships sourced places
    open_map(browser, live_server + "/")
    assert browser.execute_script("return PG.state.base") == "none"
    # zoom 9 around the parks and every sourced place: all names readable
    lats = [p[2] for p in places] + [clat]
    lons = [p[3] for p in places] + [clon]
    mid = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    got = labels_at(browser, mid[0], mid[1], 9)
    browser.save_screenshot(str(artifacts / "orientation-county-zoom9.png"))
    by_code = {g["code"]: g for g in got}
    for code, name_zh, *_ in places:
        g = by_code[code]
        assert g["shown"] and g["visible"] and g["inside"], g
        assert name_zh in g["text"]
    shown = [g for g in got if g["visible"]]
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            assert not _overlap(a, b), (a["code"], b["code"])
    # zoom 10 and 11 on the parks: whatever is shown does not overlap, and what lies inside
    # the map stays readable unless a label of higher rank covers it
    for z in (10, 11):
        got = labels_at(browser, clat, clon, z)
        shown = [g for g in got if g["visible"]]
        assert shown, z
        for i, a in enumerate(shown):
            for b in shown[i + 1 :]:
                assert not _overlap(a, b), (z, a["code"], b["code"])
    # parcel zoom: the far cities and the airport no longer label the map
    got = labels_at(browser, clat, clon, 16)
    far = [g for g in got if g["kind"] in ("city", "provincial_capital", "airport")]
    assert far and not any(g["visible"] for g in far)
    assert [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] == []


SHOWN_ROWS_JS = (
    "return Array.from(document.querySelectorAll('#pg-headline li[data-zone]'))"
    ".filter(li => li.getClientRects().length > 0).map(li => li.dataset.zone);"
)


def test_headline_folds_on_a_phone_and_says_when_the_map_shows_another_date(browser, live_server):
    browser.set_window_size(390, 844)
    try:
        open_map(browser, live_server + "/")
        # folded: the total only, under a title a thumb can hit
        assert browser.execute_script(SHOWN_ROWS_JS) == ["ALL"]
        title = browser.find_element("css selector", "#pg-headline .pg-headline-title")
        assert title.size["height"] >= 44
        title.click()
        assert len(browser.execute_script(SHOWN_ROWS_JS)) > 1
        assert title.get_attribute("aria-expanded") == "true"
    finally:
        browser.set_window_size(1400, 900)
    # the map as of a past date: the panel says its figures are today's
    open_map(browser, live_server + "/?as_of=2025-06-30")
    note = browser.find_element("css selector", "#pg-headline .pg-headline-note")
    assert note.text == "今日数据（非所选日期）"
    open_map(browser, live_server + "/")
    assert browser.find_elements("css selector", "#pg-headline .pg-headline-note") == []
