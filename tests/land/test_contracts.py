"""Contracts (出让合同): signing allocates, the actual start and completion move the parcel
through the lifecycle with events; unlawful terms leave the store as it was."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from fastapi.testclient import TestClient
from land_helpers import at, conn_to, under_contract
from workbench_helpers import add_users, login, one, rows, small_park

from api.main import create_app
from parkgis.errors import Conflict, InvalidData
from parkgis.land import contracts
from parkgis.land.lifecycle import ActionParams, apply_action
from parkgis.settings import Settings

SIGNED = date(2025, 4, 1)


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(empty_db, {"T-1": "available", "T-2": "available"})
    return empty_db


def test_start_and_completion_move_the_parcel_with_events(park: str) -> None:
    no = under_contract(park, "T-1", SIGNED, date(2025, 6, 1), price_wan="800")
    c = one(park, "SELECT * FROM land_contracts")
    assert (c["contract_no"], c["price_wan"], c["lease_years"], c["agreed_start"]) == (
        no,
        Decimal("800"),
        50,
        date(2025, 6, 1),
    )
    assert one(park, "SELECT status FROM parcels WHERE code = 'T-1'")["status"] == "allocated"
    with conn_to(park) as conn:
        with pytest.raises(InvalidData):  # not in the future
            contracts.record_start(conn, no, date(2025, 7, 2), "plan", now=at(date(2025, 7, 1)))
        with pytest.raises(Conflict):  # no completion before a start
            contracts.record_completion(
                conn, no, date(2025, 7, 1), "plan", now=at(date(2025, 7, 1))
            )
        out = contracts.record_start(conn, no, date(2025, 6, 20), "plan", now=at(date(2025, 7, 1)))
        assert out["parcel"]["status"] == "under_construction"
        with pytest.raises(InvalidData):  # completion before the start
            contracts.record_completion(
                conn, no, date(2025, 6, 19), "plan", now=at(date(2026, 1, 1))
            )
        out = contracts.record_completion(
            conn, no, date(2026, 5, 1), "plan", now=at(date(2026, 5, 2))
        )
        assert out["parcel"]["status"] == "operational"
    evs = rows(
        park,
        "SELECT action, from_status, to_status, data FROM parcel_events "
        "WHERE parcel_code = 'T-1' AND action IN ('start_construction', 'complete') "
        "ORDER BY id",
    )
    assert [(e["action"], e["from_status"], e["to_status"]) for e in evs] == [
        ("start_construction", "allocated", "under_construction"),
        ("complete", "under_construction", "operational"),
    ]
    assert evs[0]["data"]["actual_start"] == "2025-06-20" and evs[1]["data"]["contract_no"] == no
    c = one(park, "SELECT * FROM land_contracts")
    assert (c["actual_start"], c["actual_completion"], c["status"]) == (
        date(2025, 6, 20),
        date(2026, 5, 1),
        "completed",
    )


def test_industrial_lease_over_50_years_refused_and_nothing_written(park: str) -> None:
    with conn_to(park) as conn:
        apply_action(
            conn,
            "T-2",
            "list",
            ActionParams(
                project="PRJ-A",
                notice_start=SIGNED - timedelta(days=30),
                notice_days=20,
                backfill=True,
            ),
            "boss",
            None,
            now=at(SIGNED),
        )
    before = rows(park, "SELECT id FROM parcel_events ORDER BY id")
    with conn_to(park) as conn, pytest.raises(InvalidData, match="50"):
        contracts.sign(
            conn,
            "T-2",
            contracts.ContractParams(
                contract_no="HT-9",
                price_wan=Decimal("100"),
                lease_years=51,
                agreed_start=date(2025, 5, 1),
                agreed_completion=date(2026, 5, 1),
                project="PRJ-A",
            ),
            "plan",
            None,
            now=at(SIGNED),
        )
    assert rows(park, "SELECT id FROM parcel_events ORDER BY id") == before
    assert rows(park, "SELECT * FROM land_contracts") == []
    assert one(park, "SELECT status FROM parcels WHERE code = 'T-2'")["status"] == "listed"


def test_contract_over_http(park: str) -> None:
    add_users(park)
    with conn_to(park) as conn:
        apply_action(
            conn,
            "T-2",
            "list",
            ActionParams(
                project="PRJ-A",
                notice_start=SIGNED - timedelta(days=30),
                notice_days=20,
                backfill=True,
            ),
            "boss",
            None,
            now=at(SIGNED),
        )
    with (
        time_machine.travel(at(SIGNED), tick=True),
        TestClient(create_app(Settings(clock_enabled=False), database_url=park)) as c,
    ):
        h = login(c, "plan") | {"If-Match": "*"}
        body = {
            "contract_no": "卫出让〔2025〕<8>号",
            "price_wan": "640",
            "lease_years": 50,
            "agreed_start": "2025-06-01",
            "agreed_completion": "2027-06-01",
            "promised_investment_wan": "30000",
            "project": "PRJ-A",
        }
        r = c.post("/api/parcels/T-2/contract", headers=h, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["parcel"]["properties"]["status"] == "allocated"
        r = c.post("/api/parcels/T-2/contract", headers=h, json=body)
        assert r.status_code == 409, r.text
        no = body["contract_no"]
        r = c.post(f"/api/contracts/{no}/start", headers=h, json={"date": "2025-03-31"})
        assert r.status_code == 200, r.text
        assert r.json()["parcel"]["properties"]["status"] == "under_construction"
        got = c.get(f"/api/contracts/{no}", headers=h).json()
        assert got["actual_start"] == "2025-03-31" and got["promised_investment_wan"] == 30000.0
        assert c.get(f"/api/contracts/{no}").status_code == 401
        r = c.post("/api/contracts/NOPE/start", headers=h, json={"date": "2025-03-31"})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
