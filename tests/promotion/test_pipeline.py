"""The project pipeline: stages with an append-only history, bottlenecks, township attribution
(项目寄养), complaints, and the inquiries inbox — through the real API on a real database."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from workbench_helpers import add_users, login, one, rows, small_park

from api.main import create_app
from parkgis.errors import Conflict, InvalidInput
from parkgis.promotion import pipeline

CONFIDENTIAL = {
    "township_tax_share",
    "contact",
    "negotiation_notes",
    "investment_wan",
    "expected_tax_wan",
    "land_budget_wan",
    "bottlenecks",
}


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(empty_db)
    add_users(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute(
            "INSERT INTO inquiries (name, company, contact, message, parcel_codes) "
            "VALUES ('张先生', '某饮料公司', '13900000000', '想了解 T-1 的供地条件', "
            "'{T-1}')"
        )
    return empty_db


@pytest.fixture
def api(park: str):
    with TestClient(create_app(database_url=park)) as c:
        yield c


def _walk(d: object) -> set[str]:
    keys: set[str] = set()
    if isinstance(d, dict):
        for k, v in d.items():
            keys.add(k)
            keys |= _walk(v)
    elif isinstance(d, list):
        for v in d:
            keys |= _walk(v)
    return keys


def test_stage_machine_and_append_only_events(park: str) -> None:
    assert pipeline.allowed_stages("lead") == ["negotiating", "lost"]
    assert pipeline.allowed_stages("lost") == ["lead"]
    assert pipeline.allowed_stages("operational") == []
    with psycopg.connect(park) as conn:
        out = pipeline.set_stage(conn, "PRJ-A", "negotiating", "plan", "first meeting")
        assert out["event"]["from_stage"] == "lead" and out["event"]["actor"] == "plan"
        with pytest.raises(Conflict) as e:
            pipeline.set_stage(conn, "PRJ-A", "operational", "plan")
        assert e.value.extra["allowed"] == ["signed", "lost"]
        with pytest.raises(InvalidInput):
            pipeline.set_stage(conn, "PRJ-A", "won", "plan")
        conn.commit()
        # a stage change by anyone (even raw SQL) is recorded by the trigger
        conn.execute("UPDATE projects SET stage = 'signed' WHERE code = 'PRJ-A'")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM project_events")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE project_events SET actor = 'x'")
        conn.rollback()
    evs = rows(
        park,
        "SELECT actor, from_stage, to_stage, note FROM project_events "
        "WHERE project_code = 'PRJ-A' ORDER BY id",
    )
    assert evs == [
        {"actor": "plan", "from_stage": "lead", "to_stage": "negotiating", "note": "first meeting"},
        {"actor": "system", "from_stage": "negotiating", "to_stage": "signed", "note": None},
    ]


def test_writes_need_planner_and_public_reads_hide_confidential(api: TestClient, park: str) -> None:
    inv = login(api, "inv")
    writes = [
        ("post", "/api/pipeline/projects/PRJ-A/stage", {"to": "negotiating"}),
        (
            "patch",
            "/api/pipeline/projects/PRJ-A/township",
            {"source_township": "唐庄镇", "township_tax_share": 0.4, "fostered": True},
        ),
        (
            "post",
            "/api/pipeline/projects/PRJ-A/bottlenecks",
            {"kind": "eia", "description": "环评待批", "owner": "环保局 李"},
        ),
        (
            "post",
            "/api/pipeline/complaints",
            {"complainant": "某企业", "category": "land", "summary": "围墙纠纷"},
        ),
        ("patch", "/api/inquiries/1", {"status": "answered"}),
    ]
    for method, url, body in writes:
        assert getattr(api, method)(url, json=body).status_code == 401, url
        r = getattr(api, method)(url, json=body, headers=inv)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    for url in (
        "/api/inquiries",
        "/api/pipeline/complaints",
        "/api/pipeline/bottlenecks",
        "/api/pipeline/projects/PRJ-A",
        "/api/pipeline/projects/PRJ-A/events",
    ):
        assert api.get(url).status_code == 401, url
        assert api.get(url, headers=inv).status_code == 403, url
    # nothing changed
    assert one(park, "SELECT stage FROM projects WHERE code = 'PRJ-A'")["stage"] == "lead"
    assert rows(park, "SELECT * FROM project_events") == []
    assert rows(park, "SELECT * FROM bottlenecks") == []
    # the public board: stages and names, no confidential figure
    plan = login(api, "plan")
    api.patch(
        "/api/pipeline/projects/PRJ-A/township",
        headers=plan,
        json={"source_township": "唐庄镇", "township_tax_share": 0.4, "fostered": True},
    )
    for who in (None, inv):
        b = api.get("/api/pipeline/board", headers=who).json()
        assert not b["staff"]
        assert not (_walk(b) & CONFIDENTIAL), _walk(b) & CONFIDENTIAL
        lead = next(c for c in b["columns"] if c["stage"] == "lead")
        card = next(p for p in lead["projects"] if p["code"] == "PRJ-A")
        assert card["source_township"] == "唐庄镇" and card["fostered"] is True
    b = api.get("/api/pipeline/board", headers=plan).json()
    card = next(p for c in b["columns"] for p in c["projects"] if p["code"] == "PRJ-A")
    assert card["township_tax_share"] == 0.4 and "bottlenecks" in card
    assert b["townships"] == {"唐庄镇": 1}


def test_pipeline_flow_through_the_api(api: TestClient, park: str) -> None:
    h = login(api, "plan")
    r = api.post(
        "/api/pipeline/projects/PRJ-A/stage", headers=h, json={"to": "negotiating", "note": "洽谈"}
    )
    assert r.status_code == 200 and r.json()["allowed"] == ["signed", "lost"]
    r = api.post("/api/pipeline/projects/PRJ-A/stage", headers=h, json={"to": "operational"})
    assert r.status_code == 409 and r.json()["allowed"] == ["signed", "lost"]
    assert (
        api.post(
            "/api/pipeline/projects/PRJ-A/stage", headers=h, json={"to": "nonsense"}
        ).status_code
        == 400
    )
    assert (
        api.post("/api/pipeline/projects/NOPE/stage", headers=h, json={"to": "lost"}).status_code
        == 404
    )
    # township attribution (项目寄养)
    bad = api.patch(
        "/api/pipeline/projects/PRJ-A/township",
        headers=h,
        json={"fostered": True, "source_township": None},
    )
    assert bad.status_code == 400
    assert (
        api.patch(
            "/api/pipeline/projects/PRJ-A/township", headers=h, json={"township_tax_share": 1.5}
        ).status_code
        == 400
    )
    r = api.patch(
        "/api/pipeline/projects/PRJ-A/township",
        headers=h,
        json={
            "source_township": "唐庄镇",
            "township_tax_share": 0.4,
            "fostered": True,
            "note": "四六分成",
        },
    )
    assert r.status_code == 200 and r.json()["project"]["township_tax_share"] == 0.4
    # bottlenecks with owner and due date
    r = api.post(
        "/api/pipeline/projects/PRJ-A/bottlenecks",
        headers=h,
        json={
            "kind": "eia",
            "description": "VOCs 治理方案待环评批复",
            "owner": "市环保局 王科长",
            "due_date": "2026-12-31",
        },
    )
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    assert (
        api.post(
            "/api/pipeline/projects/PRJ-A/bottlenecks",
            headers=h,
            json={"kind": "weather", "description": "x", "owner": "y"},
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/api/pipeline/projects/PRJ-A/bottlenecks",
            headers=h,
            json={"kind": "land", "description": "x", "owner": "y", "due_date": "31/12/2026"},
        ).status_code
        == 400
    )
    b = api.get("/api/pipeline/board", headers=h).json()
    card = next(p for c in b["columns"] for p in c["projects"] if p["code"] == "PRJ-A")
    assert card["bottlenecks"] == [
        {"kind": "eia", "kind_zh": "环评", "open": 1, "next_due": "2026-12-31"}
    ]
    r = api.patch(
        f"/api/pipeline/bottlenecks/{bid}",
        headers=h,
        json={"status": "resolved", "resolution": "已批复"},
    )
    assert r.status_code == 200 and r.json()["resolved_at"] is not None
    assert (
        api.get("/api/pipeline/bottlenecks", headers=h, params={"status": "open"}).json()[
            "bottlenecks"
        ]
        == []
    )
    assert (
        api.patch(
            "/api/pipeline/bottlenecks/999", headers=h, json={"status": "resolved"}
        ).status_code
        == 404
    )
    # complaints / disputes log
    r = api.post(
        "/api/pipeline/complaints",
        headers=h,
        json={
            "complainant": "某饮料公司",
            "project_code": "PRJ-A",
            "category": "land",
            "summary": "地块边界与合同不符",
            "received": "2026-11-20",
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "received"
    cid = r.json()["id"]
    assert (
        api.patch(
            f"/api/pipeline/complaints/{cid}", headers=h, json={"status": "resolved"}
        ).status_code
        == 400
    )  # needs a resolution
    r = api.patch(
        f"/api/pipeline/complaints/{cid}",
        headers=h,
        json={"status": "resolved", "resolution": "已重新测绘并更正"},
    )
    assert r.status_code == 200 and r.json()["handler"] == "plan"
    assert (
        api.post(
            "/api/pipeline/complaints",
            headers=h,
            json={"complainant": "x", "category": "land", "summary": "y", "project_code": "NOPE"},
        ).status_code
        == 404
    )
    # the project's history carries every edit, with actor and time
    evs = api.get("/api/pipeline/projects/PRJ-A/events", headers=h).json()["events"]
    assert [e["action"] for e in evs] == [
        "stage",
        "township",
        "bottleneck_add",
        "bottleneck_update",
        "complaint_update",
    ]
    assert all(e["actor"] == "plan" and e["at"] for e in evs)
    detail = api.get("/api/pipeline/projects/PRJ-A", headers=h).json()
    assert detail["allowed_stages"] == ["signed", "lost"] and len(detail["bottlenecks"]) == 1


def test_inquiries_inbox(api: TestClient, park: str) -> None:
    h = login(api, "plan")
    inbox = api.get("/api/inquiries", headers=h).json()["inquiries"]
    assert [(i["name"], i["status"]) for i in inbox] == [("张先生", "new")]
    iid = inbox[0]["id"]
    assert api.patch(f"/api/inquiries/{iid}", headers=h, json={"status": "spam"}).status_code == 400
    assert (
        api.patch("/api/inquiries/999", headers=h, json={"status": "answered"}).status_code == 404
    )
    r = api.patch(
        f"/api/inquiries/{iid}", headers=h, json={"status": "answered", "note": "已电话回复"}
    )
    assert r.status_code == 200
    got = one(park, "SELECT status, handled_by, reply_note, handled_at FROM inquiries")
    assert (got["status"], got["handled_by"], got["reply_note"]) == (
        "answered",
        "plan",
        "已电话回复",
    )
    assert got["handled_at"] is not None
    assert api.get("/api/inquiries", headers=h, params={"status": "new"}).json() == {
        "inquiries": []
    }
    r = api.patch(f"/api/inquiries/{iid}", headers=h, json={"status": "closed"})
    assert r.json()["status"] == "closed" and r.json()["reply_note"] == "已电话回复"


def test_planner_page_is_public_and_its_parcel_layer_is_not(api: TestClient) -> None:
    r = api.get("/planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html and "规划工作台" in html
    assert "/static/vendor/leaflet-draw/leaflet.draw.js" in html
    # no CDN: every script and stylesheet is served by us
    import re

    assets = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    # Leaflet.draw must come after Leaflet itself
    assert html.index("/static/vendor/leaflet/leaflet.js") < html.index("leaflet.draw.js")
    assert "T-1" not in html and "internal note" not in html  # no parcel data in the page
    assert api.get("/planner", headers={"If-None-Match": r.headers["etag"]}).status_code == 304

    assert api.get("/api/planner/parcels").status_code == 401
    assert api.get("/api/planner/parcels", headers=login(api, "inv")).status_code == 403
    h = login(api, "plan")
    fc = api.get("/api/planner/parcels", headers=h).json()
    assert sorted(f["id"] for f in fc["features"]) == ["T-1", "T-2", "T-3", "T-4"]
    assert fc["truncated"] is False and fc["features"][0]["properties"]["version"] == 1
    near = api.get("/api/planner/parcels", headers=h, params={"bbox": "100,30,101,31"}).json()
    assert near["features"] == []
    for bad in ("1,2,3", "a,b,c,d", "114,35,113,36", "500,1,501,2"):
        r = api.get("/api/planner/parcels", headers=h, params={"bbox": bad})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
