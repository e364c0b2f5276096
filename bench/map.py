"""Investor map: page weight against parcel count, and time to first parcels drawn.

    .venv/bin/python bench/map.py [--sizes 10000,100000] [--runs 5] [--skip-browser]

Works in its own database (``<PARKGIS_BENCH_DB>_map``, never the shared bench database, which
``synth.py`` truncates). For each data set — the Weihui sample, then synthetic sets of each
size made by ``bench/synth.py`` with the number of parks held at 4 (``--per-park size/4``), so
that only the parcel count changes — it serves the app with uvicorn on loopback and measures:

* page weight: bytes of ``/`` plus our own JS/CSS (everything not under ``/static/vendor``);
  vendored libraries are counted apart. The target is flat in the parcel count, ≤ 500 KB.
* time to first parcels drawn in Debian's headless chromium: from navigation start to the
  first ``tileload`` of the VectorGrid parcel layer (a tile fetched, decoded and painted),
  and to the layer's ``load`` (every visible tile painted); browser cache disabled; the first
  run meets a cold server tile cache, the median is over the following runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import psycopg
from common import BENCH_DB, ROOT, free_port, server_url, wait_http
from psycopg.conninfo import make_conninfo

from parkgis.db import migrate

MAP_DB = f"{BENCH_DB}_map"
PY = sys.executable
LIMIT_BYTES = 500 * 1024


def fresh_db() -> str:
    srv = server_url()
    with psycopg.connect(make_conninfo(srv, dbname="postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{MAP_DB}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{MAP_DB}"')
    url = make_conninfo(srv, dbname=MAP_DB)
    migrate(url)
    return url


def load_sample(url: str) -> None:
    from parkgis.land.loader import load_sample_package

    load_sample_package(url, ROOT / "data" / "shapes" / "weihui.gpkg")


def load_synth(url: str, n: int) -> None:
    subprocess.run(
        [
            PY,
            str(ROOT / "bench" / "synth.py"),
            "--parcels",
            str(n),
            "--per-park",
            str(-(-n // 4)),
            "--url",
            url,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def serve(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = (
        "import uvicorn; from api.main import create_app; "
        f"uvicorn.run(create_app(database_url={url!r}), host='127.0.0.1', port={port}, "
        "log_level='warning')"
    )
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz")
    return proc, base


def page_weight(base: str) -> dict[str, int]:
    with httpx.Client(base_url=base, timeout=60) as c:
        html = c.get("/").content
        urls = set(re.findall(rb'(?:src|href)="(/static/[^"]+)"', html))
        own = vendor = 0
        for u in sorted(urls):
            size = len(c.get(u.decode()).content)
            if u.startswith(b"/static/vendor/"):
                vendor += size
            else:
                own += size
    return {"html": len(html), "own_assets": own, "page": len(html) + own, "vendor": vendor}


def park_view(url: str) -> str:
    """Permalink hash centred on the park with most parcels, at zoom 15."""
    with psycopg.connect(url) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT zone_code, ST_Centroid(ST_Collect(geom)) c, "
            "count(*) n FROM parcels GROUP BY zone_code) s ORDER BY n DESC LIMIT 1"
        ).fetchone()
    return f"#map=15/{lat:.5f}/{lon:.5f}"


def first_draw(base: str, hash_: str, runs: int) -> list[tuple[float, float]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser_map import make_driver, wait_for

    user_dir = tempfile.mkdtemp(prefix="pg-bench-")
    driver = make_driver(user_dir)
    out = []
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        for _ in range(runs):
            driver.get("about:blank")
            driver.get(base + "/" + hash_)
            wait_for(driver, "window.PG && PG.allTilesAt", timeout=120)
            out.append(
                (
                    driver.execute_script("return PG.firstTileAt"),
                    driver.execute_script("return PG.allTilesAt"),
                )
            )
    finally:
        driver.quit()
        shutil.rmtree(user_dir, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-browser", action="store_true")
    args = ap.parse_args()
    sets: list[tuple[str, int | None]] = [("sample", None)]
    sets += [(f"synth {int(n):,}", int(n)) for n in args.sizes.split(",") if n]
    rows = []
    for label, n in sets:
        url = fresh_db()
        t0 = time.perf_counter()
        load_sample(url) if n is None else load_synth(url, n)
        with psycopg.connect(url) as conn:
            count = conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
            parks = conn.execute("SELECT count(*) FROM zones").fetchone()[0]
        print(
            f"{label}: {count:,} parcels, {parks} parks (loaded in "
            f"{time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        proc, base = serve(url)
        try:
            w = page_weight(base)
            draws = [] if args.skip_browser else first_draw(base, park_view(url), args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        rows.append((label, count, parks, w, draws))

    print("\nPage weight (bytes; page = HTML + own JS/CSS, vendored libraries apart)")
    print(
        f"{'data set':<16}{'parcels':>10}{'parks':>7}{'HTML':>10}{'own JS/CSS':>12}"
        f"{'page':>10}{'vendor':>11}"
    )
    for label, count, parks, w, _d in rows:
        print(
            f"{label:<16}{count:>10,}{parks:>7}{w['html']:>10,}{w['own_assets']:>12,}"
            f"{w['page']:>10,}{w['vendor']:>11,}"
        )
    base_page = rows[0][3]["page"]
    for label, _count, _p, w, _d in rows[1:]:
        print(
            f"  {label}: page / sample page = {w['page'] / base_page:.2f}; "
            f"{'OK' if w['page'] <= LIMIT_BYTES else 'OVER'} against 500 KB"
        )
    if len(rows) > 2:
        a, b = rows[1], rows[-1]
        print(
            f"  parcels x{b[1] / a[1]:.1f} -> page x{b[3]['page'] / a[3]['page']:.3f} "
            f"(same number of parks)"
        )
    if not args.skip_browser:
        print("\nTime to parcels drawn, headless chromium, zoom 15 on the largest park (ms)")
        print(
            f"{'data set':<16}{'first tile (cold)':>18}{'first tile p50':>16}"
            f"{'all tiles (cold)':>18}{'all tiles p50':>15}"
        )
        for label, _c, _p, _w, d in rows:
            warm = d[1:] or d
            print(
                f"{label:<16}{d[0][0]:>18.0f}{statistics.median(x[0] for x in warm):>16.0f}"
                f"{d[0][1]:>18.0f}{statistics.median(x[1] for x in warm):>15.0f}"
            )
        s, big = rows[0][4], rows[-1][4]
        ratio = statistics.median(x[0] for x in big[1:] or big) / statistics.median(
            x[0] for x in s[1:] or s
        )
        print(f"  first parcels, {rows[-1][0]} / sample: {ratio:.2f}")


if __name__ == "__main__":
    main()
