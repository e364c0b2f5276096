"""Parcel assembly: which available parcels could be offered together as one site.

Two parcels are *adjacent* when they lie in the same zone, share a boundary over more than
``min_shared_m`` metres (a corner touch is not a site) and have compatible land use (the same
4-digit class, e.g. two ``1001xx`` industrial parcels). Adjacency is computed by PostGIS on
``geom_gk`` in one query probing the spatial index once per pool parcel (``ST_DWithin`` prunes,
a rectangle clip bounds the shared length from above, the shared length is measured as
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
SELECT a.code AS a, b.code AS b,
       ST_Length(ST_Intersection(ST_Boundary(a.geom_gk),
                                 ST_Buffer(b.geom_gk, %(snap)s, 'quad_segs=1'))) AS shared_m
  FROM parcels a
  -- One probe of parcels_gk0_idx per pool parcel. geom_gk mixes GK projections in a
  -- province, so distances are taken on the SRID-stripped expression the index is built on,
  -- always with gk_srid equal. OFFSET 0 keeps the planner from flattening this into a hash
  -- join on zone and land use (which measures every pair of a zone) or from AND-ing in the
  -- zone index (thousands of rows per probe).
  CROSS JOIN LATERAL (
      SELECT b.code, b.zone_code, b.landuse_code, b.area_m2, b.geom_gk
        FROM parcels b
       WHERE ST_DWithin(ST_SetSRID(b.geom_gk, 0), ST_SetSRID(a.geom_gk, 0), %(snap)s)
         AND b.gk_srid = a.gk_srid
         AND b.code > a.code
      OFFSET 0
  ) b
 WHERE a.code = ANY(%(codes)s)
   AND b.code = ANY(%(codes)s)
   AND b.zone_code = a.zone_code
   AND left(b.landuse_code, 4) = left(a.landuse_code, 4)
   -- Pairs whose area already exceeds the group limit, or that stay under the minimum even
   -- with the largest third parcel of the pool, belong to no group kept: not measured.
   AND (%(max_pair_m2)s::float8 IS NULL OR a.area_m2 + b.area_m2 <= %(max_pair_m2)s)
   AND (%(min_pair_m2)s::float8 IS NULL OR a.area_m2 + b.area_m2 >= %(min_pair_m2)s)
   -- The shared boundary lies inside b's box grown by snap: a rectangle clip bounds its
   -- length from above, so corner touches are dropped before the buffer and overlay.
   AND ST_Length(ST_ClipByBox2D(ST_Boundary(a.geom_gk), ST_Expand(box2d(b.geom_gk), %(snap)s)))
       > %(min_shared)s + 2 * %(snap)s
"""


def adjacent_pairs(
    conn: psycopg.Connection,
    codes: Sequence[str],
    *,
    min_shared_m: float = MIN_SHARED_M,
    snap_m: float = SNAP_M,
    min_pair_m2: float | None = None,
    max_pair_m2: float | None = None,
) -> list[tuple[str, str, float]]:
    """Adjacent pairs among ``codes``.

    Parameters
    ----------
    conn : psycopg.Connection
    codes : sequence of str
        Parcel codes forming the pool (typically available parcels of a usable land use).
    min_shared_m, snap_m : float
        See the module docstring.
    min_pair_m2, max_pair_m2 : float, optional
        Bounds on the pair's combined area (m²); pairs outside are not measured. A caller
        looking for groups of area ≤ H passes ``H``; for groups ≥ L, ``L − (largest parcel
        of the pool)`` (a third parcel adds at most that).

    Returns
    -------
    list of (str, str, float)
        ``(code_a, code_b, shared_boundary_m)`` with ``code_a < code_b``.
    """
    if len(codes) < 2:
        return []
    rows = conn.execute(
        ADJACENT_PAIRS_SQL,
        {
            "codes": list(codes),
            "snap": snap_m,
            "min_shared": min_shared_m,
            "min_pair_m2": min_pair_m2,
            "max_pair_m2": max_pair_m2,
        },
    ).fetchall()
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
                for y in ns_sorted[i + 1 :]:
                    out.add(tuple(sorted((centre, x, y))))
    return sorted(out)
