"""Approval batches from a vector file: a good GeoJSON in EPSG:4547 metres is stored with its
area measured as drawn (a 300 m × 200 m rectangle is 90 mu), a file with one bad feature is
refused with that feature's number and nothing is stored, and the CLI says so in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from parkgis.errors import InvalidData
from parkgis.ledger import approvals

X0, Y0 = 515_000.0, 3_918_000.0


def _fc(features: list[dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}},
        "features": features,
    }


def _rect(props: dict, w: float = 300, h: float = 200) -> dict:
    ring = [[X0, Y0], [X0 + w, Y0], [X0 + w, Y0 + h], [X0, Y0 + h], [X0, Y0]]
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


GOOD = {
    "code": "PZ-T-1",
    "批准文号": "豫政土〔2020〕测试1号",
    "批准日期": "2020-05-06",
    "类型": "conversion",
}


def test_good_file_stored_and_measured(empty_db: str, tmp_path: Path) -> None:
    f = tmp_path / "batches.geojson"
    f.write_text(json.dumps(_fc([_rect(GOOD)])), encoding="utf-8")
    with psycopg.connect(empty_db) as conn:
        assert approvals.load_file(conn, f) == 1
        row = conn.execute(
            "SELECT approval_no, approved_on::text, kind, area_m2, area_mu FROM approvals"
        ).fetchone()
    assert row[:3] == ("豫政土〔2020〕测试1号", "2020-05-06", "conversion")
    # 300 m × 200 m = 60000 m² = 90 mu (1 mu = 10000/15 m²), measured back in EPSG:4547
    assert row[3] == pytest.approx(60000, rel=1e-7)
    assert float(row[4]) == pytest.approx(90, rel=1e-7)


def test_bad_feature_refuses_the_file(empty_db: str, tmp_path: Path) -> None:
    bad = dict(GOOD, code="PZ-T-2", 批准日期="2020-13-45")
    f = tmp_path / "bad.geojson"
    f.write_text(json.dumps(_fc([_rect(GOOD), _rect(bad)])), encoding="utf-8")
    with psycopg.connect(empty_db) as conn:
        with pytest.raises(InvalidData) as e:
            approvals.load_file(conn, f)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM approvals").fetchone()[0] == 0
    assert e.value.extra["errors"] == [
        {"feature": 2, "reason": e.value.extra["errors"][0]["reason"]}
    ]
    assert "approved_on" in e.value.message
    r = subprocess.run(
        [sys.executable, "-m", "parkgis.cli", "ledger", "load-approvals", str(f)],
        env={**os.environ, "PARKGIS_DATABASE_URL": empty_db},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "feature 2" in r.stderr and str(tmp_path) not in r.stderr
