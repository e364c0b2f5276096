"""The inline 七通一平 expression of the registry (parkgis.db.collections.svc_sql) says what
``svc_as_of`` of migration 0011 says, for every parcel, service and date where an answer can
change: the day before and the day of every completed upgrade's finish, and today. Also with
the survey flags cleared, so the upgrade branch is what decides (the sample's survey marks
most parcels as served)."""

from __future__ import annotations

import psycopg
import pytest

from parkgis.db.collections import svc_sql

SERVICES = ("road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled")


def _disagreements(conn: psycopg.Connection, day: str) -> dict[str, int]:
    out = {}
    for s in SERVICES:
        inline = svc_sql(s, "%(d)s::date")
        row = conn.execute(
            f"SELECT count(*) FROM parcels t WHERE ({inline}) IS DISTINCT FROM "
            f"svc_as_of(t.svc_{s}, '{s}', t.geom_gk, t.gk_srid, %(d)s::date)",
            {"d": day},
        ).fetchone()
        assert row is not None
        out[s] = row[0]
    return out


@pytest.mark.parametrize("survey", ["as loaded", "cleared"])
def test_inline_equals_svc_as_of(sample_db_rw: str, survey: str) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        if survey == "cleared":
            cols = ", ".join(f"svc_{s} = false" for s in SERVICES)
            conn.execute("ALTER TABLE parcels DISABLE TRIGGER USER")
            conn.execute(f"UPDATE parcels SET {cols}")
        days = [
            r[0].isoformat()
            for r in conn.execute(
                "SELECT DISTINCT d FROM (SELECT finish_date AS d FROM upgrades"
                " WHERE status = 'completed' AND finish_date IS NOT NULL"
                " UNION SELECT finish_date - 1 FROM upgrades"
                " WHERE status = 'completed' AND finish_date IS NOT NULL"
                " UNION SELECT current_date) s ORDER BY d"
            ).fetchall()
        ]
        assert len(days) >= 3  # the sample completes upgrades on dated days
        served = conn.execute(
            "SELECT count(*) FROM parcels t, upgrades u JOIN service_reach r ON r.kind = u.kind"
            " WHERE u.status = 'completed' AND u.gk_srid = t.gk_srid AND ST_DWithin("
            "ST_SetSRID(u.geom_gk, 0), ST_SetSRID(t.geom_gk, 0), r.reach_m)"
        ).fetchone()
        assert served is not None and served[0] > 0  # the upgrade branch is exercised
        for day in days:
            assert _disagreements(conn, day) == {s: 0 for s in SERVICES}, day
        conn.rollback()
