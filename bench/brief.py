"""Site-brief speed: one brief (budget 3 s) and a 20-parcel deck (budget 30 s).

    .venv/bin/python bench/brief.py [--runs 5] [--deck 20] [--workers 2]

Loads the Weihui sample into its own database (``parkgis_bench_brief``, created once), then
times, after one warm-up (fonts registered, the brief-font cache built):

* one brief, end to end: facts from the store, layout, PDF with embedded fonts (and the same
  for PNG at 300 dpi and the offline HTML), median and max of ``--runs``;
* a deck of ``--deck`` available parcels: cover + pages in ``--workers`` processes + merge,
  wall time including the workers' start-up.

Prints each figure with its budget and the ratio measured/budget (≤ 1 is within budget).
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from common import ROOT, machine, server_url
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from parkgis.db import migrate
from parkgis.publish.brief import brief_html, brief_pdf, brief_png
from parkgis.publish.brief.deck import build_deck
from parkgis.publish.brief.layout import setup_fonts

DB = "parkgis_bench_brief"
ONE_BUDGET_S = 3.0
DECK_BUDGET_S = 30.0


def bench_db() -> str:
    srv = server_url()
    with psycopg.connect(make_conninfo(srv, dbname="postgres"), autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
        if not exists:
            c.execute(f'CREATE DATABASE "{DB}"')
    url = make_conninfo(srv, dbname=DB)
    migrate(url)
    with psycopg.connect(url) as c:
        n = c.execute("SELECT count(*) FROM parcels").fetchone()[0]
    if n == 0:
        from parkgis.land.loader import load_sample_package

        load_sample_package(url, ROOT / "data" / "shapes" / "weihui.gpkg")
    return url


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def line(label: str, seconds: float, budget: float | None) -> None:
    if budget is None:
        print(f"  {label:<34} {seconds:7.2f} s")
    else:
        print(
            f"  {label:<34} {seconds:7.2f} s   budget {budget:5.1f} s   "
            f"ratio {seconds / budget:5.2f}  {'ok' if seconds <= budget else 'OVER'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--deck", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    url = bench_db()
    t = time.perf_counter()
    setup_fonts()
    print(f"font set-up (first run builds the subset cache): {time.perf_counter() - t:.2f} s")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        codes = [
            r["code"]
            for r in conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code"
            )
        ]
        code = codes[0]
        brief_pdf(conn, code)  # warm-up: imports, font registration
        print(f"one brief ({code}), {args.runs} runs:")
        for label, fn in (
            ("PDF (gather + layout + embed)", lambda: brief_pdf(conn, code)),
            ("PNG 300 dpi", lambda: brief_png(conn, code)),
            ("HTML (assets inlined)", lambda: brief_html(conn, code)),
        ):
            ts = timed(fn, args.runs)
            line(f"{label} median", statistics.median(ts), ONE_BUDGET_S)
            line(f"{label} max", max(ts), None)
    deck = codes[: args.deck]
    t = time.perf_counter()
    pdf, got = build_deck(url, codes=deck, workers=args.workers)
    wall = time.perf_counter() - t
    print(f"deck of {len(got)} parcels + cover, {args.workers} workers ({len(pdf) / 1e6:.1f} MB):")
    line("wall time", wall, DECK_BUDGET_S)
    line("per page", wall / (len(got) + 1), None)


if __name__ == "__main__":
    main()
