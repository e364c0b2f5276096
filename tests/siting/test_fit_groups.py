"""Groups are screened before any site is built (``fit._group_members``): the screen may
only leave out groups that can be neither a match nor a near miss.

The reference here builds every candidate of the sample (no pruning), forms every group of
every usable parcel from the adjacency store, and keeps those of the right size failing at
most one hard constraint by ``_hard`` on the combined site: each must be among the screened.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fit_profiles import ADHOC, AS_OF, SAMPLE_PROJECTS

from parkgis.siting import assembly, fit

#: Profiles whose groups fail on budget, rail and road, so every flag of the screen decides.
STRICT: dict[str, dict[str, Any]] = {
    "budget-rail-road": {
        "min_area_mu": 60,
        "max_area_mu": 160,
        "landuse_codes": ["1001"],
        "rail_required": True,
        "max_rail_m": 600,
        "max_trunk_road_m": 250,
        "land_budget_wan": 2500,
    },
    "budget-only": {"min_area_mu": 80, "max_area_mu": 140, "land_budget_wan": 3000},
}


def _listable_groups(
    conn: psycopg.Connection, req: fit.Requirement
) -> tuple[set[tuple[str, ...]], int]:
    """The groups of the right size failing at most one constraint, and how many groups are
    of the right size."""
    ctx = fit._build_context(conn, req, AS_OF)
    mx = req.max_area_mu
    pool = [s for s in ctx.sites if s.status_ok and s.landuse_ok and (mx is None or s.area_mu < mx)]
    out, sized = set(), 0
    for g in assembly.groups(assembly.adjacent_pairs(conn, [s.codes[0] for s in pool])):
        parts = [ctx.by_code[c] for c in g]
        mu = sum(p.area_m2 for p in parts) / fit.MU_M2
        if req.min_area_mu is not None and mu < req.min_area_mu * 0.8:
            continue
        if mx is not None and mu > mx * 1.2:
            continue
        sized += 1
        site = fit._combine(parts, with_geometry=False)
        if len(fit._hard(ctx, site, confidential=False)) <= 1:
            out.add(g)
    return out, sized


@pytest.mark.parametrize("name", [*SAMPLE_PROJECTS, *ADHOC, *STRICT])
def test_screen_keeps_every_listable_group(sample_db: str, name: str) -> None:
    with psycopg.connect(sample_db) as conn:
        if name in SAMPLE_PROJECTS:
            req = fit.load_requirement(conn, name)
        else:
            req = fit.Requirement(**{**ADHOC, **STRICT}[name])
        listable, sized = _listable_groups(conn, req)
        members, screened = fit._group_members(conn, req, None)
        assert listable <= set(screened), sorted(listable - set(screened))[:5]
        assert set(members) == {c for g in screened for c in g}
        if name in STRICT:
            # the screen does leave groups of the right size out (else this proves nothing)
            assert 0 < len(listable) <= len(screened) < sized
