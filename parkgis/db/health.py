"""The readiness query behind ``/healthz`` (SQL stays in the core)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

HEALTH_SQL = """
SELECT current_database() AS database,
       postgis_lib_version() AS postgis,
       current_setting('server_version') AS postgres,
       (SELECT count(*) FROM parcels) AS parcels,
       (SELECT max(version) FROM schema_migrations) AS schema
"""


async def readiness(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    """What ``/healthz`` reports of the database: name, versions, parcel count, schema.

    A connection on which the check failed is closed before it is handed back, so the pool
    drops it rather than giving a broken socket to the next request; the error is re-raised
    for the caller to report.
    """
    try:
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(HEALTH_SQL)).fetchone()
    except Exception:
        await conn.close()
        raise
    assert row is not None  # a SELECT without FROM answers one row
    return row
