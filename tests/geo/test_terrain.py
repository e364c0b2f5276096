"""Terrain: slope, exact zonal statistics, earthwork, refusal of bad rasters, and the sample
rasters end to end (CLI load, parcel_terrain, OGC items, overlays, earthwork endpoint)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
import shapely
from psycopg.rows import dict_row
from pyproj import Transformer
from rasterio.transform import from_origin

from parkgis.errors import InvalidData, InvalidInput
from parkgis.geo import terrain as T

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from parkgis.cli import main; main()"]
DEM = ROOT / "data" / "rasters" / "weihui_dem.tif"
FLOOD = ROOT / "data" / "rasters" / "weihui_flood.tif"

# The child CLI gets the parent's environment less anything pointing at another database.
_BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PARKGIS_")}

# A point in the Weihui cluster zone, in EPSG:4547 (CM 114E, false easting 500 km).
E0, N0 = 505_000.0, 3_918_000.0


def write_tif(path: Path, arr: np.ndarray, transform, crs: str | None, **kw) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        **kw,
    ) as ds:
        ds.write(arr.astype(np.float32), 1)
    return path


def inclined_plane_4547(deg: float, n: int = 120, cell: float = 10.0):
    """z rising eastward at ``deg`` degrees; returns array and transform."""
    x = E0 + (np.arange(n) + 0.5) * cell
    z = np.tile(math.tan(math.radians(deg)) * (x - E0) + 80.0, (n, 1))
    return z, from_origin(E0, N0 + n * cell, cell, cell)


# -- slope ---------------------------------------------------------------------------------------


def test_slope_of_inclined_plane_in_gk(tmp_path: Path) -> None:
    z, t = inclined_plane_4547(5.0)
    path = write_tif(tmp_path / "plane.tif", z, t, "EPSG:4547")
    grid = T.build_grid(path, 4547)
    assert grid.dx == pytest.approx(10.0)
    assert np.nanmax(np.abs(grid.slope_deg - 5.0)) < 0.05  # edges included: odd-reflection pad
    pct = T.slope(grid.elev, grid.dx, grid.dy, units="pct")
    assert np.nanmax(np.abs(pct - 100 * math.tan(math.radians(5.0)))) < 0.05


def test_slope_of_same_plane_delivered_in_4326(tmp_path: Path) -> None:
    """The 5° plane sampled on a lon/lat grid: warped to EPSG:4547, it is 5° again."""
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    res = 1 / 3600
    lon0, lat0, n = 114.05, 35.42, 150
    lon = lon0 + (np.arange(n) + 0.5) * res
    lat = lat0 - (np.arange(n) + 0.5) * res
    e, _ = to_gk.transform(*np.meshgrid(lon, lat))
    z = math.tan(math.radians(5.0)) * (e - E0) + 80.0
    path = write_tif(tmp_path / "plane4326.tif", z, from_origin(lon0, lat0, res, res), "EPSG:4326")
    grid = T.build_grid(path, 4547)
    assert grid.dx == pytest.approx(25.2, abs=0.2)  # 1 arc-second of longitude at 35.4°N
    inner = grid.slope_deg[3:-3, 3:-3]
    # Only cells whose 3x3 neighbourhood is all data (warping leaves NaN in the corners).
    ok = np.isfinite(inner)
    assert ok.sum() > 0.6 * inner.size
    assert np.max(np.abs(inner[ok] - 5.0)) < 0.05


# -- zonal statistics ----------------------------------------------------------------------------


def test_zonal_stats_exact_coverage_hand_computed() -> None:
    """4 x 4 cells of 10 m, values 1..16 row by row from the top. The polygon covers the two
    left cells of the top row fully and half of the third (x 20..25)."""
    z = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    slope_arr = np.array([[2, 8, 10, 1]] * 4, dtype=np.float32)
    flood = np.array([[0, 0.5, 1.5, 0]] * 4, dtype=np.float32)
    t = from_origin(E0, N0 + 40, 10, 10)
    grid = T.Grid(
        crs=rasterio.crs.CRS.from_epsg(4547), transform=t, elev=z, slope_deg=slope_arr, flood=flood
    )
    poly = shapely.box(E0, N0 + 30, E0 + 25, N0 + 40)
    st = T.zonal_stats(grid, [("P", shapely.to_wkb(poly))], steep_deg=6.0)["P"]
    w = np.array([1.0, 1.0, 0.5])
    assert st.elev_mean_m == pytest.approx(np.dot(w, [1, 2, 3]) / w.sum())  # 1.8
    assert st.elev_min_m == 1 and st.elev_max_m == 3
    assert st.slope_mean_deg == pytest.approx(np.dot(w, [2, 8, 10]) / w.sum())
    assert st.slope_max_deg == 10
    assert st.steep_share == pytest.approx((1.0 + 0.5) / 2.5)  # cells at 8° and 10° > 6°
    assert st.flood_share == pytest.approx(1.5 / 2.5)
    assert st.flood_max_depth_m == pytest.approx(1.5)
    assert st.covered_share == pytest.approx(1.0)
    # flat platform at the weighted mean: cut = fill = sum |z - h| w A / 2 ... computed by hand
    h = 1.8
    cut = (3 - h) * 0.5 * 100 + (2 - h) * 100
    assert st.earthwork_level_m == pytest.approx(h)
    assert st.earthwork_cut_m3 == pytest.approx(cut)
    assert st.earthwork_fill_m3 == pytest.approx((h - 1) * 100)


def test_zonal_stats_outside_raster_is_empty() -> None:
    z = np.ones((4, 4), dtype=np.float32)
    grid = T.Grid(
        crs=rasterio.crs.CRS.from_epsg(4547),
        transform=from_origin(E0, N0 + 40, 10, 10),
        elev=z,
        slope_deg=np.zeros_like(z),
    )
    far = shapely.box(E0 + 1000, N0, E0 + 1050, N0 + 50)
    st = T.zonal_stats(grid, [("F", shapely.to_wkb(far))])["F"]
    assert st.elev_mean_m is None and st.covered_share == 0


# -- earthwork -----------------------------------------------------------------------------------


def _tilted_grid(a: float, nx: int = 40, ny: int = 20, cell: float = 10.0) -> T.Grid:
    x = (np.arange(nx) + 0.5) * cell
    z = np.tile(a * x + 75.0, (ny, 1)).astype(np.float64)
    t = from_origin(E0, N0 + ny * cell, cell, cell)
    return T.Grid(
        crs=rasterio.crs.CRS.from_epsg(4547),
        transform=t,
        elev=z.astype(np.float32),
        slope_deg=T.slope(z, cell, cell),
    )


def test_earthwork_tilted_plane_flat_equals_analytic() -> None:
    """z = a·x over an L × W rectangle, levelled flat at its mean: cut = fill = a·W·L²/8."""
    a, L, W = 0.05, 200.0, 100.0
    grid = _tilted_grid(a)
    rect = shapely.box(E0 + 100, N0 + 50, E0 + 100 + L, N0 + 50 + W)
    ew = T.earthwork_for_polygon(grid, shapely.to_wkb(rect), "flat", yuan_per_m3=20.0)
    expected = a * W * L**2 / 8  # 25 000 m³
    assert ew.cut_m3 == pytest.approx(expected, rel=1e-5)
    assert ew.fill_m3 == pytest.approx(expected, rel=1e-5)
    assert ew.level_m == pytest.approx(75.0 + a * (100 + L / 2), abs=1e-3)
    assert ew.area_m2 == pytest.approx(L * W)
    assert ew.cost_yuan == pytest.approx(2 * expected * 20.0, rel=1e-5)


def test_earthwork_best_fit_plane_of_a_plane_is_zero() -> None:
    grid = _tilted_grid(0.05)
    rect = shapely.box(E0 + 95, N0 + 43, E0 + 305, N0 + 157)  # partial cells at every edge
    ew = T.earthwork_for_polygon(grid, shapely.to_wkb(rect), "plane")
    assert ew.cut_m3 < 1e-3 * ew.area_m2 * 1e-3 and ew.fill_m3 < 1e-3
    assert ew.plane_slope_deg == pytest.approx(math.degrees(math.atan(0.05)), abs=1e-4)
    assert ew.plane_aspect_deg == pytest.approx(270.0, abs=1e-3)  # rising east: faces west


def test_earthwork_to_given_level() -> None:
    grid = _tilted_grid(0.05)
    rect = shapely.box(E0 + 100, N0 + 50, E0 + 300, N0 + 150)
    ew = T.earthwork_for_polygon(grid, shapely.to_wkb(rect), 70.0)
    # whole site above 70 m: all cut, volume = area × (mean − 70)
    assert ew.fill_m3 == 0
    assert ew.cut_m3 == pytest.approx(200 * 100 * (75 + 0.05 * 200 - 70), rel=1e-5)
    assert ew.net_m3 == ew.cut_m3


@pytest.mark.parametrize("bad", ["steep", "", "nan", "1e9"])
def test_parse_level_refuses_garbage(bad: str) -> None:
    if bad == "":
        assert T.parse_level(bad) == "flat"
        return
    with pytest.raises(InvalidInput):
        T.parse_level(bad)


# -- refusing bad rasters ------------------------------------------------------------------------


def test_truncated_tif_refused(tmp_path: Path) -> None:
    z, t = inclined_plane_4547(2.0, n=600)
    good = write_tif(tmp_path / "good.tif", z, t, "EPSG:4547", tiled=True, compress="deflate")
    data = good.read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidData) as e:
        T.inspect_raster(bad, "DEM")
    assert "truncated.tif" in e.value.message and "\n" not in e.value.message
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"II*\x00" + b"\x17" * 1000)
    with pytest.raises(InvalidData):
        T.inspect_raster(garbage, "DEM")


def test_crs_less_tif_refused(tmp_path: Path) -> None:
    z, t = inclined_plane_4547(2.0)
    path = write_tif(tmp_path / "nocrs.tif", z, t, None)
    with pytest.raises(InvalidData) as e:
        T.inspect_raster(path)
    assert "CRS" in e.value.message


def test_cli_refuses_crs_less_raster_and_stores_nothing(tmp_path: Path, empty_db: str) -> None:
    z, t = inclined_plane_4547(2.0)
    path = write_tif(tmp_path / "nocrs.tif", z, t, None)
    env = {
        "PARKGIS_DATABASE_URL": empty_db,
        "PARKGIS_DATA_DIR": str(tmp_path / "data"),
        **_BASE_ENV,
    }
    r = subprocess.run(
        CLI + ["terrain", "load", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "no CRS" in lines[0], r.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM rasters").fetchone()[0] == 0
    assert not (tmp_path / "data" / "rasters").exists()


# -- COG -----------------------------------------------------------------------------------------


def test_write_cog_is_tiled_with_overviews(tmp_path: Path) -> None:
    z, t = inclined_plane_4547(1.0, n=1500)
    src = write_tif(tmp_path / "strip.tif", z, t, "EPSG:4547")
    dst = T.write_cog(src, tmp_path / "out" / "cog.tif")
    with rasterio.open(dst) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.profile["tiled"] and ds.overviews(1)
        np.testing.assert_array_equal(ds.read(1), z.astype(np.float32))


# -- database: synthetic parcels -----------------------------------------------------------------

ZONE_SQL = """
INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom)
VALUES ('TZ', '测试园区', 'Test zone', 'cluster_zone', 'approved', 4547,
        ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))
"""
PARCEL_SQL = """
INSERT INTO parcels (code, zone_code, status, landuse_code, geom)
VALUES (%s, 'TZ', %s, '100101', ST_Multi(ST_Transform(ST_GeomFromText(%s, 4547), 4490)))
"""


def test_load_refresh_and_read_back(tmp_path: Path, empty_db: str) -> None:
    """A 5° plane with a flood band: load, figures per parcel, refresh a new one, read back."""
    z, t = inclined_plane_4547(5.0, n=100)
    dem = write_tif(tmp_path / "plane.tif", z, t, "EPSG:4547")
    flood = np.zeros_like(z)
    flood[:, :20] = 1.0  # the west 200 m flooded, 1 m deep
    fl = write_tif(tmp_path / "flood.tif", flood, t, "EPSG:4547")
    with psycopg.connect(empty_db) as conn:
        conn.execute(ZONE_SQL, (E0, N0, E0 + 1000, N0 + 1000))
        # A: x 100..300 (half flooded); B: x 500..700, not flooded; H: historic, skipped
        for code, x0, status in (
            ("A", 100, "available"),
            ("B", 500, "available"),
            ("H", 800, "historic"),
        ):
            poly = shapely.box(E0 + x0, N0 + 100, E0 + x0 + 200, N0 + 300)
            conn.execute(PARCEL_SQL, (code, status, poly.wkt))
    with psycopg.connect(empty_db, row_factory=dict_row) as conn:
        report = T.load_terrain(conn, dem, fl, steep_deg=4.0, out_dir=tmp_path / "store")
        assert report.parcels == 2 and report.with_data == 2 and report.srids == [4547]
        got = T.terrain_for(conn, ["A", "B", "H"])
    assert set(got) == {"A", "B"}
    a, b = got["A"], got["B"]
    tan5 = math.tan(math.radians(5.0))
    # mean of a plane over a rectangle = its value at the centre (x = 200 m and 600 m)
    assert a.elev_mean_m == pytest.approx(80 + tan5 * 200, abs=1e-3)
    assert b.elev_mean_m == pytest.approx(80 + tan5 * 600, abs=1e-3)
    assert a.slope_mean_deg == pytest.approx(5.0, abs=0.05)
    assert a.steep_share == pytest.approx(1.0) and a.flood_share == pytest.approx(0.5)
    assert a.flood_max_depth_m == pytest.approx(1.0) and b.flood_share == 0
    assert a.earthwork_cut_m3 == pytest.approx(tan5 * 200 * 200**2 / 8, rel=1e-4)
    assert a.slope_max_pct == pytest.approx(100 * tan5, abs=0.1)

    with psycopg.connect(empty_db, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT kind, epsg, checksum, path, options FROM rasters WHERE active ORDER BY kind"
        ).fetchall()
        assert [r["kind"] for r in rows] == ["dem", "flood"]
        assert rows[0]["options"] == {"steep_deg": 4.0}
        for r in rows:
            assert Path(r["path"]).is_file() and T.sha256_file(Path(r["path"])) == r["checksum"]
        # a parcel created later (as a split would) gets figures from refresh_parcels
        conn.execute(
            PARCEL_SQL, ("C", "available", shapely.box(E0 + 100, N0 + 500, E0 + 300, N0 + 700).wkt)
        )
        assert T.refresh_parcels(conn, ["C", "nope"]) == 1
        c = T.terrain_for(conn, ["C"])["C"]
        assert c.elev_mean_m == pytest.approx(a.elev_mean_m, abs=1e-3)
        ew = T.parcel_earthwork(conn, "A", "plane", 30.0)
        assert ew.cut_m3 < 1.0 and ew.yuan_per_m3 == 30.0
        with pytest.raises(Exception) as e:
            T.parcel_earthwork(conn, "ZZZ")
        assert "ZZZ" in str(e.value)


def test_refresh_without_dem_is_noop(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        conn.execute(ZONE_SQL, (E0, N0, E0 + 1000, N0 + 1000))
        conn.execute(PARCEL_SQL, ("A", "available", shapely.box(E0, N0, E0 + 50, N0 + 50).wkt))
        assert T.refresh_parcels(conn, ["A"]) == 0


# -- the sample data end to end ------------------------------------------------------------------


@pytest.fixture
def sample_loaded(sample_db_rw: str) -> str:
    """The sample database with the sample rasters loaded through the CLI."""
    env = {"PARKGIS_DATABASE_URL": sample_db_rw, **_BASE_ENV}
    r = subprocess.run(
        CLI + ["terrain", "load", str(DEM), "--flood", str(FLOOD)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "parcels with terrain figures" in r.stdout
    return sample_db_rw


def test_sample_every_live_parcel_agrees_with_masked_mean(sample_loaded: str) -> None:
    from rasterio.mask import mask

    with psycopg.connect(sample_loaded, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT p.code, ST_AsBinary(p.geom) AS wkb, t.elev_mean_m, t.slope_mean_deg, "
            "t.flood_share, t.flood_max_depth_m, t.earthwork_cut_m3, t.covered_share "
            "FROM parcels p LEFT JOIN parcel_terrain t ON t.parcel_code = p.code "
            "WHERE p.status <> 'historic'"
        ).fetchall()
    assert len(rows) > 50
    worst = 0.0
    with rasterio.open(DEM) as ds:
        for r in rows:
            for k in (
                "elev_mean_m",
                "slope_mean_deg",
                "flood_share",
                "flood_max_depth_m",
                "earthwork_cut_m3",
            ):
                assert r[k] is not None, (r["code"], k)
            assert r["covered_share"] == pytest.approx(1.0, abs=0.02)
            # Independent: the original lon/lat DEM masked by the parcel (cell centres inside);
            # EPSG:4490 and the DEM's EPSG:4326 agree to centimetres.
            geom = shapely.from_wkb(r["wkb"])
            arr, _ = mask(ds, [geom], crop=True, all_touched=False, filled=False)
            if arr.count() == 0:  # smaller than a cell: compare with the cell under it
                arr, _ = mask(ds, [geom], crop=True, all_touched=True, filled=False)
            worst = max(worst, abs(float(arr.mean()) - r["elev_mean_m"]))
    assert worst < 1.0
    assert any(r["flood_share"] > 0 for r in rows)
    assert any(r["flood_share"] == 0 for r in rows)


def test_sample_items_overlays_and_earthwork_endpoint(sample_loaded: str) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    with psycopg.connect(sample_loaded) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()[0]
    with TestClient(create_app(database_url=sample_loaded)) as c:
        items = c.get("/ogc/collections/parcels/items", params={"limit": 5})
        assert items.status_code == 200, items.text
        props = items.json()["features"][0]["properties"]
        assert isinstance(props.get("elev_mean_m"), float)
        assert "slope_mean_deg" in props and "flood_share" in props

        info = c.get("/api/terrain").json()
        assert {o["id"] for o in info["overlays"]} == {"hillshade", "flood"}
        for kind in ("hillshade", "flood"):
            meta = c.get(f"/api/terrain/{kind}.json")
            assert meta.status_code == 200
            (s, w), (n, e) = meta.json()["bounds"]
            assert 113.7 < w < e < 114.5 and 35.1 < s < n < 35.8
            png = c.get(f"/api/terrain/{kind}.png")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
            again = c.get(
                f"/api/terrain/{kind}.png", headers={"If-None-Match": png.headers["etag"]}
            )
            assert again.status_code == 304
        assert c.get("/api/terrain/nope.png").status_code == 404

        flat = c.get(f"/api/parcels/{code}/terrain").json()
        assert flat["terrain"]["elev_mean_m"] > 50
        ew = flat["earthwork"]
        assert ew["level"] == "flat" and ew["cut_m3"] == pytest.approx(ew["fill_m3"], rel=1e-6)
        assert ew["cut_m3"] == pytest.approx(flat["terrain"]["earthwork_cut_m3"], rel=1e-6)
        plane = c.get(
            f"/api/parcels/{code}/terrain", params={"level": "plane", "yuan_per_m3": 40}
        ).json()
        assert plane["earthwork"]["cut_m3"] <= ew["cut_m3"] + 1e-6
        assert plane["earthwork"]["yuan_per_m3"] == 40
        low = c.get(f"/api/parcels/{code}/terrain", params={"level": "10"}).json()
        assert low["earthwork"]["fill_m3"] == 0 and low["earthwork"]["cut_m3"] > 0
        bad = c.get(f"/api/parcels/{code}/terrain", params={"level": "steep"})
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
        neg = c.get(f"/api/parcels/{code}/terrain", params={"yuan_per_m3": -1})
        assert neg.status_code == 400
        assert c.get("/api/parcels/NOPE-1/terrain").status_code == 404


def test_cli_earthwork_json(sample_loaded: str) -> None:
    import json

    with psycopg.connect(sample_loaded) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status <> 'historic' ORDER BY code LIMIT 1"
        ).fetchone()[0]
    env = {"PARKGIS_DATABASE_URL": sample_loaded, **_BASE_ENV}
    r = subprocess.run(
        CLI + ["terrain", "earthwork", code, "--level", "plane", "--yuan-per-m3", "30", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["parcel"] == code and out["level"] == "plane"
    assert out["cost_yuan"] == pytest.approx((out["cut_m3"] + out["fill_m3"]) * 30)
