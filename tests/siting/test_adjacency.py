"""The adjacency store (migration 0019): ``parcel_adjacency`` equals its definition.

The reference is written again here in shapely, from the module's constants: every pair of
parcels of one zone, GK projection and 4-digit land-use class within SNAP_M, whose lesser
code's boundary runs within SNAP_M of the other parcel over more than MIN_SHARED_M + 2 SNAP_M.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import shapely
from psycopg.rows import dict_row
from writers import second_waits_for_first

from parkgis.land import parcel_edit
from parkgis.siting import assembly

PARCELS_SQL = """SELECT id, code, zone_code, gk_srid, landuse_code,
       ST_AsBinary(ST_SetSRID(geom_gk, 0)) AS wkb FROM parcels"""
STORE_SQL = "SELECT xmin::text, a_id, b_id, shared_m FROM parcel_adjacency"
DEFINITION_SQL = """SELECT a_id, b_id, shared_m
  FROM adjacency_measure(ARRAY(SELECT id FROM parcels), true)"""


def brute_force(conn: psycopg.Connection) -> dict[tuple[int, int], float]:
    """(a_id, b_id) -> shared length, measured in shapely over every pair of parcels."""
    rows = conn.cursor(row_factory=dict_row).execute(PARCELS_SQL).fetchall()
    geoms = shapely.from_wkb([r["wkb"] for r in rows])
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=assembly.SNAP_M)
    out: dict[tuple[int, int], float] = {}
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        x, y = rows[i], rows[j]
        if x["code"] >= y["code"] or (x["zone_code"], x["gk_srid"]) != (
            y["zone_code"],
            y["gk_srid"],
        ):
            continue
        if (x["landuse_code"] or "")[:4] != (y["landuse_code"] or "")[:4] or not x["landuse_code"]:
            continue
        grown = shapely.buffer(geoms[j], assembly.SNAP_M, quad_segs=1)
        shared = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), grown))
        if shared - 2 * assembly.SNAP_M > assembly.MIN_SHARED_M:
            out[(x["id"], y["id"])] = float(shared)
    return out


def stored(conn: psycopg.Connection) -> dict[tuple[int, int], float]:
    return {(a, b): m for _, a, b, m in conn.execute(STORE_SQL)}


def assert_exact(conn: psycopg.Connection) -> int:
    """The store equals the SQL definition (to the bit) and the shapely reference."""
    have = stored(conn)
    assert have == {(a, b): m for a, b, m in conn.execute(DEFINITION_SQL)}
    ref = brute_force(conn)
    assert set(have) == set(ref)
    for k, m in ref.items():
        assert have[k] == pytest.approx(m, rel=1e-9, abs=1e-6), k
    return len(have)


def test_sample_store_equals_brute_force(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        n = assert_exact(conn)
        # the sample's parks are laid out in rows of neighbours
        assert n > conn.execute("SELECT count(*) FROM parcels").fetchone()[0]


def test_pairs_of_a_pool_are_the_stores_among_it(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        pool = [r[0] for r in conn.execute("SELECT code FROM parcels WHERE status = 'available'")]
        pairs = assembly.adjacent_pairs(conn, pool)
        code = dict(conn.execute("SELECT id, code FROM parcels").fetchall())
        ref = brute_force(conn)
        expected = {
            (code[a], code[b]) for a, b in ref if code[a] in set(pool) and code[b] in set(pool)
        }
        assert {(a, b) for a, b, _ in pairs} == expected
        assert all(a < b for a, b, _ in pairs)
        # the groups' size leaves out the pairs no group of that size can hold: over the
        # largest, or under the smallest even with the pool's largest parcel added
        area = dict(conn.execute("SELECT code, area_m2 FROM parcels").fetchall())
        largest = max(area[c] for c in pool)
        lo, hi = largest + 20_000, 150_000
        bounded = assembly.adjacent_pairs(conn, pool, min_group_m2=lo, max_group_m2=hi)
        assert bounded and len(bounded) < len(pairs)
        assert {(a, b) for a, b, _ in bounded} == {
            (a, b) for a, b, _ in pairs if lo - largest <= area[a] + area[b] <= hi
        }


def test_sized_groups_are_the_groups_of_that_size(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        pool_sql = "SELECT id, code, area_m2, 1 AS extra FROM parcels WHERE status = %(s)s"
        pool = [r[0] for r in conn.execute("SELECT code FROM parcels WHERE status = 'available'")]
        area = dict(conn.execute("SELECT code, area_m2 FROM parcels").fetchall())
        every = assembly.groups(assembly.adjacent_pairs(conn, pool))
        lo, hi = 100_000.0, 200_000.0
        found = assembly.sized_groups(conn, pool_sql, {"s": "available"}, lo, hi)
        expected = [g for g in every if lo <= sum(area[c] for c in g) <= hi]
        assert found.tuples() == expected and 0 < len(expected) < len(every)
        assert list(found.area_m2) == [area[c] for c in found.codes]
        assert set(found.extra) == {1}  # the pool query's extra, per parcel
        # a member's figure by slot, in the group's order (0 in a pair's third slot)
        slots = found.slots(found.area_m2, 0.0).tolist()
        for r, got in zip(found.rows.tolist(), slots, strict=True):
            g = [found.codes[j] for j in r if j >= 0]
            assert g == sorted(g)
            assert got == [area[c] for c in g] + [0.0] * (3 - len(g))


def test_groups_in_numpy_are_the_groups(sample_db: str, synth_10k: str) -> None:
    for url in (sample_db, synth_10k):
        with psycopg.connect(url) as conn:
            codes = [r[0] for r in conn.execute("SELECT code FROM parcels")]
            pairs = assembly.adjacent_pairs(conn, codes)
        names, rows = assembly.group_rows([(a, b) for a, b, _ in pairs])
        got = sorted(tuple(names[i] for i in r if i >= 0) for r in rows.tolist())
        assert got == assembly.groups(pairs) and len(got) > len(pairs)
        assert all(
            list(r[: len(r) - r.count(-1)]) == sorted(r[: 3 - r.count(-1)]) for r in rows.tolist()
        )


def _most_connected(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT p.code FROM parcels p JOIN parcel_adjacency s ON p.id IN (s.a_id, s.b_id)"
        " WHERE p.status = 'available' AND NOT EXISTS (SELECT 1 FROM parcel_holds h"
        " WHERE h.parcel_code = p.code) GROUP BY p.code ORDER BY count(*) DESC, p.code LIMIT 1"
    ).fetchone()
    assert row is not None
    return str(row[0])


def _split(conn: psycopg.Connection, code: str) -> None:
    lon, lat = conn.execute(
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM parcels WHERE code = %s) s",
        (code,),
    ).fetchone()
    line = {"type": "LineString", "coordinates": [[lon, lat - 0.02], [lon, lat + 0.02]]}
    parcel_edit.split_parcel(conn, code, line, "test", None)


EDITS: dict[str, Any] = {
    "split": _split,
    "shrink": lambda c, code: c.execute(
        "UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, -0.0004)) WHERE code = %s", (code,)
    ),
    "landuse": lambda c, code: c.execute(
        "UPDATE parcels SET landuse_code = CASE WHEN landuse_code LIKE '1001%%'"
        " THEN '110101' ELSE '100101' END WHERE code = %s",
        (code,),
    ),
    # a new code that sorts before every neighbour's: the pair's measuring side changes
    "code": lambda c, code: c.execute(
        "UPDATE parcels SET code = 'A-' || code WHERE code = %s", (code,)
    ),
    "delete": lambda c, code: c.execute("DELETE FROM parcels WHERE code = %s", (code,)),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edit_keeps_store_exact_touching_only_its_pairs(sample_db_rw: str, edit: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        code = _most_connected(conn)
        pid = conn.execute("SELECT id FROM parcels WHERE code = %s", (code,)).fetchone()[0]
        before = {(a, b, m): x for x, a, b, m in conn.execute(STORE_SQL)}
        conn.commit()
        with conn.transaction():
            EDITS[edit](conn, code)
            assert_exact(conn)  # exact inside the writing transaction
        after = {(a, b, m): x for x, a, b, m in conn.execute(STORE_SQL)}
        assert after != before
        new_ids = {
            r[0] for r in conn.execute("SELECT id FROM parcels WHERE id > %s", (max(before)[0],))
        }
        mine = {pid} | new_ids
        # rows of other parcels' pairs are not rewritten
        for k, x in after.items():
            if not mine & {k[0], k[1]}:
                assert before.get(k) == x, (edit, k)
        assert_exact(conn)


def test_status_change_does_not_touch_the_store(sample_db_rw: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        before = conn.execute(STORE_SQL).fetchall()
        conn.execute(
            "UPDATE parcels SET status = 'not_for_supply' WHERE code = %s",
            (_most_connected(conn),),
        )
        assert conn.execute(STORE_SQL).fetchall() == before


def test_concurrent_land_use_edits_do_not_miss_the_pair(sample_db_rw: str) -> None:
    """Two adjacent parcels both moved to another class, each by its own transaction: without
    the geometry lock each would measure the other's old class and the pair would be lost."""
    with psycopg.connect(sample_db_rw) as conn:
        a, b = conn.execute(
            "SELECT pa.code, pb.code FROM parcel_adjacency s JOIN parcels pa ON pa.id = s.a_id"
            " JOIN parcels pb ON pb.id = s.b_id WHERE pa.landuse_code LIKE '1001%'"
            " ORDER BY s.shared_m DESC LIMIT 1"
        ).fetchone()
    move = "UPDATE parcels SET landuse_code = '110101' WHERE code = %s"
    t1, t2 = psycopg.connect(sample_db_rw), psycopg.connect(sample_db_rw)
    try:
        t1.execute(move, (a,))
        second_waits_for_first(t1, t2, move, (b,))
        with psycopg.connect(sample_db_rw) as conn:
            assert_exact(conn)
            assert (a, b) in {(x, y) for x, y, _ in assembly.adjacent_pairs(conn, [a, b])}
    finally:
        t1.close()
        t2.close()


def test_rebuild_equals_trigger_store(sample_db_rw: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        kept = stored(conn)
        assembly.set_triggers(conn, False)
        conn.execute(
            "UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, -0.0004)) WHERE id % 3 = 0"
        )
        assert stored(conn) == kept  # off: the store is stale
        assembly.set_triggers(conn, True)
        n = assembly.rebuild(conn)
        assert n == len(stored(conn)) < len(kept)
        assert_exact(conn)


def test_synthetic_10k_store_equals_brute_force(synth_10k: str) -> None:
    """bench/synth.py's bulk load (triggers off, store rebuilt set-based): parks of grids in
    three GK zones, of which only the parcels sharing an edge and a land-use class pair."""
    with psycopg.connect(synth_10k) as conn:
        n = assert_exact(conn)
        assert n > 5_000
        # a pool's pairs come from the store, among the pool only
        pool = [r[0] for r in conn.execute("SELECT code FROM parcels WHERE status = 'available'")]
        pairs = assembly.adjacent_pairs(conn, pool)
        assert pairs and {a for a, _, _ in pairs} | {b for _, b, _ in pairs} <= set(pool)
