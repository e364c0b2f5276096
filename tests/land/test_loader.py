"""The loader against real files and a real PostGIS: every format, every refusal.

Files are generated per test in ``tmp_path`` by ``tests/data_factory.py``; nothing is mocked.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import data_factory as df
import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from parkgis.errors import InvalidData, InvalidInput, NotFound, ParkGISError
from parkgis.geo.formats import read_vector
from parkgis.land.loader import load_file, load_sample_package

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"


@pytest.fixture
def zoned_db(empty_db: str) -> str:
    """A migrated database holding the test zone (parcels reference it)."""
    df.insert_zone(empty_db)
    return empty_db


def _rows(url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


# --- formats ---------------------------------------------------------------------------------


def _gpkg(p: Path) -> Path:
    return df.write_gpkg(p / "parcels.gpkg", {"parcels": df.parcels_gdf()})


def _geojson(p: Path) -> Path:
    return df.write_geojson(p / "parcels.geojson", df.parcels_gdf())


def _shp(p: Path) -> Path:
    return df.write_shapefile(p / "parcels.shp", df.parcels_gdf())


def _zip(p: Path) -> Path:
    (p / "src").mkdir()
    shp = df.write_shapefile(p / "src" / "parcels.shp", df.parcels_gdf())
    return df.zip_shapefile(shp, p / "parcels.zip", folder="export/")


def _kml(p: Path) -> Path:
    return df.write_kml(p / "parcels.kml", df.parcels_gdf())


@pytest.mark.parametrize(
    "make", [_gpkg, _geojson, _shp, _zip, _kml], ids=["gpkg", "geojson", "shp", "zip", "kml"]
)
def test_every_format_loads(zoned_db: str, tmp_path: Path, make) -> None:
    path = make(tmp_path)
    report = load_file(zoned_db, path, layer="parcels")
    assert (report.read, report.inserted, report.updated) == (4, 4, 0)
    rows = _rows(
        zoned_db,
        "SELECT code, status, svc_road, svc_power, svc_water, "
        "land_price_wan_per_mu, round(area_m2::numeric, 1) FROM parcels ORDER BY code",
    )
    assert [r[0] for r in rows] == ["WH-T-001", "WH-T-002", "WH-T-003", "WH-T-004"]
    # '是' / 1 / 'false' read as booleans, whatever the format made of them.
    assert all(r[1:5] == ("available", True, True, False) for r in rows)
    assert all(float(r[5]) == 18.5 for r in rows)
    # Through lon/lat (GeoJSON, KML) and back: a 100 m square is still 1 hectare.
    assert all(abs(float(r[6]) - 10000) < 0.5 for r in rows)
    assert "parcels" in report.summary() and "4 inserted" in report.summary()


def test_dxf_polygons_load_with_crs_and_defaults(zoned_db: str, tmp_path: Path) -> None:
    """DXF carries geometry and CAD layer names only, and no CRS: the code comes from the layer
    name, the CRS from ``crs=``, the rest from ``defaults`` (one value for the whole drawing)."""
    path = df.write_dxf(tmp_path / "survey.dxf", df.parcels_gdf(3))
    with pytest.raises(InvalidData, match="no coordinate system"):
        load_file(zoned_db, path, into="parcels")
    with pytest.raises(InvalidData, match="missing required column"):
        load_file(zoned_db, path, into="parcels", crs="EPSG:4547")
    report = load_file(
        zoned_db,
        path,
        into="parcels",
        crs="4547",
        defaults={"zone_code": df.ZONE_CODE, "status": "available", "landuse_code": "1001"},
    )
    assert report.inserted == 3
    assert any("CAD layer" in n for n in report.notes)
    rows = _rows(zoned_db, "SELECT code, round(area_m2) FROM parcels ORDER BY code")
    assert rows == [("WH-T-001", 10000), ("WH-T-002", 10000), ("WH-T-003", 10000)]


def test_gpkg_attribute_table_with_lists_json_dates_and_yes_no(
    empty_db: str, tmp_path: Path
) -> None:
    path = df.write_gpkg(tmp_path / "p.gpkg", {"projects": df.projects_df()})
    report = load_file(empty_db, path, layer="projects")
    assert report.inserted == 2
    rows = _rows(
        empty_db,
        "SELECT code, landuse_codes, preferred_neighbours, weights, "
        "start_date::text, rail_required, fostered, min_area_mu, township_tax_share "
        "FROM projects ORDER BY code",
    )
    assert rows[0][:7] == (
        "PRJ-001",
        ["1001", "1101"],
        ["brewery"],
        {"area": 2, "rail": 1},
        "2025-03-01",
        False,
        False,
    )
    assert rows[1][1:7] == (["100102"], [], {}, "2025-09-15", True, True)
    assert float(rows[1][8]) == 0.4


def test_zones_and_gk_srid_derived(empty_db: str, tmp_path: Path) -> None:
    z = df.zone_gdf().drop(columns=["gk_srid"])
    path = df.write_geojson(tmp_path / "zones.geojson", z)
    load_file(empty_db, path, into="zones")
    (row,) = _rows(empty_db, "SELECT gk_srid, leading_industries, round(area_m2) FROM zones")
    assert row == (4547, ["food_beverage_packaging", "green_building_materials"], 4_000_000)


# --- CRS -------------------------------------------------------------------------------------


def test_shapefile_without_prj_refused_then_accepted_with_crs(
    zoned_db: str, tmp_path: Path
) -> None:
    path = df.write_shapefile(tmp_path / "noprj.shp", df.parcels_gdf(), prj=False)
    with pytest.raises(InvalidData, match=r"no coordinate system.*--crs"):
        load_file(zoned_db, path, layer="parcels")
    assert df.count(zoned_db, "parcels") == 0
    assert load_file(zoned_db, path, layer="parcels", crs=4547).inserted == 4


def test_swapped_lon_lat_refused(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf().to_crs(4326)
    g = g.set_geometry(g.geometry.map(lambda p: Polygon([(y, x) for x, y in p.exterior.coords])))
    path = tmp_path / "swapped.geojson"
    g.to_file(path, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(InvalidData, match="swapped"):
        load_file(zoned_db, path, layer="parcels")
    assert df.count(zoned_db, "parcels") == 0


def test_projected_coordinates_labelled_degrees_refused(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf().set_crs(4326, allow_override=True)  # metres claiming to be degrees
    path = df.write_gpkg(tmp_path / "mislabelled.gpkg", {"parcels": g})
    with pytest.raises(InvalidData, match="look projected.*EPSG:4547"):
        load_file(zoned_db, path, layer="parcels")
    # The user's way out: name the real CRS.
    assert load_file(zoned_db, path, layer="parcels", crs="EPSG:4547").inserted == 4


def test_from_gcj02_removes_the_offset(empty_db: str, tmp_path: Path) -> None:
    from parkgis.geo.gcj02 import wgs84_to_gcj02

    lon, lat = 114.07, 35.39
    glon, glat = wgs84_to_gcj02(lon, lat)
    g = gpd.GeoDataFrame(
        {
            "code": ["E1"],
            "name_zh": ["企业"],
            "name_en": ["Firm"],
            "industry": ["food"],
            "chain_role": ["brewery"],
        },
        geometry=[Point(float(glon), float(glat))],
        crs=4326,
    )
    path = df.write_geojson(tmp_path / "amap.geojson", g)
    load_file(empty_db, path, into="enterprises", from_gcj02=True)
    ((x, y, d),) = _rows(
        empty_db,
        "SELECT ST_X(geom), ST_Y(geom), ST_Distance(geom_gk, "
        "ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4490), 4547)) "
        "FROM enterprises",
        lon,
        lat,
    )
    assert d < 0.5  # metres: the inverse is exact to well under the 0.5 m promised


# --- validation ------------------------------------------------------------------------------


def test_bowtie_refused_naming_its_code_then_repaired_with_fix(
    zoned_db: str, tmp_path: Path
) -> None:
    load_file(zoned_db, _gpkg(tmp_path), layer="parcels")
    before = df.count(zoned_db, "parcels")
    bad = df.parcels_gdf(geoms=[df.square(0, 2), df.bowtie(1, 2)], prefix="WH-B")
    path = df.write_gpkg(tmp_path / "bowtie.gpkg", {"parcels": bad})
    with pytest.raises(InvalidData) as exc:
        load_file(zoned_db, path, layer="parcels")
    assert "WH-B-002" in str(exc.value) and "Self-intersection" in str(exc.value)
    assert "WH-B-001" not in str(exc.value)
    assert df.count(zoned_db, "parcels") == before

    report = load_file(zoned_db, path, layer="parcels", fix=True)
    assert report.inserted == 2
    (fix,) = report.fixes
    assert fix.startswith("WH-B-002") and "2 parts" in fix and "area 5000.0 m²" in fix
    ((parts, area),) = _rows(
        zoned_db,
        "SELECT ST_NumGeometries(geom), round(area_m2) FROM parcels WHERE code = 'WH-B-002'",
    )
    assert (parts, area) == (2, 5000)


def test_all_problems_reported_together_and_nothing_stored(zoned_db: str, tmp_path: Path) -> None:
    geoms = [
        df.square(0, 0),
        Polygon(),
        LineString([(df.X0, df.Y0), (df.X0 + 50, df.Y0)]),
        df.square(3, 0),
        df.square(4, 0),
        df.square(5, 0),
    ]
    g = df.parcels_gdf(geoms=geoms)
    g.loc[3, "status"] = "vacant"  # not in the vocabulary
    g.loc[4, "code"] = None  # missing code
    g.loc[5, "code"] = "WH-T-001"  # duplicate of the first
    path = df.write_gpkg(tmp_path / "bad.gpkg", {"parcels": g})
    with pytest.raises(InvalidData) as exc:
        load_file(zoned_db, path, layer="parcels")
    msg = str(exc.value)
    assert "\n" not in msg and "5 problems" in msg
    for part in (
        "feature 2 (WH-T-002): empty geometry",
        "feature 3 (WH-T-003): LineString where parcels needs a Polygon",
        "status 'vacant' is not one of",
        "feature 5: missing code",
        "feature 6 (WH-T-001): duplicate code (also feature 1)",
    ):
        assert part in msg
    assert exc.value.extra["problems"][0].startswith("feature 2")
    assert df.count(zoned_db, "parcels") == 0


def test_missing_required_column_refused(zoned_db: str, tmp_path: Path) -> None:
    path = df.write_gpkg(
        tmp_path / "nozone.gpkg", {"parcels": df.parcels_gdf().drop(columns=["zone_code"])}
    )
    with pytest.raises(InvalidData, match="missing required column.*zone_code"):
        load_file(zoned_db, path, layer="parcels")


def test_duplicate_codes_refused(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf(3)
    g.loc[2, "code"] = "WH-T-001"
    path = df.write_geojson(tmp_path / "dup.geojson", g)
    with pytest.raises(InvalidData, match=r"WH-T-001\): duplicate code"):
        load_file(zoned_db, path, layer="parcels")
    assert df.count(zoned_db, "parcels") == 0


def test_unknown_columns_ignored_and_reported(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf(2, owner=["a", "b"])
    report = load_file(
        zoned_db, df.write_gpkg(tmp_path / "x.gpkg", {"parcels": g}), layer="parcels"
    )
    assert report.ignored_columns == ["owner"] and "owner" in report.summary()


# --- the database refuses ----------------------------------------------------------------------


def test_overlapping_parcel_refused_naming_both_codes(zoned_db: str, tmp_path: Path) -> None:
    load_file(zoned_db, _gpkg(tmp_path), layer="parcels")
    before = _rows(zoned_db, "SELECT code, version FROM parcels ORDER BY code")
    events = df.count(zoned_db, "parcel_events")
    # A new parcel half over WH-T-002, and an update of WH-T-001 that is fine on its own.
    g = df.parcels_gdf(geoms=[df.square(0, 0), box(df.X0 + 150, df.Y0, df.X0 + 250, df.Y0 + 80)])
    g.loc[0, "land_price_wan_per_mu"] = 30.0
    g.loc[1, "code"] = "WH-X-009"
    path = df.write_gpkg(tmp_path / "overlap.gpkg", {"parcels": g})
    with pytest.raises(InvalidData) as exc:
        load_file(zoned_db, path, layer="parcels")
    msg = str(exc.value)
    assert "WH-X-009" in msg and "WH-T-002" in msg and "overlaps" in msg and "\n" not in msg
    assert exc.value.extra["sqlstate"] == "23P01"
    # Exactly as before: the update of WH-T-001 in the same file was rolled back too.
    assert _rows(zoned_db, "SELECT code, version FROM parcels ORDER BY code") == before
    assert df.count(zoned_db, "parcel_events") == events


def test_unknown_zone_refused_by_database(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf(2)
    g.loc[1, "zone_code"] = "NOPE"
    with pytest.raises(InvalidData, match=r"feature 2 \(WH-T-002\).*unknown zone NOPE"):
        load_file(zoned_db, df.write_gpkg(tmp_path / "z.gpkg", {"parcels": g}), layer="parcels")
    assert df.count(zoned_db, "parcels") == 0


def test_upsert_by_code_updates_rather_than_duplicates(zoned_db: str, tmp_path: Path) -> None:
    g = df.parcels_gdf()
    load_file(zoned_db, df.write_gpkg(tmp_path / "a.gpkg", {"parcels": g}), layer="parcels")
    g.loc[1, "landuse_alias"] = "M2"
    g.loc[2, "land_price_wan_per_mu"] = 21.0
    r = load_file(zoned_db, df.write_gpkg(tmp_path / "b.gpkg", {"parcels": g}), layer="parcels")
    assert (r.inserted, r.updated, r.unchanged) == (0, 2, 2)
    assert df.count(zoned_db, "parcels") == 4
    rows = _rows(zoned_db, "SELECT code, landuse_alias, version FROM parcels ORDER BY code")
    assert rows[1] == ("WH-T-002", "M2", 2) and rows[0][2] == 1
    # Only the insert is a status event; an attribute update is versioned, not an event.
    assert _rows(
        zoned_db,
        "SELECT action, from_status, to_status FROM parcel_events "
        "WHERE parcel_code = 'WH-T-002' ORDER BY id",
    ) == [("load", None, "available")]


# --- unreadable files ------------------------------------------------------------------------


def test_truncated_files_refused(zoned_db: str, tmp_path: Path) -> None:
    gpkg = _gpkg(tmp_path)
    gj = df.write_geojson(tmp_path / "p.geojson", df.parcels_gdf(50))
    for src in (gpkg, gj):
        cut = df.truncate(src, tmp_path / f"cut{src.suffix}")
        with pytest.raises(InvalidData, match=rf"cannot read cut{src.suffix}"):
            load_file(zoned_db, cut, layer="parcels")
    assert df.count(zoned_db, "parcels") == 0


def test_broken_zip_refused(zoned_db: str, tmp_path: Path) -> None:
    z = _zip(tmp_path)
    df.truncate(z, tmp_path / "broken.zip", 0.6)
    with pytest.raises(InvalidData, match="cannot read broken.zip"):
        load_file(zoned_db, tmp_path / "broken.zip", layer="parcels")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "no shapes here")
    with pytest.raises(InvalidData, match="'readme.txt' is not part of a shapefile"):
        load_file(zoned_db, empty, layer="parcels")


def test_missing_file_and_layer(zoned_db: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_file(zoned_db, tmp_path / "nope.gpkg", layer="parcels")
    path = df.write_gpkg(
        tmp_path / "two.gpkg", {"parcels": df.parcels_gdf(), "zones": df.zone_gdf()}
    )
    with pytest.raises(NotFound, match="no layer 'plots'"):
        load_file(zoned_db, path, layer="plots")
    with pytest.raises(InvalidInput, match="no table 'roads'"):
        load_file(zoned_db, _shp(tmp_path), layer="roads")


# --- encodings -------------------------------------------------------------------------------


def test_gbk_dbf_without_cpg_read_correctly(empty_db: str, tmp_path: Path) -> None:
    z = df.zone_gdf(name_zh="卫辉市后河镇专业园区")
    path = df.write_shapefile(tmp_path / "zones.shp", z, encoding="GBK", cpg=False)
    assert not path.with_suffix(".cpg").exists()
    read = read_vector(path)
    assert read.frame["name_zh"].tolist() == ["卫辉市后河镇专业园区"]
    assert read.encoding == "GBK"
    report = load_file(empty_db, path, layer="zones")
    assert any("GBK" in n for n in report.notes)
    assert _rows(empty_db, "SELECT name_zh FROM zones") == [("卫辉市后河镇专业园区",)]
    # Explicit --encoding wins over detection.
    assert read_vector(path, encoding="GBK").frame["name_zh"].iloc[0] == "卫辉市后河镇专业园区"


def test_utf8_dbf_without_cpg_read_correctly(tmp_path: Path) -> None:
    path = df.write_shapefile(tmp_path / "z.shp", df.zone_gdf(), encoding="UTF-8", cpg=False)
    assert read_vector(path).frame["name_zh"].iloc[0] == "卫辉市产业集聚区"


# --- whole package and CLI -------------------------------------------------------------------


def test_package_is_one_transaction(empty_db: str, tmp_path: Path) -> None:
    """A bad parcel refuses the whole package: the zones loaded before it vanish too."""
    parcels = df.parcels_gdf(
        geoms=[df.square(0, 0), box(df.X0 + 50, df.Y0, df.X0 + 150, df.Y0 + 100)]
    )
    path = df.write_gpkg(
        tmp_path / "pkg.gpkg",
        {"zones": df.zone_gdf(), "parcels": parcels, "projects": df.projects_df()},
    )
    with pytest.raises(InvalidData, match="WH-T-002 overlaps live parcel WH-T-001"):
        load_sample_package(empty_db, path)
    assert df.count(empty_db, "zones") == 0 and df.count(empty_db, "projects") == 0

    parcels = df.parcels_gdf()
    path = df.write_gpkg(
        tmp_path / "ok.gpkg",
        {"zones": df.zone_gdf(), "parcels": parcels, "projects": df.projects_df()},
    )
    reports = load_sample_package(empty_db, path)
    assert [r.table for r in reports] == ["zones", "parcels", "projects"]
    assert [r.inserted for r in reports] == [1, 4, 2]


def test_cli_bad_file_prints_one_error_line(zoned_db: str, tmp_path: Path) -> None:
    path = df.write_shapefile(tmp_path / "noprj.shp", df.parcels_gdf(), prj=False)
    parkgis = Path(sys.executable).parent / "parkgis"  # the console script of this venv
    r = subprocess.run(
        [str(parkgis), "load", str(path), "--layer", "parcels"],
        capture_output=True,
        text=True,
        env=df.env_for(zoned_db),
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no coordinate system" in lines[0], r.stderr
    assert r.stdout.strip() == ""


def test_cli_loads_dxf_with_crs_and_set(zoned_db: str, tmp_path: Path) -> None:
    path = df.write_dxf(tmp_path / "survey.dxf", df.parcels_gdf(2))
    parkgis = Path(sys.executable).parent / "parkgis"
    r = subprocess.run(
        [
            str(parkgis),
            "load",
            str(path),
            "--into",
            "parcels",
            "--crs",
            "EPSG:4547",
            "--set",
            f"zone_code={df.ZONE_CODE}",
            "--set",
            "status=available",
            "--set",
            "landuse_code=100101",
        ],
        capture_output=True,
        text=True,
        env=df.env_for(zoned_db),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert df.count(zoned_db, "parcels") == 2
    bad = subprocess.run(
        [
            str(parkgis),
            "load",
            str(path),
            "--into",
            "parcels",
            "--crs",
            "4547",
            "--set",
            "zone_code",
        ],
        capture_output=True,
        text=True,
        env=df.env_for(zoned_db),
        timeout=120,
    )
    assert bad.returncode == 1 and "COLUMN=VALUE" in bad.stderr


def test_errors_are_parkgis_errors() -> None:
    assert issubclass(InvalidData, ParkGISError) and issubclass(NotFound, ParkGISError)


@pytest.mark.skipif(not SAMPLE_GPKG.exists(), reason="data/shapes/weihui.gpkg not built yet")
def test_sample_package_loads(empty_db: str) -> None:
    reports = load_sample_package(empty_db, SAMPLE_GPKG)
    tables = [r.table for r in reports]
    assert tables == [
        "boundaries",
        "zones",
        "infrastructure",
        "upgrades",
        "parcels",
        "enterprises",
        "projects",
        "places",
    ]
    assert df.count(empty_db, "parcels") >= 200
    assert all(r.inserted == r.read for r in reports)
    # Loading it again changes nothing.
    again = load_sample_package(empty_db, SAMPLE_GPKG)
    assert all(r.inserted == 0 and r.updated == 0 for r in again)
