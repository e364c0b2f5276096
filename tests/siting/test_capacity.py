"""One capacity rule (issue 13, point 6): a demand may be served by any facility of its kind
whose reach (service area, radius, or the default) holds the site, choosing one with enough
spare capacity; the reason names the facility used. Distances are checked independently
(pyproj to EPSG:4547, shapely); capacities are the sample's registered figures.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from parkgis.siting import fit

_TO_GK = Transformer.from_crs(4490, 4547, always_xy=True)
SITE = "WH-L-041"  # logistics park, next to the planned 35 kV substation (INF-SS-3)
NEED_KVA = 25_000.0  # more than the new 20 MVA substation, far less than the 110 kV one


def _gk(wkb: bytes) -> shapely.Geometry:
    return shapely.transform(
        shapely.from_wkb(bytes(wkb)),
        lambda xy: np.column_stack(_TO_GK.transform(xy[:, 0], xy[:, 1])),
    )


def _facts(conn: psycopg.Connection) -> dict:
    site = _gk(
        conn.execute("SELECT ST_AsBinary(geom) FROM parcels WHERE code = %s", (SITE,)).fetchone()[0]
    )
    subs = {
        r[0]: {"name_en": r[1], "mva": r[2], "d": site.distance(_gk(r[3]))}
        for r in conn.execute(
            "SELECT code, name_en, capacity, ST_AsBinary(geom) "
            "FROM infrastructure WHERE kind = 'substation'"
        ).fetchall()
    }
    # every other project's demand, wherever it is attributed: a lower bound on any spare
    taken = conn.execute("SELECT coalesce(sum(power_kva), 0) FROM projects").fetchone()[0]
    return {"subs": subs, "taken_kva": float(taken)}


def _power(conn: psycopg.Connection, start: dt.date) -> tuple[dict, list[fit.Failure]]:
    req = fit.Requirement(power_kva=NEED_KVA, start_date=start)
    verdict = fit.evaluate_site(conn, req, SITE, as_of=dt.date(2026, 1, 1))
    assert verdict is not None
    return next(c for c in verdict.criteria if c["name"] == "power"), verdict.failures


def test_new_small_substation_nearer_does_not_fail_the_site(sample_db_rw: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        f = _facts(conn)
        ss1, ss3 = f["subs"]["INF-SS-1"], f["subs"]["INF-SS-3"]
        assert ss3["d"] < 100 < 4000 < ss1["d"] < 10_000  # the new one is far nearer
        assert ss3["mva"] * 1000 < NEED_KVA  # ... and too small
        assert ss1["mva"] * 1000 - f["taken_kva"] >= NEED_KVA  # the big one has room
        # while UPG-10 is planned, the 110 kV substation serves, and the new one is named
        # as not counted
        crit, fails = _power(conn, dt.date(2026, 6, 1))
        assert not [x for x in fails if x.name == "power"]
        assert crit["reason_en"].startswith(f"served by {ss1['name_en']}")
        assert "not counted" in crit["reason_en"]
        # only the upgrade row changes: the 35 kV substation opens before the project starts
        conn.execute(
            "UPDATE upgrades SET status = 'completed', start_date = '2025-09-01', "
            "finish_date = '2026-03-31' "
            "WHERE code = 'UPG-10'"
        )
        conn.commit()
        crit, fails = _power(conn, dt.date(2026, 6, 1))
        assert not [x for x in fails if x.name == "power"], fails
        assert crit["reason_en"].startswith(f"served by {ss1['name_en']}")
        m = re.search(
            rf"nearer {re.escape(ss3['name_en'])} has only ([0-9,]+) kVA spare", crit["reason_en"]
        )
        assert m and float(m.group(1).replace(",", "")) <= ss3["mva"] * 1000 < NEED_KVA
        assert crit["reason_zh"].startswith("由")
        # a small demand is served by the nearest one, now in service
        verdict = fit.evaluate_site(
            conn, fit.Requirement(power_kva=1000, start_date=dt.date(2026, 6, 1)), SITE
        )
        small = next(c for c in verdict.criteria if c["name"] == "power")
        assert small["reason_en"].startswith(f"served by {ss3['name_en']}")
        # a project starting before it opens is judged without it
        crit, _ = _power(conn, dt.date(2026, 2, 1))
        assert "nearer" not in crit["reason_en"]


def test_reach_comes_from_the_data(sample_db_rw: str) -> None:
    """A service radius or area on the row limits what a facility serves: out of every reach,
    the site fails on power with a reason saying so; a service area covering it brings the
    big substation back whatever its radius."""
    with psycopg.connect(sample_db_rw) as conn:
        f = _facts(conn)
        ss1 = f["subs"]["INF-SS-1"]
        conn.execute("UPDATE infrastructure SET service_radius_m = 1000 WHERE kind = 'substation'")
        conn.commit()
        _crit, fails = _power(conn, dt.date(2026, 6, 1))
        power = [x for x in fails if x.name == "power"]
        nearest = min(
            s["d"]
            for s in f["subs"].values()
            if s["mva"] and s["d"] is not None and s is not f["subs"]["INF-SS-3"]
        )
        assert power and "within its reach" in power[0].reason_en
        assert f"nearest {nearest:,.0f} m" in power[0].reason_en
        # a service area around the site for the 110 kV substation
        conn.execute(
            """UPDATE infrastructure i SET service_area = ST_Multi(ST_Buffer(p.geom, 0.01))
                          FROM parcels p WHERE i.code = 'INF-SS-1' AND p.code = %s""",
            (SITE,),
        )
        conn.commit()
        crit, fails = _power(conn, dt.date(2026, 6, 1))
        assert not [x for x in fails if x.name == "power"]
        assert crit["reason_en"].startswith(f"served by {ss1['name_en']}")


def test_choose_is_nearest_with_enough_spare() -> None:
    """The rule on a hand-made table: rows × facilities."""
    dist = np.array([[100.0, 500.0, 900.0], [100.0, 500.0, 900.0], [50.0, 60.0, 70.0]])
    inside = np.array([[True, True, True], [True, False, True], [False, False, False]])
    spare = np.array([10.0, 30.0, 50.0])
    pick, skipped = fit._choose(dist, inside, spare, 25.0)
    assert pick.tolist() == [1, 2, -1]  # nearest with ≥ 25 spare, in reach
    assert skipped.tolist() == [0, 0, -1]  # the nearer one passed over
    pick, _ = fit._choose(dist, inside, spare, 60.0)
    assert pick.tolist() == [0, 0, -1]  # none has enough: the nearest, to fail on it
    pick, skipped = fit._choose(dist, inside, spare, None)
    assert pick.tolist() == [0, 0, -1] and skipped.tolist() == [-1, -1, -1]


@pytest.mark.parametrize("start", [dt.date(2026, 6, 1)])
def test_draws_follow_the_same_rule(sample_db_rw: str, start: dt.date) -> None:
    """A project holding land beside the new substation, too big for it, draws on the 110 kV
    one (the facility it would be served by), not on the one nearest its parcel."""
    with psycopg.connect(sample_db_rw) as conn:
        conn.execute(
            "UPDATE upgrades SET status = 'completed', start_date = '2025-09-01', "
            "finish_date = '2026-03-31' "
            "WHERE code = 'UPG-10'"
        )
        conn.execute(
            "INSERT INTO projects (code, name_zh, name_en, industry, power_kva) "
            "VALUES ('PRJ-HOLD', '占地项目', 'Holding project', 'logistics', 22000)"
        )
        conn.execute(
            "UPDATE parcels SET status = 'reserved', project_code = 'PRJ-HOLD' "
            "WHERE code = 'WH-L-037'"
        )
        conn.commit()
        ctx = fit._build_context(
            conn, fit.Requirement(power_kva=1000, start_date=start), codes=[SITE]
        )
        by_code = {f.code: f for f in ctx.facilities["power"]}
        kva = dict(conn.execute("SELECT code, power_kva FROM projects").fetchall())
    assert "PRJ-HOLD" in by_code["INF-SS-1"].drawers
    assert "PRJ-HOLD" not in by_code["INF-SS-3"].drawers
    ss3 = by_code["INF-SS-3"]
    assert ss3.spare == pytest.approx(20_000.0 - sum(float(kva[p]) for p in ss3.drawers))
