"""The daily job: what it changes, that a second run changes nothing, that two at once do
the work once, the CLI, and the server's own in-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from land_helpers import at, conn_to, under_contract
from workbench_helpers import one, rows, small_park

from api.main import create_app
from parkgis.land import clock, listing
from parkgis.land.lifecycle import park_today
from parkgis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2025, 10, 15)
SNAPSHOT = {
    "events": "SELECT id, action, actor FROM parcel_events ORDER BY id",
    "parcels": "SELECT code, status, version FROM parcels ORDER BY code",
    "listings": "SELECT id, status, winner FROM land_listings ORDER BY id",
    "idle": "SELECT contract_id, stage FROM idle_flags ORDER BY id",
    "flags": "SELECT subject_kind, subject_code, flag FROM clock_flags ORDER BY id",
}


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    return {k: rows(url, sql) for k, sql in SNAPSHOT.items()}


@pytest.fixture
def busy_park(empty_db: str) -> str:
    """One of everything due on DAY: a lapsed reservation, a listing to close, idle land, an
    overdue upgrade, a planned upgrade past its start and a project past its start."""
    url = empty_db
    small_park(url, {"T-1": "available", "T-2": "available", "T-3": "available"})
    with conn_to(url) as conn:
        conn.execute(
            "UPDATE parcels SET status = 'reserved', project_code = 'PRJ-A', "
            "reserved_until = %s WHERE code = 'T-1'",
            (DAY - timedelta(days=1),),
        )
        conn.execute(
            "UPDATE projects SET start_date = %s, stage = 'negotiating' WHERE code = 'PRJ-B'",
            (DAY - timedelta(days=10),),
        )
        for code, status, start, finish in (
            ("UPG-X", "under_way", "2025-01-01", "2025-09-30"),
            ("UPG-Y", "planned", "2025-10-01", "2026-06-30"),
            ("UPG-Z", "completed", "2025-01-01", "2025-05-01"),
        ):
            conn.execute(
                "INSERT INTO upgrades (code, kind, name_zh, name_en, status, start_date, "
                "finish_date, geom) VALUES (%s, 'substation', '变电站', 'substation', %s, %s, %s,"
                " ST_SetSRID(ST_MakePoint(114.07, 35.40), 4490))",
                (code, status, start, finish),
            )
        listing.list_parcel(
            conn,
            "T-2",
            listing.ListingParams(
                notice_no="N-1", start_price_wan=Decimal("100"), increment_wan=Decimal("5")
            ),
            "plan",
            "planner",
            None,
            now=at(date(2025, 9, 5)),
        )
    under_contract(url, "T-3", date(2024, 1, 10), date(2024, 3, 1))
    return url


def test_tick_does_each_job_once_and_a_second_run_changes_nothing(busy_park: str) -> None:
    last = one(busy_park, "SELECT max(id) AS id FROM parcel_events")["id"]
    with conn_to(busy_park) as conn:
        first = clock.tick(conn, DAY)
    assert first["expired"] == ["T-1"] and first["opened"] == ["T-2"]
    assert first["closed"] == [{"parcel_code": "T-2", "result": "failed"}]
    assert [(f["parcel_code"], f["stage"]) for f in first["idle"]] == [("T-3", "idle")]
    assert sorted((f["subject_kind"], f["subject_code"], f["flag"]) for f in first["overdue"]) == [
        ("project", "PRJ-B", "past_start"),
        ("upgrade", "UPG-X", "overdue"),
        ("upgrade", "UPG-Y", "late_start"),
    ]
    new = rows(
        busy_park, "SELECT actor, action FROM parcel_events WHERE id > %s ORDER BY id", (last,)
    )
    assert [(e["actor"], e["action"]) for e in new] == [
        ("system", "expire"),
        ("system", "listing_open"),
        ("system", "listing_failed"),
        ("system", "idle_flag"),
    ]
    before = snapshot(busy_park)
    with conn_to(busy_park) as conn:
        second = clock.tick(conn, DAY)
    assert clock.changes(second) == 0 and not second["skipped"]
    assert snapshot(busy_park) == before


def test_a_tick_while_another_holds_the_clock_skips(busy_park: str) -> None:
    before = snapshot(busy_park)
    with conn_to(busy_park) as a, conn_to(busy_park) as b:
        with a.transaction():
            first = clock.tick(a, DAY)  # its lock lasts until this transaction commits
            other = clock.tick(b, DAY)
            assert other["skipped"] and clock.changes(other) == 0
            assert snapshot(busy_park) == before  # a's work is not committed yet
        assert clock.changes(first) == 7
    after = snapshot(busy_park)
    assert len(after["events"]) == len(before["events"]) + 4


def test_two_concurrent_ticks_do_the_work_once(busy_park: str) -> None:
    results: list[dict[str, Any]] = []
    gate = threading.Barrier(2)

    def run() -> None:
        with conn_to(busy_park) as conn:
            gate.wait()
            results.append(clock.tick(conn, DAY))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(clock.changes(r) for r in results) == [0, 7]
    assert len(rows(busy_park, "SELECT 1 FROM parcel_events WHERE action = 'expire'")) == 1
    assert len(rows(busy_park, "SELECT 1 FROM clock_flags")) == 3


def test_cli_tick_as_of(busy_park: str) -> None:
    env = {**os.environ, "PARKGIS_DATABASE_URL": busy_park}
    cmd = [sys.executable, "-m", "parkgis.cli", "tick", "--as-of", DAY.isoformat(), "--json"]
    first = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["expired"] == ["T-1"]
    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    got = json.loads(again.stdout)
    assert clock.changes(got) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "parkgis.cli", "tick", "--as-of", "2025-02-30"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "2025-02-30" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) <= 2


def test_the_server_runs_the_clock_at_start(empty_db: str) -> None:
    small_park(empty_db, {"T-1": "available"})
    lapsed = park_today() - timedelta(days=2)
    with conn_to(empty_db) as conn:
        conn.execute(
            "UPDATE parcels SET status = 'reserved', project_code = 'PRJ-A', "
            "reserved_until = %s WHERE code = 'T-1'",
            (lapsed,),
        )
    with TestClient(create_app(Settings(clock_enabled=True), database_url=empty_db)):
        # The start's tick ran before the first request is served: no waiting, no reading
        # the parcel through the API (which would expire it on access).
        assert one(empty_db, "SELECT status FROM parcels WHERE code = 'T-1'") == {
            "status": "available"
        }
    ev = one(
        empty_db,
        "SELECT actor, action FROM parcel_events WHERE parcel_code = 'T-1' AND action = 'expire'",
    )
    assert ev == {"actor": "system", "action": "expire"}
    # The next run: 23:00 park time → 00:05 the next day is 65 minutes away.
    assert clock.seconds_to_next_run(at(DAY, 23)) == 65 * 60


def test_sample_dates_follow_the_load_date(empty_db: str) -> None:
    import pyogrio
    import time_machine

    from parkgis.land.idle import idle_land
    from parkgis.land.loader import load_sample_package

    gpkg = ROOT / "data" / "shapes" / "weihui.gpkg"
    as_of = date.fromisoformat(json.loads(gpkg.with_suffix(".dates.json").read_text())["as_of"])
    later = as_of + timedelta(days=400)  # "a fresh demo a year from now"
    with time_machine.travel(at(later), tick=False):
        load_sample_package(empty_db, gpkg)
    raw = pyogrio.read_dataframe(gpkg, layer="upgrades", read_geometry=False)
    got = {
        r["code"]: r for r in rows(empty_db, "SELECT code, start_date, finish_date FROM upgrades")
    }
    for code, start in zip(raw["code"], raw["start_date"], strict=True):
        if start:
            assert got[code]["start_date"] == date.fromisoformat(str(start)[:10]) + timedelta(
                days=400
            ), code
    with conn_to(empty_db) as conn:
        found = idle_land(conn, later)
    assert found, "the sample keeps one idle case on any load date"
    assert all(
        f.fee_wan == (f.land_price_wan * Decimal("0.2")).quantize(Decimal("0.01")) for f in found
    )
    notices = rows(empty_db, "SELECT DISTINCT notice_date FROM land_listings")
    assert notices == [{"notice_date": later - timedelta(days=25)}]


def test_clock_flags_over_http(busy_park: str) -> None:
    from workbench_helpers import add_users, login

    add_users(busy_park)
    with conn_to(busy_park) as conn:
        clock.tick(conn, DAY)
    with TestClient(create_app(Settings(clock_enabled=False), database_url=busy_park)) as c:
        h = login(c, "plan")
        got = c.get("/api/land/clock-flags", params={"kind": "upgrade"}, headers=h)
        assert got.status_code == 200, got.text
        assert [(f["subject_code"], f["flag"], f["since"]) for f in got.json()["flags"]] == [
            ("UPG-X", "overdue", "2025-10-01"),
            ("UPG-Y", "late_start", "2025-10-02"),
        ]
        assert c.get("/api/land/clock-flags", headers=login(c, "inv")).status_code == 403
        assert c.get("/api/land/clock-flags", params={"kind": "x'; --"}, headers=h).status_code in (
            400,
            422,
        )


def _network_state(url: str) -> tuple[Any, ...]:
    """When the graph was last built, and the edges it holds (by road)."""
    built = one(url, "SELECT built_for, built_at FROM network_builds")
    edges = rows(url, "SELECT infra_code, count(*) AS n FROM road_edges GROUP BY 1 ORDER BY 1")
    return (built["built_for"], built["built_at"]), [(e["infra_code"], e["n"]) for e in edges]


def test_the_network_is_rebuilt_only_when_a_road_enters_service(sample_db_rw: str) -> None:
    """A start-up or a quiet day costs one fingerprint; the day a completed road upgrade's
    finish date arrives, the graph gains it (issue 16: a rebuild at 10^6 parcels takes
    minutes, and every app start runs the day's tick)."""
    url = sample_db_rw
    finish = date(2027, 10, 31)
    with conn_to(url) as conn:
        # UPG-02 (a new trunk road) completed, dated ahead: an edit, so the next tick rebuilds
        conn.execute(
            "UPDATE upgrades SET status = 'completed', finish_date = %s WHERE code = 'UPG-02'",
            (finish,),
        )
        assert clock.tick(conn, finish - timedelta(days=2))["network_rebuilt"] is True
    built, edges = _network_state(url)
    assert "UPG-02" not in dict(edges)  # not in service yet
    for day in (finish - timedelta(days=2), finish - timedelta(days=1)):
        with conn_to(url) as conn:
            assert clock.tick(conn, day)["network_rebuilt"] is False, day
        assert _network_state(url) == (built, edges)  # not rebuilt: nothing to do
    with conn_to(url) as conn:
        assert clock.tick(conn, finish)["network_rebuilt"] is True
    built2, edges2 = _network_state(url)
    assert built2[0] == finish and dict(edges2).get("UPG-02", 0) > 0
    with conn_to(url) as conn:
        assert clock.tick(conn, finish + timedelta(days=1))["network_rebuilt"] is False
        # an edit of a road the graph reads is an input too, whatever the date
        conn.execute("UPDATE road_speeds SET speed_kmh = speed_kmh + 1 WHERE kind = 'trunk_road'")
        assert clock.tick(conn, finish + timedelta(days=1))["network_rebuilt"] is True
