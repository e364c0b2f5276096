"""Issue 15 point 3: the investor map on a phone (390 × 844, WeChat's in-app browser).

Headless chromium with Chrome's own device emulation (mobile viewport, touch, a WeChat user
agent) loads ``/`` from uvicorn on loopback. A tap is a real touch gesture
(``Input.synthesizeTapGesture``), not a script call. Each test checks what a thumb meets: no
horizontal scrolling, every visible button, link and input of the toolbar and the drawer at least
44 × 44 CSS px, no Leaflet control under the drawer. Figures are recomputed with SQL. Screenshots
(``tests/artifacts/phone-*.png``, ``desktop-1440.png``) are for looking at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import browser as browser_support
import psycopg
import pytest
from browser import wait_for

pytestmark = browser_support.MARKS
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": False}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47"
)
MIN_TAP = 44  # CSS px (WCAG 2.5.5)

# Every visible control of the toolbar, the drawer and the map's own buttons, with its box.
CONTROLS_JS = """
const sel = 'button, a[href], input:not([type=hidden]), select, textarea, [role=button]';
const roots = ['#pg-top', '#pg-panel', '.leaflet-control-container .leaflet-bar',
               '.leaflet-control-layers', '.pg-legend'];
const out = [];
for (const r of roots) for (const root of document.querySelectorAll(r)) {
  const els = [root, ...root.querySelectorAll(sel)].filter(e => e.matches(sel));
  if (root.matches('.pg-legend')) els.push(root.querySelector('.lg-title'));
  for (const e of els) {
    if (!e || !e.checkVisibility({checkVisibilityCSS: true, checkOpacity: false})) continue;
    const b = e.getBoundingClientRect();
    if (b.width === 0 && b.height === 0) continue;
    out.push({id: e.id, cls: String(e.className).slice(0, 60), tag: e.tagName,
              text: (e.textContent || e.name || '').trim().slice(0, 30),
              w: b.width, h: b.height, top: b.top, left: b.left});
  }
}
return out;
"""


def _rows(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params or {}).fetchall()


def emulate(driver, metrics: dict) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.execute_cdp_cmd(
        "Emulation.setTouchEmulationEnabled", {"enabled": metrics["mobile"], "maxTouchPoints": 5}
    )
    if metrics["mobile"]:
        driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": WECHAT_UA})


@pytest.fixture(scope="module")
def phone() -> Iterator[object]:
    with browser_support.driver() as d:
        emulate(d, PHONE)
        yield d


def open_map(driver, url: str) -> None:
    browser_support.open_map(driver, url)
    time.sleep(0.3)  # let the drawer's transition settle before measuring


def tap(driver, x: float, y: float) -> None:
    """A finger's tap at viewport CSS pixel (x, y): touch start and end, from which chromium
    makes the pointer events and the click a phone would."""
    driver.execute_cdp_cmd(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
    )
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def settle(driver) -> None:
    """Wait until the drawer's height transition is over, so what is measured stays put."""
    deadline, last = time.monotonic() + 5, None
    while time.monotonic() < deadline:
        h = driver.execute_script("return document.querySelector('#pg-panel').offsetHeight")
        if h == last:
            return
        last = h
        time.sleep(0.15)


def tap_el(driver, css: str) -> None:
    settle(driver)
    b = driver.execute_script(
        "const e = document.querySelector(arguments[0]); e.scrollIntoView({block: 'nearest'});"
        "const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];",
        css,
    )
    tap(driver, b[0], b[1])


def rect(driver, css: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,"
        " width: r.width, height: r.height};",
        css,
    )


def assert_no_horizontal_scroll(driver) -> None:
    w = driver.execute_script(
        "return [document.scrollingElement.scrollWidth, window.innerWidth,"
        " document.body.scrollWidth]"
    )
    assert w[1] == PHONE["width"], w
    assert w[0] <= w[1] and w[2] <= w[1], w


def small_targets(driver) -> list[dict]:
    return [
        c
        for c in driver.execute_script(CONTROLS_JS)
        if c["w"] < MIN_TAP - 0.5 or c["h"] < MIN_TAP - 0.5
    ]


def controls_under_drawer(driver) -> list[str]:
    return driver.execute_script(
        "const d = document.querySelector('#pg-panel').getBoundingClientRect();"
        "return Array.from(document.querySelectorAll('.leaflet-control')).filter(c => {"
        "  if (!c.checkVisibility({checkVisibilityCSS: true})) return false;"
        "  const r = c.getBoundingClientRect();"
        "  return r.width > 0 && r.bottom > d.top && r.top < d.bottom"
        "    && r.right > d.left && r.left < d.right; }).map(c => c.className);"
    )


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def big_available(url: str) -> tuple[str, float, float, float]:
    """The largest available parcel: code, a point inside it, its area in mu from PostGIS."""
    return _rows(
        url,
        "SELECT code, ST_X(c), ST_Y(c), ST_Area(geom_gk) / (10000.0 / 15) FROM "
        "(SELECT code, geom_gk, ST_PointOnSurface(geom) c, area_m2 FROM parcels "
        " WHERE status = 'available') s ORDER BY area_m2 DESC, code LIMIT 1",
    )[0]


def test_phone_layout_drawer_toolbar_legend(phone, live_server, artifacts):
    open_map(phone, live_server + "/")
    assert_no_horizontal_scroll(phone)
    d = rect(phone, "#pg-panel")
    assert d["bottom"] == PHONE["height"] and d["width"] == PHONE["width"], d
    assert 120 <= d["height"] <= 260, d  # a peek, not half the screen
    m = rect(phone, ".folium-map")
    assert m["bottom"] <= d["top"] + 0.5 and m["height"] > 500, (m, d)
    # the filters are folded behind a button
    assert not phone.find_element("id", "pg-filter").is_displayed()
    assert phone.find_element("id", "pg-filter-toggle").is_displayed()
    assert phone.find_element("id", "pg-drawer-handle").is_displayed()
    assert small_targets(phone) == []
    assert controls_under_drawer(phone) == []
    # the legend folds to its title and opens on a tap
    assert not phone.execute_script(
        "return Array.from(document.querySelectorAll('.pg-legend .lg-row'))"
        ".some(e => e.checkVisibility())"
    )
    phone.save_screenshot(str(artifacts / "phone-map.png"))
    tap_el(phone, ".pg-legend .lg-title")
    wait_for(phone, "document.querySelector('.pg-legend').classList.contains('expanded')")
    rows = phone.execute_script(
        "return Array.from(document.querySelectorAll('.pg-legend .lg-row'))"
        ".filter(e => e.checkVisibility()).length"
    )
    assert rows >= 10
    assert controls_under_drawer(phone) == []
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-legend.png"))
    tap_el(phone, ".pg-legend .lg-title")
    wait_for(phone, "!document.querySelector('.pg-legend').classList.contains('expanded')")
    # the search box's hits: full width under the toolbar, each a finger's height
    phone.find_element("id", "pg-search").send_keys("WH-A-00")
    wait_for(phone, "document.querySelectorAll('.pg-hit[data-parcel]').length >= 2")
    hits = phone.execute_script(
        "return Array.from(document.querySelectorAll('.pg-hit')).map(e => {"
        " const r = e.getBoundingClientRect(); return [r.left, r.right, r.height]; })"
    )
    assert all(h[0] >= 0 and h[1] <= PHONE["width"] and h[2] >= MIN_TAP for h in hits), hits
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-search.png"))
    phone.find_element("id", "pg-search").clear()
    phone.execute_script("document.querySelector('#pg-search-results').hidden = true")
    # in English (longer labels) and with the as-of banner, still nothing wider than the phone
    tap_el(phone, "#pg-lang")
    wait_for(phone, "document.documentElement.lang === 'en'")
    assert_no_horizontal_scroll(phone)
    assert small_targets(phone) == []
    phone.execute_script("PG.setAsOf('2026-06-30')")
    wait_for(phone, "!document.querySelector('#pg-asof').hidden")
    banner = rect(phone, "#pg-asof")
    assert banner["left"] >= 0 and banner["right"] <= PHONE["width"], banner
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-map-en-asof.png"))
    assert severe(phone) == []


def test_phone_tap_a_parcel_opens_the_drawer(phone, live_server, sample_db, artifacts):
    code, lon, lat, mu = big_available(sample_db)
    open_map(phone, live_server + "/")
    phone.execute_script(
        "PG.state.map.setView([arguments[0], arguments[1]], 17, {animate: false});", lat, lon
    )
    wait_for(phone, "PG.tilesLoaded > 0 && !PG.state.overlays.parcels._loading")
    time.sleep(0.3)
    x, y = phone.execute_script(
        "const p = PG.state.map.latLngToContainerPoint([arguments[0], arguments[1]]);"
        "const r = PG.state.map.getContainer().getBoundingClientRect();"
        "return [p.x + r.left, p.y + r.top];",
        lat,
        lon,
    )
    tap(phone, x, y)
    wait_for(
        phone,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(code)}",
    )
    time.sleep(0.3)
    # the peek shows the parcel's code and its area, on screen, without expanding
    d = rect(phone, "#pg-panel")
    head = rect(phone, ".pg-sheet-code")
    assert phone.find_element("css selector", ".pg-sheet-code").text == code
    assert d["top"] <= head["top"] and head["bottom"] <= PHONE["height"], (d, head)
    area_cell = phone.execute_script(
        "const td = document.querySelector('#pg-sheet .pg-kv td');"
        "const r = td.getBoundingClientRect(); return [td.textContent, r.bottom];"
    )
    assert f"{mu:,.1f}" in area_cell[0] and "亩" in area_cell[0], area_cell
    assert area_cell[1] <= PHONE["height"], area_cell
    assert not phone.execute_script("return document.body.classList.contains('pg-drawer-open')")
    phone.save_screenshot(str(artifacts / "phone-sheet-peek.png"))
    # expand with a tap on the handle: everything on the sheet is finger-sized
    tap_el(phone, "#pg-drawer-handle")
    wait_for(phone, "document.body.classList.contains('pg-drawer-open')")
    time.sleep(0.3)
    assert rect(phone, "#pg-panel")["height"] > 600
    assert controls_under_drawer(phone) == []
    assert small_targets(phone) == []
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-sheet-open.png"))
    # drag it down: back to the peek
    drag_handle(phone, +300)
    wait_for(phone, "!document.body.classList.contains('pg-drawer-open')")
    # drag it up: open again; then the close button closes the sheet and folds the drawer
    drag_handle(phone, -300)
    wait_for(phone, "document.body.classList.contains('pg-drawer-open')")
    tap_el(phone, "#pg-drawer-close")
    wait_for(phone, "document.querySelector('#pg-sheet').hidden")
    assert not phone.execute_script("return document.body.classList.contains('pg-drawer-open')")
    assert "sel=" not in phone.execute_script("return location.hash")
    assert severe(phone) == []


def drag_handle(driver, dy: int) -> None:
    """A finger on the drawer's handle, moved by ``dy`` CSS px in ten steps."""
    settle(driver)
    h = rect(driver, "#pg-drawer-handle")
    x, y = h["left"] + h["width"] / 2, h["top"] + h["height"] / 2
    touch = "Input.dispatchTouchEvent"
    driver.execute_cdp_cmd(touch, {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 11):
        step = {"x": x, "y": y + dy * i / 10}
        driver.execute_cdp_cmd(touch, {"type": "touchMove", "touchPoints": [step]})
    driver.execute_cdp_cmd(touch, {"type": "touchEnd", "touchPoints": []})
    # A swipe ends in a fling; a tap during a fling only stops it (no click), on phones too.
    time.sleep(0.8)


def test_phone_filters_fold_and_count_matches_sql(phone, live_server, sample_db, artifacts):
    open_map(phone, live_server + "/")
    assert phone.find_element("id", "pg-count").text == "–"
    tap_el(phone, "#pg-filter-toggle")
    wait_for(phone, "document.querySelector('#pg-filter').checkVisibility()")
    time.sleep(0.3)
    phone.save_screenshot(str(artifacts / "phone-filters.png"))
    assert small_targets(phone) == []
    assert_no_horizontal_scroll(phone)
    form = phone.find_element("id", "pg-filter")
    tap_el(phone, "#pg-filter input[name=min_mu]")
    form.find_element("name", "min_mu").send_keys("80")
    # the chip is the target: a tap ticks it, a second tap unticks it
    chip = form.find_element("css selector", "input[name=svc][value=power]")
    tap_el(phone, "#pg-filter input[name=svc][value=power]")
    assert chip.is_selected()
    tap_el(phone, "#pg-filter input[name=svc][value=power]")
    assert not chip.is_selected()
    tap_el(phone, "#pg-apply")
    wait_for(phone, "document.querySelector('#pg-count').textContent.match(/^[0-9]/)")
    (expected,) = _rows(
        sample_db,
        "SELECT count(*) FROM parcels WHERE status IN ('available', 'reserved', 'listed') "
        "AND ST_Area(geom_gk) / (10000.0 / 15) >= 80",
    )[0]
    assert phone.find_element("id", "pg-count").text == str(expected)
    # applied: the filters fold away again and the list is what the drawer shows
    assert not phone.find_element("id", "pg-filter").is_displayed()
    listed = phone.execute_script(
        "return document.querySelectorAll('#pg-results tr[data-code]').length"
    )
    assert listed == expected
    assert_no_horizontal_scroll(phone)
    assert small_targets(phone) == []
    phone.save_screenshot(str(artifacts / "phone-results.png"))
    assert severe(phone) == []


def test_phone_compare_two_parcels(phone, live_server, sample_db, artifacts):
    codes = [
        r[0]
        for r in _rows(
            sample_db, "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 2"
        )
    ]
    open_map(phone, live_server + "/")
    for c in codes:
        phone.execute_script("PG.select(arguments[0])", c)
        wait_for(
            phone,
            f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(c)}",
        )
        tap_el(phone, "#pg-drawer-handle")
        wait_for(phone, "document.body.classList.contains('pg-drawer-open')")
        time.sleep(0.25)
        tap_el(phone, "#pg-add-compare")
    assert phone.find_element("id", "pg-compare-count").text == "2"
    tap_el(phone, "#pg-compare-btn")
    wait_for(phone, "document.querySelector('#pg-compare-modal').getAttribute('data-shown')")
    heads = wait_for(
        phone,
        "Array.from(document.querySelectorAll('#pg-compare-body thead th'))"
        ".map(e => e.textContent.trim()).filter(Boolean)",
    )
    assert heads == codes
    # the comparison is on screen: its first row starts inside the viewport
    table = rect(phone, "#pg-compare-body table")
    assert 0 <= table["top"] < PHONE["height"] and table["left"] >= 0
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-compare.png"))
    assert severe(phone) == []


def test_phone_send_an_inquiry(phone, live_server_rw, sample_db_rw, artifacts):
    code = _rows(
        sample_db_rw, "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
    )[0][0]
    name = "手机测试 王先生"
    open_map(phone, live_server_rw + "/")
    phone.execute_script("PG.select(arguments[0])", code)
    wait_for(
        phone,
        f"document.querySelector('#pg-sheet').getAttribute('data-loaded') === {json.dumps(code)}",
    )
    tap_el(phone, "#pg-drawer-handle")
    wait_for(phone, "document.body.classList.contains('pg-drawer-open')")
    time.sleep(0.25)
    tap_el(phone, "#pg-ask")
    wait_for(phone, "document.querySelector('#pg-inquiry-modal').getAttribute('data-shown')")
    form = phone.find_element("id", "pg-inquiry-form")
    assert form.find_element("name", "parcels").get_attribute("value") == code
    for field, value in (
        ("name", name),
        ("contact", "13800001234"),
        ("message", "想了解供地时间 / when can we get the land?"),
    ):
        tap_el(phone, f"#pg-inquiry-form [name={field}]")
        form.find_element("name", field).send_keys(value)
    tap_el(phone, "#pg-i-consent")
    assert form.find_element("name", "consent").is_selected()
    small = phone.execute_script(
        "return Array.from(document.querySelectorAll('#pg-inquiry-modal .form-control,"
        " #pg-inquiry-modal button, #pg-inquiry-modal .form-check'))"
        ".map(e => e.getBoundingClientRect()).filter(r => r.width < 43.5 || r.height < 43.5)"
        ".length"
    )
    assert small == 0
    assert_no_horizontal_scroll(phone)
    phone.save_screenshot(str(artifacts / "phone-inquiry.png"))
    tap_el(phone, "#pg-inquiry-send")
    wait_for(phone, "document.querySelector('#pg-inquiry-msg').getAttribute('data-result')")
    assert phone.find_element("id", "pg-inquiry-msg").get_attribute("data-result") == "ok", (
        phone.find_element("id", "pg-inquiry-msg").text
    )
    rows = _rows(
        sample_db_rw,
        "SELECT parcel_codes, contact FROM inquiries WHERE name = %(n)s",
        {"n": name},
    )
    assert rows == [([code], "13800001234")]
    assert severe(phone) == []


def test_desktop_stays_a_side_panel(live_server, sample_db, artifacts):
    code = big_available(sample_db)[0]
    with browser_support.driver() as d:
        emulate(d, DESKTOP)
        open_map(d, live_server + f"/parcel/{code}")
        loaded = "document.querySelector('#pg-sheet').getAttribute('data-loaded')"
        wait_for(d, f"{loaded} === {json.dumps(code)}")
        p = rect(d, "#pg-panel")
        assert (p["left"], p["width"], p["top"]) == (0, 380, 56), p
        assert p["bottom"] == DESKTOP["height"]
        m = rect(d, ".folium-map")
        assert (m["left"], m["right"], m["top"], m["bottom"]) == (380, 1440, 56, 900), m
        for css in ("#pg-drawer-handle", "#pg-drawer-close", "#pg-filter-toggle"):
            assert not d.find_element("css selector", css).is_displayed(), css
        assert d.find_element("id", "pg-filter").is_displayed() is False  # sheet shown instead
        assert d.find_element("css selector", ".leaflet-control-minimap").is_displayed()
        assert d.find_element("css selector", ".pg-title").is_displayed()
        d.save_screenshot(str(artifacts / "desktop-1440.png"))
        d.find_element("id", "pg-sheet-close").click()
        wait_for(d, "document.querySelector('#pg-filter').checkVisibility()")
        # leaving the parcel leaves its address: a reload shows the map, not the parcel
        assert d.execute_script("return location.pathname") == "/"
        assert severe(d) == []
