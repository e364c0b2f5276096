"""Two planners must never hand one parcel to two projects.

50 reservations of one parcel race over real HTTP (uvicorn on loopback, a thread pool, all with
the same fresh ``If-Match``); the database's exclusion constraint is tested on its own too.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
import psycopg
import pytest
from workbench_helpers import add_users, login, one, rows, small_park

N = 50


def test_fifty_simultaneous_reservations_one_wins(sample_db_rw: str, live_server_rw: str) -> None:
    url = sample_db_rw
    add_users(url)
    code = one(url, "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1")[
        "code"
    ]
    projects = [r["code"] for r in rows(url, "SELECT code FROM projects ORDER BY code")]
    with httpx.Client(base_url=live_server_rw, timeout=120) as c:
        headers = login(c, "plan")
        tag = c.get(f"/api/parcels/{code}").headers["etag"]
    events_before = one(
        url, "SELECT count(*) AS n FROM parcel_events WHERE parcel_code = %s", (code,)
    )["n"]
    until = str(date.today() + timedelta(days=90))
    start = threading.Barrier(N)

    def reserve(i: int) -> int:
        with httpx.Client(base_url=live_server_rw, timeout=120) as c:
            start.wait()
            r = c.post(
                f"/api/parcels/{code}/reserve",
                json={"project": projects[i % len(projects)], "until": until, "note": f"racer {i}"},
                headers={**headers, "If-Match": tag},
            )
            return r.status_code

    with ThreadPoolExecutor(N) as pool:
        statuses = list(pool.map(reserve, range(N)))

    assert statuses.count(200) == 1, statuses
    assert all(s in (409, 412) for s in statuses if s != 200), statuses
    events = rows(
        url, "SELECT action, note FROM parcel_events WHERE parcel_code = %s ORDER BY id", (code,)
    )
    assert len(events) == events_before + 1
    assert events[-1]["action"] == "reserve"
    holds = rows(
        url,
        "SELECT project_code, note FROM parcel_holds WHERE parcel_code = %s AND active",
        (code,),
    )
    assert len(holds) == 1 and holds[0]["note"] == events[-1]["note"]
    p = one(url, "SELECT status, version FROM parcels WHERE code = %s", (code,))
    assert p["status"] == "reserved" and f'"{code}-{p["version"] - 1}"' == tag


def test_exclusion_constraint_refuses_a_second_active_hold(empty_db: str) -> None:
    """Whatever the caller (a script, a bug), the database keeps one active hold per parcel."""
    small_park(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute(
            "INSERT INTO parcel_holds (parcel_code, project_code, kind, during) "
            "VALUES ('T-1', 'PRJ-A', 'allocated', tstzrange(now(), NULL))"
        )
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute(
                "INSERT INTO parcel_holds (parcel_code, project_code, kind, during) "
                "VALUES ('T-1', 'PRJ-B', 'allocated', "
                "tstzrange(now() + interval '1 year', NULL))"
            )
        conn.rollback()
        # a closed hold does not block, nor does a hold of another parcel
        conn.execute(
            "INSERT INTO parcel_holds (parcel_code, kind, during, active) "
            "VALUES ('T-1', 'reserved', tstzrange(now(), NULL), false), "
            "       ('T-1', 'allocated', tstzrange(now(), NULL), true), "
            "       ('T-2', 'allocated', tstzrange(now(), NULL), true)"
        )


def test_second_writer_waits_then_sees_the_new_version(empty_db: str) -> None:
    """The row lock serialises writers: a planner whose transaction starts while another holds
    the parcel gets 412 once the first commits, never a silent overwrite."""
    from parkgis.errors import PreconditionFailed
    from parkgis.land.lifecycle import ActionParams, apply_action, park_today

    small_park(empty_db)
    first = psycopg.connect(empty_db)
    first.execute("SELECT 1 FROM parcels WHERE code = 'T-1' FOR UPDATE")  # planner A's lock
    outcome: list[object] = []

    def planner_b() -> None:
        with psycopg.connect(empty_db) as conn:
            try:
                apply_action(conn, "T-1", "withdraw", ActionParams(), "plan2", 1)
                outcome.append("ok")
            except PreconditionFailed as e:
                outcome.append(e)

    t = threading.Thread(target=planner_b)
    t.start()
    # B is now blocked on the row lock; A changes the parcel and commits.
    first.execute("SELECT set_config('parkgis.actor', 'plan', true)")
    first.execute(
        "UPDATE parcels SET status = 'reserved', project_code = 'PRJ-A', "
        "reserved_until = %s WHERE code = 'T-1'",
        (park_today(),),
    )
    first.commit()
    t.join(60)
    first.close()
    assert len(outcome) == 1 and isinstance(outcome[0], PreconditionFailed)
    assert one(empty_db, "SELECT status FROM parcels WHERE code = 'T-1'")["status"] == "reserved"
