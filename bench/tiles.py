"""Tile throughput: our API vs tipg vs the raw tile SQL, on the bench database.

    .venv/bin/python bench/tiles.py [--tiles 600] [--workers 2] [--concurrency 8] [--rounds 5]

Needs ``bench/synth.py`` run first, and tipg in its own venv (kept out of our dependencies):
    python3 -m venv .parkgis/bench-venv && .parkgis/bench-venv/bin/pip install tipg uvicorn

Method (issue 16): the machine is shared and noisy, so one run per server proves nothing and
"best of two" per server cannot separate a real gap from noise. Instead every server runs at
once (ours with the tile cache off, ours with it on, tipg; uvicorn, N workers each, same
database) and the measurements are interleaved in rounds: each round measures the raw SQL,
ours-off, ours-on and tipg back to back on the same seeded tile list (z12–z16 over the parks),
the order rotating from round to round so no party always runs first or last. A ratio is
taken within a round (ours/tipg, ours/raw — neighbours in time share the machine's mood), and
the report gives each ratio's median with its minimum and maximum over ``--rounds`` (≥ 5).

The raw tile SQL of ``parkgis.publish.tiles`` is measured at the servers' concurrency:
``--concurrency``
threads, each on its own connection (prepared statements), not one serial connection — a
server with N clients in flight can only be compared with a database doing N tiles at once.
Both HTTP servers get the same properties, geometry column, buffer (64) and feature cap; the
load generator sends no Accept-Encoding (identity bodies: no gzip in the figures).
Everything runs on loopback; loops are bounded by the tile list or ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import psycopg
from common import (
    ROOT,
    bench_url,
    free_port,
    have_wrk,
    http_load,
    machine,
    prewarm,
    serve,
    summary,
    tcp_url,
    wrk_load,
)

from parkgis.db.collections import PARCELS
from parkgis.publish.tiles import lonlat_to_tile, render_tile

TIPG_VENV = ROOT / ".parkgis" / "bench-venv"


def pick_tiles(url: str, n: int, seed: int) -> list[tuple[int, int, int]]:
    rnd = random.Random(seed)
    with psycopg.connect(url) as conn:
        pts = conn.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM parcels "
            "TABLESAMPLE SYSTEM (5) REPEATABLE (%s) LIMIT %s) s",
            (seed, n * 4),
        ).fetchall()
    tiles: list[tuple[int, int, int]] = []
    seen = set()
    rnd.shuffle(pts)
    for lon, lat in pts:
        z = rnd.randint(12, 16)
        t = (z, *lonlat_to_tile(lon, lat, z))
        if t not in seen:
            seen.add(t)
            tiles.append(t)
        if len(tiles) == n:
            break
    return tiles


def bench_raw(
    url: str,
    tiles: list[tuple[int, int, int]],
    max_features: int,
    concurrency: int,
    duration_s: float | None = None,
    draw: Callable[[psycopg.Connection, int, int, int], object] | None = None,
) -> dict:
    """The raw tile SQL on ``concurrency`` connections in parallel (one thread each).

    With ``duration_s`` each connection cycles through the list from its own offset for that
    long (as wrk does); without, the list is shared out and each tile rendered once (as the
    Python HTTP client does). ``draw(conn, z, x, y)``: another tile SQL (default: ours).
    """
    if draw is None:

        def draw(conn: psycopg.Connection, z: int, x: int, y: int) -> object:
            return render_tile(conn, "parcels", z, x, y, max_features)

    conns = [psycopg.connect(url, autocommit=True) for _ in range(concurrency)]
    try:
        for k, conn in enumerate(conns):  # every connection prepares its statements first
            for z, x, y in tiles[k::concurrency][:20]:
                draw(conn, z, x, y)
        lat: list[float] = []
        lock = threading.Lock()
        queue = list(reversed(tiles))
        deadline = None if duration_s is None else time.perf_counter() + duration_s

        def work(k: int) -> None:
            mine: list[float] = []
            i = k * len(tiles) // concurrency
            while True:
                if deadline is None:
                    with lock:
                        if not queue:
                            break
                        z, x, y = queue.pop()
                else:
                    if time.perf_counter() >= deadline:
                        break
                    z, x, y = tiles[i % len(tiles)]
                    i += 1
                t = time.perf_counter()
                draw(conns[k], z, x, y)
                mine.append(time.perf_counter() - t)
            with lock:
                lat.extend(mine)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(concurrency)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        for conn in conns:
            conn.close()
    return summary(f"raw SQL ({concurrency} connections)", lat, wall)


def run_http(label: str, urls: list[str], conc: int, passes_before: int = 0) -> dict:
    for _ in range(passes_before):
        asyncio.run(http_load(urls, conc))
    lat, wall, statuses = asyncio.run(http_load(urls, conc))
    bad = {k: v for k, v in statuses.items() if k != 200}
    if bad:
        print(f"  ! {label}: non-200 answers {bad}")
    return summary(label, lat, wall)


def measure(args: argparse.Namespace, label: str, urls: list[str]) -> dict:
    """One timed run of one server."""
    if args.client == "wrk":
        return wrk_load(
            label, urls, args.duration, threads=args.wrk_threads, connections=args.concurrency
        )
    return run_http(label, urls, args.concurrency)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiles", type=int, default=600)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="HTTP connections, and the raw SQL's parallel connections",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-features", type=int, default=20_000)
    ap.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if have_wrk() else "python",
        help="load generator: wrk (apt package wrk; default when installed) or the "
        "Python httpx client (each URL once per run)",
    )
    ap.add_argument("--duration", type=float, default=10, help="seconds per wrk / raw run")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds (each: raw, ours off, ours on, tipg); at least 5",
    )
    ap.add_argument("--skip-tipg", action="store_true")
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds: at least 5 (a median of fewer says little on a shared machine)")

    url = bench_url()  # migrated: the indexes of 0007 are part of what is measured
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
    print(f"machine: {machine()}")
    print(prewarm(url))
    print(
        f"parcels: {n}; tiles: {args.tiles} at z12–z16; workers {args.workers}; "
        f"client {args.client}, concurrency {args.concurrency}; {args.rounds} rounds"
    )
    tiles = pick_tiles(url, args.tiles, args.seed)
    raw_duration = args.duration if args.client == "wrk" else None

    def ours_cmd(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    env = {
        "PARKGIS_DATABASE_URL": url,
        "PARKGIS_TILE_MAX_FEATURES": str(args.max_features),
        "PARKGIS_POOL_MAX_SIZE": "10",
    }
    p_off, p_on = free_port(), free_port()
    b_off, b_on = f"http://127.0.0.1:{p_off}", f"http://127.0.0.1:{p_on}"
    path = "/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}"
    off_urls = [b_off + path.format(*t) for t in tiles]
    on_urls = [b_on + path.format(*t) for t in tiles]

    with ExitStack() as stack:
        stack.enter_context(
            serve(ours_cmd(p_off), {**env, "PARKGIS_TILE_CACHE_SIZE": "0"}, f"{b_off}/healthz")
        )
        stack.enter_context(
            serve(ours_cmd(p_on), {**env, "PARKGIS_TILE_CACHE_SIZE": "20000"}, f"{b_on}/healthz")
        )
        parties: dict[str, Callable[[str], dict]] = {
            "raw": lambda tag: bench_raw(
                url, tiles, args.max_features, args.concurrency, raw_duration
            ),
            "ours_off": lambda tag: measure(args, tag, off_urls),
            "ours_on": lambda tag: measure(args, tag, on_urls),
        }
        if not args.skip_tipg:
            tipg_uvicorn = TIPG_VENV / "bin" / "uvicorn"
            if not tipg_uvicorn.exists():
                raise SystemExit(f"tipg not installed: see {__file__} docstring")
            tport = free_port()
            tbase = f"http://127.0.0.1:{tport}"
            props = ",".join(PARCELS.tile_props)
            tipg = [
                f"{tbase}/collections/public.parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
                f"?geom-column=geom&properties={props}"
                for z, x, y in tiles
            ]
            tenv = {
                "DATABASE_URL": tcp_url(url),
                "TIPG_DB_TABLES": '["public.parcels"]',
                "TIPG_MAX_FEATURES_PER_TILE": str(args.max_features),
                "TIPG_TILE_BUFFER": "64",
                "TIPG_DB_MAX_CONN_SIZE": "10",
                "PYTHONPATH": "",
            }
            tcmd = [
                str(tipg_uvicorn),
                "tipg.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(tport),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
            stack.enter_context(serve(tcmd, tenv, f"{tbase}/healthz"))
            parties["tipg"] = lambda tag: measure(args, tag, tipg)
            run_http("tipg warm-up (not counted)", tipg[:50], args.concurrency)
        run_http("ours warm-up (not counted)", off_urls[:50], args.concurrency)
        # each worker holds its own cache: fill every worker's before any cached run counts
        res_cold = run_http("ours, cache on, first pass", on_urls, args.concurrency)
        run_http(
            "ours, cache on, 2nd pass (not counted)", on_urls, args.concurrency, passes_before=1
        )

        names = list(parties)
        rounds: list[dict[str, dict]] = []
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
            print(f"-- round {r + 1}/{args.rounds}: {', '.join(order)}")
            rounds.append({k: parties[k](f"{k} r{r + 1}") for k in order})

    def ratios(a: str, b: str) -> list[float]:
        return [rd[a]["rps"] / rd[b]["rps"] for rd in rounds if a in rd and b in rd]

    print(f"\nours, cache on, first pass (each tile once, cold): {res_cold['rps']:.1f} req/s")
    print(
        "req/s per round: "
        + "; ".join(f"{k} {[round(rd[k]['rps'], 1) for rd in rounds]}" for k in names)
    )
    print("ratios within rounds — median (min–max):")
    checks = [
        ("ours_off", "tipg", 3.0),
        ("ours_on", "tipg", 10.0),
        ("ours_off", "raw", 0.7),
        ("ours_on", "raw", None),
        ("tipg", "raw", None),
    ]
    for a, b, target in checks:
        rs = ratios(a, b)
        if not rs:
            continue
        sp = spread(rs)
        verdict = (
            ""
            if target is None
            else f"   target ≥ {target:g}: {'met' if sp['median'] >= target else 'NOT met'} "
            f"(min {'≥' if sp['min'] >= target else '<'} target)"
        )
        print(
            f"  {a:<8} / {b:<4} = {sp['median']:6.2f}  ({sp['min']:.2f}–{sp['max']:.2f}){verdict}"
        )


if __name__ == "__main__":
    main()
