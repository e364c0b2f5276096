"""``POST /api/inquiries``: stored when valid, refused precisely when not, rate-limited per
client in the database (so the limit survives a restart and holds across workers)."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from parkgis.settings import Settings

PROBLEM = "application/problem+json"


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM inquiries").fetchone()[0]


def _code(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()[0]


@pytest.fixture(scope="module")
def shared_rw(databases, sample_template):
    """One writable copy for the refusals (they store nothing, so they can share it)."""
    from conftest import _copy

    url = _copy(databases, sample_template, "inq")
    with TestClient(create_app(Settings(inquiry_rate_per_hour=1000), database_url=url)) as c:
        yield c, url


@pytest.fixture
def rw(sample_db_rw):
    with TestClient(create_app(Settings(inquiry_rate_per_hour=3), database_url=sample_db_rw)) as c:
        yield c, sample_db_rw


def good(code: str | None = None, **kw) -> dict:
    body = {
        "name": "李四",
        "company": "卫辉包装有限公司",
        "contact": "+86 138-0000-0000",
        "message": "请介绍该地块的供电与供气情况。",
        "parcels": [code] if code else [],
        "lang": "zh",
        "consent": True,
    }
    body.update(kw)
    return body


def test_valid_inquiry_is_stored(rw):
    c, url = rw
    code = _code(url)
    r = c.post("/api/inquiries", json=good(code, parcels=[code, f" {code} "]))
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["id"] > 0 and "已收到" in b["message_zh"] and "received" in b["message_en"]
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT name, company, contact, message, parcel_codes, lang, client, "
            "status FROM inquiries"
        ).fetchone()
    assert row == (
        "李四",
        "卫辉包装有限公司",
        "+86 138-0000-0000",
        "请介绍该地块的供电与供气情况。",
        [code],
        "zh",
        "testclient",
        "new",
    )


def test_email_contact_and_empty_company(rw):
    c, url = rw
    r = c.post("/api/inquiries", json=good(contact="a.b@example.cn", company="", lang="en"))
    assert r.status_code == 201
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT company, lang FROM inquiries").fetchone() == (None, "en")


@pytest.mark.parametrize(
    "body,status,word",
    [
        ({"name": ""}, 422, "name"),
        ({"name": "x" * 101}, 422, "name"),
        ({"name": "a\nb"}, 422, "name"),
        ({"contact": "xx"}, 422, "contact"),
        ({"contact": "not a phone"}, 422, "contact"),
        ({"message": ""}, 422, "message"),
        ({"message": "m" * 4001}, 422, "message"),
        ({"message": "bell\x07"}, 422, "message"),
        ({"parcels": ["bad code!"]}, 422, "parcels"),
        ({"parcels": ["NO-SUCH-PARCEL"]}, 422, "NO-SUCH-PARCEL"),
        ({"parcels": [f"WH-X-{i:03d}" for i in range(21)]}, 422, "parcels"),
        ({"lang": "fr"}, 422, "lang"),
        ({"admin": True}, 422, "admin"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(shared_rw, body, status, word):
    c, url = shared_rw
    r = c.post("/api/inquiries", json=good(**body))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    p = r.json()
    assert word in p["detail"] or any(word in e["field"] for e in p.get("errors", []))
    assert " / " in p["detail"]  # Chinese / English
    assert _count(url) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_non_object_bodies(shared_rw, raw):
    c, url = shared_rw
    r = c.post("/api/inquiries", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith(PROBLEM)
    assert _count(url) == 0


def test_oversized_body(shared_rw):
    c, url = shared_rw
    r = c.post(
        "/api/inquiries",
        content=b'{"x": "' + b"a" * 20000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert _count(url) == 0


def test_rate_limit_per_client_in_the_database(rw):
    c, url = rw
    for _ in range(3):
        assert c.post("/api/inquiries", json=good()).status_code == 201
    r = c.post("/api/inquiries", json=good())
    assert r.status_code == 429
    assert r.headers["content-type"].startswith(PROBLEM)
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= 3600 and r.json()["retry_after"] == retry
    assert "每小时最多 3 条" in r.json()["detail"] and "3 per hour" in r.json()["detail"]
    assert _count(url) == 3
    # a new app (a restart, another worker) sees the same count
    with TestClient(create_app(Settings(inquiry_rate_per_hour=3), database_url=url)) as c2:
        assert c2.post("/api/inquiries", json=good()).status_code == 429
    # another client is not affected, and an hour later this one may post again
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO inquiries (name, contact, message, client) "
            "VALUES ('x', 'x@y.cn', 'm', '10.0.0.9')"
        )
        conn.execute(
            "UPDATE inquiries SET created_at = now() - interval '61 minutes' "
            "WHERE client = 'testclient'"
        )
    assert c.post("/api/inquiries", json=good()).status_code == 201
    assert _count(url) == 5
