"""The planner's room (issue #15, point 4): creating and editing leads through the API, the
zone names on the board, and the full-width board page in headless chromium — every stage
visible, a lead, a bottleneck and a complaint created on the page and found in the store."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import browser as browser_support
import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from workbench_helpers import ZONE, add_users, login, one, rows, small_park

from api.main import create_app

WAIT_S = 30.0
STAGES = [
    "lead",
    "negotiating",
    "signed",
    "land_supplied",
    "under_construction",
    "operational",
    "lost",
]


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(empty_db)
    add_users(empty_db)
    return empty_db


@pytest.fixture
def api(park: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url=park)) as c:
        yield c


LEAD = {
    "code": "PRJ-NEW",
    "name_zh": "新饮料项目",
    "name_en": "New beverage project",
    "industry": "food_beverage_packaging",
    "chain_role": "beverage",
    "min_area_mu": 40,
    "max_area_mu": 60,
    "start_date": "2027-03-01",
    "investment_wan": 12000,
    "land_budget_wan": 900,
    "contact": "赵经理 13800000000",
    "target_quarter": "2027Q1",
}


def test_create_lead_then_edit_it(api: TestClient, park: str) -> None:
    plan = login(api, "plan")
    assert api.post("/api/pipeline/projects", json=LEAD).status_code == 401
    assert (
        api.post("/api/pipeline/projects", json=LEAD, headers=login(api, "inv")).status_code == 403
    )
    r = api.post("/api/pipeline/projects", json=LEAD, headers=plan)
    assert r.status_code == 201, r.text
    row = one(park, "SELECT * FROM projects WHERE code = 'PRJ-NEW'")
    assert row["stage"] == "lead" and row["name_zh"] == "新饮料项目"
    assert float(row["min_area_mu"]) == 40 and str(row["start_date"]) == "2027-03-01"
    assert row["contact"] == "赵经理 13800000000" and float(row["land_budget_wan"]) == 900
    ev = rows(park, "SELECT actor, action FROM project_events WHERE project_code = 'PRJ-NEW'")
    assert ev == [{"actor": "plan", "action": "create"}]
    # the same code again: 409, still one row
    r = api.post("/api/pipeline/projects", json=LEAD, headers=plan)
    assert r.status_code == 409 and r.json()["title"].startswith("冲突")
    assert one(park, "SELECT count(*) AS n FROM projects WHERE code = 'PRJ-NEW'")["n"] == 1

    r = api.patch(
        "/api/pipeline/projects/PRJ-NEW",
        headers=plan,
        json={"name_en": "Beverage plant", "max_area_mu": 80, "contact": None},
    )
    assert r.status_code == 200, r.text
    row = one(park, "SELECT * FROM projects WHERE code = 'PRJ-NEW'")
    assert row["name_en"] == "Beverage plant" and float(row["max_area_mu"]) == 80
    assert row["contact"] is None and row["name_zh"] == "新饮料项目"  # untouched fields kept
    last = one(
        park,
        "SELECT action, data FROM project_events WHERE project_code = 'PRJ-NEW' "
        "ORDER BY id DESC LIMIT 1",
    )
    assert last["action"] == "edit"
    assert sorted(last["data"]["fields"]) == ["contact", "max_area_mu", "name_en"]
    assert "赵经理" not in str(last["data"])  # names of fields, never confidential values


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**LEAD, "code": "bad code!"}, 400),
        ({**LEAD, "min_area_mu": 80, "max_area_mu": 20}, 400),
        ({**LEAD, "target_quarter": "next spring"}, 400),
        ({k: v for k, v in LEAD.items() if k != "industry"}, 400),
        ({**LEAD, "investment_wan": -5}, 400),
    ],
)
def test_bad_leads_store_nothing(api: TestClient, park: str, body: dict, status: int) -> None:
    before = rows(park, "SELECT code FROM projects ORDER BY code")
    r = api.post("/api/pipeline/projects", json=body, headers=login(api, "plan"))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "/work" not in r.text
    assert rows(park, "SELECT code FROM projects ORDER BY code") == before


def test_edit_refusals_leave_the_project_as_it_was(api: TestClient, park: str) -> None:
    plan = login(api, "plan")
    assert (
        api.patch("/api/pipeline/projects/NOPE", json={"name_en": "x"}, headers=plan).status_code
        == 404
    )
    before = one(park, "SELECT * FROM projects WHERE code = 'PRJ-A'")
    r = api.patch(
        "/api/pipeline/projects/PRJ-A", json={"min_area_mu": 500, "max_area_mu": 5}, headers=plan
    )
    assert r.status_code == 400
    assert one(park, "SELECT * FROM projects WHERE code = 'PRJ-A'") == before


def test_board_names_the_zone_of_a_projects_parcels(api: TestClient, park: str) -> None:
    with psycopg.connect(park) as conn:
        conn.execute("UPDATE parcels SET project_code = 'PRJ-A' WHERE code = 'T-1'")
        zone = conn.execute(
            "SELECT name_zh, name_en FROM zones WHERE code = %s", (ZONE,)
        ).fetchone()
    board = api.get("/api/pipeline/board", headers=login(api, "plan")).json()
    cards = {p["code"]: p for c in board["columns"] for p in c["projects"]}
    assert cards["PRJ-A"]["zones"] == [{"code": ZONE, "name_zh": zone[0], "name_en": zone[1]}]
    assert cards["PRJ-B"]["zones"] == []


def test_board_page_is_script_free_html_with_a_strict_policy(api: TestClient) -> None:
    r = api.get("/planner/pipeline")
    assert r.status_code == 200
    html = r.text
    assert '<script src="/static/js/pipeline.js' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "no inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handler"
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    js = api.get("/static/js/pipeline.js").text
    assert "innerHTML" not in js and "textContent" in js


# ------------------------------------------------------------------------ in the browser


@pytest.fixture
def browser() -> Iterator[object]:
    with browser_support.driver() as d:
        yield d


def wait_for(driver, script: str, *args, what: str = "condition"):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = driver.execute_script(script, *args)
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _sign_in(d, base: str, name: str) -> None:
    """The token exactly as the planner page stores it after POST /api/auth/token."""
    r = httpx.post(base + "/api/auth/token", data={"username": name, "password": "correct-horse-9"})
    assert r.status_code == 200, r.text
    d.get(base + "/privacy")  # any page of the origin, to reach its sessionStorage
    d.execute_script(
        "sessionStorage.setItem('parkgis.token', arguments[0]);"
        "sessionStorage.setItem('parkgis.user', arguments[1]);"
        "sessionStorage.setItem('parkgis.role', arguments[2]);",
        r.json()["access_token"],
        name,
        r.json()["role"],
    )


def _fill(d, form_id: str, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    form = d.find_element(By.ID, form_id)
    for name, value in values.items():
        f = form.find_element(By.NAME, name)
        if f.tag_name == "select":
            Select(f).select_by_value(value)
        elif f.get_attribute("type") == "date":
            d.execute_script("arguments[0].value = arguments[1]", f, value)
        else:
            f.clear()
            f.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def _browser_marks(f):
    for m in browser_support.MARKS:
        f = m(f)
    return f


@_browser_marks
def test_board_page_creates_lead_bottleneck_and_complaint(
    sample_db_rw: str, live_server_rw: str, browser, artifacts: Path
) -> None:
    from selenium.webdriver.common.by import By

    add_users(sample_db_rw)
    d = browser
    base = live_server_rw
    # signed out: a pointer to sign in, no data
    d.get(base + "/planner/pipeline")
    wait_for(d, "return document.body.getAttribute('data-pp-ready')", what="page script")
    assert d.find_element(By.ID, "pp-login-needed").is_displayed()

    _sign_in(d, base, "plan")
    d.set_window_size(1440, 900)
    d.get(base + "/planner/pipeline")
    wait_for(d, "return document.body.getAttribute('data-pp-ready')", what="board")
    cols = d.execute_script(
        "return Array.from(document.querySelectorAll('.pp-col')).map(function (c) {"
        "  var r = c.getBoundingClientRect();"
        "  return [c.getAttribute('data-stage'), r.left, r.right]; });"
    )
    assert [c[0] for c in cols] == STAGES
    width = d.execute_script("return document.documentElement.clientWidth")
    assert all(0 <= left and right <= width for _, left, right in cols), (cols, width)
    with psycopg.connect(sample_db_rw) as conn:
        n_projects = conn.execute("SELECT count(*) FROM projects").fetchone()[0]
        late = {
            r[0]
            for r in conn.execute(
                "SELECT code FROM projects WHERE project_past_start(stage, start_date, "
                "(now() AT TIME ZONE 'Asia/Shanghai')::date)"
            )
        }
    assert len(d.find_elements(By.CSS_SELECTOR, ".pp-card")) == n_projects
    shown_late = {
        e.get_attribute("data-code") for e in d.find_elements(By.CSS_SELECTOR, ".pp-card.pp-late")
    }
    assert shown_late == late
    d.save_screenshot(str(artifacts / "pipeline_board_1440.png"))

    # a new lead, its name hostile: it must show as text
    d.find_element(By.ID, "pp-new-lead").click()
    hostile = "<img src=x id=pwn>新项目"
    _fill(
        d,
        "pp-project-form",
        {
            "code": "PRJ-PAGE",
            "name_zh": hostile,
            "name_en": "Page lead",
            "industry": "logistics",
            "start_date": "2027-05-01",
            "min_area_mu": "30",
        },
    )
    wait_for(
        d, "return !!document.querySelector('.pp-card[data-code=\"PRJ-PAGE\"]')", what="new card"
    )
    card = d.find_element(By.CSS_SELECTOR, '.pp-card[data-code="PRJ-PAGE"]')
    assert hostile in card.text and not d.find_elements(By.ID, "pwn")
    assert card.find_element(By.XPATH, "..").get_attribute("data-stage") == "lead"
    row = one(
        sample_db_rw,
        "SELECT name_zh, stage, start_date::text AS s, min_area_mu "
        "FROM projects WHERE code = 'PRJ-PAGE'",
    )
    assert row["name_zh"] == hostile and row["stage"] == "lead" and row["s"] == "2027-05-01"

    # a bottleneck on it: EIA, with owner and due date
    card.find_element(By.CSS_SELECTOR, 'button[data-act="add-bottleneck"]').click()
    _fill(
        d,
        "pp-bottleneck-form",
        {
            "kind": "eia",
            "owner": "环保局 李科长",
            "due_date": "2027-01-15",
            "description": "环评报告待批复",
        },
    )
    wait_for(
        d,
        "var c = document.querySelector('.pp-card[data-code=\"PRJ-PAGE\"]');"
        "return c && c.querySelector('.pp-flag-eia');",
        what="bottleneck on card",
    )
    b = one(
        sample_db_rw,
        "SELECT kind, owner, due_date::text AS due, status FROM bottlenecks "
        "WHERE project_code = 'PRJ-PAGE'",
    )
    assert b == {"kind": "eia", "owner": "环保局 李科长", "due": "2027-01-15", "status": "open"}
    card = d.find_element(By.CSS_SELECTOR, '.pp-card[data-code="PRJ-PAGE"]')
    assert "环保局 李科长" in card.text and "2027-01-15" in card.text

    # edit the lead from its card
    card.find_element(By.CSS_SELECTOR, 'button[data-act="edit-project"]').click()
    wait_for(
        d,
        "return document.getElementById('pp-project-dialog').open && "
        "document.querySelector('#pp-project-form [name=name_en]').value === "
        "'Page lead'",
        what="edit form filled",
    )
    _fill(d, "pp-project-form", {"name_en": "Page lead, edited"})
    wait_for(d, "return !document.getElementById('pp-project-dialog').open", what="saved")
    time.sleep(0.5)
    assert (
        one(sample_db_rw, "SELECT name_en FROM projects WHERE code = 'PRJ-PAGE'")["name_en"]
        == "Page lead, edited"
    )

    # a complaint about it
    d.find_element(By.ID, "pp-new-complaint").click()
    _fill(
        d,
        "pp-complaint-form",
        {
            "complainant": "某物流公司",
            "category": "approvals",
            "project_code": "PRJ-PAGE",
            "summary": "审批进度慢",
        },
    )
    wait_for(
        d,
        "return Array.from(document.querySelectorAll('#pp-complaints td'))"
        ".some(function (t) { return t.textContent === '审批进度慢'; })",
        what="complaint row",
    )
    c = one(
        sample_db_rw,
        "SELECT complainant, category, project_code, status, created_by "
        "FROM complaints WHERE summary = '审批进度慢'",
    )
    assert c == {
        "complainant": "某物流公司",
        "category": "approvals",
        "project_code": "PRJ-PAGE",
        "status": "received",
        "created_by": "plan",
    }

    # narrow: the board scrolls inside itself, the page does not
    d.set_window_size(800, 900)
    time.sleep(0.5)
    page_w = d.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert page_w[0] <= page_w[1], page_w
    board = d.execute_script(
        "var b = document.getElementById('pp-board');return [b.scrollWidth, b.clientWidth];"
    )
    assert board[0] > board[1]
    d.save_screenshot(str(artifacts / "pipeline_board_800.png"))
    errors = [
        e["message"]
        for e in d.get_log("browser")
        if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]
    assert errors == []
