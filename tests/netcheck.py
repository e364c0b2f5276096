"""An independent shortest path for the road-network checks (issue #15): networkx over the
edges of ``road_edges`` read with SQL, times from each edge's own geometry and the documented
truck speeds, and each thing's way onto the network measured with shapely. Shared by
tests/siting/test_network.py and the page tests (tests/publish/test_browser_access.py).
"""

from __future__ import annotations

import networkx as nx
import psycopg
import shapely
import shapely.ops

OFF_KMH = 10.0  # network_params.off_network_kmh as documented in migration 0012
SPEEDS = {"expressway": 100.0, "national_road": 60.0, "trunk_road": 40.0, "local_road": 25.0}
DETOUR = 1.3  # network_params.detour_factor: beyond the network, straight line x this
ESTIMATE_KMH = 70.0  # network_params.estimate_kmh


def graph(cur: psycopg.Cursor) -> tuple[nx.Graph, list[dict]]:
    """The network from ``road_edges`` (a dict_row cursor): the graph (edge weights ``s``
    seconds and ``m`` metres) and the edge rows with their shapely ``line`` and ``s``."""
    edges = cur.execute(
        "SELECT id, source, target, length_m, kind, ST_AsBinary(geom_gk) AS wkb"
        "  FROM road_edges ORDER BY id"
    ).fetchall()
    g = nx.Graph()
    for e in edges:
        e["line"] = shapely.from_wkb(e["wkb"])
        # time from the geometry and the documented speed, not the stored cost
        s = e["line"].length / (SPEEDS[e["kind"]] / 3.6)
        e["s"] = s
        old = g.get_edge_data(e["source"], e["target"])
        if old is None or s < old["s"]:
            g.add_edge(e["source"], e["target"], s=s, m=e["line"].length)
    return g, edges


def access_edge(edges: list[dict], geom: shapely.Geometry) -> tuple[dict, float, float]:
    """The nearest road a truck may enter (not the expressway): (edge, gap m, fraction)."""
    cands = [e for e in edges if e["kind"] != "expressway"]
    e = min(cands, key=lambda e: (e["line"].distance(geom), e["id"]))
    near = shapely.ops.nearest_points(e["line"], geom)[0]
    return e, e["line"].distance(geom), e["line"].project(near) / e["line"].length


def entry(edges: list[dict], geom: shapely.Geometry) -> list[tuple[int, float, float]]:
    """The two vertices ``geom`` reaches the network at, each with (seconds, metres)."""
    e, off, f = access_edge(edges, geom)
    off_s = off / (OFF_KMH / 3.6)
    length = e["line"].length
    return [
        (e["source"], off_s + f * e["s"], off + f * length),
        (e["target"], off_s + (1 - f) * e["s"], off + (1 - f) * length),
    ]


def route(g: nx.Graph, starts: list[tuple[int, float, float]], goal: int) -> tuple[float, float]:
    """Fastest (seconds, metres) from the entry ``starts`` to vertex ``goal``."""
    best = (float("inf"), float("inf"))
    for vid, s0, m0 in starts:
        try:
            path = nx.dijkstra_path(g, vid, goal, weight="s")
        except nx.NetworkXNoPath:
            continue
        s = s0 + sum(g[a][b]["s"] for a, b in zip(path, path[1:], strict=False))
        m = m0 + sum(g[a][b]["m"] for a, b in zip(path, path[1:], strict=False))
        best = min(best, (s, m))
    return best


def between(
    g: nx.Graph, edges: list[dict], a: shapely.Geometry, b: shapely.Geometry
) -> tuple[float, float]:
    """Fastest (seconds, metres) from ``a`` to ``b``, both off the network: through a vertex,
    or along the one road both join."""
    best = (float("inf"), float("inf"))
    for vid, s1, m1 in entry(edges, b):
        s, m = route(g, entry(edges, a), vid)
        best = min(best, (s + s1, m + m1))
    ea, offa, fa = access_edge(edges, a)
    eb, offb, fb = access_edge(edges, b)
    if ea["id"] == eb["id"]:
        along = abs(fa - fb)
        s = (offa + offb) / (OFF_KMH / 3.6) + along * ea["s"]
        best = min(best, (s, offa + offb + along * ea["line"].length))
    return best
