"""The sample GeoPackage: layers, vocabulary, topology, the county's place, determinism."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod

from parkgis.geo.gcj02 import gcj02_to_wgs84

ROOT = Path(__file__).resolve().parents[2]
GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
SCRIPT = ROOT / "scripts" / "build_sample.py"
COUNTY_SRC = ROOT / "data" / "shapes" / "sources" / "weihui_county_gcj02.geojson"
LAYERS = ["county", "zones", "parcels", "infrastructure", "upgrades", "enterprises", "projects"]
STATUSES = {
    "available",
    "reserved",
    "listed",
    "allocated",
    "under_construction",
    "operational",
    "not_for_supply",
    "historic",
}
SEED_ENTERPRISES = {
    "ENT-BUDWEISER",
    "ENT-BAOSTEEL-CAN",
    "ENT-YINJINDA-FILM",
    "ENT-YINJINDA-PRINT",
    "ENT-HEXING",
    "ENT-HANRONG",
    "ENT-XUEFEILI",
    "ENT-ZHONGFU",
    "ENT-BEIXIN",
    "ENT-JIAYU",
    "ENT-TIANRUI",
    "ENT-CHUNJIANG",
    "ENT-WUJING",
}
GEOD = Geod(ellps="GRS80")


def _build_module():
    spec = importlib.util.spec_from_file_location("build_sample", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_sample", mod)  # dataclasses look their module up by name
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(GPKG, layer=name) for name in LAYERS}


def test_ogrinfo_lists_seven_layers() -> None:
    out = subprocess.run(
        ["ogrinfo", "-ro", "-q", str(GPKG)], capture_output=True, text=True, check=True
    ).stdout
    names = {
        line.split(":", 1)[1].split("(")[0].strip() for line in out.splitlines() if ":" in line
    }
    assert set(LAYERS) <= names
    assert {name for name, _ in pyogrio.list_layers(GPKG)} >= set(LAYERS)


def test_crs_and_size(layers) -> None:
    assert GPKG.stat().st_size < 2_000_000
    for name, df in layers.items():
        if name != "projects":
            assert df.crs.to_epsg() == 4490, name
            assert df.geometry.is_valid.all(), name


def test_parcels_counts_and_vocabulary(layers) -> None:
    p = layers["parcels"]
    assert len(p) >= 200
    assert set(p.status) == STATUSES
    assert p.code.is_unique and p.code.str.match(r"^WH-[A-Z]-\d{3}$").all()
    assert p.landuse_code.str.match(r"^[0-9]{2}([0-9]{2}){0,2}$").all()
    mu = p.to_crs(4547).area * 15 / 10000
    assert mu.min() >= 20 and mu.max() <= 400
    assert (p.loc[p.status == "available"].to_crs(4547).area * 15 / 10000 >= 150).sum() >= 3
    op = p[p.status == "operational"]
    assert op.enterprise_code.notna().all()
    assert set(op.enterprise_code) <= SEED_ENTERPRISES
    price = p.land_price_wan_per_mu.dropna()
    assert price.between(10, 30).all()


def test_live_parcels_do_not_overlap(layers) -> None:
    p = layers["parcels"]
    live = p[p.status != "historic"].to_crs(4547).geometry.values
    tree = shapely.STRtree(live)
    left, right = tree.query(live, predicate="intersects")
    mask = left < right
    inter = shapely.intersection(live[left[mask]], live[right[mask]])
    assert shapely.area(inter).max(initial=0.0) <= 0.01


def test_parcels_inside_their_zone(layers) -> None:
    p = layers["parcels"].to_crs(4547)
    z = layers["zones"].to_crs(4547).set_index("code").geometry
    outside = [r.code for r in p.itertuples() if r.geometry.difference(z[r.zone_code]).area > 0.01]
    assert not outside


def test_zones_disjoint_and_in_county(layers) -> None:
    z = layers["zones"].to_crs(4547)
    county = layers["county"].to_crs(4547).geometry.iloc[0]
    assert set(z.code) == {"WH-CZ", "WH-HH", "WH-LP"}
    assert all(county.contains(g) for g in z.geometry)
    g = list(z.geometry)
    assert all(not g[i].intersects(g[j]) for i in range(3) for j in range(i + 1, 3))
    cz_km2 = z.set_index("code").geometry["WH-CZ"].area / 1e6
    assert 10 <= cz_km2 <= 20


def test_county_boundary_in_its_true_place(layers) -> None:
    src = gpd.read_file(COUNTY_SRC)  # raw GCJ-02 coordinates
    raw = src.geometry.iloc[0]
    raw_c = src.set_crs(4326, allow_override=True).to_crs(4547).geometry.iloc[0].centroid
    ref_lon, ref_lat = gcj02_to_wgs84(
        *gpd.GeoSeries([raw_c], crs=4547).to_crs(4490).iloc[0].coords[0]
    )
    county = layers["county"].geometry.iloc[0]
    c = layers["county"].to_crs(4547).geometry.iloc[0].centroid
    c_ll = gpd.GeoSeries([c], crs=4547).to_crs(4490).iloc[0]
    # Centroid of the converted boundary vs the converted raw centroid: the offset is nearly
    # uniform over a county, so the two agree to a few metres (allow a few hundred).
    assert GEOD.inv(c_ll.x, c_ll.y, float(ref_lon), float(ref_lat))[2] < 300
    # The converted boundary is displaced from the raw one by the GCJ offset (hundreds of m),
    # i.e. it did move, and by the right amount in the right direction.
    raw_ll = gpd.GeoSeries([raw.centroid], crs=4490).iloc[0]
    shift = GEOD.inv(raw_ll.x, raw_ll.y, county.centroid.x, county.centroid.y)[2]
    assert 200 < shift < 1000
    # Vertex by vertex: converting back to GCJ-02 lands within 20 m (in practice < 1 mm).
    xy = shapely.get_coordinates(county)
    from parkgis.geo.gcj02 import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    rxy = shapely.get_coordinates(raw)
    assert len(rxy) == len(xy)
    err = GEOD.inv(glon, glat, rxy[:, 0], rxy[:, 1])[2]
    assert np.max(err) < 20


def test_enterprises_and_projects(layers) -> None:
    e = layers["enterprises"]
    assert set(e.code) >= SEED_ENTERPRISES
    p = layers["parcels"].set_index("code")
    for r in e.itertuples():
        parcel = p.loc[r.parcel_code]
        assert parcel.geometry.contains(r.geometry), r.code
        assert parcel.enterprise_code == r.code
    wujing = p.loc[e.set_index("code").parcel_code["ENT-WUJING"]]
    assert wujing.status == "under_construction"
    proj = layers["projects"]
    assert {"PRJ-WLJ", "PRJ-HDW", "PRJ-SLKJ", "PRJ-CONCH", "PRJ-ZHUODA"} <= set(proj.code)
    for col in ("landuse_codes", "preferred_neighbours", "weights"):
        assert all(isinstance(json.loads(v), (list, dict)) for v in proj[col])
    slkj = proj.set_index("code").loc["PRJ-SLKJ"]
    assert bool(slkj.fostered) and slkj.source_township and 0 < slkj.township_tax_share < 1
    z = layers["zones"]
    assert all(isinstance(json.loads(v), list) for v in z.leading_industries)


def test_infrastructure_and_upgrades(layers) -> None:
    inf = layers["infrastructure"]
    kinds = set(inf.kind)
    assert {
        "expressway",
        "national_road",
        "trunk_road",
        "railway",
        "rail_siding",
        "rail_station",
        "water_main",
        "sewer",
        "power_line",
        "substation",
        "gas_main",
        "heat_main",
        "telecom",
        "wastewater_plant",
        "water_plant",
        "river",
    } <= kinds
    ss = inf[inf.kind == "substation"]
    assert len(ss) >= 2 and (ss.capacity > 0).all()
    assert inf[inf.kind == "wastewater_plant"].capacity.notna().all()
    assert len(set(inf.geom_type)) >= 3
    up = layers["upgrades"]
    assert len(up) >= 8
    assert set(up.status) == {"planned", "under_way", "completed"}
    assert set(up.infra_code.dropna()) <= set(inf.code)
    assert (pd.to_datetime(up.finish_date) >= pd.to_datetime(up.start_date)).all()


def test_a_pair_of_available_parcels_takes_the_large_plant(layers) -> None:
    mod = _build_module()
    av = layers["parcels"]
    av = av[av.status == "available"].to_crs(4547).reset_index(drop=True)
    geoms = av.geometry.values
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="touches")
    found = False
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        a, b = geoms[i], geoms[j]
        if a.intersection(b).length < 100:
            continue
        if not mod.fits(a, 300, 180) and not mod.fits(b, 300, 180):
            u = shapely.union(a, b)
            if mod.fits(u, 300, 180):
                found = True
                break
    assert found


def test_build_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"w{k}.gpkg"
        subprocess.run(
            [sys.executable, str(SCRIPT), "--out", str(out)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        outs.append(out)
    for name in LAYERS:
        a = pyogrio.read_dataframe(outs[0], layer=name)
        b = pyogrio.read_dataframe(outs[1], layer=name)
        pd.testing.assert_frame_equal(
            a.drop(columns="geometry", errors="ignore"), b.drop(columns="geometry", errors="ignore")
        )
        if "geometry" in a:
            assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb()), name
    # ... and the committed file matches what the script builds, to a micrometre: another
    # GEOS/PROJ build may change the last bits of a coordinate, not the data.
    for name in ("parcels", "county"):
        a = pyogrio.read_dataframe(outs[0], layer=name)
        c = pyogrio.read_dataframe(GPKG, layer=name)
        assert len(a) == len(c), name
        assert a.geometry.geom_equals_exact(c.geometry, tolerance=1e-11).all(), name
