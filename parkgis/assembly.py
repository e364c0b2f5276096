"""Parcel assembly: which available parcels could be offered together as one site.

Two parcels are *adjacent* when they lie in the same zone, share a boundary over more than
``min_shared_m`` metres (a corner touch is not a site) and have compatible land use (the same
4-digit class, e.g. two ``1001xx`` industrial parcels). Adjacency is computed by PostGIS on
``geom_gk`` with the spatial index (``ST_DWithin`` prunes, the shared length is measured as
the part of one boundary lying within ``snap_m`` of the other parcel, so hairline survey gaps
do not break an edge). Groups of three are paths or triangles in that graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import psycopg

#: Metres of shared boundary below which two parcels only "touch".
MIN_SHARED_M = 20.0
#: Gap between digitised neighbours still treated as a common boundary.
SNAP_M = 0.5

ADJACENT_PAIRS_SQL = """
WITH pool AS (
    SELECT code, zone_code, left(landuse_code, 4) AS lu4, geom_gk
      FROM parcels
     WHERE code = ANY(%(codes)s)
)
SELECT a.code AS a, b.code AS b,
       ST_Length(ST_Intersection(ST_Boundary(a.geom_gk),
                                 ST_Buffer(b.geom_gk, %(snap)s, 'quad_segs=1'))) AS shared_m
  FROM pool a
  JOIN pool b
    ON a.code < b.code
   AND a.zone_code = b.zone_code
   AND a.lu4 = b.lu4
   AND ST_DWithin(a.geom_gk, b.geom_gk, %(snap)s)
"""


def adjacent_pairs(conn: psycopg.Connection, codes: Sequence[str], *,
                   min_shared_m: float = MIN_SHARED_M,
                   snap_m: float = SNAP_M) -> list[tuple[str, str, float]]:
    """Adjacent pairs among ``codes``.

    Parameters
    ----------
    conn : psycopg.Connection
    codes : sequence of str
        Parcel codes forming the pool (typically available parcels of a usable land use).
    min_shared_m, snap_m : float
        See the module docstring.

    Returns
    -------
    list of (str, str, float)
        ``(code_a, code_b, shared_boundary_m)`` with ``code_a < code_b``.
    """
    if len(codes) < 2:
        return []
    rows = conn.execute(ADJACENT_PAIRS_SQL, {"codes": list(codes), "snap": snap_m}).fetchall()
    out = []
    for r in rows:
        a, b, shared = (r["a"], r["b"], r["shared_m"]) if isinstance(r, dict) else r
        # The measured length includes up to 2·snap at the ends of the common edge.
        if shared is not None and shared - 2 * snap_m > min_shared_m:
            out.append((a, b, float(shared)))
    return out


def groups(pairs: Iterable[tuple[str, str, float]], max_size: int = 3) -> list[tuple[str, ...]]:
    """Connected groups of 2..``max_size`` (≤ 3) parcels from the adjacency pairs.

    Returns sorted code tuples, each group once.
    """
    nbrs: dict[str, set[str]] = defaultdict(set)
    out: set[tuple[str, ...]] = set()
    for a, b, _ in pairs:
        nbrs[a].add(b)
        nbrs[b].add(a)
        out.add(tuple(sorted((a, b))))
    if max_size >= 3:
        for centre, ns in nbrs.items():
            ns_sorted = sorted(ns)
            for i, x in enumerate(ns_sorted):
                for y in ns_sorted[i + 1:]:
                    out.add(tuple(sorted((centre, x, y))))
    return sorted(out)
