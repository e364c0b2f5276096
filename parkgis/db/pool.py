"""Connection pools that survive a database restart.

Both pools (async for hot reads, sync for the domain core) are built here so that they share
one policy: every connection is checked when it is handed out unless it was given back less
than ``CHECK_IDLE_AFTER_S`` ago (a server restart leaves the idle ones dead), lives at most
``db_max_lifetime_s``, and a client waits at most ``db_pool_timeout_s`` for one.
``reconnect_timeout`` is kept short because psycopg_pool's backoff between reconnection
attempts doubles without a ceiling until that timeout: with the default (5 minutes) a pool
that lost the database for 5 s retried only after 16, 32, 64 s... Once an attempt gives up,
the next waiting client starts a fresh one at once.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from parkgis.settings import Settings


def connect_kwargs(url: str, settings: Settings) -> dict[str, Any]:
    """Connection options: a connect timeout and the public statement timeout as the session
    default (planner routes raise it per transaction, see :func:`set_statement_timeout`)."""
    options = conninfo_to_dict(url).get("options") or ""
    timeout = f"-c statement_timeout={int(settings.db_statement_timeout_public_ms)}"
    return {
        "row_factory": dict_row,
        "connect_timeout": int(settings.db_connect_timeout_s),
        "options": f"{options} {timeout}".strip(),
    }


def _common(url: str, settings: Settings) -> dict[str, Any]:
    return {
        "conninfo": url,
        "kwargs": connect_kwargs(url, settings),
        "max_size": settings.pool_max_size,
        "timeout": settings.db_pool_timeout_s,
        "max_lifetime": settings.db_max_lifetime_s,
        "reconnect_timeout": settings.db_reconnect_timeout_s,
        "open": False,
    }


# When one idle connection turns out dead, the server has most likely restarted and every
# idle connection is dead too. Checking them one per checkout means each request discards one
# and then sleeps in psycopg_pool's backoff (1 s, 2 s, ...): with ten stale connections a
# route took over 5 s to answer again. So the first dead one triggers a check of the whole
# pool, which drops the rest and starts fresh connections at once.


# A connection given back this recently is handed out again without the check's round trip:
# under load every checkout paid an empty query before its real one (the uncached tile route
# makes one query per request). A restart kills the connections that were idle at the time;
# unless the restart came within this window of their last use they idled longer and are
# checked, the first dead one checking the whole pool. One used in that same instant fails
# its query, which is answered 503 like any lost connection (is_unavailable), and the pool
# discards it.
CHECK_IDLE_AFTER_S = 1.0


class _LastUse:
    """When each connection was last given back (weakly held: the pool owns connections)."""

    def __init__(self) -> None:
        self._at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def returned(self, conn: Any) -> None:
        self._at[conn] = time.monotonic()

    def fresh(self, conn: Any) -> bool:
        at = self._at.get(conn)
        return at is not None and time.monotonic() - at < CHECK_IDLE_AFTER_S


# The time of return is noted in ``putconn``, not in a ``reset`` callback: psycopg_pool hands a
# connection with a reset to its background worker (a task, or a thread for the sync pool)
# before it can be lent again, a handoff per request; without one it goes back inline.


class _AsyncPool(AsyncConnectionPool):
    """The async pool, noting in ``returns`` when each connection comes back."""

    def __init__(self, returns: _LastUse, **kwargs: Any) -> None:
        self.returns = returns
        super().__init__(**kwargs)

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.returns.returned(conn)
        await super().putconn(conn)


class _SyncPool(ConnectionPool):
    """The sync pool, noting in ``returns`` when each connection comes back."""

    def __init__(self, returns: _LastUse, **kwargs: Any) -> None:
        self.returns = returns
        super().__init__(**kwargs)

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        self.returns.returned(conn)
        super().putconn(conn)


def async_pool(url: str, settings: Settings) -> AsyncConnectionPool:
    """The async pool (not opened: use ``async with``).

    Its connections are in autocommit. Everything it serves is a read: a tile, the layer
    versions, a token's account, a page of OGC items. One statement needs no BEGIN and COMMIT
    around it (two more round trips); a read of several statements that must share the
    transaction's ``now()`` opens one (``conn.transaction()``; see
    :func:`parkgis.publish.ogc.features.read_page`).
    """
    holder: list[AsyncConnectionPool] = []
    last = _LastUse()

    async def check(conn: psycopg.AsyncConnection[Any]) -> None:
        if last.fresh(conn):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            if holder:
                await holder[0].check()
            raise

    common = _common(url, settings)
    common["kwargs"] = {**common["kwargs"], "autocommit": True}
    pool = _AsyncPool(last, min_size=settings.pool_min_size, check=check, **common)
    holder.append(pool)
    return pool


def sync_pool(url: str, settings: Settings) -> ConnectionPool:
    """The sync pool (not opened: use ``with``); transactions as psycopg's default."""
    holder: list[ConnectionPool] = []
    last = _LastUse()

    def check(conn: psycopg.Connection[Any]) -> None:
        if last.fresh(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if holder:
                holder[0].check()
            raise

    pool = _SyncPool(last, min_size=1, check=check, **_common(url, settings))
    holder.append(pool)
    return pool


def set_statement_timeout(conn: psycopg.Connection, ms: int) -> None:
    """Raise (or lower) the statement timeout for the connection's current transaction only,
    so the pooled connection goes back with the session default."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(ms)}ms",))


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means 'the database is away or too busy': worth a 503 and a retry.

    PoolTimeout is an OperationalError; so are a lost connection (no SQLSTATE), the shutdown
    of a backend (57P01..57P03) and a cancelled statement (57014, our statement_timeout).
    Lock timeouts (55P03) are a conflict the client must resolve, not an outage.
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    return (
        state == ""
        or state.startswith("57")
        or state.startswith("08")
        or state in ("53300", "53400")
    )
