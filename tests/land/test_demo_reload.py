"""``make demo`` a second time, days later: the sample is not loaded over a park the clock and
the planners have moved on (a reload would put statuses back, which only lifecycle actions may)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from parkgis.land import lifecycle

ROOT = Path(__file__).resolve().parents[2]
PARKGIS = Path(sys.executable).parent / "parkgis"
SAMPLE = ROOT / "data" / "shapes" / "weihui.gpkg"


def _load(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARKGIS_DATABASE_URL": url}
    return subprocess.run(
        [str(PARKGIS), "load", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _state(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT code, status, reserved_until, project_code, version FROM parcels ORDER BY code"
        ).fetchall()


def test_if_empty_loads_once_and_then_leaves_the_park_alone(empty_db: str) -> None:
    first = _load(empty_db, "--if-empty", str(SAMPLE))
    assert first.returncode == 0, first.stderr
    with psycopg.connect(empty_db) as conn:
        # what a planner (or the clock) does between two demos: a reservation released
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'reserved' ORDER BY code LIMIT 1"
        ).fetchone()[0]
        lifecycle.apply_action(conn, code, "release", lifecycle.ActionParams(), "planner-x", None)
    before = _state(empty_db)
    again = _load(empty_db, "--if-empty", str(SAMPLE))
    assert again.returncode == 0, again.stderr
    assert "not loaded" in again.stdout and f"{len(before)} parcels" in again.stdout
    assert _state(empty_db) == before
