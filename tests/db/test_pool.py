"""The pools' check on hand-out (parkgis.db.pool): a connection given back moments ago is
handed out without the check's round trip; one idle longer is checked, so a backend that died
meanwhile (a restart, a terminated session) never reaches a request."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from parkgis.db import pool
from parkgis.settings import Settings


def _kill(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_fresh_connections_skip_the_check_and_idle_ones_are_checked(sample_db: str) -> None:
    with pool.sync_pool(sample_db, Settings(database_url=sample_db)) as p:
        p.wait()
        with p.connection() as c:
            first = c.info.backend_pid
            c.execute("SELECT 1")
        # killed the instant after its request: handed out unchecked, its query fails as a
        # lost connection — what the API answers 503 with Retry-After — and it is discarded
        _kill(sample_db, first)
        with pytest.raises(psycopg.OperationalError) as lost, p.connection() as c:
            assert c.info.backend_pid == first  # the same connection, not checked
            c.execute("SELECT 1")
        assert pool.is_unavailable(lost.value)
        with p.connection() as c:
            second = c.info.backend_pid
            assert second != first and c.execute("SELECT 1").fetchone() is not None
        # killed while idle past the window: the check finds it dead and the pool hands out
        # a live one instead
        _kill(sample_db, second)
        time.sleep(pool.CHECK_IDLE_AFTER_S + 0.2)
        with p.connection() as c:
            assert c.info.backend_pid != second
            assert c.execute("SELECT 1").fetchone() is not None


def test_async_connections_read_outside_a_transaction_unless_one_is_opened(
    sample_db: str,
) -> None:
    """The async pool lends connections in autocommit: a tile's one statement runs with no
    BEGIN/COMMIT round trips (the server sees no transaction around it); a read of several
    statements opens one and its statements share the transaction's ``now()``; the next
    borrower gets the same connection back idle and in autocommit."""

    async def go() -> tuple[bool, str, bool, str, bool, int, int]:
        async with pool.async_pool(
            sample_db, Settings(database_url=sample_db, pool_max_size=1)
        ) as p:
            async with p.connection() as c:
                cur = await c.execute("SELECT now() = statement_timestamp() AS outside")
                outside = (await cur.fetchone())["outside"]
                during = c.info.transaction_status.name
                first = c.info.backend_pid
            async with p.connection() as c, c.transaction():
                a = (await (await c.execute("SELECT now() AS t")).fetchone())["t"]
                await asyncio.sleep(0.01)
                b = (await (await c.execute("SELECT now() AS t")).fetchone())["t"]
                inside = c.info.transaction_status.name
            async with p.connection() as c:
                return (
                    outside,
                    during,
                    a == b,
                    inside,
                    c.autocommit and c.info.transaction_status.name == "IDLE",
                    first,
                    c.info.backend_pid,
                )

    outside, during, same_now, inside, idle_again, first, last = asyncio.run(go())
    assert outside is True  # now() is the statement's own time: no transaction around it
    assert during == "IDLE"
    assert same_now and inside == "INTRANS"
    assert idle_again and first == last  # one connection, handed back inline each time
