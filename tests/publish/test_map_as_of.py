"""The investor map as of a date (issue 13, point 5), over real HTTP on the sample data.

The layers ``/api/map/layers/{infrastructure,upgrades}?as_of=`` and the parcel vector tiles
``?as_of=`` before and after an upgrade's completion. Every expectation is worked here from the
upgrade rows' own dates and geometries read from the database (pyproj + shapely for the
telecom reach), never from the product's functions.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import mapbox_vector_tile
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer
from tilemath import tile_of

LAYER = "/api/map/layers/{}"
TILE = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
Z = 16


def _day(d: dt.date, days: int = 0) -> str:
    return (d + dt.timedelta(days=days)).isoformat()


def _upgrade(conn: psycopg.Connection, code: str) -> dict:
    cur = conn.execute(
        "SELECT code, infra_code, kind, status, start_date, finish_date "
        "FROM upgrades WHERE code = %s",
        (code,),
    )
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def _layer(client, name: str, day: str | None) -> dict[str, dict]:
    r = client.get(LAYER.format(name), params={"as_of": day} if day else None)
    assert r.status_code == 200, r.text
    return {f["properties"]["code"]: f["properties"] for f in r.json()["features"]}


def test_infrastructure_before_and_after_the_logistics_siding(client, sample_db: str) -> None:
    """UPG-06 builds the logistics-park siding: the day before it finishes the siding is not
    infrastructure in service (the upgrade is shown, under way); from that day it is, and the
    upgrade is gone from the upgrades layer."""
    with psycopg.connect(sample_db) as conn:
        upg = _upgrade(conn, "UPG-06")
        siding_status = conn.execute(
            "SELECT status FROM infrastructure WHERE code = %s", (upg["infra_code"],)
        ).fetchone()[0]
        # nothing else is completed on that very day, so the two days differ by UPG-06 alone
        same_day = conn.execute(
            "SELECT count(*) FROM upgrades WHERE status = 'completed' AND finish_date = %s",
            (upg["finish_date"],),
        ).fetchone()[0]
    assert upg["status"] == "completed" and upg["infra_code"] == "INF-SID-LP"
    assert upg["kind"] == "rail_siding" and siding_status != "existing" and same_day == 1
    assert upg["start_date"] < upg["finish_date"] - dt.timedelta(days=1)
    before, after = _day(upg["finish_date"], -1), _day(upg["finish_date"])

    infra_before = _layer(client, "infrastructure", before)
    infra_after = _layer(client, "infrastructure", after)
    assert "INF-SID-LP" not in infra_before and "UPG-06" not in infra_before
    # the register row it builds and its own works, both in service from the finish date
    assert set(infra_after) - set(infra_before) == {"INF-SID-LP", "UPG-06"}
    assert set(infra_before) <= set(infra_after)
    for code in ("INF-SID-LP", "UPG-06"):
        p = infra_after[code]
        assert p["kind"] == "rail_siding" and p["status"] == "existing" and p["in_service"]
        assert p["_group"] == "roads_rail"
    assert infra_after["UPG-06"]["upgrade_code"] == "UPG-06"
    assert infra_before["INF-SID-CZ"]["in_service"] is True  # the cluster siding was there

    ups_before = _layer(client, "upgrades", before)
    ups_after = _layer(client, "upgrades", after)
    assert ups_before["UPG-06"]["status"] == "under_way"  # started, not finished, that day
    assert ups_before["UPG-06"]["overdue"] is False
    assert "UPG-06" not in ups_after
    # before it started it was planned
    assert _layer(client, "upgrades", _day(upg["start_date"], -1))["UPG-06"]["status"] == "planned"
    # the sheet of a parcel it serves says the same as the map on each date
    for day, want in ((_day(upg["start_date"], -1), "planned"), (before, "under_way")):
        sheet = client.get("/api/parcels/WH-L-010/sheet", params={"as_of": day}).json()
        assert {u["code"]: u["status"] for u in sheet["upgrades"]}["UPG-06"] == want
    sheet = client.get("/api/parcels/WH-L-010/sheet", params={"as_of": after}).json()
    assert "UPG-06" not in {u["code"] for u in sheet["upgrades"]}


def test_upgrade_overdue_as_of_its_finish_date(client, sample_db: str) -> None:
    """An upgrade not complete is overdue from the day after its finish date, not before."""
    with psycopg.connect(sample_db) as conn:
        code, finish = conn.execute(
            "SELECT code, finish_date FROM upgrades WHERE status <> 'completed' "
            "AND finish_date IS NOT NULL ORDER BY finish_date, code LIMIT 1"
        ).fetchone()
    on_day = _layer(client, "upgrades", _day(finish))
    next_day = _layer(client, "upgrades", _day(finish, 1))
    assert on_day[code]["overdue"] is False
    assert next_day[code]["overdue"] is True
    assert next_day[code]["_style"] != on_day[code]["_style"]  # drawn as overdue


@pytest.mark.parametrize("bad", ["2025-13-01", "2025-02-30", "yesterday", "", "1900-01-01"])
def test_a_bad_date_is_a_400_problem(client, bad: str) -> None:
    for url in (
        LAYER.format("infrastructure"),
        LAYER.format("upgrades"),
        TILE.format(z=Z, x=54000, y=26000),
    ):
        r = client.get(url, params={"as_of": bad})
        assert r.status_code == 400, (url, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert "as_of" in body["detail"] and "/work" not in r.text and "Traceback" not in r.text


# -- parcel tiles ------------------------------------------------------------------------------

_TO_GK: dict[int, Transformer] = {}


def _gk(wkb: bytes, srid: int) -> shapely.Geometry:
    t = _TO_GK.setdefault(srid, Transformer.from_crs(4490, srid, always_xy=True))
    return shapely.transform(
        shapely.from_wkb(bytes(wkb)), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
    )


@pytest.fixture(scope="module")
def served_by_5g(sample_db: str) -> dict:
    """A live parcel surveyed without 通信 that UPG-09 (5G, completed) reaches, with 通信 worked
    out by hand on the day before and the day of UPG-09's finish."""
    with psycopg.connect(sample_db) as conn:
        upg = _upgrade(conn, "UPG-09")
        assert upg["status"] == "completed" and upg["kind"] == "telecom"
        reach = conn.execute(
            "SELECT reach_m FROM service_reach WHERE service = 'telecom' AND kind = 'telecom'"
        ).fetchone()[0]
        ups = conn.execute(
            "SELECT ST_AsBinary(geom), gk_srid, finish_date FROM upgrades "
            "WHERE kind = 'telecom' AND status = 'completed'"
        ).fetchall()
        parcels = conn.execute(
            "SELECT code, ST_AsBinary(geom), gk_srid FROM parcels "
            "WHERE NOT svc_telecom AND status <> 'historic' ORDER BY code"
        ).fetchall()
    before, after = upg["finish_date"] - dt.timedelta(days=1), upg["finish_date"]

    def telecom(wkb: bytes, srid: int, day: dt.date) -> bool:
        g = _gk(wkb, srid)
        return any(s == srid and f <= day and g.distance(_gk(u, s)) <= reach for u, s, f in ups)

    for code, wkb, srid in parcels:
        if not telecom(wkb, srid, before) and telecom(wkb, srid, after):
            pt = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
            return {
                "code": code,
                "lon": pt.x,
                "lat": pt.y,
                "before": before.isoformat(),
                "after": after.isoformat(),
            }
    raise AssertionError("no parcel is reached by UPG-09 alone")


def _props(r) -> dict:
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content)["parcels"]
    return {f["properties"]["code"]: f["properties"] for f in layer["features"]}


def test_tile_telecom_before_and_after_the_5g_upgrade(client, served_by_5g: dict) -> None:
    p = served_by_5g
    x, y = tile_of(p["lon"], p["lat"], Z)
    url = TILE.format(z=Z, x=x, y=y)
    old = client.get(url, params={"as_of": p["before"]})
    new = client.get(url, params={"as_of": p["after"]})
    assert _props(old)[p["code"]]["svc_telecom"] is False
    assert _props(new)[p["code"]]["svc_telecom"] is True
    assert old.headers["etag"] != new.headers["etag"]
    # the default is today, which is after the sample's 5G completion, and keeps its cache
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert today > p["after"]
    first, again = client.get(url), client.get(url)
    assert _props(first)[p["code"]]["svc_telecom"] is True
    assert again.headers["x-tile-cache"] == "hit" and again.content == first.content
    assert first.headers["etag"] not in (old.headers["etag"], new.headers["etag"])
    # a dated tile is cached under its date, never answered from another date's entry
    again_old = client.get(url, params={"as_of": p["before"]})
    assert again_old.headers["x-tile-cache"] == "hit"
    assert _props(again_old)[p["code"]]["svc_telecom"] is False
    # today's ETag does not validate another date's tile
    r = client.get(
        url, params={"as_of": p["before"]}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert r.status_code == 200 and _props(r)[p["code"]]["svc_telecom"] is False
    r = client.get(
        url, params={"as_of": p["before"]}, headers={"If-None-Match": old.headers["etag"]}
    )
    assert r.status_code == 304


def test_tile_flags_follow_an_upgrade_edit(sample_db_rw: str, served_by_5g: dict) -> None:
    """The parcel tiles read the upgrades: an edit of an upgrade invalidates a cached tile
    (here UPG-09 put back to under way: 通信 off again today)."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    p = served_by_5g
    x, y = tile_of(p["lon"], p["lat"], Z)
    url = TILE.format(z=Z, x=x, y=y)
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        assert _props(c.get(url))[p["code"]]["svc_telecom"] is True
        assert c.get(url).headers["x-tile-cache"] == "hit"
        with psycopg.connect(sample_db_rw) as conn:
            conn.execute("UPDATE upgrades SET status = 'under_way' WHERE code = 'UPG-09'")
        time.sleep(0.2)  # past the version watch's recheck bound
        r = c.get(url)
        assert r.headers["x-tile-cache"] == "miss"
        assert _props(r)[p["code"]]["svc_telecom"] is False
