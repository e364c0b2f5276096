"""The investor map offers hillshade and flood overlays once terrain is loaded (issue 8)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from api.main import create_app
from parkgis import terrain
from parkgis.maps import investor

ROOT = Path(__file__).resolve().parent.parent
DEM = ROOT / "data" / "rasters" / "weihui_dem.tif"
FLOOD = ROOT / "data" / "rasters" / "weihui_flood.tif"


def test_overlays_appear_only_after_terrain_load(sample_db_rw: str, tmp_path: Path) -> None:
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        assert investor.terrain_overlays(conn) == []
        terrain.load_terrain(conn, DEM, FLOOD, out_dir=tmp_path)
        conn.commit()
        overlays = investor.terrain_overlays(conn)
    assert [o["id"] for o in overlays] == ["hillshade", "flood"]
    for o in overlays:
        (south, west), (north, east) = o["bounds"]
        # the overlays cover the Weihui parks
        assert south < 35.36 < 35.43 < north and west < 113.98 < 114.10 < east

    with TestClient(create_app(database_url=sample_db_rw)) as client:
        page = client.get("/")
        assert page.status_code == 200
        for o in overlays:
            assert f'"{o["url"]}"' in page.text  # linked, not embedded: page weight unchanged
            png = client.get(o["url"])
            assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
