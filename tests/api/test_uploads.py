"""`POST /api/layers/{table}/upload`: the loader over HTTP. Refusals are problem+json and
store nothing; only planners and admins may load."""

from __future__ import annotations

from pathlib import Path

import data_factory as df
import geopandas as gpd
import pytest
import workbench_helpers as wb
from fastapi.testclient import TestClient

from api.main import create_app


@pytest.fixture
def setup(empty_db: str):
    df.insert_zone(empty_db)
    wb.add_users(empty_db)
    with TestClient(create_app(database_url=empty_db)) as client:
        yield client, empty_db, wb.login(client, "plan")


def _post(
    client: TestClient, table: str, path: Path, headers: dict[str, str] | None = None, **form: str
):
    with path.open("rb") as f:
        return client.post(
            f"/api/layers/{table}/upload",
            headers=headers or {},
            files={"file": (path.name, f.read())},
            data=form,
        )


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def test_only_planners_load(setup, tmp_path: Path) -> None:
    client, db, _ = setup
    path = df.write_geojson(tmp_path / "p.geojson", df.parcels_gdf())
    _problem(_post(client, "parcels", path), 401)
    _problem(_post(client, "parcels", path, wb.login(client, "inv")), 403)
    assert df.count(db, "parcels") == 0


def test_planner_loads_and_is_the_recorded_actor(setup, tmp_path: Path) -> None:
    client, db, planner = setup
    path = df.write_geojson(tmp_path / "p.geojson", df.parcels_gdf())
    r = _post(client, "parcels", path, planner)
    assert r.status_code == 201, r.text
    assert r.json()["inserted"] == 4 and "4 inserted" in r.json()["summary"]
    actors = wb.rows(db, "SELECT DISTINCT actor, action FROM parcel_events")
    assert actors == [{"actor": "plan", "action": "load"}]


@pytest.mark.parametrize(
    "case", ["bowtie", "overlap", "no_prj", "broken_zip", "swapped", "truncated"]
)
def test_bad_files_are_refused_and_store_nothing(setup, tmp_path: Path, case: str) -> None:
    client, db, planner = setup
    assert (
        _post(
            client, "parcels", df.write_geojson(tmp_path / "ok.geojson", df.parcels_gdf(2)), planner
        ).status_code
        == 201
    )
    before = wb.rows(db, "SELECT code, version FROM parcels ORDER BY code")
    events = df.count(db, "parcel_events")
    if case == "bowtie":
        path = df.write_geojson(
            tmp_path / "b.geojson",
            df.parcels_gdf(geoms=[df.square(5, 0), df.bowtie(6, 0)], prefix="WH-B"),
        )
        expect = "WH-B-002"
    elif case == "overlap":
        path = df.write_geojson(
            tmp_path / "o.geojson", df.parcels_gdf(geoms=[df.square(0.5, 0)], prefix="WH-O")
        )
        expect = "overlaps"
    elif case == "no_prj":
        shp = df.write_shapefile(tmp_path / "n.shp", df.parcels_gdf(prefix="WH-N"), prj=False)
        path = df.zip_shapefile(shp, tmp_path / "n.zip")
        expect = "coordinate system"
    elif case == "broken_zip":
        shp = df.write_shapefile(tmp_path / "z.shp", df.parcels_gdf(prefix="WH-Z"))
        path = df.truncate(df.zip_shapefile(shp, tmp_path / "full.zip"), tmp_path / "z.zip")
        expect = "cannot read"
    elif case == "swapped":
        g = df.parcels_gdf(prefix="WH-S").to_crs(4326)
        g = gpd.GeoDataFrame(
            g.drop(columns="geometry"),
            crs=4326,
            geometry=g.geometry.map(lambda p: type(p)([(y, x) for x, y in p.exterior.coords])),
        )
        path = tmp_path / "s.geojson"
        g.to_file(path, driver="GeoJSON", engine="pyogrio")
        expect = "swapped"
    else:
        full = df.write_geojson(tmp_path / "t.geojson", df.parcels_gdf(prefix="WH-T2"))
        path = df.truncate(full, tmp_path / "cut.geojson")
        expect = "cannot read"
    body = _problem(_post(client, "parcels", path, planner), 422)
    assert expect in body["detail"], body
    assert wb.rows(db, "SELECT code, version FROM parcels ORDER BY code") == before
    assert df.count(db, "parcel_events") == events


def test_gbk_shapefile_and_crs_form_field(setup, tmp_path: Path) -> None:
    client, db, planner = setup
    zones = df.zone_gdf("WH-GBK", name_zh="后河专业园区")
    zones["geometry"] = zones.geometry.translate(5000, 0)
    shp = df.write_shapefile(tmp_path / "zones.shp", zones, encoding="GBK", prj=False, cpg=False)
    path = df.zip_shapefile(shp, tmp_path / "zones.zip")
    _problem(_post(client, "zones", path, planner), 422)  # no .prj: refused...
    r = _post(client, "zones", path, planner, crs="EPSG:4547")  # ...until the CRS is given
    assert r.status_code == 201, r.text
    stored = wb.one(db, "SELECT name_zh FROM zones WHERE code = 'WH-GBK'")
    assert stored["name_zh"] == "后河专业园区"


def test_unknown_table_and_empty_file(setup, tmp_path: Path) -> None:
    client, _, planner = setup
    path = df.write_geojson(tmp_path / "p.geojson", df.parcels_gdf())
    _problem(_post(client, "users", path, planner), 400)
    empty = tmp_path / "e.geojson"
    empty.write_bytes(b"")
    _problem(_post(client, "parcels", empty, planner), 400)
