"""Parcel assembly: which available parcels could be offered together as one site.

Two parcels are *adjacent* when they lie in the same zone, share a boundary over more than
:data:`MIN_SHARED_M` metres (a corner touch is not a site) and have compatible land use (the
same 4-digit class, e.g. two ``1001xx`` industrial parcels). The shared length is measured on
``geom_gk`` as the part of one boundary lying within :data:`SNAP_M` of the other parcel, so
hairline survey gaps do not break an edge. Groups of three are paths or triangles in that
graph.

The relation depends on the parcels alone, never on the project asked, so PostGIS keeps it
(``parcel_adjacency``, migration 0019, where the definition is written once, in SQL; its
triggers rewrite a parcel's pairs when its geometry, zone, land use or code changes) and a
call only joins it to its pool: at 10^6 parcels the pool of an assembly in every zone is
joined in a fraction of a second instead of measured in 8.6 s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

#: Metres of shared boundary below which two parcels only "touch" (migration 0019's 20.0).
MIN_SHARED_M = 20.0
#: Gap between digitised neighbours still treated as a common boundary (migration 0019's 0.5).
SNAP_M = 0.5

#: The adjacent pairs of a pool (``{pool}``: a query of ``id, code, area_m2, extra``), with
#: their areas and whatever the pool's query names ``extra``. A pair whose area exceeds the
#: largest group wanted, or stays under the smallest even with the largest parcel of the pool
#: as a third member, belongs to no group kept.
POOL_PAIRS_SQL = """
WITH pool AS MATERIALIZED ({pool}),
     top AS (SELECT max(area_m2) AS m FROM pool)
SELECT a.code AS a, b.code AS b, s.shared_m, a.area_m2 AS a_m2, b.area_m2 AS b_m2,
       a.extra AS a_extra, b.extra AS b_extra
  FROM parcel_adjacency s
  JOIN pool a ON a.id = s.a_id
  JOIN pool b ON b.id = s.b_id
 WHERE (%(max_group_m2)s::float8 IS NULL OR a.area_m2 + b.area_m2 <= %(max_group_m2)s)
   AND (%(min_group_m2)s::float8 IS NULL
        OR a.area_m2 + b.area_m2 >= %(min_group_m2)s - (SELECT m FROM top))
"""
CODES_POOL_SQL = """SELECT p.id, p.code, p.area_m2, NULL::int AS extra
  FROM parcels p WHERE p.code = ANY(%(codes)s)"""

#: The store's triggers on ``parcels`` (a bulk load turns them off, then calls :func:`rebuild`).
TRIGGERS = ("parcels_adjacency_ins", "parcels_adjacency_upd")


def _pool_pairs(
    conn: psycopg.Connection,
    pool_sql: str,
    params: dict[str, Any],
    min_group_m2: float | None,
    max_group_m2: float | None,
) -> list[tuple[str, str, float, float, float, Any, Any]]:
    sql = POOL_PAIRS_SQL.replace("{pool}", pool_sql)
    bounds = {"min_group_m2": min_group_m2, "max_group_m2": max_group_m2}
    with conn.cursor(row_factory=tuple_row) as cur:
        return [
            (a, b, float(m), float(x), float(y), ea, eb)
            for a, b, m, x, y, ea, eb in cur.execute(sql, {**params, **bounds})
        ]


def adjacent_pairs(
    conn: psycopg.Connection,
    codes: Sequence[str],
    *,
    min_group_m2: float | None = None,
    max_group_m2: float | None = None,
) -> list[tuple[str, str, float]]:
    """Adjacent pairs among ``codes``.

    Parameters
    ----------
    conn : psycopg.Connection
    codes : sequence of str
        Parcel codes forming the pool (typically available parcels of a usable land use).
    min_group_m2, max_group_m2 : float, optional
        The area (m²) of the groups wanted: pairs that can belong to none (a third member adds
        at most the largest parcel of the pool) are left out.

    Returns
    -------
    list of (str, str, float)
        ``(code_a, code_b, shared_boundary_m)`` with ``code_a < code_b``; the shared length
        includes up to 2·:data:`SNAP_M` at the ends of the common edge.
    """
    if len(codes) < 2:
        return []
    rows = _pool_pairs(conn, CODES_POOL_SQL, {"codes": list(codes)}, min_group_m2, max_group_m2)
    return [(r[0], r[1], r[2]) for r in rows]


def sized_groups(
    conn: psycopg.Connection,
    pool_sql: str,
    params: dict[str, Any],
    min_group_m2: float | None = None,
    max_group_m2: float | None = None,
) -> tuple[list[tuple[str, ...]], dict[str, tuple[float, Any]]]:
    """The groups (:func:`groups`) of a pool whose area lies in [min, max], and the area and
    ``extra`` of each of their parcels: the pool read and its pairs in one statement.

    ``pool_sql`` (a constant query of ``id, code, area_m2, extra`` over ``parcels``, with
    ``params``) names the parcels a group may use; ``extra`` is any figure the caller wants
    back per parcel (NULL for none).
    """
    rows = _pool_pairs(conn, pool_sql, params, min_group_m2, max_group_m2)
    info = {r[0]: (r[3], r[5]) for r in rows} | {r[1]: (r[4], r[6]) for r in rows}
    kept = []
    for g in _group_set((r[0], r[1], r[2]) for r in rows):
        total = sum(info[c][0] for c in g)
        if (min_group_m2 is None or total >= min_group_m2) and (
            max_group_m2 is None or total <= max_group_m2
        ):
            kept.append(g)
    kept.sort()
    return kept, {c: info[c] for g in kept for c in g}


def set_triggers(conn: psycopg.Connection, enabled: bool) -> None:
    """Enable or disable the store's triggers (a bulk load; call :func:`rebuild` after)."""
    verb = "ENABLE" if enabled else "DISABLE"
    for name in TRIGGERS:
        conn.execute(f"ALTER TABLE parcels {verb} TRIGGER {name}")


def rebuild(conn: psycopg.Connection) -> int:
    """Every adjacent pair again, set-based; returns how many are stored."""
    row = conn.cursor(row_factory=tuple_row).execute("SELECT adjacency_rebuild()").fetchone()
    return int(row[0]) if row else 0


def groups(pairs: Iterable[tuple[str, str, float]], max_size: int = 3) -> list[tuple[str, ...]]:
    """Connected groups of 2..``max_size`` (≤ 3) parcels from the adjacency pairs.

    Returns sorted code tuples, each group once.

    Examples
    --------
    >>> groups([("A", "B", 30.0), ("B", "C", 25.0)])
    [('A', 'B'), ('A', 'B', 'C'), ('B', 'C')]
    """
    return sorted(_group_set(pairs, max_size))


def _group_set(pairs: Iterable[tuple[str, str, float]], max_size: int = 3) -> set[tuple[str, ...]]:
    nbrs: dict[str, set[str]] = defaultdict(set)
    out: set[tuple[str, ...]] = set()
    for a, b, _ in pairs:
        nbrs[a].add(b)
        nbrs[b].add(a)
        out.add((a, b) if a < b else (b, a))
    if max_size >= 3:
        for centre, ns in nbrs.items():
            ns_sorted = sorted(ns)
            for i, x in enumerate(ns_sorted):
                for y in ns_sorted[i + 1 :]:
                    # x < y: the centre's place in the sorted triple is all that is left
                    out.add(
                        (centre, x, y)
                        if centre < x
                        else (x, centre, y)
                        if centre < y
                        else (x, y, centre)
                    )
    return out
