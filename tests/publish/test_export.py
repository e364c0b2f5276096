"""`parkgis export FORMAT PATH`: public layers to real files, read back with GDAL."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pyogrio
import pytest

from parkgis.db.collections import CONFIDENTIAL_FIELDS
from parkgis.errors import InvalidInput
from parkgis.publish.export import export_layers

PARKGIS = Path(sys.executable).parent / "parkgis"


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "PARKGIS_DATABASE_URL": url}


def test_gpkg_holds_every_public_layer_without_confidential_fields(
    sample_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "weihui.gpkg"
    with psycopg.connect(sample_db) as conn:
        report = export_layers(conn, "gpkg", out)
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert layers == {
        "zones",
        "parcels",
        "infrastructure",
        "upgrades",
        "enterprises",
        "approvals",
        "places",
    }
    live = _count(sample_db, "SELECT count(*) FROM parcels WHERE status <> 'historic'")
    assert report.counts["parcels"] == live == len(pyogrio.read_dataframe(out, layer="parcels"))
    for name in layers:
        cols = set(pyogrio.read_info(out, layer=name)["fields"])
        assert not cols & CONFIDENTIAL_FIELDS, name
    assert pyogrio.read_info(out, layer="parcels")["crs"] == "EPSG:4490"


def test_single_layer_formats_and_filters(sample_db: str, tmp_path: Path) -> None:
    with psycopg.connect(sample_db) as conn:
        export_layers(conn, "geojson", tmp_path / "a.geojson", zone="WH-CZ", status=["available"])
        export_layers(conn, "kml", tmp_path / "a.kml", layers=["zones"])
        export_layers(conn, "csv", tmp_path / "a.csv")
        export_layers(conn, "shp", tmp_path / "a.zip", layers=["parcels", "zones"], crs="EPSG:4547")
    n = _count(
        sample_db, "SELECT count(*) FROM parcels WHERE zone_code = 'WH-CZ' AND status = 'available'"
    )
    gj = pyogrio.read_dataframe(tmp_path / "a.geojson")
    assert len(gj) == n and set(gj["status"]) == {"available"}
    assert len(pyogrio.read_dataframe(tmp_path / "a.kml")) == 3
    raw = (tmp_path / "a.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"WH-" in raw
    shp = pyogrio.read_dataframe(f"/vsizip/{tmp_path / 'a.zip'}/parcels.shp")
    assert shp.crs.to_epsg() == 4547 and 3.8e6 < shp.total_bounds[1] < 4.0e6
    # dBase names are cut to 10 characters, uniquely, and the zip says which is which
    assert len(set(shp.columns)) == len(shp.columns) and "slope_mean" in shp.columns
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        fields = z.read("parcels_fields.csv").decode()
    assert "slope_mean,slope_mean_deg" in fields


def test_bad_requests_are_refused(sample_db: str, tmp_path: Path) -> None:
    with psycopg.connect(sample_db) as conn:
        with pytest.raises(InvalidInput, match="unknown format"):
            export_layers(conn, "xls", tmp_path / "a.xls")
        with pytest.raises(InvalidInput, match="one layer"):
            export_layers(conn, "geojson", tmp_path / "b.geojson", layers=["zones", "parcels"])
        with pytest.raises(InvalidInput, match="unknown layer"):
            export_layers(conn, "gpkg", tmp_path / "c.gpkg", layers=["users"])
        with pytest.raises(InvalidInput, match="zip"):
            export_layers(conn, "shp", tmp_path / "d.shp")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cli_export(sample_db: str, tmp_path: Path) -> None:
    out = tmp_path / "p.geojson"
    r = subprocess.run(
        [str(PARKGIS), "export", "geojson", str(out), "--layer", "parcels"],
        capture_output=True,
        text=True,
        env=_env(sample_db),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert len(pyogrio.read_dataframe(out)) == _count(
        sample_db, "SELECT count(*) FROM parcels WHERE status <> 'historic'"
    )
    bad = subprocess.run(
        [str(PARKGIS), "export", "xls", str(tmp_path / "x.xls")],
        capture_output=True,
        text=True,
        env=_env(sample_db),
        timeout=120,
    )
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode == 1 and len(lines) == 1 and "unknown format" in lines[0]


def test_csv_cells_cannot_run_as_formulas(sample_db_rw: str, tmp_path: Path) -> None:
    """OWASP CSV injection: text starting with = + - @ tab or CR gets a leading apostrophe;
    a real number (even negative) stays a number."""
    import csv

    payloads = [
        '=HYPERLINK("http://evil.example","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\tcmd",
        "\rcmd",
        "plain name",
    ]
    with psycopg.connect(sample_db_rw) as conn:
        codes = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM enterprises ORDER BY code LIMIT %s", (len(payloads),)
            )
        ]
        for code, name in zip(codes, payloads, strict=True):
            conn.execute(
                "UPDATE enterprises SET name_en = %s, employees = -5 WHERE code = %s", (name, code)
            )
        export_layers(conn, "csv", tmp_path / "e.csv", layers=["enterprises"])
    with open(tmp_path / "e.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    for code, name in zip(codes, payloads, strict=True):
        cell = rows[code]["name_en"]
        if name[0] in "=+-@\t\r":
            assert cell == "'" + name, (name, cell)
        else:
            assert cell == name
        assert float(rows[code]["employees"]) == -5.0, rows[code]["employees"]


def test_search_csv_cells_cannot_run_as_formulas(sample_db_rw: str) -> None:
    import csv
    import io

    from fastapi.testclient import TestClient

    from api.main import create_app
    from parkgis.siting.search import MAX_LIMIT

    with psycopg.connect(sample_db_rw) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE parcels SET landuse_alias = %s WHERE code = %s", ("=cmd|' /C calc'!A0", code)
        )
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        r = c.get("/api/parcels/available", params={"f": "csv", "limit": MAX_LIMIT})
        assert r.status_code == 200, r.text[:300]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    hit = [row for row in rows if row and row[0] == code]
    assert hit, "parcel missing from the CSV"
    assert "'=cmd|' /C calc'!A0" in hit[0]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)
