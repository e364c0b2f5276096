"""Everything as of a date (issue 13, point 5): ``as_of`` before and after an upgrade gives two
answers; 七通一平 follows the completed upgrades; fit judges a project on its start date;
overdue upgrades and projects past their start are flagged. Expected values are computed
here independently (pyproj to EPSG:4547, shapely) or worked by hand from the sample's dates.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from parkgis.db.collections import VACANT_STATUSES
from parkgis.siting import fit

_TO_GK = Transformer.from_crs(4490, 4547, always_xy=True)
SHEET = "/api/parcels/{}/sheet"
# The sample's dates follow its load date: every date here is worked from the upgrade rows.


def _finish(conn: psycopg.Connection, code: str) -> dt.date:
    return conn.execute("SELECT finish_date FROM upgrades WHERE code = %s", (code,)).fetchone()[0]


def _day(d: dt.date, days: int = 0) -> str:
    return (d + dt.timedelta(days=days)).isoformat()


def _gk(wkb: bytes) -> shapely.Geometry:
    return shapely.transform(
        shapely.from_wkb(bytes(wkb)),
        lambda xy: np.column_stack(_TO_GK.transform(xy[:, 0], xy[:, 1])),
    )


def _telecom_by_hand(conn: psycopg.Connection, day: dt.date) -> dict[str, bool]:
    """通信 per vacant parcel on ``day``: the surveyed flag, or a completed telecom upgrade
    (finished by then) within the reach the park's table gives telecom."""
    reach = conn.execute(
        "SELECT reach_m FROM service_reach WHERE service = 'telecom' AND kind = 'telecom'"
    ).fetchone()[0]
    ups = [
        _gk(r[0])
        for r in conn.execute(
            "SELECT ST_AsBinary(geom) FROM upgrades WHERE kind = 'telecom' "
            "AND status = 'completed' AND finish_date <= %s",
            (day,),
        ).fetchall()
    ]
    out = {}
    for code, surveyed, wkb in conn.execute(
        "SELECT code, svc_telecom, ST_AsBinary(geom) FROM parcels WHERE status = ANY(%s)",
        (list(VACANT_STATUSES),),
    ).fetchall():
        g = _gk(wkb)
        out[code] = bool(surveyed) or any(g.distance(u) <= reach for u in ups)
    return out


def _search_telecom(client, day: str) -> dict[str, bool]:
    r = client.get("/api/parcels/available", params={"limit": "5000", "as_of": day})
    assert r.status_code == 200, r.text
    return {f["properties"]["code"]: f["properties"]["svc_telecom"] for f in r.json()["features"]}


def test_5g_upgrade_turns_the_36_parcels_telecom_on(client, sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-09")  # 5G and fibre for the parks, completed
        BEFORE_5G, AFTER_5G = _day(fin, -1), _day(fin)
        hand_before = _telecom_by_hand(conn, dt.date.fromisoformat(BEFORE_5G))
        hand_after = _telecom_by_hand(conn, dt.date.fromisoformat(AFTER_5G))
    before, after = _search_telecom(client, BEFORE_5G), _search_telecom(client, AFTER_5G)
    assert before == hand_before and after == hand_after
    turned = sorted(c for c in after if after[c] and not before[c])
    assert len(turned) == 36  # the issue's count: every vacant parcel without 通信
    assert all(after.values())
    # the sheet says the same, on either date
    code = turned[0]
    for day, want in ((BEFORE_5G, False), (AFTER_5G, True)):
        s = client.get(SHEET.format(code), params={"as_of": day}).json()
        assert s["as_of"] == day
        assert s["parcel"]["services"]["telecom"] is want
    # and the search filter selects on the derived flag
    r = client.get(
        "/api/parcels/available", params={"limit": "5000", "svc": "telecom", "as_of": BEFORE_5G}
    )
    assert {f["properties"]["code"] for f in r.json()["features"]} == {
        c for c, v in hand_before.items() if v
    }


def test_sheet_rail_distance_before_and_after_the_siding(client, sample_db: str) -> None:
    """WH-L-010: 1,146 m to the cluster siding the day before UPG-06 finishes, 777 m to the
    logistics-park siding from that day — computed here from the two sidings' geometries."""
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-06")
        g = _gk(
            conn.execute(
                "SELECT ST_AsBinary(geom) FROM parcels WHERE code = 'WH-L-010'"
            ).fetchone()[0]
        )
        cz, lp = (
            _gk(
                conn.execute(
                    "SELECT ST_AsBinary(geom) FROM infrastructure WHERE code = %s", (c,)
                ).fetchone()[0]
            )
            for c in ("INF-SID-CZ", "INF-SID-LP")
        )
    old = client.get(SHEET.format("WH-L-010"), params={"as_of": _day(fin, -1)}).json()
    new = client.get(SHEET.format("WH-L-010"), params={"as_of": _day(fin)}).json()
    assert old["distances"]["rail"]["m"] == pytest.approx(g.distance(cz), abs=0.05)
    assert old["distances"]["rail"]["code"] == "INF-SID-CZ"
    assert new["distances"]["rail"]["m"] == pytest.approx(g.distance(lp), abs=0.05)
    assert round(g.distance(cz)) == 1146 and round(g.distance(lp)) == 777
    # the shape of distances.<kind> is unchanged (design §4b)
    assert {"m", "code", "name_zh", "name_en", "label_zh", "label_en"} <= set(
        new["distances"]["rail"]
    )


def test_match_judges_the_project_on_its_start_date(sample_db: str) -> None:
    """A project starting before the siding opens is judged without it, one starting after
    with it, whatever day it is asked; a start date already past is judged on the day asked."""
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-06")

        def rail(start: int | None, as_of: int) -> tuple[float, dt.date]:
            """Days relative to the siding's finish date."""
            req = fit.Requirement(
                max_rail_m=1000,
                start_date=(fin + dt.timedelta(days=start) if start is not None else None),
            )
            ctx = fit._build_context(conn, req, fin + dt.timedelta(days=as_of), codes=["WH-L-010"])
            return ctx.by_code["WH-L-010"].d_rail, ctx.on

        d = dt.timedelta
        assert rail(-90, -365) == (pytest.approx(1146, abs=1), fin - d(days=90))
        assert rail(60, -365) == (pytest.approx(777, abs=1), fin + d(days=60))
        # started "in the past": judged on the day asked, when the siding is open
        assert rail(-90, 150) == (pytest.approx(777, abs=1), fin + d(days=150))
        assert rail(None, -200)[1] == fin - d(days=200)


def test_match_routes_take_as_of(client, sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-06")
    body = {"max_rail_m": 800, "landuse_codes": ["1101"]}
    early = client.post("/api/match", params={"as_of": _day(fin, -200), "top": 100}, json=body)
    late = client.post("/api/match", params={"as_of": _day(fin, 150), "top": 100}, json=body)
    assert early.status_code == late.status_code == 200
    assert early.json()["judged_on"] == _day(fin, -200)
    codes = [{tuple(m["parcels"]) for m in r.json()["matches"]} for r in (early, late)]
    # WH-L-010 is within 800 m of rail access only once the siding is open
    assert ("WH-L-010",) not in codes[0] and ("WH-L-010",) in codes[1]
    r = client.get("/api/projects/PRJ-WLJ/matches", params={"as_of": "2030-01-01", "top": 1})
    assert r.status_code == 200 and r.json()["judged_on"] == "2030-01-01"


@pytest.mark.parametrize(
    "url", ["/api/parcels/available", SHEET.format("WH-L-010"), "/api/projects/PRJ-WLJ/matches"]
)
@pytest.mark.parametrize("bad", ["2025-02-30", "yesterday", "2025-1-1", "<b>x</b>", "1800-01-01"])
def test_bad_as_of_is_a_problem(client, url: str, bad: str) -> None:
    r = client.get(url, params={"as_of": bad})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # JSON, never HTML: the value may be quoted back, it is not rendered
    assert r.json()["param"] == "as_of" and "/work" not in r.text


def test_overdue_upgrades_and_projects_on_the_sheet(client, sample_db: str) -> None:
    """UPG-01 (under way) is not overdue on its finish date and is the day after; a reserved
    parcel's project is past its start the day after its start date."""
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-01")
        near = conn.execute(
            "SELECT p.code FROM parcels p, upgrades u WHERE u.code = 'UPG-01' "
            "AND p.status <> 'historic' ORDER BY p.geom <-> u.geom LIMIT 1"
        ).fetchone()[0]
        held = conn.execute(
            "SELECT p.code, pr.start_date FROM parcels p JOIN projects pr "
            "ON pr.code = p.project_code WHERE pr.start_date IS NOT NULL "
            "AND pr.stage IN ('lead', 'negotiating', 'signed', 'land_supplied') "
            "AND p.status <> 'historic' ORDER BY p.code LIMIT 1"
        ).fetchone()

    def upg(day: str) -> dict:
        s = client.get(SHEET.format(near), params={"as_of": day}).json()
        return next(u for u in s["upgrades"] if u["code"] == "UPG-01")

    assert upg(_day(fin))["overdue"] is False
    assert upg(_day(fin, 1))["overdue"] is True
    assert held is not None, "the sample should hold land for a project not yet started"
    code, start = held
    for day, want in ((start, False), (start + dt.timedelta(days=1), True)):
        s = client.get(SHEET.format(code), params={"as_of": day.isoformat()}).json()
        assert s["parcel"]["project_overdue"] is want


def _park_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def test_map_and_board_mark_overdue_upgrades_and_projects(client, sample_db: str) -> None:
    """Today's flags, worked out here from the rows: an upgrade is overdue past its finish
    date when not complete; a project not yet building is past its start date."""
    today = _park_today()
    with psycopg.connect(sample_db) as conn:
        ups = conn.execute("SELECT code, status, finish_date FROM upgrades").fetchall()
        projects = conn.execute("SELECT code, stage, start_date FROM projects").fetchall()
        held = dict(
            conn.execute(
                "SELECT code, project_code FROM parcels WHERE status <> 'historic'"
            ).fetchall()
        )
    want_up = {c: s != "completed" and f is not None and f < today for c, s, f in ups}
    late = {
        c
        for c, stage, start in projects
        if stage in ("lead", "negotiating", "signed", "land_supplied")
        and start is not None
        and start < today
    }
    assert any(want_up.values())  # the story: UPG-08 is under way past its finish date
    r = client.get("/ogc/collections/upgrades/items", params={"limit": 100})
    got_up = {f["properties"]["code"]: f["properties"]["overdue"] for f in r.json()["features"]}
    assert got_up == want_up
    r = client.get("/ogc/collections/parcels/items", params={"limit": 1000})
    got_p = {
        f["properties"]["code"]: f["properties"]["project_overdue"] for f in r.json()["features"]
    }
    assert got_p == {c: held[c] in late for c in held}
    board = client.get("/api/pipeline/board").json()
    cards = {p["code"]: p["past_start"] for col in board["columns"] for p in col["projects"]}
    assert cards == {c: c in late for c, _s, _d in projects}
    # the investor map draws an overdue upgrade in the overdue colour
    from parkgis.publish.maps.layers import OVERDUE_COLOUR, infra_style

    assert infra_style("substation", "under_way", True)["color"] == OVERDUE_COLOUR
    assert infra_style("substation", "under_way", False)["color"] != OVERDUE_COLOUR


def test_brief_takes_as_of(client, sample_db: str) -> None:
    """The brief's distance table is the sheet's, as of the date asked (1,146 m prints as
    1.1 km the day before the siding opens (one decimal of a km, as the pages print
    distances), 777 m from that day)."""
    with psycopg.connect(sample_db) as conn:
        fin = _finish(conn, "UPG-06")

    def rail_row(day: str) -> str:
        r = client.get("/api/parcels/WH-L-010/brief.html", params={"as_of": day, "lang": "en"})
        assert r.status_code == 200
        i = r.text.index("rail siding or freight station")
        return r.text[i : i + 120]

    assert "1.1 km" in rail_row(_day(fin, -1)) and "777 m" in rail_row(_day(fin))
    r = client.get("/api/parcels/WH-L-010/brief.pdf", params={"as_of": "2025-13-01"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
