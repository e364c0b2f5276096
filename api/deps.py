"""Dependencies shared by routers (connections, settings).

A connection that fails with OperationalError is closed before it goes back, so the pool
drops it instead of handing a dead socket to the next request; the error itself reaches
``api/errors.py`` and becomes a 503 with Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg_pool import PoolTimeout

from parkgis.db.pool import set_statement_timeout
from parkgis.settings import Settings

# Route classes for statement_timeout: the planner's work (reviews, uploads, pipeline,
# parcel actions) may legitimately run long; everything else is a public read and gets the
# short session default set on every pooled connection.
PLANNER_PREFIXES = ("/api/planner", "/api/pipeline", "/api/review", "/api/indicators",
                    "/api/users", "/api/inquiries", "/api/layers", "/api/projects",
                    "/api/parcels/merge")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_planner_route(request: Request) -> bool:
    path = request.url.path
    if path.startswith(PLANNER_PREFIXES):
        return True
    return request.method in WRITE_METHODS and path.startswith("/api/parcels/")


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def async_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    async with request.app.state.pool.connection() as conn:
        try:
            yield conn
        except psycopg.OperationalError:
            await conn.close()
            raise


def sync_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection for the domain core; committed when the request succeeds."""
    state = request.app.state
    s: Settings = state.settings
    timeout = s.db_pool_timeout_s
    if time.monotonic() - getattr(state, "db_pool_timeout_at", -1e9) < 2 * timeout:
        timeout = min(timeout, s.db_pool_timeout_degraded_s)
    try:
        with state.sync_pool.connection(timeout=timeout) as conn:
            try:
                if is_planner_route(request):
                    set_statement_timeout(conn, s.db_statement_timeout_planner_ms)
                yield conn
            except psycopg.OperationalError:
                conn.close()
                raise
    except PoolTimeout:
        state.db_pool_timeout_at = time.monotonic()
        raise


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AsyncConn = Annotated[psycopg.AsyncConnection, Depends(async_conn)]
SyncConn = Annotated[psycopg.Connection, Depends(sync_conn)]
