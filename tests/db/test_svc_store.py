"""The 七通一平 store (``parcel_services``, migration 0014) says what ``svc_as_of`` of migration
0011 says — read through both spellings the product uses (:func:`svc_sql` over the join,
:func:`svc_filter_sql` in a WHERE) — for every parcel, service and date where an answer can
change: the day before and the day of every completed upgrade's finish, far past and today.
Checked on the sample, with the survey flags cleared (so the upgrade side decides), after each
kind of edit inside the writing transaction, after a rebuild, and with two concurrent writers."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from writers import second_waits_for_first

from parkgis.db.collections import svc_filter_sql, svc_join, svc_sql
from parkgis.vocabulary import SERVICES

DAYS_SQL = """SELECT DISTINCT d FROM (
    SELECT finish_date AS d FROM upgrades WHERE finish_date IS NOT NULL
    UNION SELECT finish_date - 1 FROM upgrades WHERE finish_date IS NOT NULL
    UNION SELECT DATE '1990-01-01' UNION SELECT current_date) s ORDER BY d"""


def _disagreements(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    """(service, day) -> parcels where either spelling differs from svc_as_of."""
    days = [r[0] for r in conn.execute(DAYS_SQL).fetchall()]
    out = {}
    for s in SERVICES:
        ref = f"svc_as_of(t.svc_{s}, '{s}', t.geom_gk, t.gk_srid, %(d)s::date)"
        for d in days:
            row = conn.execute(
                f"SELECT count(*) FILTER (WHERE ({svc_sql(s, '%(d)s::date')}) IS DISTINCT FROM"
                f" {ref}) + count(*) FILTER (WHERE ({svc_filter_sql(s, '%(d)s::date')})"
                f" IS DISTINCT FROM {ref}) FROM parcels t {svc_join()}",
                {"d": d},
            ).fetchone()
            assert row is not None
            if row[0]:
                out[(s, d.isoformat())] = row[0]
    return out


def _clear_survey(conn: psycopg.Connection) -> None:
    """The sample's survey marks most parcels as served: clear it so the store decides."""
    cols = ", ".join(f"svc_{s} = false" for s in SERVICES)
    conn.execute(f"UPDATE parcels SET {cols}")


def _served_pairs(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM parcel_services ps, LATERAL (VALUES (road), (water), (drainage),"
        " (power), (gas), (heat), (telecom), (levelled)) v(d) WHERE v.d IS NOT NULL"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("survey", ["as loaded", "cleared"])
def test_store_equals_svc_as_of(sample_db_rw: str, survey: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        if survey == "cleared":
            _clear_survey(conn)
        # the sample completes upgrades on dated days, so the store's dates decide something
        assert _served_pairs(conn) > 0
        dated = conn.execute(
            "SELECT count(*) FROM upgrades WHERE status = 'completed' AND finish_date IS NOT NULL"
        ).fetchone()
        assert dated is not None and dated[0] >= 2
        assert _disagreements(conn) == {}


# The sample's completed upgrades that serve a service: UPG-09 (telecom, reach 10 km, dated);
# UPG-08 (water main) is under way until an edit completes it.
EDITS: dict[str, list[str]] = {
    "complete_upgrade": [
        "UPDATE upgrades SET status = 'completed', finish_date = DATE '2027-03-01'"
        " WHERE code = 'UPG-08'"
    ],
    "uncomplete_upgrade": ["UPDATE upgrades SET status = 'under_way' WHERE code = 'UPG-09'"],
    "change_finish_date": [
        "UPDATE upgrades SET finish_date = finish_date + 45 WHERE code = 'UPG-09'"
    ],
    "undated_completion": ["UPDATE upgrades SET finish_date = NULL WHERE code = 'UPG-09'"],
    "move_upgrade": [
        "UPDATE upgrades SET geom = ST_Translate(geom, 0.15, 0) WHERE code = 'UPG-09'"
    ],
    "add_upgrade": [
        "INSERT INTO upgrades (code, kind, name_zh, name_en, status, finish_date, gk_srid, geom,"
        " geom_gk) SELECT 'T-UPG-GAS', 'gas_main', '新燃气管', 'New gas main', 'completed',"
        " DATE '2026-06-30', gk_srid, ST_PointOnSurface(geom), 'POINT EMPTY' FROM parcels"
        " WHERE code = 'WH-L-020'"
    ],
    "delete_upgrade": ["DELETE FROM upgrades WHERE code = 'UPG-09'"],
    "move_parcel": [
        "UPDATE parcels SET geom = ST_Translate(geom, 0.5, 0) WHERE code = (SELECT p.code"
        " FROM parcels p JOIN parcel_services ps ON ps.parcel_id = p.id ORDER BY p.code LIMIT 1)"
    ],
    "add_parcel": [
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) SELECT 'T-NEW-1',"
        " zone_code, 'available', landuse_code, ST_Multi(ST_Translate(geom, 0, -0.03))"
        " FROM parcels WHERE code = 'WH-L-020'"
    ],
    "retune_reach": ["UPDATE service_reach SET reach_m = 50 WHERE service = 'telecom'"],
}
STORE_SQL = "SELECT ps::text FROM parcel_services ps"  # text: '-infinity' has no Python date


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_edit_keeps_the_store_exact(sample_db_rw: str, edit: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        _clear_survey(conn)
        before = {r[0] for r in conn.execute(STORE_SQL)}
        for sql in EDITS[edit]:
            n = conn.execute(sql).rowcount
            assert n == 1, (edit, n)
        # exact inside the writing transaction, not only after it
        assert _disagreements(conn) == {}, edit
        after = {r[0] for r in conn.execute(STORE_SQL)}
        assert after != before, edit  # the edit mattered to some parcel


def test_rebuild_repairs_the_store(sample_db_rw: str) -> None:
    from parkgis.db import access

    with psycopg.connect(sample_db_rw) as conn:
        kept = {r[0] for r in conn.execute(STORE_SQL)}
        conn.execute("DELETE FROM parcel_services WHERE parcel_id % 2 = 0")
        conn.execute("UPDATE parcel_services SET road = DATE '1900-01-01'")
        access.rebuild(conn, chunk=100)
        assert {r[0] for r in conn.execute(STORE_SQL)} == kept


def test_concurrent_upgrade_and_parcel_do_not_miss_each_other(sample_db_rw: str) -> None:
    """A completed gas main (transaction 1, not yet committed) and a new parcel within its reach
    (transaction 2, started meanwhile): after both commit the store is exact."""
    t1 = psycopg.connect(sample_db_rw)
    t2 = psycopg.connect(sample_db_rw)
    try:
        # the gas main of "add_upgrade", placed inside where the new parcel will be
        t1.execute(
            EDITS["add_upgrade"][0].replace(
                "ST_PointOnSurface(geom)", "ST_Translate(ST_PointOnSurface(geom), 0, -0.03)"
            )
        )
        second_waits_for_first(t1, t2, EDITS["add_parcel"][0])
        with psycopg.connect(sample_db_rw) as conn:
            assert _disagreements(conn) == {}
            row = conn.execute(
                "SELECT ps.gas FROM parcels p JOIN parcel_services ps ON ps.parcel_id = p.id"
                " WHERE p.code = 'T-NEW-1'"
            ).fetchone()
            assert row is not None and row[0] <= date(2026, 6, 30)
    finally:
        t1.close()
        t2.close()
