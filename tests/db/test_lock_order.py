"""The stores' turns are taken in one order (migration 0020): an infrastructure edit and a
parcel edit crossing in two transactions wait for each other instead of deadlocking."""

from __future__ import annotations

import psycopg
from writers import second_waits_for_first

# A facility moved by about a metre: the access store refreshes its parcels (access_lock).
TOUCH_INFRA = "UPDATE infrastructure SET geom = ST_Translate(geom, 0.00001, 0) WHERE code = %s"
# The geometry lock (the overlap check), then the access and servicing stores' triggers.
SHRINK = "UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, -0.00001)) WHERE code = %s"
# The geometry lock only (the adjacency store's trigger).
LANDUSE = "UPDATE parcels SET landuse_code = '110101' WHERE code = %s"


def test_infrastructure_then_land_use_beside_a_geometry_edit_does_not_deadlock(
    sample_db_rw: str,
) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        infra = conn.execute("SELECT code FROM infrastructure ORDER BY code LIMIT 1").fetchone()
        a, b = (
            r[0]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 2"
            )
        )
    assert infra is not None
    t1, t2 = psycopg.connect(sample_db_rw), psycopg.connect(sample_db_rw)
    t1.execute("SET deadlock_timeout = '100ms'")
    t2.execute("SET deadlock_timeout = '100ms'")
    t1.commit()
    t2.commit()
    try:
        t1.execute(TOUCH_INFRA, infra)
        # t2's geometry edit waits for t1's turn; t1 goes on to a land-use edit (the geometry
        # lock) while t2 waits: before migration 0020 t2 held that lock and waited for
        # access_lock, held by t1 -- a deadlock, one side aborted
        second_waits_for_first(t1, t2, SHRINK, (a,), then=lambda: t1.execute(LANDUSE, (b,)))
    finally:
        t1.close()
        t2.close()
    with psycopg.connect(sample_db_rw) as conn:
        got = dict(
            conn.execute(
                "SELECT code, landuse_code FROM parcels WHERE code = ANY(%s)", ([a, b],)
            ).fetchall()
        )
    assert got[b] == "110101"
