"""Inquiries under the Personal Information Protection Law, and planners told they arrived:
the consent line and its notice page, the inbox count the planner page polls, and the e-mail
sent through a real SMTP server (aiosmtpd on loopback) after the inquiry is committed."""

from __future__ import annotations

import socket
import time
from email import message_from_bytes
from email.header import decode_header, make_header

import psycopg
import pytest
from fastapi.testclient import TestClient
from workbench_helpers import add_users, login

from api.main import create_app
from parkgis.settings import Settings

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="pip install -e '.[dev]' (aiosmtpd)"
)

BODY = {"name": "王五", "contact": "wangwu@example.com", "message": "请介绍供电情况。"}


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM inquiries").fetchone()[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = _free_port()
    ctl = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


def _wait(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_inquiry_without_consent_is_refused_and_nothing_stored(sample_db_rw: str) -> None:
    with TestClient(
        create_app(Settings(inquiry_rate_per_hour=100), database_url=sample_db_rw)
    ) as c:
        for body in (BODY, {**BODY, "consent": False}, {**BODY, "consent": "yes"}):
            r = c.post("/api/inquiries", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "个人信息" in r.json()["detail"] or "consent" in r.json()["detail"]
        assert _count(sample_db_rw) == 0
        r = c.post("/api/inquiries", json={**BODY, "consent": True})
        assert r.status_code == 201, r.text
        assert _count(sample_db_rw) == 1


def test_privacy_notice_is_bilingual_and_linked_from_the_form(client) -> None:
    r = client.get("/privacy")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "个人信息保护法" in html and "Personal Information Protection Law" in html
    assert html.index("个人信息保护说明") < html.index("Personal-information notice")
    assert "<script" not in html  # nothing to run; the strict CSP stands
    page = client.get("/").text
    form = page[page.index('id="pg-inquiry-form"') :]
    form = form[: form.index("</form>")]
    assert 'name="consent"' in form and 'href="/privacy"' in form


def test_new_inquiry_count_for_planners(sample_db_rw: str) -> None:
    with TestClient(
        create_app(Settings(inquiry_rate_per_hour=100), database_url=sample_db_rw)
    ) as c:
        assert c.get("/api/inquiries/new-count").status_code == 401
        add_users(sample_db_rw)
        assert c.get("/api/inquiries/new-count", headers=login(c, "inv")).status_code == 403
        h = login(c, "plan")
        assert c.get("/api/inquiries/new-count", headers=h).json()["new"] == 0
        ids = [
            c.post("/api/inquiries", json={**BODY, "consent": True}).json()["id"] for _ in range(3)
        ]
        c.patch(f"/api/inquiries/{ids[0]}", headers=h, json={"status": "answered"})
        with psycopg.connect(sample_db_rw) as conn:
            want = conn.execute("SELECT count(*) FROM inquiries WHERE status = 'new'").fetchone()[0]
        assert want == 2
        body = c.get("/api/inquiries/new-count", headers=h).json()
        assert body["new"] == want and body["latest"]


def test_planner_page_loads_the_inbox_poller(client) -> None:
    html = client.get("/planner").text
    assert "/static/js/inbox_count.js" in html
    assert 'href="/planner/pipeline"' in html
    js = client.get("/static/js/inbox_count.js").text
    assert "/api/inquiries/new-count" in js and "textContent" in js and "innerHTML" not in js


def test_email_goes_out_after_commit_without_personal_details(sample_db_rw: str, smtp) -> None:
    inbox, port = smtp
    settings = Settings(
        inquiry_rate_per_hour=100,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="parkgis@example.cn",
        smtp_to="planner1@example.cn, planner2@example.cn",
    )
    with psycopg.connect(sample_db_rw) as conn:
        code = conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()[0]
    with TestClient(create_app(settings, database_url=sample_db_rw)) as c:
        r = c.post("/api/inquiries", json={**BODY, "consent": True, "parcels": [code]})
        assert r.status_code == 201
        iid = r.json()["id"]
        assert _wait(lambda: len(inbox.messages) == 1)
        # a refused inquiry sends nothing
        assert c.post("/api/inquiries", json=BODY).status_code == 422
        time.sleep(0.5)
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "parkgis@example.cn"
    assert sorted(rcpts) == ["planner1@example.cn", "planner2@example.cn"]
    msg = message_from_bytes(raw)
    subject = str(make_header(decode_header(msg["Subject"])))
    assert subject.startswith("新的投资咨询") and f"#{iid}" in subject
    text = msg.get_payload(decode=True).decode(msg.get_content_charset() or "utf-8")
    assert code in text and text.index("收到新的投资咨询") < text.index("A new investor")
    assert "王五" not in text and "wangwu@example.com" not in text


def test_smtp_failure_is_logged_not_raised(sample_db_rw: str, caplog) -> None:
    dead = _free_port()  # nothing listens there
    settings = Settings(
        inquiry_rate_per_hour=100,
        smtp_host="127.0.0.1",
        smtp_port=dead,
        smtp_from="parkgis@example.cn",
        smtp_to="planner@example.cn",
        smtp_timeout_s=2,
    )
    with TestClient(create_app(settings, database_url=sample_db_rw)) as c:
        with caplog.at_level("WARNING", logger="parkgis.promotion.notify"):
            r = c.post("/api/inquiries", json={**BODY, "consent": True})
            assert r.status_code == 201
            assert _wait(lambda: any("not sent" in m for m in caplog.messages))
    assert _count(sample_db_rw) == 1


def _browser_marks(f):
    import browser as browser_support

    for m in browser_support.MARKS:
        f = m(f)
    return f


@_browser_marks
def test_planner_page_shows_the_new_inquiry_count(sample_db_rw: str, live_server_rw: str) -> None:
    import browser as browser_support
    import httpx
    from selenium.webdriver.common.by import By

    add_users(sample_db_rw)
    for _ in range(2):
        assert (
            httpx.post(
                live_server_rw + "/api/inquiries", json={**BODY, "consent": True}
            ).status_code
            == 201
        )
    with psycopg.connect(sample_db_rw) as conn:
        want = conn.execute("SELECT count(*) FROM inquiries WHERE status = 'new'").fetchone()[0]
    with browser_support.driver() as d:
        d.get(live_server_rw + "/planner")
        assert _wait(
            lambda: d.execute_script("return document.body.getAttribute('data-pgp-ready')"), 30
        )
        assert d.execute_script("return document.body.getAttribute('data-inbox-new')") is None
        d.find_element(By.ID, "pgp-username").send_keys("plan")
        d.find_element(By.ID, "pgp-password").send_keys("correct-horse-9")
        d.find_element(By.ID, "pgp-login-btn").click()
        assert _wait(
            lambda: (
                d.execute_script("return document.body.getAttribute('data-inbox-new')") == str(want)
            ),
            30,
        )
        assert d.find_element(By.ID, "pgp-inbox-n").text == f"({want})"
        assert d.title.startswith(f"({want}) ")
