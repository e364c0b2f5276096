"""Reproduction (issue 11 verification, abuse): an anonymous ``POST /api/match`` with a long
thin footprint (3000 x 10 m, or 4999 x 1 m) passed the area and width rejects on every site
and ran the angular search on each, using up the whole 10 s match budget per request and
answering ``incomplete``. No site of the park is 3000 m across, so the answer is a plain "no
site fits", decided at once."""

from __future__ import annotations

import time

import psycopg
import pytest


@pytest.mark.parametrize(("length", "width"), [(3000, 10), (4999, 1)])
def test_a_footprint_longer_than_any_site_is_refused_at_once(
    client, sample_db: str, length: float, width: float
) -> None:
    with psycopg.connect(sample_db) as conn:
        # Independent: the widest chord of any live parcel, in metres (PostGIS, GK plane).
        widest = conn.execute(
            "SELECT max(ST_MaxDistance(geom_gk, geom_gk)) FROM parcels WHERE status <> 'historic'"
        ).fetchone()[0]
    assert widest < length
    t0 = time.monotonic()
    r = client.post("/api/match", json={"footprint_length_m": length, "footprint_width_m": width})
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    assert "incomplete" not in body, body.get("incomplete")
    assert elapsed < 3.0, elapsed
    assert all(len(m["parcels"]) > 1 for m in body["matches"])  # no single parcel holds it
