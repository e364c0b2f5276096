"""How fast is "where does this project fit" on the province-scale synthetic set?

    .venv/bin/python bench/synth.py --parcels 100000     # once (the shared bench database)
    .venv/bin/python bench/fit.py [--repeat 3]

Targets (issue 5): ranking all available parcels for one project ≤ 2 s; the assembly search
(groups of 2–3 adjacent parcels) ≤ 5 s. Prints the measured figures and their ratio to the
targets; nothing is written to the database (the requirement is ad hoc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg
import shapely
from common import bench_url

from parkgis.siting import fit
from parkgis.siting.footprint import fit_rectangle

TARGET_RANK_S = 2.0
TARGET_ASSEMBLY_S = 5.0

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


def _time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    url = bench_url()
    with psycopg.connect(url) as conn:
        n_all, n_avail = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'available') FROM parcels"
        ).fetchone()
        print(
            f"parcels: {n_all:,} ({n_avail:,} available); load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
        )

        req = fit.Requirement(**REQ)
        t_rank, res = _time(lambda: fit.match(conn, req, assemble=False), args.repeat)
        print(
            f"rank singles:   {t_rank:6.2f} s  (target {TARGET_RANK_S} s, "
            f"ratio {t_rank / TARGET_RANK_S:.2f})  sites kept after pruning "
            f"{res.stats['candidates']:,}, "
            f"footprint tests {res.stats['footprint_tests']:,}, "
            f"matches {len(res.matches)}, near misses {len(res.near_misses)}"
        )

        reqa = fit.Requirement(**REQ_ASSEMBLY)
        t_single, _ = _time(lambda: fit.match(conn, reqa, assemble=False), args.repeat)
        t_full, resa = _time(lambda: fit.match(conn, reqa, assemble=True), args.repeat)
        t_asm = max(t_full - t_single, 0.0)
        print(
            f"with assembly:  {t_full:6.2f} s  of which assembly {t_asm:.2f} s (target "
            f"{TARGET_ASSEMBLY_S} s, ratio {t_asm / TARGET_ASSEMBLY_S:.2f}); groups "
            f"{resa.stats.get('groups', 0):,}, matches {len(resa.matches)} "
            f"({sum(len(m.site.codes) > 1 for m in resa.matches)} assembled)"
        )

        # The footprint test alone over every available parcel's geometry (the synthetic
        # parcels are rectangles: the fast path's case), then the general search on a sample.
        geoms = shapely.from_wkb(
            [
                r[0]
                for r in conn.execute(
                    "SELECT ST_AsBinary(geom_gk) FROM parcels WHERE status = 'available' "
                    "ORDER BY code"
                )
            ]
        )
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
        dtg = time.perf_counter() - t
        hits_f = sum(fit_rectangle(g, 300, 180) is not None for g in sample)
        per_g, per_f = dtg / max(len(sample), 1), dt / max(len(geoms), 1)
        print(
            f"  general search only, {len(sample):,} of them: {per_g * 1e6:.0f} µs each "
            f"({hits_g:,} fit; with the fast path {hits_f:,}): fast path ×"
            f"{per_g / max(per_f, 1e-9):.1f}"
        )
        print(
            f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} CPUs (figures are wall-clock medians)"
        )


if __name__ == "__main__":
    main()
