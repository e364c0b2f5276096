"""QGIS as a real client of /ogc (Debian's python3-qgis, headless)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin")


def _has_qgis() -> bool:
    if not SYSTEM_PYTHON:
        return False
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _has_qgis(), reason="needs Debian's python3-qgis")


def test_qgis_opens_counts_and_filters_parcels(live_server: str, sample_db: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run(
        [SYSTEM_PYTHON, str(ROOT / "scripts" / "qgis_check.py"), live_server],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    with psycopg.connect(sample_db) as conn:
        live = sorted(
            c for (c,) in conn.execute("SELECT code FROM parcels WHERE status <> 'historic'")
        )
        available = sorted(
            c for (c,) in conn.execute("SELECT code FROM parcels WHERE status = 'available'")
        )
        xmin, ymin, xmax, ymax = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM parcels WHERE status <> 'historic') s"
        ).fetchone()
    assert seen["valid"] and seen["count"] == len(live)
    assert seen["codes"] == live  # every parcel read through the paging links
    assert all(
        abs(a - b) < 1e-4 for a, b in zip(seen["extent"], (xmin, ymin, xmax, ymax), strict=True)
    )
    assert "status" in seen["fields"] and "note_internal" not in seen["fields"]
    assert seen["subset_accepted"] and seen["subset_codes"] == available
