"""``parkgis publish DIR``: the PMTiles archive checked against SQL, republishing, and the static
page driven in headless chromium from a plain range-capable file server (no app anywhere)."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import browser
import mapbox_vector_tile
import psycopg
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles

from parkgis.db.collections import COLLECTIONS, CONFIDENTIAL_FIELDS

VACANT = ("available", "reserved", "listed")
PARKGIS = Path(sys.executable).with_name("parkgis")


# ---- a static file server with Range support, written here (not the app) -----------------


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves a directory; honours single ``Range: bytes=a-b`` requests with 206."""

    log: list[tuple[str, str, str | None, int]] = []

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if rng is None or not path.is_file():
            self._log(200 if path.exists() else 404)
            super().do_GET()
            return
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        size = path.stat().st_size
        if not m or (m[1] == "" and m[2] == ""):
            self._log(416)
            self.send_error(416)
            return
        if m[1] == "":
            start, end = max(0, size - int(m[2])), size - 1
        else:
            start, end = int(m[1]), min(size - 1, int(m[2]) if m[2] else size - 1)
        if start >= size or start > end:
            self._log(416)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self._log(206)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)

    def _log(self, status: int) -> None:
        type(self).log.append((self.command, self.path, self.headers.get("Range"), status))


@contextmanager
def serve_dir(directory: Path) -> Iterator[tuple[str, list]]:
    """Serve ``directory`` on a free loopback port; yields (base URL, request log)."""
    log: list[tuple[str, str, str | None, int]] = []
    handler = type("H", (RangeHandler,), {"log": log})

    def factory(*a: object, **kw: object) -> RangeHandler:
        return handler(*a, directory=str(directory), **kw)  # type: ignore[arg-type]

    srv = ThreadingHTTPServer(("127.0.0.1", 0), factory)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", log
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def static_server(published: Path) -> Iterator[tuple[str, list]]:
    with serve_dir(published) as s:
        yield s


# ---- publishing ------------------------------------------------------------------------------


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``parkgis`` command, as a user runs it."""
    env = {**os.environ, "PARKGIS_DATABASE_URL": url}
    return subprocess.run(
        [str(PARKGIS), *args], capture_output=True, text=True, env=env, timeout=300
    )


def _publish(url: str, out: Path, *extra: str) -> str:
    r = _cli(url, "publish", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def published(sample_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pub") / "site"
    text = _publish(sample_db, out)
    assert "z16" in text and "public-" in text  # progress per zoom, then the summary
    return out


def _reader(path: Path) -> tuple[Reader, object]:
    f = open(path, "rb")
    return Reader(MmapSource(f)), f


def _archive(directory: Path) -> Path:
    m = json.loads((directory / "manifest.json").read_text())
    return directory / m["archive"]


def _tile_bbox(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, ...]:
    """Lon/lat box of a Web-Mercator tile grown by ``margin`` tile widths (hand formula)."""
    n = 2**z

    def lon(px: float) -> float:
        return px / n * 360.0 - 180.0

    def lat(py: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * py / n))))

    return lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin)


def _xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    s = math.sin(math.radians(lat))
    return int((lon + 180) / 360 * n), int((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n)


def test_archive_header_and_layers(published: Path, sample_db: str) -> None:
    assert (published / "index.html").is_file()
    rd, f = _reader(_archive(published))
    with f:
        h = rd.header()
        assert h["min_zoom"] == 8 and h["max_zoom"] == 16
        assert h["tile_type"].name == "MVT" and h["clustered"]
        meta = rd.metadata()
        ids = [v["id"] for v in meta["vector_layers"]]
        assert {"zones", "parcels", "infrastructure", "upgrades", "enterprises"} <= set(ids)
        assert meta["parkgis"]["sample"] is True
        available = meta["parkgis"]["available"]
    # the static page's headline totals: the available parcels by park, counted here in SQL
    with psycopg.connect(sample_db) as conn:
        want = {
            z: (int(n), float(m2) * 15 / 10000)
            for z, n, m2 in conn.execute(
                "SELECT z.code, count(p.code), coalesce(sum(p.area_m2), 0) FROM zones z "
                "LEFT JOIN parcels p ON p.zone_code = z.code AND p.status = 'available' "
                "GROUP BY z.code"
            )
        }
    got = {p["zone_code"]: (p["parcels"], p["area_mu"]) for p in available["parks"]}
    assert set(got) == set(want)
    for z, (n, mu) in want.items():
        assert got[z][0] == n and got[z][1] == pytest.approx(mu, abs=0.05), z
    assert available["total"]["parcels"] == sum(n for n, _ in want.values())


def test_tile_parcels_match_sql_and_nothing_confidential(published: Path, sample_db: str) -> None:
    z = 16
    with psycopg.connect(sample_db) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM parcels "
            "WHERE status = 'available' ORDER BY code LIMIT 1) s"
        ).fetchone()
        x, y = _xy(lon, lat, z)
        inner = conn.execute(
            "SELECT code FROM parcels WHERE status = ANY(%s) AND ST_Intersects(geom, "
            "ST_MakeEnvelope(%s, %s, %s, %s, 4490))",
            (list(VACANT), *_tile_bbox(z, x, y, -0.01)),
        ).fetchall()
        outer = conn.execute(
            "SELECT code, status, area_mu::float8 FROM parcels WHERE status = ANY(%s) AND "
            "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490)",
            (list(VACANT), *_tile_bbox(z, x, y, 64 / 4096 + 0.001)),
        ).fetchall()
        # Values of the confidential columns, which must appear in no tile.
        secrets: set[str] = set()
        for table, col in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = ANY(%s) "
            "AND data_type IN ('text', 'character varying')",
            (sorted(CONFIDENTIAL_FIELDS),),
        ).fetchall():
            secrets |= {
                r[0]
                for r in conn.execute(
                    f'SELECT DISTINCT "{col}" FROM "{table}" WHERE length("{col}") >= 6'
                )
            }
    rd, f = _reader(_archive(published))
    with f:
        data = rd.get(z, x, y)
        assert data is not None
        tile = mapbox_vector_tile.decode(gzip.decompress(data))
        got = {ft["properties"]["code"]: ft["properties"] for ft in tile["parcels"]["features"]}
        codes_in = {r[0] for r in inner}
        by_code = {r[0]: r for r in outer}
        assert codes_in, "the chosen tile should hold vacant parcels"
        assert codes_in <= set(got) <= set(by_code)
        for code, props in got.items():
            assert props["status"] == by_code[code][1]
            assert props["area_mu"] == pytest.approx(by_code[code][2], rel=1e-9)
        public = {c: {p.name for p in COLLECTIONS[c].props} for c in COLLECTIONS}
        n_tiles = 0
        for _zxy, raw in all_tiles(rd.get_bytes):
            n_tiles += 1
            body = gzip.decompress(raw)
            for s in secrets:
                assert s.encode() not in body
            for lname, layer in mapbox_vector_tile.decode(body).items():
                for ft in layer["features"]:
                    keys = set(ft["properties"])
                    assert not keys & CONFIDENTIAL_FIELDS
                    assert keys <= public[lname], (lname, keys - public[lname])
                    if lname == "parcels":
                        assert ft["properties"]["status"] in VACANT
        assert n_tiles > 100
        meta_text = json.dumps(rd.metadata(), ensure_ascii=False)
        assert not any(s in meta_text for s in secrets)


def test_republish_writes_a_new_archive_and_switches_the_manifest(
    sample_db_rw: str, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    _publish(sample_db_rw, out, "--keep", "2", "--grace-hours", "0")
    first = json.loads((out / "manifest.json").read_text())
    # Unchanged data: the same archive (content-addressed), nothing new written.
    _publish(sample_db_rw, out, "--keep", "2", "--grace-hours", "0")
    assert json.loads((out / "manifest.json").read_text())["archive"] == first["archive"]
    names = []
    for k in range(2):
        with psycopg.connect(sample_db_rw) as conn:
            code = conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
            ).fetchone()[0]
            conn.execute(
                "UPDATE parcels SET land_price_wan_per_mu = %s WHERE code = %s", (77.5 + k, code)
            )
        _publish(sample_db_rw, out, "--keep", "2", "--grace-hours", "0")
        m = json.loads((out / "manifest.json").read_text())
        names.append(m["archive"])
        assert m["archive"] != first["archive"]
        assert m["previous"] == ([first["archive"]] if k == 0 else [names[0]])
        rd, f = _reader(out / m["archive"])
        with f:
            prices = [
                ft["properties"].get("land_price_wan_per_mu")
                for _t, raw in all_tiles(rd.get_bytes)
                for ft in mapbox_vector_tile.decode(gzip.decompress(raw))
                .get("parcels", {})
                .get("features", [])
                if ft["properties"]["code"] == code
            ]
        assert prices and set(prices) == {77.5 + k}
    # keep=2: the current and the previous archive stay, the first one (grace 0) is gone.
    left = sorted(p.name for p in out.glob("public-*.pmtiles"))
    assert left == sorted(names)
    assert not list(out.glob(".*tmp"))  # temporary files were renamed, none left behind


def test_publish_refuses_an_unusable_directory(sample_db: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _cli(sample_db, "publish", str(blocker / "sub"))
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and str(tmp_path) not in r.stderr


# ---- the page from a static server -----------------------------------------------------------


def test_static_server_honours_range(static_server: tuple[str, list], published: Path) -> None:
    base, _log = static_server
    name = json.loads((published / "manifest.json").read_text())["archive"]
    host = base.removeprefix("http://")
    c = http.client.HTTPConnection(host, timeout=10)
    c.request("GET", f"/{name}", headers={"Range": "bytes=0-126"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 206 and len(body) == 127
    assert body == (published / name).read_bytes()[:127] and body[:7] == b"PMTiles"
    assert r.getheader("Content-Range") == f"bytes 0-126/{(published / name).stat().st_size}"


@pytest.mark.browser
@pytest.mark.skipif(not browser.AVAILABLE, reason="needs Debian's chromium and chromedriver")
def test_page_draws_parcels_and_opens_the_sheet_without_the_app(
    static_server: tuple[str, list], sample_db: str, artifacts: Path
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, log = static_server
    with browser.driver() as d:
        d.get(f"{base}/index.html")
        wait = WebDriverWait(d, 30)
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        wait.until(
            lambda d: (
                d.execute_script(
                    "return document.querySelectorAll('.sm-layer-parcels path').length"
                )
                > 5
            )
        )
        panel = d.execute_script(
            "var o = {}; document.querySelectorAll('#sm-available li[data-zone]')"
            ".forEach(function (li) { o[li.dataset.zone] = li.textContent; }); return o;"
        )
        notice = d.find_element(By.ID, "sm-sample")
        assert notice.is_displayed() and "示例数据" in notice.text and "sample data" in notice.text
        # Click the largest parcel drawn at its centre.
        path = d.execute_script("""
            var ps = Array.from(document.querySelectorAll('.sm-layer-parcels path'));
            ps.sort(function (a, b) {
              var ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
              return rb.width * rb.height - ra.width * ra.height; });
            var m = document.getElementById('sm-map').getBoundingClientRect();
            var vis = ps.filter(function (p) { var r = p.getBoundingClientRect();
              return r.left > m.left && r.right < m.right &&
                     r.top > m.top && r.bottom < m.bottom; });
            return vis[0] || ps[0];""")
        ActionChains(d).move_to_element(path).click().perform()
        wait.until(lambda d: d.find_element(By.ID, "sm-sheet").is_displayed())
        code = d.find_element(By.ID, "sm-sheet").get_attribute("data-code")
        sheet = d.find_element(By.ID, "sm-sheet").text
        assert code and code in sheet and "亩" in sheet and "七通一平" in sheet
        d.save_screenshot(str(artifacts / "static_map.png"))
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        perf = [json.loads(e["message"])["message"] for e in d.get_log("performance")]
    with psycopg.connect(sample_db) as conn:
        st = conn.execute("SELECT status FROM parcels WHERE code = %s", (code,)).fetchone()
    assert st is not None and st[0] in VACANT
    # the headline totals drawn on the static page, against SQL over the parcels
    with psycopg.connect(sample_db) as conn:
        for z, n, m2 in conn.execute(
            "SELECT zone_code, count(*), sum(area_m2) FROM parcels WHERE status = 'available' "
            "GROUP BY zone_code"
        ):
            m = re.search(r"可供地块 ([\d,]+) 宗 · ([\d,.]+) 亩", panel[z])
            assert m and int(m.group(1).replace(",", "")) == n, panel
            assert float(m.group(2).replace(",", "")) == pytest.approx(m2 * 15 / 10000, abs=0.051)
    assert not errors, errors
    # Every request the browser made went to the static server; no app was running at all.
    urls = {
        m["params"]["request"]["url"] for m in perf if m["method"] == "Network.requestWillBeSent"
    }
    # (chrome:// pages of the browser's own new tab are not requests of the page)
    web = {u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))}
    foreign = sorted(u for u in web if not u.startswith(base + "/"))
    assert web and not foreign, foreign
    paths = [p for _m, p, _r, _s in log]
    assert "/manifest.json" in paths
    ranged = [(p, s) for _m, p, r, s in log if r is not None]
    assert ranged and all(p.endswith(".pmtiles") and s == 206 for p, s in ranged)
    assert not any(re.match(r"/(api|ogc)/", p) for p in paths)


HOSTILE = '<img src=x onerror="window.__pwn=1"><b id="pwn">x</b>'


@pytest.mark.browser
@pytest.mark.skipif(not browser.AVAILABLE, reason="needs Debian's chromium and chromedriver")
def test_hostile_names_are_text_on_the_static_page(sample_db_rw: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with psycopg.connect(sample_db_rw) as conn:
        conn.execute("UPDATE zones SET name_zh = %s, name_en = %s", (HOSTILE, HOSTILE))
    out = tmp_path / "site"
    _publish(sample_db_rw, out)
    with serve_dir(out) as (base, _log), browser.driver() as d:
        d.get(f"{base}/index.html")
        wait = WebDriverWait(d, 30)
        wait.until(
            lambda d: (
                d.execute_script(
                    "return document.querySelectorAll('.sm-layer-parcels path').length"
                )
                > 5
            )
        )
        path = d.execute_script("""
            var m = document.getElementById('sm-map').getBoundingClientRect();
            return Array.from(document.querySelectorAll('.sm-layer-parcels path'))
              .filter(function (p) { var r = p.getBoundingClientRect();
                return r.width > 6 && r.height > 6 && r.left > m.left && r.right < m.right &&
                       r.top > m.top && r.bottom < m.bottom; })[0];""")
        ActionChains(d).move_to_element(path).click().perform()
        wait.until(lambda d: d.find_element(By.ID, "sm-sheet").is_displayed())
        sheet = d.find_element(By.ID, "sm-sheet").text
        assert '<b id="pwn">x</b>' in sheet  # shown as the text it is
        assert d.execute_script(
            "return window.__pwn === undefined && !document.getElementById('pwn')"
        )
