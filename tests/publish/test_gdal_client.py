"""GDAL's OAPIF driver as a real client of /ogc, served by uvicorn on loopback.

GDAL 3.6 decides to push an attribute filter to the server from the API definition: the
``/collections/{id}/items`` path's ``filter-lang`` enum and its queryable query parameters
(newer GDAL and QGIS read the conformance classes instead; both are served). Its debug output
(``CPL_DEBUG=ON``) prints every URL it fetches, which is how these tests see the filter leave
the client.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote_plus

import psycopg
import pytest

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin missing")

TIMEOUT = 300


def run(args: list[str], debug: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60"}
    if debug:
        env["CPL_DEBUG"] = "ON"
    proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def fetched(proc: subprocess.CompletedProcess) -> list[str]:
    """URLs GDAL requested, decoded."""
    return [unquote_plus(u) for u in re.findall(r"HTTP: Fetch\((\S+)\)", proc.stderr)]


def feature_count(stdout: str) -> int:
    m = re.search(r"^Feature Count: (\d+)$", stdout, re.M)
    assert m, stdout
    return int(m.group(1))


@pytest.fixture(scope="module")
def db(sample_db: str):
    with psycopg.connect(sample_db, autocommit=True) as conn:
        yield conn


def codes(db: psycopg.Connection, where: str = "TRUE") -> list[str]:
    return [
        r[0]
        for r in db.execute(
            f"SELECT code FROM parcels WHERE status <> 'historic' AND ({where}) ORDER BY code"
        )
    ]


def test_ogrinfo_summary_count_and_extent(live_server: str, db) -> None:
    out = run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/ogc", "parcels"]).stdout
    assert feature_count(out) == len(codes(db)) > 0
    assert (
        feature_count(out)
        == db.execute("SELECT count(*) FROM parcels WHERE status <> 'historic'").fetchone()[0]
    )
    m = re.search(r"^Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)$", out, re.M)
    assert m, out
    want = db.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
        "ST_Extent(geom) e FROM parcels WHERE status <> 'historic') s"
    ).fetchone()
    # ogrinfo prints six decimals
    assert [float(v) for v in m.groups()] == pytest.approx(list(want), abs=1e-6)
    assert "Multi Polygon" in out
    # types read from the first page: the benchmark price is a real, never an integer
    assert re.search(r"^land_price_wan_per_mu: Real", out, re.M)
    assert "note_internal" not in out


def test_ogrinfo_lists_every_collection(live_server: str) -> None:
    out = run(["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc"]).stdout
    for cid in ("zones", "parcels", "infrastructure", "upgrades", "enterprises"):
        assert re.search(rf"^\d+: {cid}\b", out, re.M), out


def test_ogr2ogr_copies_every_parcel(live_server: str, db, tmp_path: Path) -> None:
    out = tmp_path / "parcels.gpkg"
    proc = run(
        ["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server}/ogc", "parcels"], debug=True
    )
    # it paged through our rel=next links
    assert any("offset=" in u for u in fetched(proc))
    with sqlite3.connect(out) as gpkg:
        got = sorted(r[0] for r in gpkg.execute("SELECT code FROM parcels"))
        (n_geom,) = gpkg.execute("SELECT count(*) FROM parcels WHERE geom IS NOT NULL").fetchone()
        cols = {r[1] for r in gpkg.execute("PRAGMA table_info(parcels)")}
    assert got == codes(db)
    assert n_geom == len(got)
    assert not cols & {"note_internal", "contact", "project_code", "version"}
    # values survive the trip: the prices GDAL wrote equal the database's
    with sqlite3.connect(out) as gpkg:
        prices = dict(gpkg.execute("SELECT code, land_price_wan_per_mu FROM parcels"))
    for code, price in db.execute(
        "SELECT code, land_price_wan_per_mu::float8 FROM parcels WHERE status <> 'historic'"
    ):
        assert prices[code] == pytest.approx(price) if price is not None else prices[code] is None


def test_attribute_filter_is_pushed_to_the_server(live_server: str, db, tmp_path: Path) -> None:
    want = codes(db, "status = 'available'")
    assert 0 < len(want) < len(codes(db))
    proc = run(
        [
            "ogrinfo",
            "-ro",
            "-so",
            f"OAPIF:{live_server}/ogc",
            "parcels",
            "-where",
            "status = 'available'",
        ],
        debug=True,
    )
    assert feature_count(proc.stdout) == len(want)
    urls = fetched(proc)
    assert any("filter=status = 'available'" in u for u in urls), urls
    assert "evaluated on client side" not in proc.stderr

    out = tmp_path / "available.gpkg"
    proc = run(
        [
            "ogr2ogr",
            "-f",
            "GPKG",
            str(out),
            f"OAPIF:{live_server}/ogc",
            "parcels",
            "-where",
            "status = 'available' AND area_mu >= 10",
        ],
        debug=True,
    )
    urls = [u for u in fetched(proc) if "/items" in u and "filter=" in u]
    assert urls and all("area_mu >= 10" in u for u in urls), fetched(proc)
    assert "evaluated on client side" not in proc.stderr
    with sqlite3.connect(out) as gpkg:
        got = sorted(r[0] for r in gpkg.execute("SELECT code FROM parcels"))
    assert got == codes(db, "status = 'available' AND area_mu >= 10")


def test_spatial_filter_is_sent_as_bbox(live_server: str, db) -> None:
    x1, y1, x2, y2 = 114.0, 35.37, 114.05, 35.42
    proc = run(
        [
            "ogrinfo",
            "-ro",
            "-so",
            f"OAPIF:{live_server}/ogc",
            "parcels",
            "-spat",
            str(x1),
            str(y1),
            str(x2),
            str(y2),
        ],
        debug=True,
    )
    assert any("bbox=" in u for u in fetched(proc))
    assert feature_count(proc.stdout) == len(
        codes(db, f"ST_Intersects(geom, ST_MakeEnvelope({x1},{y1},{x2},{y2},4490))")
    )
