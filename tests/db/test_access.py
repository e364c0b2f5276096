"""The precomputed access store (issue 16 point 1, migration 0013): ``parcel_nearest``.

Expected distances are computed here by brute force — the minimum ST_Distance over every
feature in service on the date, with the in-service rule of issue 13 written out again in this
file (register rows that exist; rows a completed upgrade built, from its finish date; the
completed upgrades' own works) — not through ``infra_as_of`` or the store's functions.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from writers import second_waits_for_first

from parkgis.vocabulary import DISTANCES

ROOT = Path(__file__).resolve().parents[2]

# Every feature ever in service with the first day it serves (NULL: always), by brute force.
FEATURES_SQL = """
SELECT i.code, i.kind, i.gk_srid, ST_SetSRID(i.geom_gk, 0) AS g, NULL::date AS since
  FROM infrastructure i WHERE i.status = 'existing'
UNION ALL
SELECT i.code, i.kind, i.gk_srid, ST_SetSRID(i.geom_gk, 0),
       CASE WHEN bool_or(u.finish_date IS NULL) THEN NULL ELSE min(u.finish_date) END
  FROM infrastructure i
  JOIN upgrades u ON u.status = 'completed'
                 AND (u.infra_code = i.code
                      OR (u.infra_code IS NULL AND u.kind = i.kind AND u.gk_srid = i.gk_srid
                          AND ST_Distance(u.geom_gk, i.geom_gk) <= 300))
 WHERE i.status <> 'existing'
 GROUP BY i.code, i.kind, i.gk_srid, i.geom_gk
UNION ALL
SELECT u.code, u.kind, u.gk_srid, ST_SetSRID(u.geom_gk, 0), u.finish_date
  FROM upgrades u WHERE u.status = 'completed'
UNION ALL
SELECT e.code, 'role:' || e.chain_role, e.gk_srid, ST_SetSRID(e.geom_gk, 0), NULL
  FROM enterprises e
"""
# Per parcel and category, the brute-force distance as of %(d)s.
EXPECTED_SQL = f"""
WITH f AS ({FEATURES_SQL}), c(cat, kinds) AS (SELECT * FROM unnest(%(cats)s::text[],
                                                                 %(kinds)s::text[]))
SELECT p.id, c.cat, min(ST_Distance(f.g, ST_SetSRID(p.geom_gk, 0))) AS m
  FROM parcels p CROSS JOIN c
  JOIN f ON f.gk_srid = p.gk_srid AND f.kind = ANY(string_to_array(c.kinds, ','))
        AND (f.since IS NULL OR f.since <= %(d)s)
 GROUP BY p.id, c.cat
"""
STORED_SQL = """SELECT a.parcel_id, a.cat, a.m FROM parcel_nearest a
 WHERE a.since <= %(d)s AND a.until > %(d)s"""
# The whole store as a full recompute would write it.
FULL_SQL = """SELECT c.parcel_id, c.cat, c.since::text, c.until::text, c.m, c.code
  FROM access_compute(
    ARRAY(SELECT q.id FROM parcels q, access_cats() a(cat) ORDER BY q.id, a.cat),
    ARRAY(SELECT a.cat FROM parcels q, access_cats() a(cat) ORDER BY q.id, a.cat)) c"""
STORE_SQL = """SELECT xmin::text AS xmin, a.parcel_id, a.cat, a.since::text, a.until::text, a.m,
       a.code FROM parcel_nearest a"""


def _categories(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    cats = list(DISTANCES)
    kinds = [",".join(DISTANCES[c][1]) for c in cats]
    for (role,) in conn.execute("SELECT DISTINCT chain_role FROM enterprises"):
        cats.append(f"role:{role}")
        kinds.append(f"role:{role}")
    return cats, kinds


def _dates(conn: psycopg.Connection) -> list[dt.date]:
    """A day before every finish date of the upgrade programme, the day itself, and today."""
    days = {dt.date(2000, 1, 1), dt.date.today()}
    for (d,) in conn.execute(
        "SELECT DISTINCT finish_date FROM upgrades WHERE finish_date > '1990-01-01'"
    ):
        days |= {d - dt.timedelta(days=1), d}
    return sorted(days)


def _check_against_brute_force(conn: psycopg.Connection) -> int:
    cats, kinds = _categories(conn)
    compared = 0
    for d in _dates(conn):
        want = {
            (r[0], r[1]): r[2]
            for r in conn.execute(EXPECTED_SQL, {"cats": cats, "kinds": kinds, "d": d})
        }
        got: dict[tuple[int, str], float] = {}
        for pid, cat, m in conn.execute(STORED_SQL, {"d": d}):
            assert (pid, cat) not in got, f"two rows valid on {d} for {pid} {cat}"
            got[(pid, cat)] = m
        assert got.keys() == want.keys(), d
        for k, m in want.items():
            assert got[k] == pytest.approx(m, abs=1e-9), (d, k)
        compared += len(want)
    return compared


def test_categories_are_the_searchs(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        rows = dict(conn.execute("SELECT cat, kinds FROM access_categories").fetchall())
    assert rows == {c: list(k[1]) for c, k in DISTANCES.items()}


def test_sample_store_equals_brute_force_on_every_date(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        n_parcels = conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
        compared = _check_against_brute_force(conn)
        # the sample has completed upgrades: some steps start after the beginning of time
        assert (
            conn.execute(
                "SELECT count(*) FROM parcel_nearest WHERE since > '-infinity'"
            ).fetchone()[0]
            > 0
        )
    assert compared >= n_parcels * len(DISTANCES) * 3


def test_wh_l_010_steps(sample_db: str) -> None:
    """Issue 13's reproduction, read from the store: the cluster siding until UPG-06's finish
    date, the logistics-park siding from that day."""
    with psycopg.connect(sample_db) as conn:
        finish = conn.execute("SELECT finish_date FROM upgrades WHERE code = 'UPG-06'").fetchone()[
            0
        ]
        rows = conn.execute(
            "SELECT a.since::text, a.until::text, round(a.m)::int, a.code FROM parcel_nearest a"
            " JOIN parcels p ON p.id = a.parcel_id"
            " WHERE p.code = 'WH-L-010' AND a.cat = 'rail' ORDER BY since"
        ).fetchall()
    assert [(r[2], r[3]) for r in rows] == [(1146, "INF-SID-CZ"), (777, "UPG-06")]
    assert rows[0][0] == "-infinity" and rows[1][1] == "infinity"
    assert rows[0][1] == finish.isoformat() and rows[1][0] == finish.isoformat()


# (dates as text: '-infinity' has no Python date)
REACH_SQL = (
    "SELECT parcel_id, code, "
    + ", ".join(f"{c}_m, {c}_since::text AS {c}_since" for c in DISTANCES)
    + " FROM parcel_reach"
)
# The reach row's definition (migration 0017) from the store, spelt out here in Python: per
# parcel and category the last step (until infinity) -- its distance and first day.
LAST_STEPS_SQL = """SELECT p.id, p.code, a.cat, a.m, a.since::text FROM parcels p
  JOIN parcel_nearest a ON a.parcel_id = p.id AND a.until = 'infinity'"""


def _check_reach(conn: psycopg.Connection) -> int:
    """parcel_reach holds, for every parcel with a last step of a search category, its code
    and per category the last step's distance and first day; nothing else."""
    want: dict[int, dict[str, Any]] = {}
    for pid, code, cat, m, since in conn.execute(LAST_STEPS_SQL):
        if cat in DISTANCES:
            row = want.setdefault(pid, {"parcel_id": pid, "code": code})
            row[f"{cat}_m"], row[f"{cat}_since"] = m, since
    for row in want.values():
        for cat in DISTANCES:
            row.setdefault(f"{cat}_m", None)
            row.setdefault(f"{cat}_since", None)
    cur = conn.cursor(row_factory=dict_row)
    got = {r["parcel_id"]: r for r in cur.execute(REACH_SQL)}
    assert got == want
    return len(got)


def test_reach_row_has_a_pair_of_columns_per_search_category(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'parcel_reach'"
            )
        }
        assert cols == {"parcel_id", "code"} | {
            f"{c}_{k}" for c in DISTANCES for k in ("m", "since")
        }
        assert _check_reach(conn) == conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
        # the sample has steps still to come on some dates: UPG-06's siding
        n = conn.execute(
            "SELECT count(*) FROM parcel_reach WHERE rail_since > '-infinity'"
        ).fetchone()[0]
        assert n > 0


def test_reach_row_follows_a_parcels_code(sample_db_rw: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        conn.execute("UPDATE parcels SET code = 'WH-L-010X' WHERE code = 'WH-L-010'")
        assert (
            conn.execute("SELECT count(*) FROM parcel_reach WHERE code = 'WH-L-010X'").fetchone()[0]
            == 1
        )
        _check_reach(conn)


def _store(conn: psycopg.Connection) -> dict[tuple[Any, ...], str]:
    """Row content -> xmin (the transaction that wrote the row version)."""
    out = {}
    for r in conn.execute(STORE_SQL):
        out[tuple(r[1:])] = r[0]
    return out


EDITS: dict[str, list[str]] = {
    "move_parcel": [
        "UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, -0.0004)) WHERE code = 'WH-L-010'"
    ],
    "add_facility": [
        "INSERT INTO infrastructure (code, kind, name_zh, name_en, gk_srid, geom, geom_gk)"
        " SELECT 'T-SS-NEW', 'substation', '新变电站', 'New substation', gk_srid,"
        " ST_PointOnSurface(geom), 'POINT EMPTY' FROM parcels WHERE code = 'WH-L-020'"
    ],
    "move_facility": [
        "UPDATE infrastructure SET geom = ST_Translate(geom, 0.01, 0.004)"
        " WHERE code = (SELECT code FROM infrastructure WHERE kind = 'substation'"
        " AND status = 'existing' AND code NOT IN (SELECT infra_code FROM upgrades"
        " WHERE infra_code IS NOT NULL) ORDER BY code LIMIT 1)"
    ],
    # the register row that is the nearest of the most parcels (and no upgrade names)
    "delete_facility": [
        "DELETE FROM infrastructure WHERE code = (SELECT a.code FROM parcel_nearest a"
        " JOIN infrastructure i ON i.code = a.code WHERE i.code NOT IN (SELECT infra_code"
        " FROM upgrades WHERE infra_code IS NOT NULL) GROUP BY a.code"
        " ORDER BY count(*) DESC, a.code LIMIT 1)"
    ],
    "complete_upgrade": [
        "UPDATE upgrades SET status = 'completed', finish_date = current_date WHERE code = 'UPG-08'"
    ],
    "change_finish_date": [
        "UPDATE upgrades SET finish_date = finish_date + 45 WHERE code = 'UPG-06'"
    ],
    "edit_enterprise": [
        "UPDATE enterprises SET chain_role = 'film', geom = ST_Translate(geom, 0.003, 0)"
        " WHERE code = (SELECT code FROM enterprises WHERE chain_role = 'can_making'"
        " ORDER BY code LIMIT 1)"
    ],
    # a new parcel (20 km south of the parks: nothing overlaps it)
    "add_parcel": [
        "INSERT INTO parcels (code, zone_code, status, landuse_code, gk_srid, area_m2, geom,"
        " geom_gk) SELECT 'WH-T-NEW', zone_code, 'available', landuse_code, gk_srid, area_m2,"
        " ST_Translate(geom, 0.0, -0.2), 'MULTIPOLYGON EMPTY' FROM parcels"
        " WHERE code = 'WH-L-020'"
    ],
    "delete_parcel": [
        "DELETE FROM parcels WHERE code = (SELECT min(code) FROM parcels p WHERE status ="
        " 'available' AND NOT EXISTS (SELECT 1 FROM parcel_holds h WHERE h.parcel_code = p.code))"
    ],
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edit_keeps_store_exact_touching_only_affected_rows(sample_db_rw: str, edit: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        before = _store(conn)
        conn.commit()
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = 'origin'")
            for sql in EDITS[edit]:
                conn.execute(sql)
            # exact within the writing transaction, not only after it
            inside = {tuple(r[1:]) for r in conn.execute(STORE_SQL)}
            full = {tuple(r) for r in conn.execute(FULL_SQL)}
            assert inside == full
            _check_reach(conn)
        after = _store(conn)
        assert set(after) == full
        changed = {k for k, x in after.items() if before.get(k) != x}
        gone = set(before) - set(after)
        # something changed, and every row version written is a row whose content is new
        assert changed or gone, edit
        assert all(k not in before for k in changed), edit
        # the untouched rows are the vast majority
        assert len(changed) + len(gone) < len(before) / 4, (edit, len(changed), len(gone))
        _check_against_brute_force(conn)


def test_rebuild_equals_trigger_store(sample_db_rw: str) -> None:
    from parkgis.db import access

    with psycopg.connect(sample_db_rw) as conn:
        kept = {tuple(r[1:]) for r in conn.execute(STORE_SQL)}
        conn.execute("DELETE FROM parcel_nearest WHERE parcel_id % 3 = 0")
        conn.execute("UPDATE parcel_nearest SET m = m + 1 WHERE parcel_id % 3 = 1")
        r = access.rebuild(conn, chunk=40)
        assert r.parcels == conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
        assert {tuple(x[1:]) for x in conn.execute(STORE_SQL)} == kept
        _check_reach(conn)


def test_synthetic_10k_equals_brute_force(synth_10k: str) -> None:
    """bench/synth.py at 10^4 parcels (bulk load, triggers off, store filled set-based), then
    completed, planned and undated upgrades added through the triggers."""
    url = synth_10k
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone()[0] == 10_000
        _check_against_brute_force(conn)
        # upgrades: a new siding (own works) finished on a date, a substation building a
        # planned register row, an undated completion, and a planned one (never counts)
        conn.execute("""
            INSERT INTO upgrades (code, kind, name_zh, name_en, status, finish_date, gk_srid,
                                  infra_code, geom, geom_gk)
            SELECT 'T-UPG-' || v.k, v.kind, 'x', 'x', v.status, v.fin, p.gk_srid, v.infra,
                   ST_PointOnSurface(p.geom), 'POINT EMPTY'
              FROM (VALUES (1, 'rail_siding', 'completed', DATE '2024-05-01', NULL, 17),
                           (2, 'gas_main', 'completed', NULL, NULL, 4000),
                           (3, 'substation', 'planned', DATE '2024-01-01', NULL, 9000),
                           (4, 'water_main', 'completed', DATE '2023-03-01', NULL, 6500))
                   AS v(k, kind, status, fin, infra, pid)
              JOIN parcels p ON p.id = v.pid""")
        conn.execute("""
            UPDATE upgrades SET status = 'completed', finish_date = DATE '2025-02-01',
                   infra_code = (SELECT code FROM infrastructure WHERE status = 'planned'
                                  ORDER BY code LIMIT 1)
             WHERE code = 'T-UPG-3'""")
        n = _check_against_brute_force(conn)
        assert _check_reach(conn) == 10_000
        assert (
            conn.execute(
                "SELECT count(DISTINCT since) FROM parcel_nearest WHERE since > '-infinity'"
            ).fetchone()[0]
            >= 3
        )
    assert n >= 10_000 * len(DISTANCES) * 5


def test_concurrent_edits_do_not_miss_each_other(sample_db_rw: str) -> None:
    """A new substation inside a parcel (transaction 1, not yet committed) and that parcel
    shrunk (transaction 2, started meanwhile): after both commit the store is exact."""
    t1 = psycopg.connect(sample_db_rw)
    t2 = psycopg.connect(sample_db_rw)
    try:
        t1.execute(EDITS["add_facility"][0])
        second_waits_for_first(
            t1,
            t2,
            "UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, -0.0003)) WHERE code = 'WH-L-020'",
        )
        with psycopg.connect(sample_db_rw) as conn:
            stored = {tuple(r[1:]) for r in conn.execute(STORE_SQL)}
            assert stored == {tuple(r) for r in conn.execute(FULL_SQL)}
            m = conn.execute(
                "SELECT a.m FROM parcel_nearest a JOIN parcels p ON p.id = a.parcel_id"
                " WHERE p.code = 'WH-L-020' AND a.cat = 'substation'"
                " AND a.until = 'infinity'"
            ).fetchone()
            assert m is not None and m[0] == 0.0  # the new substation stands inside it
            _check_reach(conn)
    finally:
        t1.close()
        t2.close()


def test_cli_rebuild_repairs_the_store(sample_db_rw: str, tmp_path: Path) -> None:
    import os

    with psycopg.connect(sample_db_rw, autocommit=True) as conn:
        want = {tuple(r[1:]) for r in conn.execute(STORE_SQL)}
        conn.execute("DELETE FROM parcel_nearest WHERE cat = 'rail'")
        conn.execute("UPDATE parcel_nearest SET m = m * 2 WHERE cat = 'road'")
    env = {**os.environ, "PARKGIS_DATABASE_URL": sample_db_rw, "PARKGIS_DATA_DIR": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "parkgis.cli", "db", "access", "rebuild", "--chunk", "50"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "完成 / done" in r.stdout and f"{len(want)} 行 rows" in r.stdout
    with psycopg.connect(sample_db_rw) as conn:
        assert {tuple(x[1:]) for x in conn.execute(STORE_SQL)} == want
        _check_reach(conn)
