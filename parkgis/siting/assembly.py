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
from dataclasses import dataclass
from typing import Any

import numpy as np
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
        # area_m2 and shared_m are double precision: the rows are used as read
        return cur.execute(sql, {**params, **bounds}).fetchall()  # type: ignore[return-value]


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


@dataclass
class PoolGroups:
    """Groups of a pool as rows of three indices into ``codes`` (members in code order, −1 in
    a pair's third slot), with each parcel's area (m²) and ``extra``."""

    codes: list[str]
    rows: np.ndarray
    area_m2: np.ndarray
    extra: list[Any]

    def slots(self, values: np.ndarray, pad: Any) -> np.ndarray:
        """``values`` (one per code) of each member as a (groups × 3) array; ``pad`` in a
        pair's third slot."""
        out: np.ndarray = np.append(values, np.array([pad], dtype=values.dtype))[self.rows]
        return out

    def tuples(self, keep: np.ndarray | None = None) -> list[tuple[str, ...]]:
        """The groups (``keep``: those of a boolean mask) as sorted code tuples, sorted."""
        rows = self.rows if keep is None else self.rows[keep]
        c = self.codes
        return sorted(tuple(c[i] for i in r if i >= 0) for r in rows.tolist())


def sized_groups(
    conn: psycopg.Connection,
    pool_sql: str,
    params: dict[str, Any],
    min_group_m2: float | None = None,
    max_group_m2: float | None = None,
) -> PoolGroups:
    """The groups (:func:`groups`) of a pool whose area lies in [min, max]: the pool read and
    its pairs in one statement, the groups formed in numpy.

    ``pool_sql`` (a constant query of ``id, code, area_m2, extra`` over ``parcels``, with
    ``params``) names the parcels a group may use; ``extra`` is any figure the caller wants
    back per parcel (NULL for none).
    """
    pairs = _pool_pairs(conn, pool_sql, params, min_group_m2, max_group_m2)
    codes, rows = group_rows([(r[0], r[1]) for r in pairs])
    rank = {c: i for i, c in enumerate(codes)}
    area = np.zeros(len(codes))
    extra: list[Any] = [None] * len(codes)
    for ca, cb, _, x, y, ea, eb in pairs:
        i, j = rank[ca], rank[cb]
        area[i], area[j], extra[i], extra[j] = x, y, ea, eb
    found = PoolGroups(codes, rows, area, extra)
    a = found.slots(area, 0.0)
    # summed slot by slot, as Python's sum() adds a group's members (+ 0.0 is exact)
    total = a[:, 0] + a[:, 1] + a[:, 2]
    ok = np.ones(len(rows), dtype=bool)
    if min_group_m2 is not None:
        ok &= total >= min_group_m2
    if max_group_m2 is not None:
        ok &= total <= max_group_m2
    found.rows = rows[ok]
    return found


def group_rows(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
    """Every group of :func:`groups` as a row of three indices into the returned sorted
    codes (members in code order, −1 in a pair's third slot), in numpy: at 10^6 parcels an
    assembly in every zone forms ~10^5 groups, in Python about a second.

    Examples
    --------
    >>> codes, rows = group_rows([("A", "B"), ("B", "C"), ("A", "C")])
    >>> sorted(tuple(codes[i] for i in r if i >= 0) for r in rows.tolist())
    [('A', 'B'), ('A', 'B', 'C'), ('A', 'C'), ('B', 'C')]
    """
    codes = sorted({a for a, _ in pairs} | {b for _, b in pairs})
    if not pairs:
        return codes, np.zeros((0, 3), dtype=np.int64)
    rank = {c: i for i, c in enumerate(codes)}
    x = np.fromiter((rank[a] for a, _ in pairs), dtype=np.int64, count=len(pairs))
    y = np.fromiter((rank[b] for _, b in pairs), dtype=np.int64, count=len(pairs))
    edges = np.unique(np.column_stack([np.minimum(x, y), np.maximum(x, y)]), axis=0)
    twos = np.column_stack([edges, np.full(len(edges), -1, dtype=np.int64)])
    # every edge from both ends, by centre then neighbour: a centre's neighbours are a run
    centre = np.concatenate([edges[:, 0], edges[:, 1]])
    nbr = np.concatenate([edges[:, 1], edges[:, 0]])
    order = np.lexsort((nbr, centre))
    centre, nbr = centre[order], nbr[order]
    threes = []
    k = 1
    while k < len(centre):
        # entries k apart in one run: the centre with two of its neighbours
        same = np.flatnonzero(centre[k:] == centre[:-k])
        if not len(same):
            break
        threes.append(np.column_stack([centre[same], nbr[same], nbr[same + k]]))
        k += 1
    if not threes:
        return codes, twos
    # a triangle is found from each of its three corners
    tri = np.unique(np.sort(np.concatenate(threes), axis=1), axis=0)
    return codes, np.concatenate([twos, tri])


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
    return sorted(out)
