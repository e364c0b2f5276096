"""Abuse limits (issue 11 §5): sign-in throttling and lockout, X-Forwarded-For only from
trusted proxies, request body and vertex-count limits, and the NUL-byte 500s.

Every expectation is worked from the request sequence itself (how many failures were sent,
how many bytes), not read back from the product's own functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from workbench_helpers import PASSWORD, add_users, login

from api.main import create_app
from api.security import client_ip, trusted_networks
from parkgis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
WRONG = "wrong-password-1"


def _scalar(url: str, sql: str, params: tuple = ()) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def _sign_in(c: TestClient | httpx.Client, name: str, password: str) -> httpx.Response:
    return c.post("/api/auth/token", data={"username": name, "password": password})


# -- sign-in throttling --------------------------------------------------------------------------


def test_sixty_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(sample_db_rw) -> None:
    url = sample_db_rw
    add_users(url)
    # a per-client limit out of the way: this test is about the account's
    settings = Settings(
        login_max_failures=5, login_max_failures_per_client=1000, login_lockout_s=900
    )
    with TestClient(create_app(settings, database_url=url)) as c:
        boss = login(c, "boss")
        codes = [_sign_in(c, "plan", WRONG).status_code for _ in range(60)]
        # the five allowed failures are answered as wrong credentials, every later one 429
        assert codes[:5] == [400] * 5 and codes[5:] == [429] * 55, codes
        r = _sign_in(c, "plan", PASSWORD)  # the right password while locked
        assert r.status_code == 429 and r.headers["content-type"].startswith(PROBLEM)
        retry = int(r.headers["retry-after"])
        assert 800 < retry <= 900 and r.json()["retry_after"] == retry
        assert "access_token" not in r.text
        # only that account is locked
        assert _sign_in(c, "plan2", PASSWORD).status_code == 200
        # an unknown name is throttled the same way (a lock does not reveal who exists)
        ghost = [_sign_in(c, "nobody-here", WRONG).status_code for _ in range(7)]
        assert ghost == [400] * 5 + [429] * 2

    # another worker / a restart sees the same lock: it is in the database
    with TestClient(create_app(settings, database_url=url)) as c2:
        assert _sign_in(c2, "plan", PASSWORD).status_code == 429
        assert c2.get("/api/auth/lockouts", headers=login(c2, "plan2")).status_code == 403
        locks = c2.get("/api/auth/lockouts", headers=boss).json()
        assert {(x["kind"], x["key"]) for x in locks} == {
            ("account", "plan"),
            ("account", "nobody-here"),
        }
        # a planner cannot lift it, an admin can
        r = c2.delete("/api/auth/lockouts", params={"account": "plan"}, headers=login(c2, "plan2"))
        assert r.status_code == 403
        r = c2.delete("/api/auth/lockouts", params={"account": "plan"}, headers=boss)
        assert r.status_code == 200 and r.json() == {"lifted": 1}
        r = _sign_in(c2, "plan", PASSWORD)
        assert r.status_code == 200 and r.json()["role"] == "planner"
        # the failures were forgotten with the lock: five more tries before the next lock
        assert [_sign_in(c2, "plan", WRONG).status_code for _ in range(6)] == [400] * 5 + [429]
        assert c2.delete("/api/auth/lockouts", headers=boss).status_code == 400


def test_a_lock_ends_by_the_database_clock(sample_db_rw) -> None:
    url = sample_db_rw
    add_users(url)
    settings = Settings(login_max_failures=3, login_max_failures_per_client=1000)
    with TestClient(create_app(settings, database_url=url)) as c:
        assert [_sign_in(c, "plan", WRONG).status_code for _ in range(4)] == [400] * 3 + [429]
        # move the lock and the failures into the past, as the database's clock would
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE login_lockouts SET until = now() - interval '1 second'")
            conn.execute("UPDATE login_failures SET at = now() - interval '1 hour'")
        assert _sign_in(c, "plan", PASSWORD).status_code == 200
        # a success resets the account's count
        assert [_sign_in(c, "plan", WRONG).status_code for _ in range(3)] == [400] * 3
        assert (
            _scalar(
                url, "SELECT count(*) FROM login_failures WHERE at > now() - interval '1 minute'"
            )
            == 3
        )


def test_one_client_guessing_many_names_is_locked_and_the_cli_unlocks_it(sample_db_rw) -> None:
    url = sample_db_rw
    add_users(url)
    settings = Settings(login_max_failures=5, login_max_failures_per_client=20)
    with TestClient(create_app(settings, database_url=url)) as c:
        # 20 names, one guess each: no account reaches its limit, the client does
        codes = [_sign_in(c, f"user{i}", WRONG).status_code for i in range(20)]
        assert codes == [400] * 20
        r = _sign_in(c, "plan", PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        env = {**os.environ, "PARKGIS_DATABASE_URL": url}
        cli = [str(ROOT / ".venv" / "bin" / "parkgis"), "user", "unlock"]
        res = subprocess.run(
            [*cli, "--client", "testclient"], env=env, capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0, res.stderr
        assert "unlocked" in res.stdout and "testclient" in res.stdout
        assert _sign_in(c, "plan", PASSWORD).status_code == 200
        # the CLI also lifts an account lock, and says when there was none
        for _ in range(6):
            _sign_in(c, "plan2", WRONG)
        assert _sign_in(c, "plan2", PASSWORD).status_code == 429
        res = subprocess.run([*cli, "plan2"], env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and "unlocked: plan2" in res.stdout, res.stdout
        assert _sign_in(c, "plan2", PASSWORD).status_code == 200
        res = subprocess.run([*cli, "plan2"], env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and "not locked" in res.stdout
        res = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 1 and "Traceback" not in res.stderr


# -- the client address and X-Forwarded-For -----------------------------------------------------


def test_client_address_reads_forwarded_for_only_from_trusted_proxies() -> None:
    none = trusted_networks("")
    proxies = trusted_networks("127.0.0.1, 10.0.0.0/8")
    # no trusted proxy: the header is the client's word, never believed
    assert client_ip("127.0.0.1", ["203.0.113.9"], none) == "127.0.0.1"
    # an untrusted peer's header is ignored even with proxies configured
    assert client_ip("198.51.100.7", ["203.0.113.9"], proxies) == "198.51.100.7"
    # behind trusted proxies: the right-most address that is not one of them
    assert client_ip("127.0.0.1", ["203.0.113.9, 10.1.2.3"], proxies) == "203.0.113.9"
    # what the client wrote to the left of that is not believed
    assert client_ip("127.0.0.1", ["1.1.1.1, 203.0.113.9"], proxies) == "203.0.113.9"
    assert client_ip("127.0.0.1", ["1.1.1.1", "203.0.113.9:4711"], proxies) == "203.0.113.9"
    # junk stops the walk at the last trusted hop
    assert client_ip("127.0.0.1", ["<script>"], proxies) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["2001:db8::1"], proxies) == "2001:db8::1"
    assert client_ip("127.0.0.1", [], proxies) == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_cli(url: str, tmp: Path, **env: str) -> Iterator[str]:
    """``parkgis serve`` itself (the product's uvicorn settings), on a free loopback port."""
    port = _free_port()
    full = {
        **os.environ,
        "PARKGIS_DATABASE_URL": url,
        "PARKGIS_HOST": "127.0.0.1",
        "PARKGIS_PORT": str(port),
        "PARKGIS_DATA_DIR": str(tmp),
        **env,
    }
    log = (tmp / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "parkgis"), "serve"],
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code < 600:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / f"serve-{port}.log").read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


INQUIRY = {"name": "李四", "contact": "+86 138-0000-0000", "message": "供电情况？", "consent": True}


def test_forwarded_for_does_not_dodge_the_inquiry_limit_over_http(sample_db_rw, tmp_path) -> None:
    url = sample_db_rw
    sent = [f"203.0.113.{i}" for i in range(1, 7)]
    with contextlib.contextmanager(_serve_cli)(
        url, tmp_path, PARKGIS_INQUIRY_RATE_PER_HOUR="3"
    ) as base:
        codes = [
            httpx.post(
                f"{base}/api/inquiries", json=INQUIRY, headers={"X-Forwarded-For": ip}, timeout=30
            ).status_code
            for ip in sent
        ]
    # a fresh X-Forwarded-For each time buys nothing: the fourth post is refused
    assert codes == [201] * 3 + [429] * 3, codes
    with psycopg.connect(url) as conn:
        clients = [r[0] for r in conn.execute("SELECT client FROM inquiries")]
    assert clients == ["127.0.0.1"] * 3

    # Behind a configured proxy (here: loopback), the forwarded address is the client, so
    # different clients have limits of their own.
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM inquiries")
    with contextlib.contextmanager(_serve_cli)(
        url, tmp_path, PARKGIS_INQUIRY_RATE_PER_HOUR="3", PARKGIS_TRUSTED_PROXIES="127.0.0.1"
    ) as base:
        codes = [
            httpx.post(
                f"{base}/api/inquiries", json=INQUIRY, headers={"X-Forwarded-For": ip}, timeout=30
            ).status_code
            for ip in sent
        ]
        # the client's own left-hand entries do not count: the proxy's is the right-most
        spoof = [
            httpx.post(
                f"{base}/api/inquiries",
                json=INQUIRY,
                timeout=30,
                headers={"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.1"},
            ).status_code
            for i in range(3)
        ]
    assert codes == [201] * 6, codes
    assert spoof == [201, 201, 429], spoof


# -- request body and vertex limits -------------------------------------------------------------


@pytest.fixture(scope="module")
def limits_app(databases, sample_template) -> Iterator[tuple[TestClient, str]]:
    from conftest import _copy

    url = _copy(databases, sample_template, "abuse")
    add_users(url)
    settings = Settings(
        max_body_bytes=64 * 1024, max_upload_bytes=100_000, inquiry_rate_per_hour=1000
    )
    with TestClient(create_app(settings, database_url=url)) as c:
        yield c, url


def _counts(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM inquiries), (SELECT count(*) FROM parcel_events), "
            "(SELECT count(*) FROM parcels), (SELECT count(*) FROM project_events), "
            "(SELECT count(*) FROM inquiries WHERE status <> 'new')"
        ).fetchone()


def _assert_413(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 413 and body["limit_bytes"] == limit
    assert str(limit) in body["detail"]


def test_body_over_the_limit_is_413_on_every_kind_of_route(limits_app) -> None:
    c, url = limits_app
    before = _counts(url)
    big = {"name_zh": "x" * (65 * 1024)}
    # public JSON route, declared length
    _assert_413(c.post("/api/match", json=big), 64 * 1024)
    # a route that reads its body itself
    _assert_413(c.post("/api/inquiries", json={**INQUIRY, "message": "m" * 70_000}), 64 * 1024)
    # a form route (sign-in) and a GET with a body
    _assert_413(
        c.post("/api/auth/token", data={"username": "u" * 70_000, "password": "p"}), 64 * 1024
    )
    _assert_413(c.request("GET", "/api/projects", content=b"x" * 70_000), 64 * 1024)

    # chunked: no Content-Length, the count is made as the body arrives
    def chunks() -> Iterator[bytes]:
        yield b'{"name_zh": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    r = c.post("/api/match", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_413(r, 64 * 1024)
    # just under the limit is not refused for its size
    ok = c.post("/api/match", json={"name_zh": "z" * 100})
    assert ok.status_code == 200
    # the uploads have a limit of their own
    plan = login(c, "plan")
    r = c.post(
        "/api/layers/parcels/upload",
        headers=plan,
        files={"file": ("a.geojson", b"{" + b" " * 120_000 + b"}", "application/json")},
    )
    _assert_413(r, 100_000)
    assert _counts(url) == before


def test_split_blade_vertex_limit_is_named(limits_app) -> None:
    c, url = limits_app
    from parkgis.land.parcel_edit import MAX_BLADE_VERTICES

    with psycopg.connect(url) as conn:
        code, version = conn.execute(
            "SELECT code, version FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
        ).fetchone()
    before = _counts(url)
    # A line of MAX + 1 vertices (compact coordinates keep it within the body limit).
    coords = [[114.0 + i * 1e-6, 35.4] for i in range(MAX_BLADE_VERTICES + 1)]
    raw = json.dumps({"type": "LineString", "coordinates": coords}, separators=(",", ":"))
    settings = Settings(max_body_bytes=4 * 1024 * 1024)
    with TestClient(create_app(settings, database_url=url)) as c4:
        r = c4.post(
            f"/api/parcels/{code}/split",
            content=raw,
            headers={
                **login(c4, "plan"),
                "If-Match": f'"{code}-{version}"',
                "Content-Type": "application/json",
            },
        )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert str(MAX_BLADE_VERTICES) in r.json()["detail"]
    assert _counts(url) == before


# -- NUL bytes (were 500 "database error") ---------------------------------------------------------


def test_nul_in_an_inquiry_note_is_422_and_nothing_changes(limits_app) -> None:
    c, url = limits_app
    with psycopg.connect(url) as conn:
        iid = conn.execute(
            "INSERT INTO inquiries (name, contact, message) "
            "VALUES ('x', 'x@y.cn', 'm') RETURNING id"
        ).fetchone()[0]
    before = _counts(url)
    plan = login(c, "plan")
    r = c.patch(
        f"/api/inquiries/{iid}", json={"status": "answered", "note": "ok\u0000drop"}, headers=plan
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM) and "NUL" in r.json()["detail"]
    assert _scalar(url, "SELECT status FROM inquiries WHERE id = %s", (iid,)) == "new"
    assert _counts(url) == before
    # the public form refuses it too (a control character)
    r = c.post("/api/inquiries", json={**INQUIRY, "message": "a\u0000b"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert _counts(url) == before


def test_nul_in_a_pre_review_body_is_422(limits_app) -> None:
    c, url = limits_app
    plan = login(c, "plan")
    project = _scalar(url, "SELECT code FROM projects ORDER BY code LIMIT 1")
    for body in (
        {"project": f"{project}\u0000"},
        {"project": project, "parcels": ["WH\u0000-1"]},
        {"project": project, "version": "v\u00001"},
    ):
        r = c.post("/api/review", json=body, headers=plan)
        assert r.status_code == 422, (body, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith(PROBLEM)
        assert "database error" not in r.text
    # in a path or a query string as well
    for path in (
        "/api/projects/%00",
        "/api/parcels/WH%00/events",
        f"/api/review/{project}?version=%00",
    ):
        r = c.get(path, headers=plan)
        assert r.status_code in (404, 422), (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith(PROBLEM)


# -- the match's time budget -------------------------------------------------------------------


def test_match_stops_footprint_searches_at_its_time_budget_and_says_so(empty_db) -> None:
    import math

    from workbench_helpers import X0, Y0, ZONE, small_park

    url = empty_db
    small_park(url)
    # A 2000-vertex near-circle, radius 100 m: a 199 × 30 m building passes every quick test
    # (area, width, inscribed circle too small to decide) and needs the angular search, which
    # takes minutes at this vertex count.
    n, r, cx, cy = 2000, 100.0, X0 + 1000, Y0 + 1000
    ring = [
        (cx + r * math.cos(2 * math.pi * i / n), cy + r * math.sin(2 * math.pi * i / n))
        for i in range(n)
    ]
    wkt = "POLYGON((" + ",".join(f"{x} {y}" for x, y in [*ring, ring[0]]) + "))"
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) "
            "VALUES ('T-CIRCLE', %s, 'available', '100101', "
            "ST_Multi(ST_Transform(ST_GeomFromText(%s, 4547), 4490)))",
            (ZONE, wkt),
        )
    budget = 2.0
    with TestClient(create_app(Settings(match_time_budget_s=budget), database_url=url)) as c:
        t0 = time.monotonic()
        r1 = c.post("/api/match", json={"footprint_length_m": 199, "footprint_width_m": 30})
        elapsed = time.monotonic() - t0
        assert r1.status_code == 200, r1.text[:500]
        body = r1.json()
        assert body["incomplete"]["undecided"] == [["T-CIRCLE"]]
        assert f"{budget:g} 秒" in body["incomplete"]["reason_zh"]
        assert f"{budget:g} s" in body["incomplete"]["reason_en"]
        listed = [m["parcels"] for m in body["matches"] + body["near_misses"]]
        assert listed and not any("T-CIRCLE" in codes for codes in listed)
        # bounded: the budget plus one orientation test and the rest of the request
        assert elapsed < budget + 20, elapsed
        # the quick paths still answer past the budget: a footprint the inscribed circle
        # holds is placed on the circle, and nothing is left undecided
        r2 = c.post("/api/match", json={"footprint_length_m": 120, "footprint_width_m": 80})
        assert r2.status_code == 200 and "incomplete" not in r2.json()
        assert ["T-CIRCLE"] in [m["parcels"] for m in r2.json()["matches"]]


def test_match_refuses_infinite_and_nan_requirements(client) -> None:
    # Python's JSON reader takes Infinity and NaN; a requirement of infinite power is no
    # requirement, and must not come back as null in a 200.
    for raw in ('{"power_kva": Infinity}', '{"min_area_mu": NaN}', '{"water_tpd": -Infinity}'):
        r = client.post("/api/match", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code, r.text)  # request validation
        assert r.headers["content-type"].startswith("application/problem+json")
