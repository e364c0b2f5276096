"""One definition of rail access (issue 13, point 6): a siding (专用线) or a freight station in
service on the date asked — never the main line — the same in search, fit, the sheet and the
brief. Every expected distance is computed here independently: the features read as plain
lon/lat geometries, projected to EPSG:4547 with pyproj and measured with shapely.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from parkgis.publish.brief.facts import gather
from parkgis.publish.sheet import parcel_sheet
from parkgis.siting import fit
from parkgis.siting.search import RAIL_ACCESS_KINDS, AvailabilityQuery, search

_TO_GK = Transformer.from_crs(4490, 4547, always_xy=True)
# The sample's dates follow its load date: the tests read UPG-06's (the logistics-park
# siding's) finish date and ask the day before it opens and two weeks after.


def _siding_days(conn: psycopg.Connection) -> tuple[dt.date, dt.date]:
    finish = conn.execute(
        "SELECT finish_date FROM upgrades WHERE code = 'UPG-06' AND status = 'completed'"
    ).fetchone()[0]
    return finish - dt.timedelta(days=1), finish + dt.timedelta(days=14)


def _gk(wkb: bytes) -> shapely.Geometry:
    return shapely.transform(
        shapely.from_wkb(bytes(wkb)),
        lambda xy: np.column_stack(_TO_GK.transform(xy[:, 0], xy[:, 1])),
    )


def _parcel(conn: psycopg.Connection, code: str) -> shapely.Geometry:
    return _gk(
        conn.execute("SELECT ST_AsBinary(geom) FROM parcels WHERE code = %s", (code,)).fetchone()[0]
    )


def _rail_features(conn: psycopg.Connection, day: dt.date) -> dict[str, shapely.Geometry]:
    """Sidings and stations in service on ``day``, by hand: existing register rows, rows a
    completed upgrade (finished by then) names, and those upgrades' own works."""
    done = conn.execute(
        "SELECT code, infra_code, kind, ST_AsBinary(geom) FROM upgrades "
        "WHERE status = 'completed' AND (finish_date IS NULL OR finish_date <= %s)",
        (day,),
    ).fetchall()
    built = {r[1] for r in done if r[1]}
    out = {
        code: _gk(wkb)
        for code, status, wkb in conn.execute(
            "SELECT code, status, ST_AsBinary(geom) FROM infrastructure "
            "WHERE kind IN ('rail_siding', 'rail_station')"
        ).fetchall()
        if status == "existing" or code in built
    }
    out.update(
        {code: _gk(wkb) for code, _i, kind, wkb in done if kind in ("rail_siding", "rail_station")}
    )
    return out


def _nearest(feats: dict[str, shapely.Geometry], g: shapely.Geometry) -> tuple[float, str]:
    return min((g.distance(f), c) for c, f in feats.items())


def _main_line_m(conn: psycopg.Connection, g: shapely.Geometry) -> float:
    wkb = conn.execute(
        "SELECT ST_AsBinary(geom) FROM infrastructure WHERE kind = 'railway'"
    ).fetchall()
    return min(g.distance(_gk(w[0])) for w in wkb)


def _search_rail(conn: psycopg.Connection, code: str, day: dt.date) -> float:
    q = AvailabilityQuery.from_params([("limit", "5000"), ("as_of", day.isoformat())])
    rows = search(conn, q, 100_000, output="geojson").rows
    return next(r["dist_rail_m"] for r in rows if r["code"] == code)


def _fit_rail(conn: psycopg.Connection, code: str, day: dt.date) -> float:
    ctx = fit._build_context(conn, fit.Requirement(max_rail_m=300), day, codes=[code])
    return ctx.by_code[code].d_rail


def test_python_and_sql_share_the_definition(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        sql = conn.execute("SELECT rail_access_kinds()").fetchone()[0]
    assert tuple(sql) == RAIL_ACCESS_KINDS
    assert "railway" not in RAIL_ACCESS_KINDS


@pytest.mark.parametrize("when", ["before", "after"])
def test_wh_l_001_never_measures_the_main_line(sample_db: str, when: str) -> None:
    """WH-L-001 lies 25 m from the Beijing-Guangzhou line: that is not rail access; sheet,
    search, fit and brief all give the nearest siding/freight station in service."""
    with psycopg.connect(sample_db) as conn:
        day = _siding_days(conn)[0 if when == "before" else 1]
        g = _parcel(conn, "WH-L-001")
        want, want_code = _nearest(_rail_features(conn, day), g)
        main = _main_line_m(conn, g)
        assert main < 30 < want  # the trap is real: the main line is much nearer
        sheet = parcel_sheet(conn, "WH-L-001", day)["distances"]["rail"]
        brief = gather(conn, "WH-L-001", as_of=day).sheet["distances"]["rail"]
        got = {
            "sheet": sheet["m"],
            "brief": brief["m"],
            "search": _search_rail(conn, "WH-L-001", day),
            "fit": _fit_rail(conn, "WH-L-001", day),
        }
    assert got == {k: pytest.approx(want, abs=0.05) for k in got}
    assert sheet["code"] == want_code
    if when == "before":
        assert want == pytest.approx(1121, abs=1)  # the cluster-zone siding
    else:
        assert want == pytest.approx(95, abs=1)  # the logistics-park siding, now open


def test_group_does_not_pass_300_m_through_the_main_line(sample_db: str) -> None:
    """WH-E-029+033+035 is within 300 m of the main line only; before the logistics-park
    siding opens the group fails a 300 m rail requirement, after it passes via the siding."""
    codes = ["WH-E-029", "WH-E-033", "WH-E-035"]
    req = fit.Requirement(max_rail_m=300)
    with psycopg.connect(sample_db) as conn:
        geoms = [_parcel(conn, c) for c in codes]
        assert min(_main_line_m(conn, g) for g in geoms) < 300
        for day in _siding_days(conn):
            want = min(_nearest(_rail_features(conn, day), g)[0] for g in geoms)
            ctx = fit._build_context(conn, req, day, codes=codes)
            site = fit._combine([ctx.by_code[c] for c in codes], with_geometry=False)
            assert site.d_rail == pytest.approx(want, abs=0.05)
            rail = [f for f in fit._hard(ctx, site, confidential=False) if f.name == "rail"]
            assert bool(rail) == (want > 300)
            if rail:
                assert "siding/freight station" in rail[0].reason_en
    assert want < 300  # AFTER: passes, through the siding


def test_completed_siding_moves_rail_access_with_no_manual_edit(sample_db_rw: str) -> None:
    """Only the upgrade row changes: WH-L-010 measures 1,146 m (cluster siding) while UPG-06 is
    under way and 777 m (the new siding) once it is recorded complete — sheet, search and fit
    alike, on the same day."""
    today = dt.date.today()
    with psycopg.connect(sample_db_rw) as conn:
        conn.execute("UPDATE upgrades SET status = 'under_way' WHERE code = 'UPG-06'")
        conn.commit()
        g = _parcel(conn, "WH-L-010")
        want_before, code_before = _nearest(_rail_features(conn, today), g)
        before = (
            parcel_sheet(conn, "WH-L-010")["distances"]["rail"]["m"],
            _search_rail(conn, "WH-L-010", today),
            _fit_rail(conn, "WH-L-010", today),
        )
        conn.execute(
            "UPDATE upgrades SET status = 'completed', finish_date = %s WHERE code = 'UPG-06'",
            (today - dt.timedelta(days=1),),
        )
        conn.commit()
        want_after, code_after = _nearest(_rail_features(conn, today), g)
        sheet = parcel_sheet(conn, "WH-L-010")["distances"]["rail"]
        after = (
            sheet["m"],
            _search_rail(conn, "WH-L-010", today),
            _fit_rail(conn, "WH-L-010", today),
        )
    assert code_before == "INF-SID-CZ" and want_before == pytest.approx(1146, abs=1)
    assert want_after == pytest.approx(777, abs=1)
    assert before == pytest.approx((want_before,) * 3, abs=0.05)
    assert after == pytest.approx((want_after,) * 3, abs=0.05)
    # the siding the upgrade built, or the upgrade's own works (the same line, 0 m apart)
    assert {sheet["code"], code_after} <= {"INF-SID-LP", "UPG-06"}
