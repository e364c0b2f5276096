"""Dependencies shared by routers (connections, settings).

A connection that fails with OperationalError is closed before it goes back, so the pool
drops it instead of handing a dead socket to the next request; the error itself reaches
``api/errors.py`` and becomes a 503 with Retry-After.

With read replicas configured (``app.state.replicas``, see :mod:`parkgis.db.replica`), public
GETs take a replica connection when one is healthy and has the caller's last write; a replica
failing under a request marks the request, and :class:`ReplicaFallback` runs it once more on
the primary, so a replica going away costs time, not a 5xx.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parkgis.auth import decode_token
from parkgis.db.pool import set_statement_timeout
from parkgis.db.replica import ReplicaRouter, commit_lsn, replica_fault
from parkgis.settings import Settings

# Route classes for statement_timeout: the planner's work (reviews, uploads, pipeline,
# parcel actions) may legitimately run long; everything else is a public read and gets the
# short session default set on every pooled connection.
PLANNER_PREFIXES = (
    "/api/planner",
    "/api/pipeline",
    "/api/review",
    "/api/indicators",
    "/api/users",
    "/api/inquiries",
    "/api/layers",
    "/api/projects",
    "/api/parcels/merge",
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_planner_route(request: Request) -> bool:
    path = request.url.path
    if path.startswith(PLANNER_PREFIXES):
        return True
    return request.method in WRITE_METHODS and path.startswith("/api/parcels/")


# Public reads a replica may serve: GETs of published data only. Planner routes, anything
# that writes, and pages that may write as a side effect stay on the primary.
REPLICA_READ_PREFIXES = ("/ogc", "/api/map/", "/api/parcels/available")


def is_replica_read(request: Request) -> bool:
    if request.method not in ("GET", "HEAD") or getattr(request.state, "replica_failed", False):
        return False
    path = request.url.path
    return (
        path == "/"
        or path.startswith(REPLICA_READ_PREFIXES)
        or (path.startswith("/api/parcels/") and path.endswith("/sheet"))
    )


def caller_of(request: Request) -> str | None:
    """The signed-in account named by the bearer token, for read-your-writes only: a bad
    token counts as anonymous here and is refused by the route's own auth dependency."""
    return caller_from_authorization(
        request.headers.get("authorization"), request.app.state.settings
    )


def caller_from_authorization(header: str | None, settings: Settings) -> str | None:
    """:func:`caller_of` from a raw ``Authorization`` value (the tile fast path has no
    request object)."""
    auth = header or ""
    if not auth[:7].lower() == "bearer ":
        return None
    try:
        return str(decode_token(auth[7:].strip(), settings)["sub"])
    except Exception:
        return None


def _router(request: Request) -> ReplicaRouter | None:
    return getattr(request.app.state, "replicas", None)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def async_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    router = _router(request)
    if router is not None and is_replica_read(request):
        async with router.async_read(caller_of(request)) as picked:
            if picked is not None:
                replica, rconn = picked
                try:
                    yield rconn
                except psycopg.Error as exc:
                    retry, down = replica_fault(exc)
                    if down:
                        router.mark_down(replica)
                    if retry:
                        request.state.replica_failed = True
                    raise
                return
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
    router = _router(request)
    if router is not None and is_replica_read(request):
        with router.sync_read(caller_of(request)) as picked:
            if picked is not None:
                replica, rconn = picked
                try:
                    yield rconn
                except psycopg.Error as exc:
                    retry, down = replica_fault(exc)
                    if down:
                        router.mark_down(replica)
                    if retry:
                        request.state.replica_failed = True
                    raise
                return
    # A write by a signed-in caller: their reads go to the primary until it is committed,
    # then to replicas that have replayed its LSN.
    writer = caller_of(request) if router is not None and request.method in WRITE_METHODS else None
    before = router.required_lsn(writer) if router is not None and writer else 0
    try:
        with state.sync_pool.connection(timeout=timeout) as conn:
            try:
                if writer and router is not None:
                    router.remember_pending(writer)
                if is_planner_route(request):
                    set_statement_timeout(conn, s.db_statement_timeout_planner_ms)
                yield conn
                if writer and router is not None:
                    router.remember_write(writer, commit_lsn(conn))
            except psycopg.OperationalError:
                conn.close()
                raise
            except BaseException:
                if writer and router is not None:
                    router.restore(writer, before)
                raise
    except PoolTimeout:
        state.db_pool_timeout_at = time.monotonic()
        raise


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AsyncConn = Annotated[psycopg.AsyncConnection, Depends(async_conn)]
SyncConn = Annotated[psycopg.Connection, Depends(sync_conn)]


class ReplicaFallback:
    """Runs a GET once more (on the primary) when its replica failed under it.

    The first attempt's response is held back only if it is a 5xx from a request marked
    ``replica_failed`` (or raised past the app with that mark); anything else streams through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        held: list[Message] = []

        async def guarded(message: Message) -> None:
            if held:
                return  # the failed attempt's body
            if (
                message["type"] == "http.response.start"
                and message["status"] >= 500
                and state.get("replica_failed")
            ):
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except Exception:
            if not state.get("replica_failed"):
                raise
            held.append({})
        if held:
            await self.app(scope, receive, send)  # replica_failed is set: the primary answers
