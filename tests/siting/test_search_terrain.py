"""Availability search with terrain criteria, and lapsed reservations expiring on search.

Terrain (issue 8 point 4): every filter and every reported figure is checked against an
independent computation from the ``parcel_terrain`` rows (read with plain SQL, filtered and
costed in pandas); the figures themselves come from the sample DEM and flood rasters loaded by
:func:`parkgis.geo.terrain.load_terrain`. Lapsed reservations (issue 6 point 2): a parcel reserved
until yesterday is listed as available, with its ``expire`` event.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyogrio
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from api.main import create_app
from parkgis.db.collections import VACANT_STATUSES
from parkgis.geo import terrain
from parkgis.land.lifecycle import park_today
from parkgis.settings import get_settings
from parkgis.siting import search as s

ROOT = Path(__file__).resolve().parents[2]
DEM = ROOT / "data" / "rasters" / "weihui_dem.tif"
FLOOD = ROOT / "data" / "rasters" / "weihui_flood.tif"
URL = "/api/parcels/available"
ALL = {"limit": "5000"}
TERRAIN_FIELDS = (
    "elev_mean_m",
    "slope_mean_deg",
    "slope_max_deg",
    "flood_share",
    "earthwork_m3",
    "earthwork_wan",
)


def _copy_sample(databases, sample_template: str, label: str) -> str:
    name = f"{databases.prefix}_{label}_{len(databases.created)}"
    databases._create(name, sample_template)
    return make_conninfo(databases.server, dbname=name)


@pytest.fixture(scope="module")
def terrain_db(databases, sample_template: str, tmp_path_factory) -> str:
    """A copy of the sample with the sample DEM and flood rasters loaded (shared by the module:
    tests read it; the expiry on search finds nothing left to expire after the first)."""
    url = _copy_sample(databases, sample_template, "terrainsearch")
    with psycopg.connect(url) as conn:
        terrain.load_terrain(conn, DEM, FLOOD, out_dir=tmp_path_factory.mktemp("rasters"))
    return url


@pytest.fixture(scope="module")
def tclient(terrain_db: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url=terrain_db)) as c:
        c.get(URL, params={"limit": "1"})  # expire what lapsed before the reference is read
        yield c


@pytest.fixture(scope="module")
def ref(tclient: TestClient, terrain_db: str) -> pd.DataFrame:
    """Vacant parcels with their stored terrain rows, independent of the search SQL."""
    with psycopg.connect(terrain_db) as conn:
        cur = conn.execute(
            "SELECT p.code, p.status, p.zone_code, t.elev_mean_m, t.slope_mean_deg, "
            "t.slope_max_deg, t.flood_share, t.earthwork_cut_m3, t.earthwork_fill_m3 "
            "FROM parcels p LEFT JOIN parcel_terrain t ON t.parcel_code = p.code"
        )
        df = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    df = df[df.status.isin(VACANT_STATUSES)].set_index("code")
    df["earthwork_m3"] = df.earthwork_cut_m3 + df.earthwork_fill_m3
    rate = get_settings().earthwork_yuan_per_m3
    df["earthwork_wan"] = df.earthwork_m3 * rate / 10000.0
    assert df.slope_mean_deg.notna().all() and df.flood_share.notna().all(), (
        "every vacant sample parcel lies on the sample rasters"
    )
    return df


def _get(c: TestClient, **params) -> dict:
    r = c.get(URL, params={**ALL, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _codes(fc: dict) -> set[str]:
    return {f["properties"]["code"] for f in fc["features"]}


def _cut(series: pd.Series, q: float) -> float:
    """A threshold strictly between stored values (so float noise cannot decide a parcel)."""
    v = sorted(series.dropna().unique())
    i = int(len(v) * q)
    return float((v[i] + v[i + 1]) / 2)


# --- figures ---------------------------------------------------------------------------------


def test_results_carry_the_stored_terrain_figures(tclient, ref) -> None:
    fc = _get(tclient)
    assert _codes(fc) == set(ref.index)
    assert fc["earthworkYuanPerM3"] == get_settings().earthwork_yuan_per_m3
    for f in fc["features"]:
        p = f["properties"]
        want = ref.loc[p["code"]]
        for k in TERRAIN_FIELDS:
            assert p[k] == pytest.approx(float(want[k]), rel=1e-12, abs=1e-12), (p["code"], k)
        assert p["earthwork_wan"] == pytest.approx(
            p["earthwork_m3"] * get_settings().earthwork_yuan_per_m3 / 10000, rel=1e-12
        )
        assert 0 <= p["flood_share"] <= 1 and p["slope_max_deg"] >= p["slope_mean_deg"]


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param,col",
    [
        ("max_slope_deg", "slope_mean_deg"),
        ("max_flood_share", "flood_share"),
        ("max_earthwork_wan", "earthwork_wan"),
    ],
)
@pytest.mark.parametrize("q", [0.3, 0.7])
def test_each_terrain_filter_matches_the_stored_figures(tclient, ref, param, col, q) -> None:
    cut = _cut(ref[col], q)
    want = set(ref[ref[col] <= cut].index)
    assert 0 < len(want) < len(ref)
    fc = _get(tclient, **{param: repr(cut)})
    assert _codes(fc) == want
    assert fc["numberMatched"] == len(want)
    assert all(f["properties"][col] <= cut for f in fc["features"])


def test_slope_max_is_reported_not_filtered(tclient, ref) -> None:
    cut = _cut(ref.slope_mean_deg, 0.9)
    fc = _get(tclient, max_slope_deg=repr(cut))
    # parcels whose steepest cell is above the limit pass when their mean slope is below it
    steep_but_ok = ref[(ref.slope_mean_deg <= cut) & (ref.slope_max_deg > cut)]
    assert len(steep_but_ok) and set(steep_but_ok.index) <= _codes(fc)


def test_rate_override_and_combined_filters(tclient, ref) -> None:
    fc = _get(tclient, yuan_per_m3="60")
    assert fc["earthworkYuanPerM3"] == 60
    for f in fc["features"]:
        p = f["properties"]
        assert p["earthwork_wan"] == pytest.approx(p["earthwork_m3"] * 60 / 10000, rel=1e-12)
    wan60 = ref.earthwork_m3 * 60 / 10000.0
    slope, flood, wan = (
        _cut(ref.slope_mean_deg, 0.8),
        _cut(ref.flood_share, 0.8),
        _cut(wan60, 0.8),
    )
    want = set(
        ref[(ref.slope_mean_deg <= slope) & (ref.flood_share <= flood) & (wan60 <= wan)].index
    )
    assert want
    fc = _get(
        tclient,
        max_slope_deg=repr(slope),
        max_flood_share=repr(flood),
        max_earthwork_wan=repr(wan),
        yuan_per_m3="60",
    )
    assert _codes(fc) == want


@pytest.mark.parametrize(
    "dist",
    [
        [("max_substation_m", "900")],  # near set
        [("max_rail_m", "1500")],  # per candidate
        [("max_road_m", "1500"), ("sort", "dist_road")],
    ],
)
def test_terrain_with_distance_forms(terrain_db, ref, dist) -> None:
    """Terrain filters with each SQL form of a distance filter: the intersection of the two."""
    slope = _cut(ref.slope_mean_deg, 0.6)
    with psycopg.connect(terrain_db, row_factory=dict_row) as conn:
        only_dist = s.search(conn, s.AvailabilityQuery.from_params([*dist, *ALL.items()]))
        both = s.search(
            conn,
            s.AvailabilityQuery.from_params([*dist, ("max_slope_deg", repr(slope)), *ALL.items()]),
        )
    want = {r["code"] for r in only_dist.rows} & set(ref[ref.slope_mean_deg <= slope].index)
    assert want and want != {r["code"] for r in only_dist.rows}
    assert [r["code"] for r in both.rows] == [
        r["code"] for r in only_dist.rows if r["code"] in want
    ]
    assert both.number_matched == len(want)


def test_paging_and_count_with_a_terrain_filter(tclient, ref) -> None:
    cut = _cut(ref.slope_mean_deg, 0.5)
    full = [f["properties"]["code"] for f in _get(tclient, max_slope_deg=repr(cut))["features"]]
    page = _get(tclient, max_slope_deg=repr(cut), limit="7", offset="3")
    assert [f["properties"]["code"] for f in page["features"]] == full[3:10]
    assert page["numberMatched"] == len(full) == len(ref[ref.slope_mean_deg <= cut])


# --- sorting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort,col",
    [
        ("slope", "slope_mean_deg"),
        ("-slope", "slope_mean_deg"),
        ("flood", "flood_share"),
        ("-flood", "flood_share"),
        ("earthwork", "earthwork_wan"),
        ("-earthwork", "earthwork_m3"),
    ],
)
def test_sort_by_terrain(tclient, ref, sort, col) -> None:
    fc = _get(tclient, sort=sort)
    got = [(f["properties"][col], f["properties"]["code"]) for f in fc["features"]]
    desc = sort.startswith("-")
    assert [v for v, _ in got] == sorted((v for v, _ in got), reverse=desc)
    assert {c for _, c in got} == set(ref.index)
    # ties break by code
    for (v1, c1), (v2, c2) in zip(got, got[1:], strict=False):
        if v1 == v2:
            assert c1 < c2
    # and a page of the sorted list is that slice of it
    page = _get(tclient, sort=sort, limit="5", offset="10")
    assert [f["properties"]["code"] for f in page["features"]] == [c for _, c in got[10:15]]


# --- output formats --------------------------------------------------------------------------


def test_csv_and_gpkg_carry_the_terrain_fields(tclient, ref) -> None:
    cut = _cut(ref.slope_mean_deg, 0.5)
    r = tclient.get(URL, params={"max_slope_deg": repr(cut), "f": "csv", **ALL})
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    head = rows[0]
    for zh_en in (
        "平均高程（米） Mean elevation (m)",
        "平均坡度（度） Mean slope (deg)",
        "最大坡度（度） Max slope (deg)",
        "易涝面积比例 Flood-prone share",
        "场地平整土方（立方米，挖方+填方） Levelling earthwork (m3, cut + fill)",
        "场地平整费用（万元） Levelling cost (10k CNY)",
    ):
        assert zh_en in head, head
    code_i = head.index("地块编号 Parcel code")
    slope_i = head.index("平均坡度（度） Mean slope (deg)")
    wan_i = head.index("场地平整费用（万元） Levelling cost (10k CNY)")
    assert {row[code_i] for row in rows[1:]} == set(ref[ref.slope_mean_deg <= cut].index)
    for row in rows[1:]:
        want = ref.loc[row[code_i]]
        assert float(row[slope_i]) == pytest.approx(want.slope_mean_deg, rel=1e-12)
        assert float(row[wan_i]) == pytest.approx(want.earthwork_wan, rel=1e-12)

    r = tclient.get(URL, params={"max_slope_deg": repr(cut), "f": "gpkg", **ALL})
    assert r.status_code == 200 and r.content[:16] == b"SQLite format 3\x00"
    gdf = pyogrio.read_dataframe(io.BytesIO(r.content), layer="available_parcels")
    assert set(TERRAIN_FIELDS) <= set(gdf.columns)
    for _, row in gdf.iterrows():
        want = ref.loc[row["code"]]
        assert row["flood_share"] == pytest.approx(want.flood_share, rel=1e-12, abs=1e-15)
        assert row["earthwork_m3"] == pytest.approx(want.earthwork_m3, rel=1e-12)


# --- refusals --------------------------------------------------------------------------------

BAD = [
    {"max_slope_deg": "-1"},
    {"max_slope_deg": "91"},
    {"max_slope_deg": "steep"},
    {"max_slope_deg": "NaN"},
    {"max_slope_deg": "inf"},
    {"max_flood_share": "1.01"},
    {"max_flood_share": "-0.1"},
    {"max_flood_share": "nan"},
    {"max_flood_share": "50%"},
    {"max_earthwork_wan": "-5"},
    {"max_earthwork_wan": "lots"},
    {"max_earthwork_wan": "1e99"},
    {"yuan_per_m3": "0"},
    {"yuan_per_m3": "-25"},
    {"yuan_per_m3": "abc"},
    {"max_slope_deg": "5", "sort": "steepness"},
]


@pytest.fixture
def rw_client(sample_db_rw: str) -> Iterator[tuple[TestClient, str]]:
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        yield c, sample_db_rw


def _state(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT count(*) FROM parcel_events").fetchone()[0],
            conn.execute(
                "SELECT array_agg(code || ':' || status ORDER BY code) FROM parcels"
            ).fetchone()[0],
        )


def test_bad_values_are_400_and_change_nothing(rw_client) -> None:
    c, url = rw_client
    _lapse(url, _available(url, 1)[0], days_ago=3)  # a search would expire it: not a refusal
    before = _state(url)
    for params in BAD:
        r = c.get(URL, params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 400 and body["detail"], params
    assert _state(url) == before


def test_terrain_filter_without_terrain_is_422(rw_client) -> None:
    c, url = rw_client
    _lapse(url, _available(url, 1)[0], days_ago=3)
    before = _state(url)
    for params in (
        {"max_slope_deg": "5"},
        {"max_flood_share": "0.2"},
        {"max_earthwork_wan": "100"},
        {"max_earthwork_wan": "100", "f": "csv"},
    ):
        r = c.get(URL, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert "尚未加载" in body["detail"] and "parkgis terrain load" in body["detail"]
    assert _state(url) == before  # refused before anything expired
    # without terrain filters the search works, the figures are null, terrain sorts accepted
    fc = _get(c, sort="slope")
    assert fc["features"] and all(
        f["properties"][k] is None for f in fc["features"] for k in TERRAIN_FIELDS
    )


def test_flood_filter_needs_a_flood_raster(sample_db_rw: str, tmp_path: Path) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        terrain.load_terrain(conn, DEM, out_dir=tmp_path)  # a DEM, no flood raster
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        r = c.get(URL, params={"max_flood_share": "0.2"})
        assert r.status_code == 422 and "--flood" in r.json()["detail"]
        fc = _get(c, max_slope_deg="3")
        assert fc["features"] and all(
            f["properties"]["flood_share"] is None and f["properties"]["slope_mean_deg"] <= 3
            for f in fc["features"]
        )


# --- lapsed reservations ---------------------------------------------------------------------


def _available(url: str, n: int = 2) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT %s", (n,)
            )
        ]


def _lapse(url: str, code: str, days_ago: int) -> date:
    """Make ``code`` a reservation whose last day was ``days_ago`` days ago (park time)."""
    until = park_today() - timedelta(days=days_ago)
    with psycopg.connect(url) as conn:
        project = conn.execute("SELECT code FROM projects ORDER BY code LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE parcels SET status = 'reserved', project_code = %s, "
            "reserved_until = %s WHERE code = %s",
            (project, until, code),
        )
    return until


def test_lapsed_reservation_is_listed_as_available(rw_client) -> None:
    c, url = rw_client
    lapsed, running = _available(url, 2)
    until = _lapse(url, lapsed, days_ago=1)  # reserved until yesterday
    _lapse(url, running, days_ago=-10)  # reserved for ten more days
    reserved = {f["properties"]["code"] for f in _get(c, status="reserved")["features"]}
    assert lapsed not in reserved and running in reserved
    avail = {
        f["properties"]["code"]: f["properties"] for f in _get(c, status="available")["features"]
    }
    assert avail[lapsed]["status"] == "available"
    assert avail[lapsed]["reserved_until"] is None
    with psycopg.connect(url, row_factory=dict_row) as conn:
        ev = conn.execute(
            "SELECT actor, action, from_status, to_status, data FROM parcel_events "
            "WHERE parcel_code = %s ORDER BY id DESC LIMIT 1",
            (lapsed,),
        ).fetchone()
        assert ev["action"] == "expire" and ev["actor"] == "system"
        assert (ev["from_status"], ev["to_status"]) == ("reserved", "available")
        assert ev["data"]["until"] == until.isoformat()
        # nothing lapsed is left reserved, and another search writes no second event
        assert (
            conn.execute(
                "SELECT count(*) FROM parcels WHERE status = 'reserved' AND reserved_until < %s",
                (park_today(),),
            ).fetchone()["count"]
            == 0
        )
        n = conn.execute("SELECT count(*) FROM parcel_events WHERE action = 'expire'").fetchone()[
            "count"
        ]
    _get(c)
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM parcel_events WHERE action = 'expire'").fetchone()[0]
            == n
        )
        assert (
            conn.execute("SELECT status FROM parcels WHERE code = %s", (running,)).fetchone()[0]
            == "reserved"
        )


def test_expiry_failure_does_not_fail_the_search(sample_db_rw: str) -> None:
    lapsed = _available(sample_db_rw, 1)[0]
    _lapse(sample_db_rw, lapsed, days_ago=1)
    ro = make_conninfo(sample_db_rw, options="-c default_transaction_read_only=on")
    assert conninfo_to_dict(ro)["dbname"] == conninfo_to_dict(sample_db_rw)["dbname"]
    for autocommit in (True, False):
        with psycopg.connect(ro, row_factory=dict_row, autocommit=autocommit) as conn:
            assert s.expire_lapsed(conn) == []  # refused by the read-only transaction, logged
            res = s.search(conn, s.AvailabilityQuery.from_params([("status", "reserved")]))
            # degraded but answered: the stored status, as it is
            assert lapsed in {r["code"] for r in res.rows}
            assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1  # still usable
    with psycopg.connect(sample_db_rw) as conn:
        assert (
            conn.execute("SELECT status FROM parcels WHERE code = %s", (lapsed,)).fetchone()[0]
            == "reserved"
        )
        assert lapsed in s.expire_lapsed(conn)  # a writable connection expires it


def test_expiry_uses_the_clock_given(sample_db_rw: str) -> None:
    from datetime import datetime

    from parkgis.land.lifecycle import PARK_TZ

    code = _available(sample_db_rw, 1)[0]
    _lapse(sample_db_rw, code, days_ago=-5)  # lapses in five days
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        q = s.AvailabilityQuery.from_params([("status", "reserved")])
        assert code in {r["code"] for r in s.search(conn, q).rows}
        later = datetime.now(PARK_TZ) + timedelta(days=6)
        assert code not in {r["code"] for r in s.search(conn, q, now=later).rows}


def test_number_params_are_finite() -> None:
    # the parser never lets a non-finite value through to SQL
    q = s.AvailabilityQuery.from_params(
        [
            ("max_slope_deg", "12.5"),
            ("max_flood_share", "0"),
            ("max_earthwork_wan", "0"),
            ("yuan_per_m3", "0.5"),
        ]
    )
    assert all(
        math.isfinite(float(v))
        for v in (q.max_slope_deg, q.max_flood_share, q.max_earthwork_wan, q.yuan_per_m3)
    )
    assert q.rasters_needed() == {"dem", "flood"}


# --- the investor map's side panel (browser) ---------------------------------------------------


@pytest.fixture
def terrain_server(sample_db_rw: str, tmp_path: Path) -> Iterator[str]:
    from conftest import _serve

    with psycopg.connect(sample_db_rw) as conn:
        terrain.load_terrain(conn, DEM, FLOOD, out_dir=tmp_path)
    yield from _serve(sample_db_rw)


@pytest.mark.browser
def test_panel_terrain_filters_in_a_browser(
    terrain_server, live_server, sample_db_rw, artifacts
) -> None:
    import browser as browser_support

    # the map page's helpers live with the page tests; run alone, this package cannot see them
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "publish"))
    from test_browser_map import apply_filters, open_map, severe

    if not browser_support.AVAILABLE:
        pytest.skip("needs Debian's chromium and chromedriver")
    from selenium.webdriver.common.by import By

    with browser_support.driver() as driver:
        # no terrain loaded: the terrain filters are not offered
        open_map(driver, live_server + "/")
        assert driver.execute_script(
            "return document.querySelector('#pg-terrain-filters').offsetParent === null"
        )
        # terrain loaded: offered, and a filter lists exactly the parcels the figures allow
        open_map(driver, terrain_server + "/")
        assert driver.execute_script("return PG.state.cfg.terrain") == {"dem": True, "flood": True}
        with psycopg.connect(sample_db_rw) as conn:
            s.expire_lapsed(conn)
            slopes = sorted(
                r[0]
                for r in conn.execute(
                    "SELECT t.slope_mean_deg FROM parcels p JOIN parcel_terrain t "
                    "ON t.parcel_code = p.code WHERE p.status = ANY(%s)",
                    (list(VACANT_STATUSES),),
                )
            )
            cut = round(slopes[len(slopes) // 2], 3)
            want = sorted(
                r[0]
                for r in conn.execute(
                    "SELECT p.code FROM parcels p JOIN parcel_terrain t ON t.parcel_code = p.code "
                    "WHERE p.status = ANY(%s) AND t.slope_mean_deg <= %s AND t.flood_share <= 0.5",
                    (list(VACANT_STATUSES), cut),
                )
            )
        assert want
        f = driver.find_element(By.ID, "pg-filter")
        for name in ("max_slope_deg", "max_flood_pct", "max_earthwork_wan"):
            assert f.find_element(By.NAME, name).is_displayed(), name
        got = apply_filters(driver, max_slope_deg=str(cut), max_flood_pct="50")
        assert sorted(got) == want
        h = driver.execute_script("return decodeURIComponent(location.hash)")
        assert f"max_slope_deg={cut}" in h and "max_flood_share=0.5" in h
        driver.get_screenshot_as_file(str(artifacts / "investor-map-terrain-filter.png"))
        assert severe(driver) == []
