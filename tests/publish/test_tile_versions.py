"""Tile cache invalidation by LISTEN/NOTIFY (parkgis.publish.tiles.VersionWatch, migration 0007).

The tile path reads no ``data_versions`` per request: an edit reaches every API worker as a
notification at commit. These tests show that the notification alone carries the new version,
that without a listener every request still reads the versions, and that over HTTP an edit is
seen by every tile request that arrives more than 20 ms (the documented bound) after the commit
(the documented bound; the notification usually makes it visible sooner), repeatedly.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import mapbox_vector_tile
import psycopg
from psycopg_pool import AsyncConnectionPool
from tilemath import tile_of

from parkgis.db import migrate
from parkgis.publish.tiles import VersionReader, VersionWatch

Z = 16
TILE = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
WAIT_S = 20.0  # an upper bound for a notification on a loaded machine, not a speed claim
# The documented freshness bound (design: an edit reaches every tile request within 20 ms),
# written here rather than read from parkgis.publish.tiles so that loosening the product's constant
# fails this test instead of silently stretching it.
FRESHNESS_BOUND_S = 0.020


class CountingReader(VersionReader):
    """A VersionReader that counts its reads of data_versions."""

    reads = 0

    async def get(self) -> dict[str, int]:
        self.reads += 1
        return await super().get()


def _edit(url: str, status: str) -> str:
    with psycopg.connect(url) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status IN ('available', 'reserved') "
            "ORDER BY code LIMIT 1"
        ).fetchone()[0]
        conn.execute("UPDATE parcels SET status = %s WHERE code = %s", (status, code))
    return code


def _db_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version FROM data_versions WHERE layer = 'parcels'").fetchone()[
            0
        ]


async def _until(cond, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def test_a_notification_alone_brings_the_new_version(sample_db_rw: str) -> None:
    migrate(sample_db_rw)

    async def run() -> None:
        async with AsyncConnectionPool(sample_db_rw, min_size=1, max_size=2) as pool:
            reader = CountingReader(pool)
            # a recheck interval of an hour: only NOTIFY can tell the watch about the edit
            watch = VersionWatch(sample_db_rw, reader, recheck_s=3600)
            await watch.start()
            try:
                await _until(lambda: watch.listening, "listener connected")
                before = (await watch.get())["parcels"]
                assert reader.reads == 1
                await asyncio.to_thread(_edit, sample_db_rw, "reserved")
                want = await asyncio.to_thread(_db_version, sample_db_rw)
                assert want > before
                await _until(lambda: watch._versions.get("parcels") == want, "notified version")
                assert (await watch.get())["parcels"] == want
                assert reader.reads == 1  # no read of data_versions since the first
            finally:
                await watch.stop()
            assert not watch.listening

    asyncio.run(run())


def test_without_a_listener_every_request_reads_the_versions(sample_db_rw: str) -> None:
    async def run() -> None:
        async with AsyncConnectionPool(sample_db_rw, min_size=1, max_size=2) as pool:
            reader = CountingReader(pool)
            watch = VersionWatch(None, reader)
            await watch.start()
            before = (await watch.get())["parcels"]
            await asyncio.to_thread(_edit, sample_db_rw, "reserved")
            assert (await watch.get())["parcels"] == before + 1
            assert reader.reads == 2

    asyncio.run(run())


def test_every_edit_reaches_the_tiles_within_the_bound(
    sample_db_rw: str, live_server_rw: str
) -> None:
    with psycopg.connect(sample_db_rw) as conn:
        code, lon, lat = conn.execute(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()
    x, y = tile_of(lon, lat, Z)
    url = live_server_rw + TILE.format(z=Z, x=x, y=y)

    def status_in(r: httpx.Response) -> str:
        feats = mapbox_vector_tile.decode(r.content)["parcels"]["features"]
        return next(f["properties"]["status"] for f in feats if f["properties"]["code"] == code)

    with httpx.Client() as client:
        for status in ("reserved", "available", "listed", "available"):
            assert client.get(url).status_code == 200
            assert client.get(url).headers["x-tile-cache"] == "hit"
            with psycopg.connect(sample_db_rw) as conn:
                conn.execute("UPDATE parcels SET status = %s WHERE code = %s", (status, code))
            # same kept-alive connection, so nothing but this wait separates commit and request
            time.sleep(FRESHNESS_BOUND_S * 1.5)
            r = client.get(url)
            assert r.headers["x-tile-cache"] == "miss"
            assert status_in(r) == status
