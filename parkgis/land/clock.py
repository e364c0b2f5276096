"""The park's clock: one daily job that moves what time moves.

Run in-process by the server (a background task started in the app's lifespan, at start and
then shortly after each park midnight) and as ``parkgis tick [--as-of DATE]`` for cron or a
systemd timer. Each run, for the park date ``as_of`` (default today, Asia/Shanghai):

1. expires lapsed reservations (:func:`parkgis.land.lifecycle.expire_reservations`);
2. opens listing periods whose start day has come, and records the result of those whose
   last day has passed — sold, or 流拍 back to available (:mod:`parkgis.land.listing`);
3. flags idle land, and idle land that may be taken back (:mod:`parkgis.land.idle`);
4. flags upgrades past their finish date and not complete, planned upgrades past their
   start, and projects past their start date that have not started building.

Every change is audited with actor ``system``: parcel changes as ``parcel_events`` rows,
findings about upgrades and projects as ``clock_flags`` rows. Each step only acts on what
is due and not yet done, so a second run on the same date changes nothing. The whole run is
one transaction behind a transaction-level advisory lock taken with ``pg_try_``: of two
workers (or a worker and a cron tick) starting together, one does the work and the other
returns at once with ``skipped``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.land import idle, lifecycle, listing

log = logging.getLogger("parkgis.clock")

#: Advisory lock key of the daily job (distinct from the migration lock).
CLOCK_LOCK = 7_413_013
#: The in-process job runs this long after park midnight (let a late write land first).
RUN_AFTER_MIDNIGHT = timedelta(minutes=5)

SQL_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s) AS got"
SQL_IDLE_FLAG = """
INSERT INTO idle_flags (contract_id, parcel_code, kind, stage, since, fee_wan, as_of)
VALUES (%(contract_id)s, %(code)s, %(kind)s, %(stage)s, %(since)s, %(fee)s, %(as_of)s)
ON CONFLICT (contract_id, kind, stage) DO NOTHING
RETURNING id
"""
# The overdue rules are migration 0011's SQL functions, shared with the planner board, the
# sheet and the map; only the late start of a planned upgrade is the clock's own.
SQL_OVERDUE_UPGRADES = """
SELECT code, 'overdue' AS flag, finish_date + 1 AS since, status, start_date, finish_date
  FROM upgrades WHERE upgrade_overdue(status, finish_date, %(as_of)s)
UNION ALL
SELECT code, 'late_start', start_date + 1, status, start_date, finish_date
  FROM upgrades WHERE status = 'planned' AND start_date < %(as_of)s
ORDER BY 1, 2
"""
SQL_OVERDUE_PROJECTS = """
SELECT code, 'past_start' AS flag, start_date + 1 AS since, stage
  FROM projects WHERE project_past_start(stage, start_date, %(as_of)s)
ORDER BY code
"""
SQL_CLOCK_FLAG = """
INSERT INTO clock_flags (subject_kind, subject_code, flag, since, as_of, data)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (subject_kind, subject_code, flag, since) DO NOTHING
RETURNING id
"""
SQL_FLAGS = """
SELECT subject_kind, subject_code, flag, since, as_of, raised_at, data FROM clock_flags
 WHERE (%(kind)s::text IS NULL OR subject_kind = %(kind)s) ORDER BY subject_kind, subject_code
"""


def _noon(d: date) -> datetime:
    """A moment on park date ``d`` (what the date-based steps need from a clock)."""
    return datetime.combine(d, time(12), tzinfo=lifecycle.PARK_TZ)


def flag_idle(conn: psycopg.Connection, as_of: date) -> list[dict[str, Any]]:
    """Raise each idle finding once: an ``idle_flags`` row and an event in the parcel's history
    (``idle_flag`` with the fee; ``idle_reclaimable`` at two years)."""
    raised: list[dict[str, Any]] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for f in idle.idle_land(conn, as_of):
            stages = ["idle"] + (["reclaimable"] if f.stage == "reclaimable" else [])
            for stage in stages:
                since = f.since if stage == "idle" else f.reclaim_from
                got = cur.execute(
                    SQL_IDLE_FLAG,
                    {
                        "contract_id": f.contract_id,
                        "code": f.parcel_code,
                        "kind": f.kind,
                        "stage": stage,
                        "since": since,
                        "fee": f.fee_wan if stage == "idle" else None,
                        "as_of": as_of,
                    },
                ).fetchone()
                if got is None:
                    continue
                action = "idle_flag" if stage == "idle" else "idle_reclaimable"
                lifecycle.note_event(
                    cur,
                    f.parcel_code,
                    "system",
                    action,
                    f"{f.reason_zh} / {f.reason_en}",
                    {
                        "contract_no": f.contract_no,
                        "kind": f.kind,
                        "stage": stage,
                        "since": since,
                        "fee_wan": f.fee_wan if stage == "idle" else None,
                        "delay_days": f.delay_days,
                        "as_of": as_of,
                    },
                )
                raised.append(
                    {
                        "parcel_code": f.parcel_code,
                        "contract_no": f.contract_no,
                        "kind": f.kind,
                        "stage": stage,
                    }
                )
    return raised


def flag_overdue(conn: psycopg.Connection, as_of: date) -> list[dict[str, Any]]:
    """Raise once each upgrade past its finish (not complete), planned upgrade past its start,
    and project past its start date that has not started building."""
    raised: list[dict[str, Any]] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        found = [
            ("upgrade", r) for r in cur.execute(SQL_OVERDUE_UPGRADES, {"as_of": as_of}).fetchall()
        ]
        found += [
            ("project", r) for r in cur.execute(SQL_OVERDUE_PROJECTS, {"as_of": as_of}).fetchall()
        ]
        for kind, r in found:
            data = {k: v for k, v in r.items() if k not in ("code", "flag", "since")}
            got = cur.execute(
                SQL_CLOCK_FLAG,
                (kind, r["code"], r["flag"], r["since"], as_of, json.dumps(data, default=str)),
            ).fetchone()
            if got is not None:
                raised.append(
                    {
                        "subject_kind": kind,
                        "subject_code": r["code"],
                        "flag": r["flag"],
                        "since": r["since"],
                    }
                )
    return raised


def tick(conn: psycopg.Connection[Any], as_of: date | None = None) -> dict[str, Any]:
    """Run the daily job for park date ``as_of`` (default today); what it changed.

    Returns ``{"as_of", "skipped", "expired", "opened", "closed", "idle", "overdue",
    "network_rebuilt"}``;
    ``skipped`` is true (and nothing changed) when another run holds the clock's lock.
    Commits on a connection without an open transaction; inside a caller's transaction the
    work and the lock belong to that transaction.
    """
    as_of = as_of or lifecycle.park_today()
    out: dict[str, Any] = {"as_of": as_of, "skipped": False}
    with conn.transaction():
        got = conn.execute(SQL_TRY_LOCK, (CLOCK_LOCK,)).fetchone()
        assert got is not None  # a SELECT without FROM answers one row
        if not (got["got"] if isinstance(got, dict) else got[0]):
            out["skipped"] = True
            return out
        out["expired"] = lifecycle.expire_reservations(conn, now=_noon(as_of))
        out["opened"] = listing.open_due(conn, as_of)
        out["closed"] = listing.close_due(conn, as_of)
        out["idle"] = flag_idle(conn, as_of)
        out["overdue"] = flag_overdue(conn, as_of)
        out["network_rebuilt"] = _refresh_network(conn, as_of)
    return out


def _refresh_network(conn: psycopg.Connection, as_of: date) -> bool:
    """A road upgrade completed by today joins the graph (parkgis.geo.network), rebuilt only
    when its inputs changed (a start-up or a quiet day costs a fingerprint, not minutes of
    drive times at 10^6 parcels). In a savepoint: a failed refresh leaves yesterday's figures,
    never undoes the day's lifecycle work."""
    from parkgis.geo import network

    try:
        with conn.transaction():
            return network.refresh_if_changed(conn, as_of)
    except psycopg.Error as exc:
        log.warning("road network refresh failed on %s: %s", as_of, exc)
        return False


def changes(result: dict[str, Any]) -> int:
    """How many changes a tick made."""
    return sum(len(result.get(k) or []) for k in ("expired", "opened", "closed", "idle", "overdue"))


def flags(conn: psycopg.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """The clock's findings about upgrades and projects (``kind``: upgrade | project)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_FLAGS, {"kind": kind}).fetchall()


def seconds_to_next_run(now: datetime | None = None) -> float:
    """Seconds from ``now`` to the next park midnight plus :data:`RUN_AFTER_MIDNIGHT`."""
    now = (now or datetime.now(lifecycle.PARK_TZ)).astimezone(lifecycle.PARK_TZ)
    nxt = (
        datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=lifecycle.PARK_TZ)
        + RUN_AFTER_MIDNIGHT
    )
    return max((nxt - now).total_seconds(), 1.0)


def run_once(url: str) -> dict[str, Any] | None:
    """One tick on a connection of its own; a failure is logged, never raised (the server
    keeps serving and the next day's run tries again)."""
    try:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            result = tick(conn)
        log.info(
            "clock tick %s: %s changes%s",
            result["as_of"],
            changes(result),
            " (skipped: another worker runs it)" if result["skipped"] else "",
        )
        return result
    except Exception:  # noqa: BLE001 - a background job must outlive a bad day
        log.exception("clock tick failed")
        return None


async def run_daily(url: str) -> None:
    """The in-process clock after start: a tick after each park midnight (the server runs the
    start's tick itself before serving, so the first request already sees today's state)."""
    while True:
        await asyncio.sleep(seconds_to_next_run())
        await asyncio.to_thread(run_once, url)
