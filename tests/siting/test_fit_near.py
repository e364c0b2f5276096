"""The near set a gap-bounded fit read starts from (``fit._near_sql``, migration 0018): never a
parcel missed that lies within the bound, in its own GK zone or across a zone border."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
import shapely
from psycopg.rows import dict_row, tuple_row
from pyproj import Transformer

from parkgis.siting import fit
from parkgis.siting.search import RAIL_ACCESS_KINDS
from parkgis.vocabulary import DISTANCES


def test_fit_kinds_are_within_the_store_categories() -> None:
    """The store's distance over its category is a lower bound of fit's only because fit's
    kinds are among the category's."""
    assert set(RAIL_ACCESS_KINDS) <= set(DISTANCES["rail"][1])
    assert set(fit.ROAD_KINDS) <= set(DISTANCES["road"][1])


def _gk(srid: int):
    to_gk = Transformer.from_crs("EPSG:4490", f"EPSG:{srid}", always_xy=True)
    return lambda g: shapely.transform(
        g, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1]))
    )


def _brute_force(conn: psycopg.Connection, cat: str) -> dict[int, float]:
    """Each parcel's distance (its own GK projection) to the nearest feature of the category
    ever in service (in service on the last day: the set only grows), in every zone."""
    feats = [
        shapely.from_wkb(bytes(r["wkb"]))
        for r in conn.execute(
            "SELECT ST_AsBinary(geom) AS wkb FROM infra_as_of('infinity') WHERE kind = ANY(%s)",
            (list(DISTANCES[cat][1]),),
        )
    ]
    out = {}
    for r in conn.execute(
        "SELECT id, gk_srid, ST_AsBinary(geom) AS wkb FROM parcels WHERE status <> 'historic'"
    ):
        gk = _gk(r["gk_srid"])
        g = gk(shapely.from_wkb(bytes(r["wkb"])))
        out[r["id"]] = min((g.distance(gk(f)) for f in feats), default=math.inf)
    return out


@pytest.mark.parametrize("rail_t,road_t", [(50, None), (600, None), (None, 150), (1500, 400)])
def test_near_set_holds_every_parcel_within_the_bounds(
    sample_db: str, rail_t: float | None, road_t: float | None
) -> None:
    """On the sample: every parcel whose brute-force distance is within each bound is in the
    near set, and the set leaves parcels out (it prunes)."""
    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        bounds = {c: t for c, t in (("rail", rail_t), ("road", road_t)) if t is not None}
        dist = {c: _brute_force(conn, c) for c in bounds}
        want = {i for i in dist[next(iter(bounds))] if all(dist[c][i] <= bounds[c] for c in bounds)}
        with conn.cursor(row_factory=tuple_row) as cur:
            got = {r[0] for r in cur.execute(fit._near_sql(sorted(bounds)), _params(bounds))}
        total = len(dist[next(iter(bounds))])
    assert want, "a bound that no parcel meets proves nothing"
    assert want <= got
    assert len(got) < total


def _params(bounds: dict[str, float]) -> dict:
    params: dict = {f"{c}_t": t for c, t in bounds.items()}
    params.update({f"{c}_kinds": list(DISTANCES[c][1]) for c in bounds})
    return params


ZONE_SQL = (
    "INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom) "
    "VALUES (%s, '园区', 'Park', 'cluster_zone', 'approved', %s, ST_Multi(ST_Transform("
    "ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))"
)
PARCEL_SQL = (
    "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) VALUES "
    "(%s, %s, 'available', '100101', ST_Multi(ST_Transform("
    "ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))"
)
RAIL_SQL = (
    "INSERT INTO infrastructure (code, kind, name_zh, name_en, gk_srid, geom) VALUES "
    "(%s, 'rail_siding', '专用线', 'Siding', %s, ST_Transform(ST_SetSRID("
    "ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4547), 4490))"
)


@pytest.mark.parametrize("gap_m,fits", [(200.0, True), (700.0, False)])
def test_a_siding_of_another_zone_counts_for_fit(empty_db: str, gap_m: float, fits: bool) -> None:
    """Two parks on either side of a GK zone border (EPSG:4547 and 4548): a siding registered
    in the other park's zone, ``gap_m`` east of a parcel. The access store measures within a
    zone only and sees no siding for the parcel; fit measures every zone, so the first pass,
    read from the near set, still finds it within 500 m (and names it a near miss beyond)."""
    x, y = 515_000, 3_918_000
    with psycopg.connect(empty_db) as conn:
        conn.execute(ZONE_SQL, ("Z-A", 4547, x - 1000, y - 1000, x + 1000, y + 1000))
        conn.execute(ZONE_SQL, ("Z-B", 4548, x + 1000, y - 1000, x + 3000, y + 1000))
        conn.execute(PARCEL_SQL, ("Z-A-1", "Z-A", x, y, x + 300, y + 200))
        sx = x + 300 + gap_m
        conn.execute(RAIL_SQL, ("RS-B", 4548, sx, y - 500, sx, y + 700))
        conn.commit()
        reach = conn.execute(
            "SELECT r.rail_m FROM parcel_reach r JOIN parcels p ON p.id = r.parcel_id "
            "WHERE p.code = 'Z-A-1'"
        ).fetchone()
        assert reach is None or reach[0] is None, "the store measures within a zone only"
        req = fit.Requirement(rail_required=True, max_rail_m=500, landuse_codes=["1001"])
        res = fit.match(conn, req, assemble=False)
    matched = [m.site.codes for m in res.matches]
    near = {tuple(n.site.codes): n.failure for n in res.near_misses}
    if fits:
        assert matched == [("Z-A-1",)]
        assert abs(res.matches[0].site.d_rail - gap_m) < 0.5
    else:
        assert not matched
        assert near[("Z-A-1",)].name == "rail"
        assert math.isclose(near[("Z-A-1",)].gap, (gap_m - 500) / 500, rel_tol=1e-3)


def test_the_near_set_changes_speed_never_results(
    sample_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read narrowed to the near set and one that is not (the set over its cap) rank the
    same matches and near misses, singles and narrowed assembly alike."""
    with psycopg.connect(sample_db) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM projects ORDER BY code")]
        zones = [r[0] for r in conn.execute("SELECT code FROM zones ORDER BY code LIMIT 2")]
        reqs = [fit.load_requirement(conn, c) for c in codes]
        reqs.append(fit.Requirement(min_area_mu=20, max_area_mu=60, max_trunk_road_m=150))

        def bodies() -> list[dict]:
            out = []
            for req in reqs:
                for kw in ({"assemble": False}, {"assembly_zones": zones}):
                    out.append(fit.match(conn, req, near_miss_limit=15, **kw).body())
            return out

        narrowed = bodies()
        monkeypatch.setattr(fit, "NEAR_SET_CAP", -1)  # LIMIT 0: no id list
        unnarrowed = bodies()
    assert narrowed == unnarrowed
    assert sum(len(b["matches"]) + len(b["near_misses"]) for b in narrowed) > 0
