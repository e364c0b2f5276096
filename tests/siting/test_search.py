"""Availability search, each filter checked against an independent computation: the parcels
read as plain geometries, projected to EPSG:4547 by pyproj (geopandas) and measured by shapely.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import geopandas as gpd
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely

from parkgis.db.collections import CONFIDENTIAL_FIELDS, VACANT_STATUSES
from parkgis.land.lifecycle import expire_reservations

URL = "/api/parcels/available"
MU = 10000 / 15
ALL = {"limit": "5000"}


def _frame(conn: psycopg.Connection, q: str) -> gpd.GeoDataFrame:
    rows = conn.execute(q).fetchall()
    cols = [d.name for d in conn.execute(q).description]
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols) if c != "wkb"}
    geoms = shapely.from_wkb([bytes(r[cols.index("wkb")]) for r in rows])
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4490").to_crs(4547)


@pytest.fixture(scope="module")
def ref(sample_db: str) -> dict:
    with psycopg.connect(sample_db) as conn:
        # The search returns lapsed reservations to available before it answers (issue 6):
        # the reference is today's statuses too.
        expire_reservations(conn)
        parcels = _frame(
            conn,
            "SELECT code, status, zone_code, landuse_code, svc_road, "
            "svc_power, svc_water, ST_AsBinary(geom) AS wkb FROM parcels",
        )
        infra = _frame(
            conn, "SELECT code, kind, status, ST_AsBinary(geom) AS wkb FROM infrastructure"
        )
        # In service today (issue 13): what exists, what a completed upgrade built, and the
        # completed upgrades' own works; planned and under-way works never count.
        ups = _frame(
            conn,
            "SELECT code, infra_code, kind, status, finish_date, "
            "ST_AsBinary(geom) AS wkb FROM upgrades",
        )
        ents = _frame(conn, "SELECT code, chain_role, ST_AsBinary(geom) AS wkb FROM enterprises")
    parcels["area_mu"] = parcels.geometry.area / MU
    vacant = parcels[parcels.status.isin(VACANT_STATUSES)].copy()

    today = dt.date.today()
    done = ups[(ups.status == "completed") & ups.finish_date.map(lambda d: d is None or d <= today)]
    built = set(done.infra_code.dropna())
    live = pd.concat(
        [
            infra[(infra.status == "existing") | infra.code.isin(built)],
            done[["code", "kind", "status", "geometry"]],
        ]
    )

    def nearest(kinds: tuple[str, ...]) -> list[float]:
        feats = live[live.kind.isin(kinds)].geometry
        return [
            float(feats.distance(g).min()) if len(feats) else float("inf") for g in vacant.geometry
        ]

    # rail access: a siding or a freight station, never the main line
    vacant["rail"] = nearest(("rail_siding", "rail_station"))
    vacant["road"] = nearest(("trunk_road", "national_road", "expressway"))
    vacant["substation"] = nearest(("substation",))
    vacant["water"] = nearest(("water_main",))
    vacant["gas"] = nearest(("gas_main",))
    return {"parcels": parcels, "vacant": vacant, "ents": ents}


def _get(client, **params) -> dict:
    r = client.get(URL, params={**ALL, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _codes(fc: dict) -> set[str]:
    return {f["properties"]["code"] for f in fc["features"]}


def test_default_is_the_vacant_parcels_with_measures(client, ref) -> None:
    fc = _get(client)
    vacant = ref["vacant"]
    assert _codes(fc) == set(vacant.code)
    assert fc["numberMatched"] == len(vacant) == fc["numberReturned"]
    by_code = vacant.set_index("code")
    for f in fc["features"]:
        p = f["properties"]
        assert p["status"] in VACANT_STATUSES
        assert not CONFIDENTIAL_FIELDS & set(p)
        assert p["area_mu"] == pytest.approx(p["area_m2"] / MU, rel=1e-12)
        assert p["area_ha"] == pytest.approx(p["area_m2"] / 10000, rel=1e-12)
        assert p["area_mu"] == pytest.approx(by_code.loc[p["code"], "area_mu"], rel=1e-6)
        for cat in ("rail", "road", "substation", "water", "gas"):
            want = by_code.loc[p["code"], cat]
            if want == float("inf"):
                assert p[f"dist_{cat}_m"] is None
            else:
                assert p[f"dist_{cat}_m"] == pytest.approx(want, abs=0.01)
        assert f["geometry"]["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    "cat,param",
    [
        ("rail", "max_rail_m"),
        ("road", "max_road_m"),
        ("substation", "max_substation_m"),
        ("water", "max_water_m"),
        ("gas", "max_gas_m"),
    ],
)
def test_distance_filters(client, ref, cat, param) -> None:
    v = ref["vacant"]
    d = float(v[cat].replace(float("inf"), float("nan")).median())
    want = set(v[v[cat] <= d].code)
    fc = _get(client, **{param: str(round(d, 1))})
    # parcels within a decimetre of the cut could fall either side of the rounding
    edge = set(v[(v[cat] - round(d, 1)).abs() < 0.1].code)
    assert _codes(fc) - edge == want - edge
    assert 0 < len(want) < len(v)
    assert all(f["properties"][f"dist_{cat}_m"] <= round(d, 1) + 1e-6 for f in fc["features"])


def test_near_role(client, ref) -> None:
    ents = ref["ents"]
    role = ents.chain_role.iloc[0]
    pts = ents[ents.chain_role == role].geometry
    v = ref["vacant"]
    dist = [float(pts.distance(g).min()) for g in v.geometry]
    want = {c for c, dd in zip(v.code, dist, strict=True) if dd <= 1500}
    fc = _get(client, near_role=role, near_role_m="1500", sort="dist_role")
    assert _codes(fc) == want
    ds = [f["properties"]["dist_role_m"] for f in fc["features"]]
    assert ds == sorted(ds)


def test_landuse_prefix_area_and_services(client, ref) -> None:
    v = ref["vacant"]
    fc = _get(client, landuse="1001")
    assert _codes(fc) == set(v[v.landuse_code.str.startswith("1001")].code)
    assert any(len(f["properties"]["landuse_code"]) == 6 for f in fc["features"])
    fc = _get(client, landuse="1001,1101")
    assert _codes(fc) == set(v[v.landuse_code.str.match(r"^(1001|1101)")].code)
    fc = _get(client, min_mu="30", max_mu="80")
    assert _codes(fc) == set(v[(v.area_mu >= 30) & (v.area_mu <= 80)].code)
    fc = _get(client, svc="road,power")
    assert _codes(fc) == set(v[v.svc_road & v.svc_power].code)
    zone = v.zone_code.iloc[0]
    fc = _get(client, zone=zone, status="available")
    p = ref["parcels"]
    assert _codes(fc) == set(p[(p.zone_code == zone) & (p.status == "available")].code)


def test_sort_and_paging(client, ref) -> None:
    full = [f["properties"] for f in _get(client, sort="-area_mu")["features"]]
    areas = [p["area_m2"] for p in full]
    assert areas == sorted(areas, reverse=True)
    page = _get(client, sort="-area_mu", limit="5", offset="5")
    assert [f["properties"]["code"] for f in page["features"]] == [p["code"] for p in full[5:10]]
    assert page["numberMatched"] == len(full)
    rail = [f["properties"]["dist_rail_m"] for f in _get(client, sort="dist_rail")["features"]]
    assert rail == sorted(rail, key=lambda d: (d is None, d))


def test_csv_has_bom_and_bilingual_headers(client, ref) -> None:
    r = client.get(URL, params={**ALL, "f": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "地块编号 Parcel code" and "面积（亩） Area (mu)" in rows[0]
    assert len(rows) - 1 == len(ref["vacant"])
    assert {r[0] for r in rows[1:]} == set(ref["vacant"].code)


def test_gpkg_reads_back(client, ref, tmp_path) -> None:
    r = client.get(URL, params={**ALL, "f": "gpkg", "landuse": "1001"})
    assert r.status_code == 200
    path = tmp_path / "a.gpkg"
    path.write_bytes(r.content)
    gdf = pyogrio.read_dataframe(path)
    v = ref["vacant"]
    assert len(gdf) == len(v[v.landuse_code.str.startswith("1001")])
    assert gdf.crs.to_epsg() == 4490
    assert not CONFIDENTIAL_FIELDS & set(gdf.columns)


@pytest.mark.parametrize(
    "params",
    [
        {"min_mu": "abc"},
        {"min_mu": "-1"},
        {"min_mu": "90", "max_mu": "10"},
        {"max_rail_m": "nan"},
        {"max_rail_m": "1e9"},
        {"landuse": "10%"},
        {"landuse": "x"},
        {"status": "historic"},
        {"status": "sold"},
        {"svc": "wifi"},
        {"sort": "note_internal"},
        {"sort": "area_mu;DROP TABLE parcels"},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "abc"},
        {"offset": "-3"},
        {"near_role": "can_making"},
        {"near_role_m": "100"},
        {"near_role": "x'; --", "near_role_m": "1"},
        {"sort": "dist_role"},
        {"f": "shp"},
        {"note_internal": "x"},
        {"zone": "a b"},
    ],
)
def test_bad_parameters_are_400(client, params) -> None:
    r = client.get(URL, params=params)
    assert r.status_code == 400, (params, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 400
