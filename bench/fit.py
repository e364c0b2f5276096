"""How fast is "where does this project fit", at a province's scale and on the sample?

    .venv/bin/python bench/synth.py --parcels 100000     # once (the shared bench database)
    PARKGIS_BENCH_DB=parkgis_bench_1m .venv/bin/python bench/fit.py [--runs 5]

Targets (issues 5 and 16): ranking all available parcels for one project ≤ 2 s; the assembly
search (groups of 2–3 adjacent parcels) ≤ 5 s, optionally narrowed to some zones (the default
is every zone; here narrowed to the ``--assembly-zones`` zones holding the most available
parcels — for a project only groups can hold, and for the ranked project itself, singles and
groups in one call as ``?assembly_zone=`` asks — and, with ``--province-assembly``, also
measured unnarrowed); on the Weihui sample
any single profile ≤ 300 ms including assembly (the 14 profiles of
``tests/siting/fit_profiles.py``, the long thin warehouse and the groups-only one included).

Method: ``--runs`` rounds (≥ 5), each measuring every item once in the same order, so that the
load of this shared machine falls on all items alike (interleaved); each figure is the median
with its minimum and maximum over the rounds. The synthetic database is only read (read-only
transactions, not migrated); the sample is loaded once into ``parkgis_bench_fit_sample``.
``--footprint-scan`` adds the footprint test alone over every available parcel (issue 5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import psycopg
import shapely
from common import ROOT, bench_url, prewarm, server_url
from psycopg.conninfo import make_conninfo

from parkgis.db import migrate
from parkgis.siting import fit
from parkgis.siting.footprint import fit_rectangle

sys.path.insert(0, str(ROOT / "tests" / "siting"))
from fit_profiles import ADHOC, AS_OF, SAMPLE_PROJECTS  # noqa: E402

TARGET_RANK_S = 2.0
TARGET_ASSEMBLY_S = 5.0
TARGET_SAMPLE_S = 0.3
SAMPLE_DB = "parkgis_bench_fit_sample"

# A Wanglaoji-like requirement: 120–200 mu, a 300 × 180 m plant, 5 MVA, rail within 1.5 km.
REQ = dict(
    min_area_mu=120,
    max_area_mu=200,
    footprint_length_m=300,
    footprint_width_m=180,
    landuse_codes=["1001"],
    power_kva=5000,
    water_tpd=1800,
    wastewater_tpd=1300,
    rail_required=True,
    max_rail_m=1500,
    max_trunk_road_m=800,
    preferred_neighbours=["can_making", "packaging"],
    land_budget_wan=6000,
)
# Too big for any single synthetic parcel (they are at most ~500 mu): only groups can hold it.
REQ_ASSEMBLY = dict(
    REQ,
    min_area_mu=520,
    max_area_mu=900,
    footprint_length_m=520,
    footprint_width_m=420,
    max_rail_m=None,
    rail_required=False,
)


def _sample_url() -> str:
    """The Weihui sample in a database of its own (created and loaded once)."""
    srv = server_url()
    with psycopg.connect(make_conninfo(srv, dbname="postgres"), autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SAMPLE_DB,)).fetchone():
            c.execute(f'CREATE DATABASE "{SAMPLE_DB}"')
    url = make_conninfo(srv, dbname=SAMPLE_DB)
    migrate(url)
    with psycopg.connect(url) as c:
        n = c.execute("SELECT count(*) FROM parcels").fetchone()[0]
    if n == 0:
        from parkgis.land.loader import load_sample_package

        load_sample_package(url, ROOT / "data" / "shapes" / "weihui.gpkg")
    return url


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.3f} s [{min(xs):.3f}–{max(xs):.3f}]"


def _verdict(xs: list[float], target: float) -> str:
    med = statistics.median(xs)
    return f"target {target:g} s: {'met' if med <= target else 'NOT met'} (×{med / target:.2f})"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="interleaved rounds (≥ 5)")
    ap.add_argument("--assembly-zones", type=int, default=3, help="zones assembly is narrowed to")
    ap.add_argument("--province-assembly", action="store_true", help="also unnarrowed")
    ap.add_argument("--no-sample", action="store_true", help="skip the sample profiles")
    ap.add_argument("--footprint-scan", action="store_true")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be at least 5")
    print(prewarm(bench_url(create=False)))
    big = psycopg.connect(bench_url(create=False))
    big.read_only = True
    n_all, n_avail = big.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'available') FROM parcels"
    ).fetchone()
    zones = [
        r[0]
        for r in big.execute(
            "SELECT zone_code FROM parcels WHERE status = 'available' GROUP BY zone_code "
            "ORDER BY count(*) DESC, zone_code LIMIT %s",
            (args.assembly_zones,),
        )
    ]
    big.rollback()
    print(
        f"parcels: {n_all:,} ({n_avail:,} available); assembly narrowed to {', '.join(zones)}; "
        f"load average {_load()} on {os.cpu_count()} CPUs"
    )
    req, reqa = fit.Requirement(**REQ), fit.Requirement(**REQ_ASSEMBLY)
    items: dict[str, Callable[[], object]] = {
        "rank": lambda: fit.match(big, req, assemble=False),
        "assembly-singles": lambda: fit.match(big, reqa, assemble=False),
        "assembly-narrowed": lambda: fit.match(big, reqa, assembly_zones=zones),
        # the bench project as the API ranks it with ?assembly_zone=: singles and groups
        "rank-assembly-narrowed": lambda: fit.match(big, req, assembly_zones=zones),
    }
    if args.province_assembly:
        items["assembly-province"] = lambda: fit.match(big, reqa)
    small = None
    if not args.no_sample:
        small = psycopg.connect(_sample_url())
        small.read_only = True
        reqs = {c: fit.load_requirement(small, c) for c in SAMPLE_PROJECTS}
        reqs |= {k: fit.Requirement(**v) for k, v in ADHOC.items()}
        small.rollback()
        for name, r in reqs.items():
            items[f"sample {name}"] = lambda r=r: fit.match(small, r, as_of=AS_OF)
    times: dict[str, list[float]] = {k: [] for k in items}
    last: dict[str, object] = {}
    for k, fn in items.items():  # warm-up: caches, first connection use
        last[k] = fn()
        (big if not k.startswith("sample") else small).rollback()
    for i in range(args.runs):
        for k, fn in items.items():
            t = time.perf_counter()
            last[k] = fn()
            times[k].append(time.perf_counter() - t)
            (big if not k.startswith("sample") else small).rollback()
        print(f"  round {i + 1}/{args.runs} done, load average {_load()}", flush=True)

    res = last["rank"]
    print(
        f"rank singles (10^6):        {_spread(times['rank'])}  "
        f"{_verdict(times['rank'], TARGET_RANK_S)}"
        f"; sites kept {res.stats['candidates']:,}, footprint tests "
        f"{res.stats['footprint_tests']:,}, matches {len(res.matches)}"
    )
    singles_of = {
        "assembly-narrowed": "assembly-singles",
        "rank-assembly-narrowed": "rank",
        "assembly-province": "assembly-singles",
    }
    for k, singles in singles_of.items():
        if k not in times:
            continue
        full, single = times[k], times[singles]
        asm = [max(f - s, 0.0) for f, s in zip(full, single, strict=True)]
        r = last[k]
        print(
            f"{k} call:    {_spread(full)}  {_verdict(full, TARGET_ASSEMBLY_S)}; "
            f"groups {r.stats.get('groups', 0):,}, matches {len(r.matches)} "
            f"({sum(len(m.site.codes) > 1 for m in r.matches)} assembled)"
        )
        print(f"  of which assembly (− singles' call, same round): {_spread(asm)}")
    sample = [k for k in times if k.startswith("sample")]
    if sample:
        worst = max(sample, key=lambda k: statistics.median(times[k]))
        for k in sample:
            print(f"{k:28s} {_spread(times[k])}")
        print(f"sample, slowest profile ({worst[7:]}): {_verdict(times[worst], TARGET_SAMPLE_S)}")
    if args.footprint_scan:
        _footprint_scan(big)
    print(f"load average at the end: {_load()} on {os.cpu_count()} CPUs (wall-clock)")


def _footprint_scan(conn: psycopg.Connection) -> None:
    """The footprint test alone over every available parcel's geometry (the synthetic parcels
    are rectangles: the fast path's case), then the general search on a sample."""
    geoms = shapely.from_wkb(
        [
            r[0]
            for r in conn.execute(
                "SELECT ST_AsBinary(geom_gk) FROM parcels WHERE status = 'available' ORDER BY code"
            )
        ]
    )
    conn.rollback()
    t = time.perf_counter()
    hits = sum(fit_rectangle(g, 300, 180) is not None for g in geoms)
    dt = time.perf_counter() - t
    print(
        f"footprint 300×180 m over {len(geoms):,} parcels: {dt:.2f} s "
        f"({dt / max(len(geoms), 1) * 1e6:.0f} µs each), {hits:,} fit"
    )
    sample = geoms[:: max(1, len(geoms) // 2000)]
    t = time.perf_counter()
    hits_g = sum(fit_rectangle(g, 300, 180, fast_path=False) is not None for g in sample)
    per_g = (time.perf_counter() - t) / max(len(sample), 1)
    print(
        f"  general search only, {len(sample):,} of them: {per_g * 1e6:.0f} µs each "
        f"({hits_g:,} fit)"
    )


if __name__ == "__main__":
    main()
