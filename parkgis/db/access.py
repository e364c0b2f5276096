"""The precomputed access store (issue 16 point 1; migration 0013_access.sql).

``parcel_nearest`` holds, per parcel and distance category of the availability search (and
per enterprise chain role, ``role:<role>``), the steps of its nearest in-service feature over
time: the row with ``since <= d < until`` gives the distance as of ``d``. Triggers keep it
exact in the writing transaction; :func:`rebuild` recomputes it set-based, for bulk loads run
with those triggers disabled and as a repair tool (``parkgis db access rebuild``).

``parcel_services`` (migration 0014_service_store.sql) is its sibling for 七通一平: per parcel a
completed upgrade reaches, per service, the date from which one serves it. The same triggers
switch, and the same rebuild, cover both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

#: The store's triggers (disabled by bulk loaders, which then call :func:`rebuild`).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "parcels": ("parcels_access_ins", "parcels_access_upd", "parcels_svc_ins", "parcels_svc_upd"),
    "infrastructure": (
        "infrastructure_access_ins",
        "infrastructure_access_upd",
        "infrastructure_access_del",
    ),
    "upgrades": (
        "upgrades_access_ins",
        "upgrades_access_upd",
        "upgrades_access_del",
        "upgrades_svc_ins",
        "upgrades_svc_upd",
        "upgrades_svc_del",
    ),
    "enterprises": ("enterprises_access_ins", "enterprises_access_upd", "enterprises_access_del"),
}

ID_RANGE_SQL = "SELECT min(id), max(id), count(*) FROM parcels"
PART_COUNT_SQL = "SELECT count(*) FROM parcels WHERE id BETWEEN %s AND %s"
# Writers wait while the store is rebuilt: their triggers would race the chunks.
LOCK_SQL = "LOCK TABLE parcels, infrastructure, upgrades, enterprises IN SHARE MODE"
REBUILD_RANGE_SQL = "SELECT access_rebuild_range(%(lo)s, %(hi)s)"
# The 七通一平 store is small (parcels reached by a completed upgrade): one statement.
SERVICES_REBUILD_SQL = "SELECT svc_store_refresh(NULL)"
ORPHANS_SQL = """DELETE FROM parcel_nearest a
 WHERE NOT EXISTS (SELECT 1 FROM parcels q WHERE q.id = a.parcel_id)"""
SIZE_SQL = """SELECT (SELECT count(*) FROM parcel_nearest),
                     pg_table_size('parcel_nearest'), pg_indexes_size('parcel_nearest')"""


@dataclass(frozen=True)
class RebuildReport:
    """What :func:`rebuild` did: parcels covered, rows written, seconds taken."""

    parcels: int
    rows: int
    seconds: float


def rebuild(
    conn: psycopg.Connection,
    chunk: int = 2000,
    progress: Callable[[int, int], None] | None = None,
    part: tuple[int, int] = (0, 1),
) -> RebuildReport:
    """Recompute the whole store in the caller's transaction, ``chunk`` parcel ids at a time.

    ``progress(done, total)`` is called after each chunk (parcel ids covered of the range).
    The tables it reads are locked against writes until the caller commits.
    ``part=(k, n)``: only the k-th of n equal slices of the id range, so that n connections
    can share a bulk load's rebuild (their SHARE locks do not conflict; each commits its own).
    Slice 0 (or the whole run) also recomputes ``parcel_services``.
    """
    t0 = time.perf_counter()
    cur = conn.cursor(row_factory=psycopg.rows.tuple_row)
    cur.execute(LOCK_SQL)
    if part[0] == 0:
        cur.execute(SERVICES_REBUILD_SQL)
    lo, hi, n = cur.execute(ID_RANGE_SQL).fetchone() or (None, None, 0)
    rows = 0
    if lo is None or hi is None:
        cur.execute("DELETE FROM parcel_nearest")
        return RebuildReport(0, 0, time.perf_counter() - t0)
    if part[1] > 1:
        k, parts = part
        width = (int(hi) - int(lo) + parts) // parts
        lo, hi = int(lo) + k * width, min(int(hi), int(lo) + (k + 1) * width - 1)
        got = cur.execute(PART_COUNT_SQL, (lo, hi)).fetchone()
        n = got[0] if got else 0
    else:
        cur.execute(ORPHANS_SQL)
    start = int(lo)
    while start <= int(hi):
        end = min(start + chunk - 1, int(hi))
        row = cur.execute(REBUILD_RANGE_SQL, {"lo": start, "hi": end}).fetchone()
        rows += int(row[0]) if row else 0
        if progress is not None:
            progress(end - int(lo) + 1, int(hi) - int(lo) + 1)
        start = end + 1
    return RebuildReport(int(n), rows, time.perf_counter() - t0)


def size(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Rows, table bytes and index bytes of the store."""
    r = conn.cursor(row_factory=psycopg.rows.tuple_row).execute(SIZE_SQL).fetchone()
    assert r is not None
    return int(r[0]), int(r[1]), int(r[2])


def set_triggers(conn: psycopg.Connection, enabled: bool) -> None:
    """Enable or disable the store's triggers (bulk loads; call :func:`rebuild` after)."""
    verb = "ENABLE" if enabled else "DISABLE"
    for table, names in TRIGGERS.items():
        for name in names:
            conn.execute(f"ALTER TABLE {table} {verb} TRIGGER {name}")
