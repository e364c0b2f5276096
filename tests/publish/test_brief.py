"""Site briefs (issue 7): PDF fonts and text, the parcel on the page, PNG, offline HTML in a real
browser, API media types and errors, the CLI, and a whole deck.

Real PostGIS (the sample data), real poppler tools (pdffonts, pdftotext, pdftoppm, pdfinfo),
real chromium; no mocks.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import browser as browser_support
import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from parkgis.publish.brief import brief_pdf
from parkgis.publish.brief.facts import area_mu_text, gather
from parkgis.publish.brief.render_pdf import draw_brief, figure_pdf, title_of
from parkgis.publish.brief.static_maps import HIGHLIGHT

ROOT = Path(__file__).resolve().parents[2]
PARKGIS = str(Path(sys.executable).parent / "parkgis")
POPPLER = all(shutil.which(t) for t in ("pdffonts", "pdftotext", "pdftoppm", "pdfinfo"))

pytestmark = pytest.mark.skipif(not POPPLER, reason="needs poppler-utils")


def _one(url: str, sql: str, params: dict | None = None) -> dict:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params or {}).fetchone()


@pytest.fixture(scope="module")
def parcel(sample_db: str) -> dict:
    """An available parcel of the cluster zone, with its exact area from the store."""
    return _one(
        sample_db,
        """
        SELECT p.code, p.area_m2, round(p.area_mu, 2) AS mu2, z.name_zh
          FROM parcels p JOIN zones z ON z.code = p.zone_code
         WHERE p.status = 'available' AND z.kind = 'cluster_zone'
         ORDER BY p.code LIMIT 1""",
    )


@pytest.fixture(scope="module")
def rendered(sample_db: str, parcel: dict, artifacts: Path) -> dict:
    """One bilingual brief: the PDF on disk and where the parcel landed on the page."""
    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        f = gather(conn, parcel["code"])
    fig, info = draw_brief(f, "both")
    pdf = figure_pdf(fig, title_of(f))
    path = artifacts / f"brief_{parcel['code']}.pdf"
    path.write_bytes(pdf)
    return {"path": path, "info": info, "facts": f}


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, **kw)


def test_every_font_is_embedded(rendered: dict) -> None:
    out = _run("pdffonts", str(rendered["path"])).stdout.splitlines()
    rows = out[2:]
    assert rows, "the brief has no fonts: text was drawn as outlines"
    for row in rows:
        # columns: name type encoding emb sub uni object ID — read from the right
        emb, sub, uni = row.split()[-5:-2]
        assert emb == "yes", row
        assert uni == "yes", row  # a ToUnicode map: copy-paste and search give the real text
        assert "TrueType" in row, row  # the embedded file is what the font type says
    # ... which poppler confirms by reading every page without a font warning.
    assert _run("pdftotext", str(rendered["path"]), "-").stderr == ""


def test_text_is_extractable(rendered: dict, parcel: dict) -> None:
    text = _run("pdftotext", "-layout", str(rendered["path"]), "-").stdout
    assert parcel["code"] in text
    assert "卫辉市产业集聚区" in text
    assert parcel["name_zh"] in text
    # The area in mu as printed equals the store's exact value rounded to 2 decimals.
    printed = area_mu_text(parcel["area_m2"])
    assert printed == f"{parcel['mu2']:,}"
    assert f"{printed} 亩" in text
    assert "七通一平" in text and "Servicing" in text


def test_parcel_is_drawn_where_it_should_be(rendered: dict) -> None:
    """Rasterise the PDF and find the parcel's unique fill colour inside its expected box."""
    from PIL import Image

    dpi = 100
    with tempfile.TemporaryDirectory() as d:
        _run("pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(rendered["path"]), f"{d}/page")
        img = np.asarray(Image.open(f"{d}/page.png").convert("RGB")).astype(int)
    h, w, _ = img.shape
    assert abs(h - 297 / 25.4 * dpi) <= 1 and abs(w - 210 / 25.4 * dpi) <= 1  # A4
    # not blank: plenty of ink of many colours
    assert (img.sum(axis=2) < 600).mean() > 0.10
    assert len(np.unique(img.reshape(-1, 3)[::97], axis=0)) > 50

    rgb = np.array([int(HIGHLIGHT[i : i + 2], 16) for i in (1, 3, 5)])
    hit = np.abs(img - rgb).max(axis=2) <= 6
    ys, xs = np.nonzero(hit)
    assert len(xs) > 200, "the highlighted parcel is not on the page"
    x0, y0, x1, y1 = rendered["info"].parcel_bbox  # figure fractions, origin bottom-left
    px0, px1 = x0 * w - 2, x1 * w + 2
    py0, py1 = (1 - y1) * h - 2, (1 - y0) * h + 2
    inside = (xs >= px0) & (xs <= px1) & (ys >= py0) & (ys <= py1)
    assert inside.all(), f"{(~inside).sum()} highlight pixels outside the parcel's box"
    # …and it covers most of the parcel's own area at this scale (a filled polygon, not a
    # stray stroke; the code label sits on top of part of it)
    g = rendered["facts"].parcel_geom
    gx0, _gy0, gx1, _gy1 = g.bounds
    px_per_m = (x1 - x0) * w / (gx1 - gx0)
    assert len(xs) > 0.5 * g.area * px_per_m**2
    # …inside the main map frame
    mx0, my0, mx1, my1 = rendered["info"].map_bbox
    assert mx0 * w <= xs.min() and xs.max() <= mx1 * w
    assert (1 - my1) * h <= ys.min() and ys.max() <= (1 - my0) * h


def test_api_media_types_and_png(client, parcel: dict, artifacts: Path) -> None:
    from PIL import Image

    code = parcel["code"]
    r = client.get(f"/api/parcels/{code}/brief.pdf", params={"lang": "zh"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    r = client.get(f"/api/parcels/{code}/brief.png", params={"lang": "en"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    (artifacts / f"brief_{code}.png").write_bytes(r.content)
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (2480, 3508)  # A4 at 300 dpi
    assert img.info.get("dpi", (300, 300))[0] == pytest.approx(300, abs=1)
    r = client.get(f"/api/parcels/{code}/brief.html")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/api/parcels/NO-SUCH-1/brief.pdf",
        "/api/parcels/NO-SUCH-1/brief.png",
        "/api/parcels/NO-SUCH-1/brief.html",
    ],
)
def test_api_unknown_parcel_is_404_problem(client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 404 and "NO-SUCH-1" in body["detail"]


def test_api_bad_options_are_400_problem(client, parcel: dict) -> None:
    r = client.get(f"/api/parcels/{parcel['code']}/brief.pdf", params={"lang": "fr"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.get(f"/api/parcels/{parcel['code']}/brief.pdf", params={"project": "NO-PRJ"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_project_fit_on_the_brief(sample_db: str, artifacts: Path) -> None:
    """With a project, the brief prints the fit engine's score for this very site."""
    from parkgis.siting import fit

    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        proj = conn.execute(
            "SELECT code FROM projects WHERE footprint_length_m IS NOT NULL ORDER BY code"
        ).fetchall()
        best = None
        for p in proj:
            res = fit.match_project(conn, p["code"], top=1, assemble=False)
            if res.matches:
                best = (p["code"], res.matches[0])
                break
        assert best is not None, "no project fits any single parcel in the sample"
        code, m = best
        parcel_code = m.site.codes[0]
        f = gather(conn, parcel_code, project=code)
        pdf = brief_pdf(conn, parcel_code, "en", project=code)
    assert f.fit is not None and f.fit.passed
    assert f.fit.score == m.score
    assert f.fit.footprint is not None and f.fit.footprint.within(f.parcel_geom.buffer(0.2))
    path = artifacts / f"brief_{parcel_code}_{code}.pdf"
    path.write_bytes(pdf)
    text = _run("pdftotext", str(path), "-").stdout
    assert code in text and f"{m.score:.1f}" in text


def _cli_env(url: str) -> dict:
    return {**os.environ, "PARKGIS_DATABASE_URL": url}


def test_cli_brief_and_one_line_error(sample_db: str, parcel: dict, tmp_path: Path) -> None:
    out = tmp_path / "b.pdf"
    r = _run(
        PARKGIS, "brief", parcel["code"], "--out", str(out), "--lang", "zh", env=_cli_env(sample_db)
    )
    assert r.returncode == 0, r.stderr
    text = _run("pdftotext", str(out), "-").stdout
    assert parcel["code"] in text and f"{area_mu_text(parcel['area_m2'])} 亩" in text

    bad = tmp_path / "nope.pdf"
    r = _run(PARKGIS, "brief", "WH-Z-999", "--out", str(bad), env=_cli_env(sample_db))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "WH-Z-999" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not bad.exists()


def test_cli_html_opens_offline_in_chromium(sample_db: str, parcel: dict, tmp_path: Path) -> None:
    if not browser_support.AVAILABLE:
        pytest.skip("needs Debian's chromium and chromedriver")

    page = tmp_path / "brief.html"
    r = _run(PARKGIS, "brief", parcel["code"], "--out", str(page), env=_cli_env(sample_db))
    assert r.returncode == 0, r.stderr
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"<(?:script|link|img)\b[^>]*(?:src|href)=\"(?:https?:)?//", html)

    with browser_support.driver(lang=None) as driver:
        # Start from a blank page and drop the start-up noise (chromium's new-tab page).
        driver.get("about:blank")
        driver.get_log("browser")
        driver.get_log("performance")
        driver.get(page.as_uri())
        # Leaflet drew the parcel layer and the facts panel is there.
        paths = driver.execute_script(
            "return document.querySelectorAll('.leaflet-overlay-pane path').length"
        )
        assert paths > 10
        assert (
            driver.execute_script("return document.querySelector('.pg-side .code').textContent")
            == parcel["code"]
        )
        colours = driver.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))"
            ".map(p => p.getAttribute('fill'))"
        )
        assert HIGHLIGHT in colours
        urls = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
        assert urls, "no request seen at all: performance logging is off"
        leaving = [u for u in urls if not u.startswith(("file:", "data:", "blob:"))]
        assert leaving == []
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert errors == []


def test_cli_deck_of_every_available_parcel_of_a_zone(sample_db: str, tmp_path: Path) -> None:
    # The zone with the fewest available parcels keeps the run short.
    z = _one(
        sample_db,
        """SELECT zone_code, count(*) AS n FROM parcels
                            WHERE status = 'available' GROUP BY zone_code
                            ORDER BY n, zone_code LIMIT 1""",
    )
    out = tmp_path / "deck.pdf"
    r = _run(
        PARKGIS,
        "brief",
        "--zone",
        z["zone_code"],
        "--status",
        "available",
        "--out",
        str(out),
        env=_cli_env(sample_db),
    )
    assert r.returncode == 0, r.stderr
    info = _run("pdfinfo", str(out)).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages == z["n"] + 1  # the cover, then one page per parcel
    fonts = _run("pdffonts", str(out)).stdout.splitlines()[2:]
    assert fonts and all(row.split()[-5] == "yes" for row in fonts)
    text = _run("pdftotext", str(out), "-").stdout
    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        codes = [
            r["code"]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' AND zone_code = %s",
                (z["zone_code"],),
            )
        ]
    assert all(c in text for c in codes)


def test_deck_refuses_unknown_zone(sample_db: str, tmp_path: Path) -> None:
    out = tmp_path / "deck.pdf"
    r = _run(PARKGIS, "brief", "--zone", "NO-ZONE", "--out", str(out), env=_cli_env(sample_db))
    assert r.returncode == 1
    assert "NO-ZONE" in r.stderr and not out.exists()


def test_indicators_come_from_the_active_set(
    sample_db_rw: str, parcel: dict, tmp_path: Path
) -> None:
    """With an indicator set in the store, the brief quotes it (and says which one)."""
    from parkgis.promotion import indicators

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        before = gather(conn, parcel["code"])
        src = before.indicators_source[0]  # reference values, labelled with their source
        assert "参考值" in src and "国土资发〔2008〕24号" in src and "设计文档" not in src
        indicators.ensure_seeded(conn)
        conn.commit()
        active = indicators.get_set(conn)
        f = gather(conn, parcel["code"])
        pdf = brief_pdf(conn, parcel["code"], "zh")
    assert active["source"] in f.indicators_source[0]
    cov = next(i for i in f.indicators if i["key"] == "building_coverage")
    row = indicators.lookup(active["rows"], "building_coverage", active["park_region_tier"], None)
    assert cov["value_zh"].startswith(f"≥ {row['min_value'] * 100:.0f}%")
    path = tmp_path / "b.pdf"
    path.write_bytes(pdf)
    text = _run("pdftotext", str(path), "-").stdout
    assert active["source"] in text.replace("\n", "")


def test_earthwork_cost_uses_the_callers_settings(sample_db_rw: str) -> None:
    """The brief prices the levelling at the rate handed in (``settings.earthwork``), not a
    global: two settings, two costs, each worked out by hand from the stored volumes."""
    from parkgis.settings import EarthworkSettings

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()["code"]
        conn.execute(
            "INSERT INTO parcel_terrain (parcel_code, elev_mean_m, slope_mean_deg, "
            "flood_share, earthwork_cut_m3, earthwork_fill_m3) "
            "VALUES (%s, 80, 1.5, 0, 1200, 2800) ON CONFLICT (parcel_code) DO UPDATE "
            "SET earthwork_cut_m3 = 1200, earthwork_fill_m3 = 2800",
            (code,),
        )
        conn.commit()
        cheap = gather(conn, code, earthwork=EarthworkSettings(yuan_per_m3=10.0))
        dear = gather(conn, code, earthwork=EarthworkSettings(yuan_per_m3=37.5))
    # (1200 + 2800) m3 moved: at 10 yuan/m3 = 40,000 yuan; at 37.5 yuan/m3 = 150,000 yuan
    assert cheap.terrain is not None and dear.terrain is not None
    assert cheap.terrain["earthwork_cost_yuan"] == pytest.approx(40_000.0)
    assert dear.terrain["earthwork_cost_yuan"] == pytest.approx(150_000.0)
