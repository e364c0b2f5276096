"""Idle land (令53): one year → idle with a 20 % fee, two years → may be reclaimed, stalled
work, government delays stopping the count; flags as events; the planner's list over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from land_helpers import at, conn_to, under_contract
from workbench_helpers import PASSWORD, add_users, login, one, rows, small_park

from api.main import create_app
from parkgis.land import clock, contracts
from parkgis.land.idle import idle_land
from parkgis.settings import Settings

SIGNED = date(2024, 2, 1)
AGREED = date(2024, 3, 1)


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(empty_db, {"T-1": "available", "T-2": "available", "T-3": "available"})
    return empty_db


def test_idle_at_one_year_with_fee_and_reclaimable_at_two(park: str) -> None:
    under_contract(park, "T-1", SIGNED, AGREED, price_wan="1234.50")
    with conn_to(park) as conn:
        assert idle_land(conn, date(2025, 2, 28)) == []
        [first] = idle_land(conn, date(2025, 3, 1))
        [later] = idle_land(conn, date(2026, 2, 28))
        [two] = idle_land(conn, date(2026, 3, 1))
    # 20 % of 1,234.50 (10k yuan) = 246.90, worked by hand.
    assert (first.kind, first.stage, first.since, first.fee_wan) == (
        "not_started",
        "idle",
        date(2025, 3, 1),
        Decimal("246.90"),
    )
    assert later.stage == "idle" and later.reclaim_from == date(2026, 3, 1)
    assert two.stage == "reclaimable" and two.parcel_code == "T-1"


def test_government_delay_stops_the_count(park: str) -> None:
    no = under_contract(park, "T-1", SIGNED, AGREED)
    with conn_to(park) as conn:
        # 1–30 June 2024: 30 days that do not count; the mark moves from 1 March to 31 March.
        contracts.record_delay(
            conn,
            no,
            date(2024, 6, 1),
            date(2024, 6, 30),
            "规划调整 / planning revision",
            "卫政〔2024〕3号",
            "plan",
        )
        assert idle_land(conn, date(2025, 3, 30)) == []
        [f] = idle_land(conn, date(2025, 3, 31))
        assert f.delay_days == 30 and f.since == date(2025, 3, 31)
        # A delay still going on holds the count however long it lasts.
        contracts.record_delay(
            conn, no, date(2025, 1, 1), None, "征收未完成 / land not yet cleared", None, "plan"
        )
        assert idle_land(conn, date(2027, 6, 1)) == []
    ev = one(
        park,
        "SELECT * FROM parcel_events WHERE parcel_code = 'T-1' AND action = "
        "'government_delay' AND data->>'to_date' IS NOT NULL",
    )
    assert ev["data"]["document_no"] == "卫政〔2024〕3号"


def test_started_but_stalled_and_under_developed(park: str) -> None:
    area = float(one(park, "SELECT area_m2 FROM parcels WHERE code = 'T-2'")["area_m2"])
    no = under_contract(park, "T-2", SIGNED, AGREED, investment_wan="20000")
    with conn_to(park) as conn:
        contracts.record_start(conn, no, date(2024, 3, 10), "plan", now=at(date(2024, 3, 10)))
        # More than a third built and 30 % invested: stopped or not, not idle.
        contracts.record_progress(
            conn,
            no,
            "plan",
            developed_area_m2=area * 0.4,
            investment_to_date_wan=Decimal("6000"),
            work_stopped_since=date(2025, 1, 10),
            now=at(date(2025, 2, 1)),
        )
        assert idle_land(conn, date(2026, 6, 1)) == []
        # Under a third built: idle one year after work stopped.
        contracts.record_progress(
            conn, no, "plan", developed_area_m2=area * 0.3, now=at(date(2025, 2, 1))
        )
        assert idle_land(conn, date(2026, 1, 9)) == []
        [f] = idle_land(conn, date(2026, 1, 10))
        assert (f.kind, f.count_from, f.since) == ("stalled", date(2025, 1, 10), date(2026, 1, 10))
        # Investment under 25 % alone also makes it idle (20000 × 25 % = 5000 > 4999).
        contracts.record_progress(
            conn,
            no,
            "plan",
            developed_area_m2=area * 0.5,
            investment_to_date_wan=Decimal("4999"),
            now=at(date(2025, 2, 1)),
        )
        assert [f.kind for f in idle_land(conn, date(2026, 1, 10))] == ["stalled"]
        contracts.record_progress(conn, no, "plan", resumed=True, now=at(date(2025, 3, 1)))
        assert idle_land(conn, date(2026, 1, 10)) == []


def test_the_clock_flags_once_each_as_events(park: str) -> None:
    under_contract(park, "T-1", SIGNED, AGREED, price_wan="1000")
    with conn_to(park) as conn:
        r1 = clock.tick(conn, date(2025, 3, 1))
        r2 = clock.tick(conn, date(2025, 3, 2))
        r3 = clock.tick(conn, date(2026, 3, 1))
    assert [(f["parcel_code"], f["stage"]) for f in r1["idle"]] == [("T-1", "idle")]
    assert r2["idle"] == []
    assert [(f["parcel_code"], f["stage"]) for f in r3["idle"]] == [("T-1", "reclaimable")]
    evs = rows(park, "SELECT * FROM parcel_events WHERE action LIKE 'idle%%' ORDER BY id")
    assert [(e["action"], e["actor"]) for e in evs] == [
        ("idle_flag", "system"),
        ("idle_reclaimable", "system"),
    ]
    assert evs[0]["data"]["fee_wan"] == "200.00" and evs[0]["from_status"] == "allocated"


def test_planner_list_over_http(park: str) -> None:
    add_users(park)
    under_contract(park, "T-3", SIGNED, AGREED, price_wan="500")
    with TestClient(create_app(Settings(clock_enabled=False), database_url=park)) as c:
        r = c.get("/api/land/idle", params={"as_of": "2025-03-01"}, headers=login(c, "plan"))
        assert r.status_code == 200, r.text
        [f] = r.json()["features"]
        assert f["id"] == "T-3" and f["properties"]["fee_wan"] == 100.0  # 20 % of 500
        assert f["geometry"]["type"] == "MultiPolygon"
        assert (
            c.get(
                "/api/land/idle", params={"as_of": "2025-02-28"}, headers=login(c, "plan")
            ).json()["features"]
            == []
        )
        assert c.get("/api/land/idle", headers=login(c, "inv")).status_code == 403
        assert c.get("/api/land/idle").status_code == 401
        assert (
            c.get(
                "/api/land/idle", params={"as_of": "2025-13-01"}, headers=login(c, "plan")
            ).status_code
            == 400
        )


@pytest.mark.browser
def test_planner_page_lists_and_maps_idle_land(
    sample_db_rw: str, live_server_rw: str, artifacts
) -> None:
    import time

    import browser as browser_support
    from selenium.webdriver.common.by import By

    if not browser_support.AVAILABLE:
        pytest.skip("needs Debian's chromium and chromedriver")
    hostile = '<img src=x onerror="window.__pwned=1">'
    with conn_to(sample_db_rw) as conn:
        spare = conn.execute(
            "SELECT code, project_code, landuse_code FROM parcels "
            "WHERE status = 'allocated' AND code NOT IN (SELECT parcel_code "
            "FROM land_contracts) ORDER BY code LIMIT 1"
        ).fetchone()
        if spare is None:  # every allocated parcel has its sample contract: use one
            spare = conn.execute(
                "SELECT code, project_code, landuse_code FROM parcels "
                "WHERE status = 'allocated' ORDER BY code DESC LIMIT 1"
            ).fetchone()
        conn.execute(
            "INSERT INTO land_contracts (contract_no, parcel_code, landuse_code, "
            "price_wan, lease_years, signed_on, agreed_start, agreed_completion, "
            "created_by) VALUES (%s, %s, %s, 777.7, 50, current_date - 900, "
            "current_date - 800, current_date - 100, 'test')",
            (hostile, spare["code"], spare["landuse_code"]),
        )
        conn.commit()
        expected = idle_land(conn, date.today())
    add_users(sample_db_rw)
    assert len(expected) >= 2
    with browser_support.driver() as d:
        d.get(live_server_rw + "/planner")
        deadline = time.monotonic() + 30
        while not d.execute_script("return document.body.getAttribute('data-pgp-ready')"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        d.find_element(By.ID, "pgp-username").send_keys("plan")
        d.find_element(By.ID, "pgp-password").send_keys(PASSWORD)
        d.find_element(By.ID, "pgp-login-btn").click()
        while d.execute_script("return document.body.getAttribute('data-idle-count')") is None:
            assert time.monotonic() < deadline + 30, "idle list never loaded"
            time.sleep(0.2)
        count = int(d.execute_script("return document.body.getAttribute('data-idle-count')"))
        text = d.find_element(By.ID, "pgp-idle-list").text
        d.save_screenshot(str(artifacts / "planner_idle_land.png"))
        assert count == len(expected)
        assert hostile in text  # shown as text ...
        assert d.execute_script("return window.__pwned") is None  # ... never run
        assert d.find_elements(By.CSS_SELECTOR, "#pgp-idle-list img") == []
        assert "155.54" in text  # 20 % of 777.7, worked by hand
        dashed = d.execute_script(
            "return document.querySelectorAll('path[stroke-dasharray=\"6 4\"]').length"
        )
        assert dashed == len(expected)
