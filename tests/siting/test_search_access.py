"""Search reads distances from the precomputed store (issue 16 point 1): on the sample, every
filter form gives the same pages as the per-query nearest-neighbour SQL it replaced, which is
kept callable as ``tests/search_before_access.py`` (the module as it was before)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
import search_before_access as old

from parkgis.siting import search as new

# Every distance form (near / within / knn, as base and as join), roles, sorts both ways,
# attribute filters, and the dates around UPG-06's completion (rail access changes).
QUERIES: list[list[tuple[str, str]]] = [
    [],
    [("max_rail_m", "1000")],
    [("max_rail_m", "800"), ("sort", "dist_rail")],
    [("sort", "dist_rail")],
    [("sort", "-dist_rail")],
    [("sort", "-dist_road"), ("status", "available,reserved,listed,allocated")],
    [("max_substation_m", "900")],
    [("max_substation_m", "900"), ("max_rail_m", "1500"), ("sort", "-area_mu")],
    [("max_substation_m", "800"), ("near_role", "can_making"), ("near_role_m", "1500")],
    [("near_role", "can_making"), ("near_role_m", "1500"), ("sort", "dist_role")],
    [("near_role", "brewery"), ("near_role_m", "5000"), ("sort", "-dist_role")],
    [("near_role", "no_such_role"), ("near_role_m", "5000")],
    [("max_road_m", "800"), ("max_substation_m", "3000"), ("svc", "road,power")],
    [("max_water_m", "1000"), ("max_gas_m", "1000"), ("min_mu", "30")],
    [("max_gas_m", "300"), ("sort", "dist_gas"), ("landuse", "1001")],
    [("max_water_m", "400"), ("sort", "dist_substation"), ("limit", "7"), ("offset", "3")],
    [("zone", "WH-LP"), ("sort", "dist_rail"), ("limit", "10")],
    [("max_rail_m", "100000"), ("sort", "-dist_water"), ("limit", "5"), ("offset", "20")],
]
DATES = ["2025-06-01", "2026-01-06", "2026-01-07", "2026-06-01", "2030-01-01"]


def _rows(mod: Any, conn: psycopg.Connection, params: list[tuple[str, str]]) -> Any:
    q = mod.AvailabilityQuery.from_params(params)
    r = mod.search(conn, q, expire=False)
    return r.number_matched, r.rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        # the old "near" form measured to pieces of the features (ST_Subdivide): the same
        # distance up to rounding in the last bits
        return abs(a - b) <= 1e-6
    return bool(a == b)


def _canonical(rows: list[dict[str, Any]], params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows of a page sorted by distance, reordered by (distance to 1e-6 m, code)."""
    sort = dict(params).get("sort", "code").removeprefix("-")
    if not sort.startswith("dist_"):
        return rows
    col = f"{sort}_m"
    desc = dict(params)["sort"].startswith("-")
    return sorted(
        rows,
        key=lambda r: (
            r[col] is None,
            0.0 if r[col] is None else round(r[col], 6) * (-1 if desc else 1),
            r["code"],
        ),
    )


@pytest.mark.parametrize("as_of", DATES)
def test_search_same_as_per_query_sql(sample_db: str, as_of: str) -> None:
    with psycopg.connect(sample_db) as conn:
        checked = 0
        for params in QUERIES:
            p = [*params, ("as_of", as_of)]
            n_old, rows_old = _rows(old, conn, p)
            n_new, rows_new = _rows(new, conn, p)
            assert n_new == n_old, p
            # parcels at the same distance (to 1e-6 m) may swap: see _same
            rows_old, rows_new = _canonical(rows_old, p), _canonical(rows_new, p)
            assert [r["code"] for r in rows_new] == [r["code"] for r in rows_old], p
            for ro, rn in zip(rows_old, rows_new, strict=True):
                assert ro.keys() == rn.keys()
                for k in ro:
                    assert _same(ro[k], rn[k]), (p, ro["code"], k, ro[k], rn[k])
            checked += len(rows_new)
        assert checked > 500  # the queries are not all empty


def test_rail_access_follows_the_siding_upgrade(sample_db: str) -> None:
    """WH-L-010 (issue 13): 1,146 m to the cluster siding before UPG-06's finish date, 777 m
    to the new siding from that day — read from the store by the search."""
    with psycopg.connect(sample_db) as conn:
        finish = conn.execute("SELECT finish_date FROM upgrades WHERE code = 'UPG-06'").fetchone()
        assert finish is not None and isinstance(finish[0], date)
        out = {}
        for d in (finish[0].replace(day=1) if finish[0].day > 1 else finish[0], finish[0]):
            q = new.AvailabilityQuery.from_params(
                [("zone", "WH-LP"), ("limit", "5000"), ("as_of", d.isoformat())]
            )
            rows = new.search(conn, q, expire=False).rows
            out[d] = next(r["dist_rail_m"] for r in rows if r["code"] == "WH-L-010")
        before, after = out.values()
        assert round(before) == 1146 and round(after) == 777
