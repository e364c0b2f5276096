"""The investor map as of a date, in Debian's headless chromium (issue 13, point 5).

``/?as_of=<the day before the logistics siding opens>`` shows the banner, asks every dated
request (tiles, infrastructure, upgrades, sheet, compare) with that date, and the sheet of
WH-L-010 measures rail access to the cluster siding, as the API's sheet for that date does and
as worked out here from the two sidings' geometries; "back to today" returns to today's park.
A bad date shows today. No console error throughout.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import browser as browser_support
import httpx
import numpy as np
import psycopg
import pytest
import shapely
from browser import open_map, wait_for
from pyproj import Transformer

pytestmark = browser_support.MARKS
CODE = "WH-L-010"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browser_support.driver() as d:
        yield d


def request_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def park_today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def sheet_loaded(driver, day: str) -> None:
    wait_for(
        driver,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === "
        f"{json.dumps(CODE)} && document.querySelector('#pg-sheet')"
        f".getAttribute('data-as-of') === {json.dumps(day)}",
    )


def sheet_distances(driver) -> dict[str, str]:
    """The sheet's distance table as the user reads it: label -> cell text."""
    return dict(
        driver.execute_script(
            "var t = document.querySelectorAll('#pg-sheet-body table.pg-kv')[1];"
            "return Array.from(t.rows).map(r => [r.cells[0].textContent, r.cells[1].textContent]);"
        )
    )


def infra_codes(driver) -> set[str]:
    return set(
        driver.execute_script(
            "var out = []; ['river', 'roads_rail', 'utilities'].forEach(function (g) {"
            "  PG.state.overlays[g].eachLayer(function (gj) { gj.eachLayer(function (l) {"
            "    out.push(l.feature.properties.code); }); }); }); return out;"
        )
    )


@pytest.fixture(scope="module")
def siding(sample_db: str, live_server: str) -> dict:
    """The day before UPG-06's finish, WH-L-010's rail distance that day and today from the
    API's sheet, and the same two distances worked out from the geometries (GK metres)."""
    with psycopg.connect(sample_db) as conn:
        fin = conn.execute(
            "SELECT finish_date FROM upgrades WHERE code = 'UPG-06' AND status = 'completed'"
        ).fetchone()[0]
        wkb, srid = conn.execute(
            "SELECT ST_AsBinary(geom), gk_srid FROM parcels WHERE code = %s", (CODE,)
        ).fetchone()
        sidings = dict(
            conn.execute(
                "SELECT code, ST_AsBinary(geom) FROM infrastructure "
                "WHERE code IN ('INF-SID-CZ', 'INF-SID-LP')"
            ).fetchall()
        )
    to_gk = Transformer.from_crs(4490, srid, always_xy=True)

    def gk(b: bytes) -> shapely.Geometry:
        return shapely.transform(
            shapely.from_wkb(bytes(b)),
            lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])),
        )

    g = gk(wkb)
    before = (fin - dt.timedelta(days=1)).isoformat()
    assert park_today() > fin.isoformat()  # the sample's siding is open today
    sheets = {
        day: httpx.get(f"{live_server}/api/parcels/{CODE}/sheet", params={"as_of": day}).json()
        for day in (before, park_today())
    }
    return {
        "before": before,
        "sheets": sheets,
        "by_hand": {
            before: g.distance(gk(sidings["INF-SID-CZ"])),
            park_today(): g.distance(gk(sidings["INF-SID-LP"])),
        },
    }


def _rail_cell(s: dict) -> tuple[str, str]:
    rail = s["distances"]["rail"]
    return rail["label_zh"], f"{rail['m']:,.0f}"


def test_as_of_banner_sheet_compare_tiles_and_back_to_today(
    browser, live_server, siding, artifacts
):
    before, today = siding["before"], park_today()
    for day in (before, today):  # the API's sheet agrees with the geometry
        assert siding["sheets"][day]["distances"]["rail"]["m"] == pytest.approx(
            siding["by_hand"][day], abs=0.05
        )
    label, rail_before = _rail_cell(siding["sheets"][before])
    rail_today = _rail_cell(siding["sheets"][today])[1]
    assert rail_before != rail_today

    open_map(browser, f"{live_server}/?as_of={before}#sel={CODE}")
    sheet_loaded(browser, before)
    banner = browser.find_element("id", "pg-asof")
    assert banner.is_displayed()
    assert f"按 {before} 查看 / as of {before}" in banner.text
    assert browser.find_element("id", "pg-asof-today").is_displayed()
    assert sheet_distances(browser)[label].startswith(rail_before + " 米")
    # the siding's upgrade is still under way that day (recorded complete since)
    upgrades = browser.find_element("css selector", "#pg-sheet-body ul.pg-list").text
    upg = next(u for u in siding["sheets"][before]["upgrades"] if u["code"] == "UPG-06")
    assert f"{upg['name_zh']} 实施中" in upgrades and "已完成" not in upgrades
    assert (
        browser.find_element("id", "pg-brief")
        .get_attribute("href")
        .endswith(f"/api/parcels/{CODE}/brief.pdf?as_of={before}")
    )
    assert f"as_of={before}" in browser.execute_script("return location.hash")
    # the siding the upgrade builds is not on the map yet; the cluster siding is
    wait_for(browser, f"document.body.getAttribute('data-pg-layers-as-of') === '{before}'")
    codes = infra_codes(browser)
    assert "INF-SID-CZ" in codes and "INF-SID-LP" not in codes and "UPG-06" not in codes
    browser.execute_script("PG.state.map.setView([35.40, 114.09], 14, {animate: false});")
    wait_for(browser, "PG.tilesLoaded > 0 && !PG.state.overlays.parcels._loading")
    time.sleep(0.3)
    browser.get_screenshot_as_file(str(artifacts / "investor-map-as-of.png"))

    # compare asks with the date too
    browser.execute_script("PG.addCompare(arguments[0])", CODE)
    browser.find_element("id", "pg-compare-btn").click()
    wait_for(
        browser,
        "document.querySelector('#pg-compare-modal').getAttribute('data-shown')"
        " && document.querySelectorAll('#pg-compare-body .pg-cmp-remove').length",
    )
    rows = dict(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('#pg-compare-body tbody tr'))"
            ".map(r => [r.cells[0].textContent, r.cells[1].textContent]);"
        )
    )
    assert rows["铁路"].startswith(rail_before + " 米"), rows
    browser.find_element("css selector", "#pg-compare-modal .btn-close").click()
    wait_for(browser, "!document.querySelector('#pg-compare-modal').getAttribute('data-shown')")

    urls = request_urls(browser)
    tiles = [u for u in urls if "/ogc/collections/parcels/tiles/" in u]
    assert tiles and all(u.endswith(f"?as_of={before}") for u in tiles), tiles[:3]
    for part in (
        "/api/map/layers/infrastructure",
        "/api/map/layers/upgrades",
        f"/api/parcels/{CODE}/sheet",
    ):
        asked = [u for u in urls if part in u]
        assert asked and all(u.endswith(f"?as_of={before}") for u in asked), (part, asked)

    # back to today: the banner goes, the sheet, layers and tiles are today's
    browser.find_element("id", "pg-asof-today").click()
    sheet_loaded(browser, today)
    wait_for(browser, "document.body.getAttribute('data-pg-layers-as-of') === ''")
    assert not banner.is_displayed()
    assert sheet_distances(browser)[label].startswith(rail_today + " 米")
    assert {"INF-SID-LP", "UPG-06"} <= infra_codes(browser)
    assert "as_of" not in browser.execute_script("return location.search + location.hash")
    wait_for(browser, "!PG.state.overlays.parcels._loading")
    later = [u for u in request_urls(browser) if "/ogc/collections/parcels/tiles/" in u]
    assert later and not any("as_of" in u for u in later)
    assert severe(browser) == []


@pytest.mark.parametrize("bad", ["2025-02-30", "soon", "1800-01-01"])
def test_a_bad_date_shows_today(browser, live_server, bad: str) -> None:
    open_map(browser, f"{live_server}/?as_of={bad}#sel={CODE}")
    sheet_loaded(browser, park_today())
    banner = browser.find_element("id", "pg-asof")
    assert banner.is_displayed() and "pg-asof-bad" in banner.get_attribute("class")
    assert "显示今天 / as_of is not a valid date, showing today" in banner.text
    assert bad not in banner.text
    assert not browser.find_element("id", "pg-asof-today").is_displayed()
    urls = request_urls(browser)
    assert not any("as_of" in u for u in urls if "/api/" in u or "/ogc/" in u)
    assert "as_of" not in browser.execute_script("return location.hash")
    assert severe(browser) == []
