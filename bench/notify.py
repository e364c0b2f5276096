"""How long an edit takes to reach the tile cache of an API worker (LISTEN/NOTIFY).

    .venv/bin/python bench/notify.py [--edits 50]

Bumps ``data_versions`` of the bench database (as any edit does, through the layer's trigger)
and measures from the return of COMMIT to the moment :class:`parkgis.publish.tiles.VersionWatch`
holds the new version — the window in which a tile may still be the previous version (bounded
by ``VERSION_RECHECK_S`` in any case). Loopback only; bounded by ``--edits``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg
from common import bench_url, machine, pct
from psycopg_pool import AsyncConnectionPool

from parkgis.publish.tiles import VERSION_RECHECK_S, VersionReader, VersionWatch

BUMP_SQL = (
    "UPDATE data_versions SET version = version + 1 WHERE layer = 'boundaries' RETURNING version"
)


async def run(url: str, edits: int) -> list[float]:
    lat: list[float] = []
    async with AsyncConnectionPool(url, min_size=1, max_size=2) as pool:
        watch = VersionWatch(url, VersionReader(pool), recheck_s=3600)
        await watch.start()
        try:
            while not watch.listening:
                await asyncio.sleep(0.01)
            await watch.get()
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as w:
                for _ in range(edits):
                    v = (await (await w.execute(BUMP_SQL)).fetchone())[0]
                    t0 = time.perf_counter()
                    deadline = t0 + 10
                    while watch._versions.get("boundaries", 0) < v:
                        if time.perf_counter() > deadline:
                            raise SystemExit("notification lost")
                        await asyncio.sleep(0)
                    lat.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.02)
        finally:
            await watch.stop()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edits", type=int, default=50)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    lat = asyncio.run(run(bench_url(create=False), args.edits))
    print(
        f"commit -> version known to the worker: p50 {pct(lat, 50) * 1000:.2f} ms, "
        f"p95 {pct(lat, 95) * 1000:.2f} ms, max {max(lat) * 1000:.2f} ms "
        f"({len(lat)} edits); bound VERSION_RECHECK_S = {VERSION_RECHECK_S * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
