"""Uncached tile throughput of this checkout against an earlier revision, interleaved.

    .venv/bin/python bench/tiles_ab.py --rev aaad8be [--rounds 5] [--tiles 600]

Issue 12 asks that the restructure leaves the tile figure no worse than round 1's; the round-1
figure was taken on another day, by another method, on a machine whose pace moves by ±20 %
between runs. This measures both on the same machine, database and tile list instead.

Method: the revision is checked out under ``.parkgis/ab/<rev>`` (a detached git worktree) and
served with this venv beside the working tree's app (uvicorn, ``--workers`` each, tile cache
off, the same bench database). Each round measures, back to back and in rotating order: this
app, the revision's app, the raw SQL of this checkout's tiles and the raw SQL of the same
template with only the revision's properties (``--rev-props``; round 1: five columns, no
joins) -- each raw SQL on ``--concurrency`` connections. Within a round: this/rev (the apps),
and each app over its own content's raw SQL, which separates what the app layer costs from
what the tiles carry. Medians with min-max over the rounds (at least 5).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg
from common import ROOT, bench_url, free_port, machine, prewarm, serve, wrk_load
from tiles import bench_raw, pick_tiles

from parkgis.db.collections import PARCELS
from parkgis.publish.tiles import build_tile_sql, tile_params

#: The properties of round 1's parcel tiles (aaad8be): no servicing flags, no overdue flag.
ROUND1_PROPS = ("code", "status", "landuse_code", "zone_code", "area_mu")
PATH = "/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}"


def checkout(rev: str) -> Path:
    """A detached worktree of ``rev`` under .parkgis/ab (made once, reused)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    where = ROOT / ".parkgis" / "ab" / sha
    if not where.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(where), sha],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return where


def drawer(
    props: tuple[str, ...], max_features: int
) -> Callable[[psycopg.Connection, int, int, int], object]:
    """Render one tile with our SQL template cut down to ``props``."""
    coll = dataclasses.replace(PARCELS, tile_props=props)
    sql = {simp: build_tile_sql(coll, simp) for simp in (False, True)}
    day = dt.date.today()

    def draw(conn: psycopg.Connection, z: int, x: int, y: int) -> object:
        simp, params = tile_params(z, x, y, max_features, day)
        return conn.execute(sql[simp], params, prepare=True).fetchone()

    return draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", required=True, help="the earlier revision (round 1: aaad8be)")
    ap.add_argument("--rev-props", default=",".join(ROUND1_PROPS))
    ap.add_argument("--tiles", type=int, default=600)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-features", type=int, default=20_000)
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds: at least 5")
    url = bench_url()
    tree = checkout(args.rev)
    print(f"machine: {machine()}")
    print(prewarm(url))
    tiles = pick_tiles(url, args.tiles, 7)
    print(f"tiles: {len(tiles)} at z12–z16; workers {args.workers}; concurrency {args.concurrency}")
    env = {
        "PARKGIS_DATABASE_URL": url,
        "PARKGIS_TILE_MAX_FEATURES": str(args.max_features),
        "PARKGIS_POOL_MAX_SIZE": "10",
        "PARKGIS_TILE_CACHE_SIZE": "0",
    }

    def cmd(port: int) -> list[str]:
        return [
            sys.executable,
            *("-m uvicorn api.main:create_app --factory --host 127.0.0.1".split()),
            *("--port", str(port), "--workers", str(args.workers)),
            *("--log-level", "warning", "--no-access-log"),
        ]

    rev_props = tuple(p for p in args.rev_props.split(",") if p)
    with ExitStack() as stack:
        urls = {}
        for name, cwd in (("this", ROOT), ("rev", tree)):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            stack.enter_context(serve(cmd(port), env, f"{base}/healthz", cwd=cwd))
            urls[name] = [base + PATH.format(*t) for t in tiles]
        parties: dict[str, Callable[[str], dict]] = {
            "this": lambda tag: wrk_load(tag, urls["this"], args.duration, 1, args.concurrency),
            "rev": lambda tag: wrk_load(tag, urls["rev"], args.duration, 1, args.concurrency),
            "raw_this": lambda tag: bench_raw(
                url, tiles, args.max_features, args.concurrency, args.duration
            ),
            "raw_rev": lambda tag: bench_raw(
                url,
                tiles,
                args.max_features,
                args.concurrency,
                args.duration,
                drawer(rev_props, args.max_features),
            ),
        }
        for name in ("this", "rev"):
            wrk_load(f"{name} warm-up (not counted)", urls[name], 3, 1, args.concurrency)
        names = list(parties)
        rounds = []
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            print(f"-- round {r + 1}/{args.rounds}: {', '.join(order)}")
            rounds.append({k: parties[k](f"{k} r{r + 1}") for k in order})
    print(
        "req/s per round: "
        + "; ".join(f"{k} {[round(rd[k]['rps'], 1) for rd in rounds]}" for k in names)
    )
    for a, b in (
        ("this", "rev"),
        ("this", "raw_this"),
        ("rev", "raw_rev"),
        ("raw_this", "raw_rev"),
    ):
        v = [rd[a]["rps"] / rd[b]["rps"] for rd in rounds]
        print(f"  {a:8s} / {b:8s} = {statistics.median(v):5.2f}  ({min(v):.2f}–{max(v):.2f})")
    print("done")


if __name__ == "__main__":
    main()
