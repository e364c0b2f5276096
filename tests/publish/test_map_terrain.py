"""The investor map offers hillshade and flood overlays once terrain is loaded (issue 8)."""

from __future__ import annotations

import time
from pathlib import Path

import browser as browser_support
import psycopg
import pytest
import rasterio
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from rasterio.warp import transform_bounds

from api.main import create_app
from parkgis.geo import terrain
from parkgis.publish.maps import investor

ROOT = Path(__file__).resolve().parents[2]
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
        # The bounds reach the page through the layer endpoint, not through its scripts.
        served = client.get("/api/map/layers/terrain").json()["overlays"]
        assert [(o["id"], o["url"]) for o in served] == [(o["id"], o["url"]) for o in overlays]
        for got, want in zip(served, overlays, strict=True):
            assert got["bounds"] == [list(c) for c in want["bounds"]]


@pytest.mark.browser
@pytest.mark.skipif(not browser_support.AVAILABLE, reason="needs chromium and chromedriver")
def test_overlay_bounds_are_set_by_the_page(
    sample_db_rw: str, live_server_rw: str, tmp_path: Path
) -> None:
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        terrain.load_terrain(conn, DEM, FLOOD, out_dir=tmp_path)
        conn.commit()
    with rasterio.open(DEM) as src:  # the raster's own footprint, in lon/lat
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    with browser_support.driver() as d:
        d.get(live_server_rw + "/")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not d.execute_script(
            "return document.body && document.body.getAttribute('data-pg-ready')"
        ):
            time.sleep(0.1)
        b = d.execute_script(
            "var b = PG.state.overlays.hillshade.getBounds();"
            "return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()];"
        )
    # The page was built with the parks' extent as a placeholder; the raster is larger.
    assert b == pytest.approx([south, west, north, east], abs=2e-3)
