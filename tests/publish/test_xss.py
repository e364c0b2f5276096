"""Issue 11 point 2: a stored value never runs as code wherever it is rendered, and every
response carries the security headers (a Content-Security-Policy on every page).

Payloads go into a private copy of the sample data (``sample_db_rw``); the pages are loaded
from uvicorn on loopback in headless chromium, which reports script errors and CSP violations
as SEVERE console entries. The policy check recomputes each inline script's SHA-256 itself.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import browser as browser_support
import psycopg
import pytest
from psycopg.rows import dict_row

# What the attacker types. Each would set a data-* mark on <html> if it ever ran.
NAME_ZH = "${document.documentElement.dataset.x=1}"
NAME_EN = "Back`tick\"quote'${(()=>{document.documentElement.dataset.q=1})()}</script><b>b</b>"
UNIT = "<img src=x onerror=document.documentElement.dataset.y=1>"


def _exec(url: str, sql: str, params: dict | None = None) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        cur = conn.execute(sql, params or {})
        return cur.fetchall() if cur.description else []


@pytest.fixture
def poisoned(sample_db_rw: str) -> dict:
    """Every enterprise and park named with the payloads; one utility with a markup unit."""
    _exec(
        sample_db_rw,
        "UPDATE enterprises SET name_zh = %(zh)s || ' ' || code, name_en = %(en)s || ' ' || code",
        {"zh": NAME_ZH, "en": NAME_EN},
    )
    # Park names too: zone labels, popups, the panel's zone list and the brief's heading.
    _exec(
        sample_db_rw,
        "UPDATE zones SET name_zh = %(zh)s || ' ' || code, name_en = %(en)s || ' ' || code",
        {"zh": NAME_ZH, "en": NAME_EN},
    )
    infra = _exec(
        sample_db_rw,
        """
        UPDATE infrastructure SET capacity = 40, capacity_unit = %(u)s
         WHERE code = (SELECT code FROM infrastructure WHERE kind = 'substation'
                        ORDER BY code LIMIT 1)
        RETURNING code""",
        {"u": UNIT},
    )[0]["code"]
    ent = _exec(
        sample_db_rw,
        """
        SELECT e.code, e.parcel_code FROM enterprises e JOIN parcels p ON p.code = e.parcel_code
         WHERE p.status <> 'historic' ORDER BY e.code LIMIT 1""",
    )[0]
    return {
        "url": sample_db_rw,
        "infra": infra,
        "enterprise": ent["code"],
        "parcel": ent["parcel_code"],
    }


def _marks(driver) -> dict:
    return driver.execute_script("return Object.assign({}, document.documentElement.dataset)")


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


# --- headers ------------------------------------------------------------------------------


def _script_src(policy: str) -> list[str]:
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == "script-src":
            return words[1:]
    raise AssertionError(f"no script-src in {policy!r}")


def _own_hashes(html: str) -> set[str]:
    """The SHA-256 of each executable inline script, computed independently of the app."""
    out = set()
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        if "src=" in attrs or "application/json" in attrs:
            continue
        out.add(
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        )
    return out


def test_every_response_carries_the_security_headers(client, sample_db: str) -> None:
    code = _exec(
        sample_db, "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
    )[0]["code"]
    pages = [
        "/",
        "/planner",
        "/docs",
        f"/api/parcels/{code}/brief.html",
        "/api/projects/PRJ-WLJ/fit-map",
    ]
    others = [
        "/api/map/search?q=WH",
        "/ogc/api",
        "/static/js/investor.js",
        "/ogc/collections/parcels/tiles/WebMercatorQuad/14/13528/6464",
        "/api/parcels/NO-SUCH/sheet",
    ]
    for path in pages + others:
        r = client.get(path)
        assert r.status_code in (200, 204, 404), (path, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] in (
            "strict-origin-when-cross-origin",
            "no-referrer",
            "same-origin",
            "strict-origin",
        ), path
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        src = _script_src(policy) if "script-src" in policy else []
        assert "'unsafe-inline'" not in src and "'unsafe-eval'" not in src, path
        if path in pages:
            assert r.headers["content-type"].startswith("text/html"), path
            inline = _own_hashes(r.text)
            assert inline, f"{path}: expected inline scripts"
            assert inline <= set(src), (path, inline - set(src))
        else:
            assert "default-src 'none'" in policy, path


def test_not_modified_keeps_the_cached_pages_policy(client) -> None:
    first = client.get("/")
    again = client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    # A fresh policy on the 304 would replace the stored one of the cached body.
    assert "content-security-policy" not in again.headers
    assert again.headers["x-frame-options"] == "DENY"


# --- the investor map ---------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not browser_support.AVAILABLE, reason="needs chromium and chromedriver")
def test_payload_names_are_inert_on_the_map(poisoned: dict, live_server_rw: str) -> None:
    with browser_support.driver() as d:
        d.get("about:blank")
        d.get_log("browser")
        d.get(live_server_rw + "/")
        # The map script ran to its end (PG.init) and drew parcels from the tiles.
        browser_support.wait_for(
            d, "document.body && document.body.getAttribute('data-pg-ready') === '1'"
        )
        browser_support.wait_for(d, "window.PG && PG.tilesLoaded > 0")
        assert _marks(d) == {}
        labels = d.execute_script(
            "return Array.from(document.querySelectorAll('.pg-zone-label')).map(e => e.textContent)"
        )
        assert labels and all(t.startswith(NAME_ZH) for t in labels), labels
        # The headline panel of available land (orientation.js) names the parks as typed too.
        browser_support.wait_for(d, "document.body.getAttribute('data-pg-orientation') === '1'")
        heads = d.execute_script(
            "return Array.from(document.querySelectorAll('#pg-headline li[data-zone] .pg-or-name'))"
            ".map(e => e.textContent)"
        )
        assert heads[:-1] and all(t.startswith(NAME_ZH) for t in heads[:-1]), heads
        assert d.execute_script("return document.querySelectorAll('#pg-headline b').length") == 0
        assert _marks(d) == {}

        # The utility's popup, opened as a click would.
        text = d.execute_script(
            """
            var code = arguments[0], S = PG.state, hit = null;
            Object.keys(S.overlays).forEach(function (k) {
              var ov = S.overlays[k];
              // overlay group > fetched GeoJSON layer > feature layers
              (function walk(l) {
                if (hit) { return; }
                if (l.feature && l.feature.properties.code === code) { hit = l; hit._ov = ov; }
                else if (l.eachLayer && !l.getLatLngs) { l.eachLayer(walk); }
              })(ov);
            });
            S.map.addLayer(hit._ov);
            hit.openPopup(hit.getLatLng ? hit.getLatLng() : undefined);
            return document.querySelector('.leaflet-popup-content').textContent;
        """,
            poisoned["infra"],
        )
        assert UNIT in text
        time.sleep(1.0)  # an <img onerror> would have fired by now
        assert _marks(d) == {}

        # An enterprise: its popup and its tooltip show the names as typed.
        d.execute_script(
            """
            var S = PG.state, code = arguments[0];
            S.map.closePopup();
            S.map.addLayer(S.overlays.enterprises);
            var mk = S.overlays.enterprises.getLayers().filter(
                function (m) { return m.options.pgCode === code; })[0];
            window.__mk = mk;
            S.map.setView(mk.getLatLng(), 18, { animate: false });
        """,
            poisoned["enterprise"],
        )
        browser_support.wait_for(d, "window.__mk._icon")  # unclustered and on the map
        got = d.execute_script(
            """
            var mk = window.__mk;
            mk.openPopup();
            // this marker's own popup: another one may still be closing
            var pop = mk.getPopup().getElement().querySelector('h6').textContent;
            mk.openTooltip();
            var tip = mk.getTooltip().getElement().textContent;
            PG.setLang('en');
            var popEn = mk.getPopup().getElement().querySelector('h6').textContent;
            return [pop, tip, popEn];
        """,
            poisoned["enterprise"],
        )
        zh = f"{NAME_ZH} {poisoned['enterprise']}"
        en = f"{NAME_EN} {poisoned['enterprise']}"
        assert got[0].strip() == zh and zh in got[1], got
        assert got[2].strip() == en, got
        time.sleep(0.5)
        assert _marks(d) == {}
        assert _severe(d) == []


@pytest.mark.browser
@pytest.mark.skipif(not browser_support.AVAILABLE, reason="needs chromium and chromedriver")
def test_payload_names_are_inert_in_the_html_brief(poisoned: dict, live_server_rw: str) -> None:
    with browser_support.driver() as d:
        d.get("about:blank")
        d.get_log("browser")
        d.get(f"{live_server_rw}/api/parcels/{poisoned['parcel']}/brief.html")
        browser_support.wait_for(
            d, "document.querySelectorAll('.leaflet-overlay-pane path').length > 10"
        )
        # The offline copy carries its own policy: no server sends headers for a file.
        meta = d.execute_script(
            "var m = document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]');"
            "return m && m.content"
        )
        assert meta and "'unsafe-inline'" not in _script_src(meta)
        tips = d.execute_script("""
            var map = window[document.querySelector('.folium-map').id], out = [];
            map.eachLayer(function (l) {
              if (l.getTooltip && l.getTooltip() && l.getLatLng) { l.openTooltip(l.getLatLng()); }
            });
            document.querySelectorAll('.leaflet-tooltip').forEach(function (t) {
              out.push(t.textContent); });
            return out;
        """)
        assert any(NAME_ZH in t for t in tips), tips
        side = d.execute_script("return document.querySelector('.pg-side').textContent")
        assert NAME_ZH in side
        time.sleep(0.5)
        assert _marks(d) == {}
        assert _severe(d) == []


# --- PDF text and a parcel outside every zone ------------------------------------------------


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")
def test_pdf_prints_markup_in_names_literally(sample_db_rw: str, tmp_path: Path) -> None:
    from parkgis.publish.brief import brief_pdf

    row = _exec(
        sample_db_rw,
        """
        SELECT p.code, p.zone_code FROM parcels p WHERE p.status = 'available'
         ORDER BY p.code LIMIT 1""",
    )[0]
    # Mathtext would print "α²" and drop the dollars; the names must print as typed.
    _exec(
        sample_db_rw,
        "UPDATE zones SET name_en = %(n)s WHERE code = %(z)s",
        {"n": "Park $\\alpha^2$ <b>x</b>", "z": row["zone_code"]},
    )
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        pdf = brief_pdf(conn, row["code"], lang="en")
    path = tmp_path / "brief.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Park $\\alpha^2$ <b>x</b>" in text, text[:500]


def test_brief_of_a_parcel_outside_every_zone_is_a_page(sample_db_rw: str) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    # Same zone code, geometry moved ~30 km away from every park and every neighbour.
    src = _exec(
        sample_db_rw, "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
    )[0]["code"]
    _exec(
        sample_db_rw,
        """
        INSERT INTO parcels (code, zone_code, status, landuse_code, gk_srid, area_m2, geom,
                             geom_gk)
        SELECT 'FAR-1', zone_code, 'available', landuse_code, gk_srid, area_m2,
               ST_Translate(geom, 0.3, 0.2), geom_gk FROM parcels WHERE code = %(c)s""",
        {"c": src},
    )
    assert not _exec(
        sample_db_rw,
        """
        SELECT 1 FROM zones z, parcels p WHERE p.code = 'FAR-1'
           AND ST_Intersects(z.geom, p.geom)""",
    )
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        r = c.get("/api/parcels/FAR-1/brief.html")
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-type"].startswith("text/html")
        assert '<div class="code">FAR-1</div>' in r.text


# --- the planner page ----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not browser_support.AVAILABLE, reason="needs chromium and chromedriver")
def test_payloads_are_inert_on_the_planner_page(sample_db_rw: str, live_server_rw: str) -> None:
    from selenium.webdriver.common.by import By

    from parkgis import auth

    inq = (
        "<img src=x onerror=document.documentElement.dataset.p=1>${document.documentElement"
        ".dataset.p=2}"
    )
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        auth.add_user(conn, "xss-planner", "planner", "planner-pass-1")
        conn.execute(
            "INSERT INTO inquiries (name, company, contact, message, parcel_codes) "
            "VALUES (%(n)s, %(n)s, '13700000000', %(n)s, '{}')",
            {"n": inq},
        )
        conn.execute("UPDATE projects SET name_zh = %(n)s WHERE code = 'PRJ-FLEXPACK'", {"n": UNIT})
    with browser_support.driver() as d:
        d.get(live_server_rw + "/planner")
        browser_support.wait_for(d, "document.body.getAttribute('data-pgp-ready')")
        d.find_element(By.ID, "pgp-username").send_keys("xss-planner")
        d.find_element(By.ID, "pgp-password").send_keys("planner-pass-1")
        d.find_element(By.ID, "pgp-login-btn").click()
        browser_support.wait_for(d, "document.body.getAttribute('data-parcels-loaded')")
        d.find_element(By.CSS_SELECTOR, ".pgp-tab[data-tab=board]").click()
        browser_support.wait_for(
            d, f"document.getElementById('pgp-board').textContent.indexOf({UNIT!r}) >= 0"
        )
        d.find_element(By.CSS_SELECTOR, ".pgp-tab[data-tab=inbox]").click()
        browser_support.wait_for(
            d, f"document.getElementById('pgp-inbox').textContent.indexOf({inq!r}) >= 0"
        )
        time.sleep(1.0)  # an <img onerror> would have fired by now
        assert _marks(d) == {}
        assert [e for e in _severe(d) if "favicon" not in e["message"]] == []
