"""Requirement profiles for the fit regression fixture (``data/fit_baseline.json``).

Shared by the generator (``python tests/siting/fit_profiles.py DBURL``, run once on the code
*before* the issue-16 speed work, on the loaded sample) and by
``test_fit_speed.py``, which replays them on the current code. The two slow profiles of
issue 16 are here: the long thin warehouse with assembly and a site only 2–3 parcels can hold.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

#: Every profile is judged on this date, so the fixture does not age with the calendar.
AS_OF = dt.date(2026, 12, 3)
FIXTURE = Path(__file__).parent / "data" / "fit_baseline.json"
SAMPLE_PROJECTS = (
    "PRJ-COLDCHAIN",
    "PRJ-CONCH",
    "PRJ-FLEXPACK",
    "PRJ-HDW",
    "PRJ-MFS",
    "PRJ-SLKJ",
    "PRJ-WLJ",
    "PRJ-WUJING",
    "PRJ-ZHUODA",
)
#: Ad-hoc requirements (``fit.Requirement`` keyword arguments).
ADHOC: dict[str, dict[str, Any]] = {
    # issue 16: 2.6 s per call before
    "warehouse-400x60": {
        "min_area_mu": 40,
        "max_area_mu": 120,
        "footprint_length_m": 400,
        "footprint_width_m": 60,
        "landuse_codes": ["1001"],
    },
    # larger than every available single parcel (279 mu): only a group of 2-3 holds it
    "groups-only": {
        "min_area_mu": 300,
        "max_area_mu": 480,
        "footprint_length_m": 360,
        "footprint_width_m": 220,
        "landuse_codes": ["1001"],
        "power_kva": 4000,
    },
    "no-footprint": {"min_area_mu": 100, "max_area_mu": 250, "landuse_codes": ["1001"]},
    "thin-3000x10": {"footprint_length_m": 3000, "footprint_width_m": 10},
    "rail-wide": {
        "min_area_mu": 60,
        "max_area_mu": 300,
        "footprint_length_m": 250,
        "footprint_width_m": 40,
        "rail_required": True,
        "max_rail_m": 2500,
        "preferred_neighbours": ["can_making", "packaging"],
    },
}


def run_all(conn: Any) -> dict[str, Any]:
    """Every profile's body, with and without assembly, as ``fit.match`` gives it."""
    from parkgis.siting import fit

    out: dict[str, Any] = {}
    reqs = {c: fit.load_requirement(conn, c) for c in SAMPLE_PROJECTS}
    reqs |= {k: fit.Requirement(**v) for k, v in ADHOC.items()}
    for name, req in reqs.items():
        for assemble in (True, False):
            res = fit.match(conn, req, assemble=assemble, as_of=AS_OF, near_miss_limit=10)
            out[f"{name}|assemble={assemble}"] = res.body()
    return out


def main() -> None:
    import psycopg

    with psycopg.connect(sys.argv[1]) as conn:
        FIXTURE.write_text(json.dumps(run_all(conn), ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
