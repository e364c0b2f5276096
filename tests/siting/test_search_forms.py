"""The availability search evaluates a distance filter in different SQL forms depending on its
reach (parkgis.siting.search: "near" sets driven from the features, "within" probes per candidate).
Both forms must give the same parcels and the same distances; and past ``exact_max`` the total
is a flagged estimate, never below what the page proves.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from parkgis.siting import search as s

CASES = [
    [("max_rail_m", "1500")],
    [("max_substation_m", "900"), ("near_role", "can_making"), ("near_role_m", "2500")],
    [("max_water_m", "800"), ("max_gas_m", "1200"), ("landuse", "1001")],
    [("max_road_m", "600"), ("sort", "dist_road")],
    [("max_substation_m", "2000"), ("sort", "-area_mu"), ("limit", "7"), ("offset", "3")],
]


def _run(conn: psycopg.Connection, items: list[tuple[str, str]]) -> list[tuple]:
    res = s.search(
        conn,
        s.AvailabilityQuery.from_params(
            [*items, ("limit", "5000")] if not any(k == "limit" for k, _ in items) else items
        ),
    )
    return [
        (
            r["code"],
            *(
                None if r[f"dist_{c}_m"] is None else round(r[f"dist_{c}_m"], 6)
                for c in s.DISTANCES
            ),
        )
        for r in res.rows
    ]


@pytest.mark.parametrize("items", CASES)
def test_near_and_within_forms_agree(sample_db: str, monkeypatch, items) -> None:
    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        cats = [*s.DISTANCES, "role"]
        monkeypatch.setattr(s, "NEAR_REACH_M", dict.fromkeys(cats, 1e9))  # all near sets
        near = _run(conn, items)
        monkeypatch.setattr(s, "NEAR_REACH_M", {})  # every filter probed per candidate
        within = _run(conn, items)
    assert near == within
    assert near  # the cases are chosen to match parcels of the sample


def test_sort_by_filtered_distance_is_the_nearest(sample_db: str) -> None:
    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        filt = s.search(
            conn,
            s.AvailabilityQuery.from_params(
                [("max_rail_m", "3000"), ("sort", "dist_rail"), ("limit", "5000")]
            ),
        )
        plain = s.search(
            conn, s.AvailabilityQuery.from_params([("sort", "dist_rail"), ("limit", "5000")])
        )
    want = {
        r["code"]: r["dist_rail_m"]
        for r in plain.rows
        if r["dist_rail_m"] is not None and r["dist_rail_m"] <= 3000
    }
    got = {r["code"]: r["dist_rail_m"] for r in filt.rows}
    assert got.keys() == want.keys() and got
    # the same distances to far below a millimetre (parcels at equal distance may swap places
    # by the last bits of the floating point: each form sorts by what it reports)
    assert [got[c] for c in sorted(got)] == pytest.approx([want[c] for c in sorted(want)], abs=1e-6)
    ds = [r["dist_rail_m"] for r in filt.rows]
    assert ds == sorted(ds)


def test_total_is_exact_or_a_flagged_estimate(sample_db_rw: str) -> None:
    with psycopg.connect(sample_db_rw, row_factory=dict_row, autocommit=True) as conn:
        conn.execute("ANALYZE parcels")  # the table size is read from the statistics
        q = s.AvailabilityQuery.from_params([("limit", "2")])
        exact = s.search(conn, q)
        est = s.search(conn, q, exact_max=0)  # as if the table were province-sized
        small = s.search(conn, s.AvailabilityQuery.from_params([("limit", "5000")]), 0)
    assert exact.exact and exact.number_matched > 2
    assert not est.exact and est.number_matched >= 2
    assert s.to_geojson(est)["numberMatchedEstimated"] is True
    assert "numberMatchedEstimated" not in s.to_geojson(exact)
    # a page that is not full knows its total exactly, whatever the table size
    assert small.exact and small.number_matched == len(small.rows) == exact.number_matched


@pytest.mark.parametrize(
    ("items", "in_passing"),
    [
        # sorted by the distance its own short-reach filter is driven from: the page stops
        # after its rows, and the total is counted apart
        ([("near_role", "can_making"), ("near_role_m", "1800"), ("sort", "dist_role")], False),
        ([("max_substation_m", "900"), ("sort", "dist_substation")], False),
        # sorted otherwise: counted in passing
        ([("near_role", "can_making"), ("near_role_m", "1800"), ("sort", "-area_mu")], True),
    ],
)
def test_a_near_page_total_counts_every_match(sample_db_rw: str, items, in_passing) -> None:
    with psycopg.connect(sample_db_rw, row_factory=dict_row, autocommit=True) as conn:
        conn.execute("ANALYZE parcels")  # the table size is read from the statistics
        page = s.search(conn, s.AvailabilityQuery.from_params([*items, ("limit", "3")]))
        everything = s.search(conn, s.AvailabilityQuery.from_params([*items, ("limit", "5000")]))
        est = s.search(conn, s.AvailabilityQuery.from_params([*items, ("limit", "3")]), 0)
    assert len(page.rows) == 3 and len(everything.rows) > 3
    assert page.exact and page.number_matched == len(everything.rows)
    assert [r["code"] for r in page.rows] == [r["code"] for r in everything.rows[:3]]
    # past exact_max (province scale) the total is exact when counted in passing, else the
    # planner's estimate, flagged, never below what the page proves
    assert est.exact is in_passing and est.number_matched >= 3
    if in_passing:
        assert est.number_matched == len(everything.rows)


def test_the_latency_settings_stay_inside_the_search(sample_db: str) -> None:
    """search() turns parallel workers off and keeps joins in written order for its own
    statements only: the caller's session (autocommit here, as the CLI and the bench use it)
    keeps its settings."""
    with psycopg.connect(sample_db, autocommit=True) as conn:
        show = (
            "SELECT current_setting('max_parallel_workers_per_gather'),"
            " current_setting('join_collapse_limit'), current_setting('enable_hashjoin')"
        )
        conn.execute("SET max_parallel_workers_per_gather = 3")
        conn.execute("SET join_collapse_limit = 7")
        conn.execute("SET enable_hashjoin = on")
        res = s.search(conn, s.AvailabilityQuery.from_params([("limit", "2")]))
        assert len(res.rows) == 2
        assert conn.execute(show).fetchone() == ("3", "7", "on")
        plan = s.explain(conn, s.AvailabilityQuery.from_params([("limit", "2")]))
        assert "Limit" in plan and conn.execute(show).fetchone() == ("3", "7", "on")
