"""Parcel lifecycle: transitions, audit rows, holds, expiry — core functions and real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from workbench_helpers import add_users, login, one, rows, small_park

from parkgis.errors import Conflict, InvalidData, PreconditionFailed
from parkgis.land.lifecycle import ActionParams, apply_action, expire_reservations, park_today

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(
        empty_db,
        {"T-1": "available", "T-2": "available", "T-3": "not_for_supply", "T-4": "operational"},
    )
    return empty_db


def _events(url: str, code: str) -> list[dict]:
    return rows(
        url,
        "SELECT * FROM parcel_events WHERE parcel_code = %s AND action <> 'create' ORDER BY id",
        (code,),
    )


def _holds(url: str, code: str) -> list[dict]:
    return rows(url, "SELECT * FROM parcel_holds WHERE parcel_code = %s ORDER BY id", (code,))


def test_full_lifecycle_writes_one_event_per_transition(park: str) -> None:
    today = park_today()
    steps = [
        (
            "reserve",
            ActionParams(project="PRJ-A", until=today + timedelta(days=30), note="洽谈中"),
            "reserved",
        ),
        (
            "list",
            ActionParams(notice_start=today - timedelta(days=25), notice_days=20, backfill=True),
            "listed",
        ),
        ("allocate", ActionParams(contract_no="WH-2026-017", lease_years=50), "allocated"),
        ("start_construction", ActionParams(), "under_construction"),
        ("complete", ActionParams(note="投产"), "operational"),
    ]
    version = 1
    with psycopg.connect(park, row_factory=dict_row) as conn:
        for i, (action, params, target) in enumerate(steps, start=1):
            out = apply_action(conn, "T-1", action, params, "plan", version)
            assert out["parcel"]["status"] == target
            assert out["parcel"]["version"] == version + 1
            version = out["parcel"]["version"]
            ev = _events(park, "T-1")
            assert len(ev) == i, f"exactly one event per transition, got {ev}"
            assert (ev[-1]["actor"], ev[-1]["action"], ev[-1]["to_status"]) == (
                "plan",
                action,
                target,
            )
            assert ev[-1]["project_code"] == "PRJ-A"
    ev = _events(park, "T-1")
    assert [e["from_status"] for e in ev] == [
        "available",
        "reserved",
        "listed",
        "allocated",
        "under_construction",
    ]
    assert ev[0]["note"] == "洽谈中" and ev[0]["data"] == {
        "until": (today + timedelta(days=30)).isoformat()
    }
    assert ev[2]["data"] == {"contract_no": "WH-2026-017", "lease_years": 50}
    holds = _holds(park, "T-1")
    assert [h["kind"] for h in holds] == ["reserved", "listed", "allocated"]
    assert [h["active"] for h in holds] == [False, False, True]
    p = one(park, "SELECT project_code, reserved_until FROM parcels WHERE code = 'T-1'")
    assert p == {"project_code": "PRJ-A", "reserved_until": None}


def test_illegal_transitions_and_bad_parameters_change_nothing(park: str) -> None:
    today = park_today()
    with psycopg.connect(park, row_factory=dict_row) as conn:
        with pytest.raises(Conflict) as e:
            apply_action(
                conn,
                "T-4",
                "reserve",
                ActionParams(project="PRJ-A", until=today + timedelta(days=3)),
                "plan",
                1,
            )
        assert e.value.extra["allowed_actions"] == []
        with pytest.raises(Conflict) as e:
            apply_action(
                conn,
                "T-3",
                "reserve",
                ActionParams(project="PRJ-A", until=today + timedelta(days=3)),
                "plan",
                1,
            )
        assert e.value.extra["allowed_actions"] == ["restore"]
        assert "restore" in e.value.message and "恢复供应" in e.value.message
        with pytest.raises(Conflict):  # allocation only after a listing (招拍挂)
            apply_action(
                conn,
                "T-1",
                "allocate",
                ActionParams(contract_no="X", lease_years=10, project="PRJ-A"),
                "plan",
                1,
            )
        bad = [
            ("reserve", ActionParams(project="PRJ-A")),  # no until
            ("reserve", ActionParams(project="PRJ-A", until=today + timedelta(days=181))),
            ("reserve", ActionParams(project="PRJ-A", until=today - timedelta(days=1))),
            ("reserve", ActionParams(project="NOPE", until=today + timedelta(days=5))),
            ("reserve", ActionParams(until=today + timedelta(days=5))),  # no project
            ("list", ActionParams(notice_days=19)),
        ]
        for action, params in bad:
            with pytest.raises(InvalidData):
                apply_action(conn, "T-1", action, params, "plan", 1)
        with pytest.raises(PreconditionFailed):
            apply_action(conn, "T-1", "withdraw", ActionParams(), "plan", 7)
    assert _events(park, "T-1") == [] and _holds(park, "T-1") == []
    assert one(park, "SELECT status, version FROM parcels WHERE code = 'T-1'") == {
        "status": "available",
        "version": 1,
    }


def test_lease_limit_and_listing_notice(park: str) -> None:
    today = park_today()
    with psycopg.connect(park, row_factory=dict_row) as conn:
        apply_action(
            conn, "T-1", "list", ActionParams(project="PRJ-B", notice_start=today), "plan", None
        )
        with pytest.raises(Conflict) as e:  # the 20-day notice has not run its course
            apply_action(
                conn,
                "T-1",
                "allocate",
                ActionParams(contract_no="C-1", lease_years=50),
                "plan",
                None,
            )
        assert e.value.extra["notice_end"] == (today + timedelta(days=20)).isoformat()
        apply_action(
            conn,
            "T-2",
            "list",
            ActionParams(project="PRJ-B", notice_start=today - timedelta(days=21), backfill=True),
            "plan",
            None,
        )
        with pytest.raises(InvalidData, match="50"):  # industrial land: at most 50 years
            apply_action(
                conn,
                "T-2",
                "allocate",
                ActionParams(contract_no="C-2", lease_years=51),
                "plan",
                None,
            )
        out = apply_action(
            conn, "T-2", "allocate", ActionParams(contract_no="C-2", lease_years=50), "plan", None
        )
    assert out["parcel"]["status"] == "allocated"
    hold = one(
        park,
        "SELECT kind, upper(during) AS until FROM parcel_holds "
        "WHERE parcel_code = 'T-2' AND active",
    )
    assert hold["kind"] == "allocated" and hold["until"].year == today.year + 50


def test_release_withdraw_restore(park: str) -> None:
    today = park_today()
    with psycopg.connect(park, row_factory=dict_row) as conn:
        apply_action(
            conn,
            "T-1",
            "reserve",
            ActionParams(project="PRJ-A", until=today + timedelta(days=9)),
            "plan",
            None,
        )
        out = apply_action(conn, "T-1", "release", ActionParams(note="项目放弃"), "plan2", None)
        assert out["parcel"]["status"] == "available" and out["parcel"]["project_code"] is None
        assert out["event"]["project_code"] == "PRJ-A"  # the event remembers whose hold ended
        apply_action(conn, "T-1", "withdraw", ActionParams(), "plan", None)
        apply_action(conn, "T-1", "restore", ActionParams(), "plan", None)
    assert [(e["action"], e["actor"]) for e in _events(park, "T-1")] == [
        ("reserve", "plan"),
        ("release", "plan2"),
        ("withdraw", "plan"),
        ("restore", "plan"),
    ]
    assert [h["active"] for h in _holds(park, "T-1")] == [False]


def test_reservations_expire(park: str) -> None:
    today = park_today()
    with psycopg.connect(park, row_factory=dict_row) as conn:
        apply_action(
            conn, "T-1", "reserve", ActionParams(project="PRJ-A", until=today), "plan", None
        )
        apply_action(
            conn,
            "T-2",
            "reserve",
            ActionParams(project="PRJ-B", until=today + timedelta(days=1)),
            "plan",
            None,
        )
        assert expire_reservations(conn) == []  # valid through today
        tomorrow_noon = datetime.combine(
            today + timedelta(days=1), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=4)  # 12:00 in Henan
        assert expire_reservations(conn, now=tomorrow_noon) == ["T-1"]
        assert expire_reservations(conn, now=tomorrow_noon) == []  # idempotent
    ev = _events(park, "T-1")[-1]
    assert (ev["actor"], ev["action"], ev["from_status"], ev["to_status"], ev["project_code"]) == (
        "system",
        "expire",
        "reserved",
        "available",
        "PRJ-A",
    )
    assert [h["active"] for h in _holds(park, "T-1")] == [False]
    assert one(park, "SELECT status FROM parcels WHERE code = 'T-2'")["status"] == "reserved"


def test_cli_expire_and_user_add(park: str) -> None:
    """``parkgis parcels expire`` and ``parkgis user add ... --password-stdin``, as a user runs
    them (time passing is simulated by moving the stored end date into the past)."""
    with psycopg.connect(park, row_factory=dict_row) as conn:
        apply_action(
            conn, "T-1", "reserve", ActionParams(project="PRJ-A", until=park_today()), "plan", None
        )
        conn.execute("UPDATE parcels SET reserved_until = reserved_until - 3 WHERE code = 'T-1'")
    env = {**os.environ, "PARKGIS_DATABASE_URL": park}
    exe = (
        [sys.executable, "-m", "parkgis.cli"]
        if not (ROOT / ".venv/bin/parkgis").exists()
        else [str(ROOT / ".venv/bin/parkgis")]
    )
    r = subprocess.run(
        [*exe, "parcels", "expire"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "T-1" in r.stdout
    assert one(park, "SELECT status FROM parcels WHERE code = 'T-1'")["status"] == "available"
    r = subprocess.run(
        [*exe, "user", "add", "li", "--role", "planner", "--password-stdin"],
        input="pw-from-stdin-1\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*exe, "user", "add", "li", "--role", "planner", "--password-stdin"],
        input="pw-from-stdin-1\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "li" in r.stderr  # taken: one line, exit 1
    u = one(park, "SELECT role, password_hash FROM users WHERE name = 'li'")
    assert u["role"] == "planner" and u["password_hash"].startswith("$argon2id$")
    assert "pw-from-stdin-1" not in u["password_hash"]


@pytest.fixture
def http_park(sample_db_rw: str, live_server_rw: str) -> tuple[str, httpx.Client]:
    add_users(sample_db_rw)
    with httpx.Client(base_url=live_server_rw, timeout=60) as c:
        yield sample_db_rw, c


def _available_code(url: str) -> str:
    return one(
        url,
        "SELECT code FROM parcels WHERE status = 'available' "
        "AND landuse_code LIKE '1001%%' ORDER BY code LIMIT 1",
    )["code"]


def test_http_actions_etag_if_match(http_park: tuple[str, httpx.Client]) -> None:
    url, c = http_park
    code = _available_code(url)
    project = one(url, "SELECT code FROM projects ORDER BY code LIMIT 1")["code"]
    plan = login(c, "plan")
    r = c.get(f"/api/parcels/{code}", headers=plan)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    tag = r.headers["etag"]
    assert tag == f'"{code}-{r.json()["properties"]["version"]}"'
    assert r.json()["properties"]["allowed_actions"] == ["reserve", "list", "withdraw"]
    assert c.get(f"/api/parcels/{code}", headers={**plan, "If-None-Match": tag}).status_code == 304
    body = {"project": project, "until": str(date.today() + timedelta(days=60)), "note": "首轮"}

    r = c.post(f"/api/parcels/{code}/reserve", json=body, headers=plan)
    assert r.status_code == 428 and r.headers["content-type"] == "application/problem+json"
    r = c.post(f"/api/parcels/{code}/reserve", json=body, headers={**plan, "If-Match": '"999"'})
    assert r.status_code == 412
    r = c.post(f"/api/parcels/{code}/reserve", json=body, headers={**plan, "If-Match": tag})
    assert r.status_code == 200, r.text
    new_tag = r.headers["etag"]
    assert new_tag != tag and r.json()["event"]["actor"] == "plan"
    assert r.json()["allowed_actions"] == ["list", "release"]
    # the old tag is stale now
    r = c.post(f"/api/parcels/{code}/release", json={}, headers={**plan, "If-Match": tag})
    assert r.status_code == 412
    # illegal: 409 problem+json naming what is allowed, in both languages
    r = c.post(f"/api/parcels/{code}/complete", json={}, headers={**plan, "If-Match": new_tag})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["allowed_actions"] == ["list", "release"]
    assert "可执行" in p["detail"] and "allowed: list, release" in p["detail"]
    r = c.post(
        f"/api/parcels/{code}/reserve",
        json={**body, "until": str(date.today() + timedelta(days=400))},
        headers={**plan, "If-Match": new_tag},
    )
    assert r.status_code == 422  # parameters are checked before the parcel is locked
    r = c.post(f"/api/parcels/{code}/fly", json={}, headers={**plan, "If-Match": new_tag})
    assert r.status_code == 404
    r = c.post(
        f"/api/parcels/{code}/release", json={"note": "x"}, headers={**plan, "If-Match": "*"}
    )
    assert r.status_code == 200
    # history: planners see who and why; the public sees what and when only
    ev = c.get(f"/api/parcels/{code}/events", headers=plan).json()["events"]
    assert [(e["action"], e["actor"]) for e in ev[-2:]] == [
        ("reserve", "plan"),
        ("release", "plan"),
    ]
    pub = c.get(f"/api/parcels/{code}/events").json()["events"]
    assert [e["action"] for e in pub[-2:]] == ["reserve", "release"]
    assert all("actor" not in e and "note" not in e and "project_code" not in e for e in pub)
    assert c.get("/api/parcels/NOPE-999/events").status_code == 404
    assert c.get("/api/parcels/NOPE-999").status_code == 404


def test_http_bad_body_is_4xx_and_changes_nothing(http_park: tuple[str, httpx.Client]) -> None:
    url, c = http_park
    code = _available_code(url)
    plan = login(c, "plan")
    tag = c.get(f"/api/parcels/{code}").headers["etag"]
    before = one(url, "SELECT count(*) AS n FROM parcel_events")["n"]
    for body in (
        {"until": "not-a-date", "project": "X"},
        {"lease_years": 500},
        {"project": "PRJ-NOPE", "until": str(date.today())},
        {"project": "P"},
    ):
        r = c.post(f"/api/parcels/{code}/reserve", json=body, headers={**plan, "If-Match": tag})
        assert r.status_code in (400, 422), (body, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert one(url, "SELECT count(*) AS n FROM parcel_events")["n"] == before
    assert c.get(f"/api/parcels/{code}").headers["etag"] == tag


def test_http_get_expires_lapsed_reservation(http_park: tuple[str, httpx.Client]) -> None:
    url, c = http_park
    code = _available_code(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        apply_action(
            conn,
            code,
            "reserve",
            ActionParams(
                project=one(url, "SELECT code FROM projects LIMIT 1")["code"], until=park_today()
            ),
            "plan",
            None,
        )
        conn.execute(
            "UPDATE parcels SET reserved_until = reserved_until - 1 WHERE code = %s", (code,)
        )
    r = c.get(f"/api/parcels/{code}")
    assert r.json()["properties"]["status"] == "available"
    assert "project_code" not in r.json()["properties"]  # never public
    ev = rows(
        url, "SELECT actor, action FROM parcel_events WHERE parcel_code = %s ORDER BY id", (code,)
    )
    assert ev[-1] == {"actor": "system", "action": "expire"}
