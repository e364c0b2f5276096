"""Abuse limits (issue 11 §5): sign-in throttling and lockout, X-Forwarded-For only from
trusted proxies, request body and vertex-count limits, and the NUL-byte 500s.

Every expectation is worked from the request sequence itself (how many failures were sent,
how many bytes), not read back from the product's own functions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parent.parent
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
    settings = Settings(login_max_failures=5, login_max_failures_per_client=1000,
                        login_lockout_s=900)
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
        assert {(x["kind"], x["key"]) for x in locks} == {("account", "plan"),
                                                          ("account", "nobody-here")}
        # a planner cannot lift it, an admin can
        r = c2.delete("/api/auth/lockouts", params={"account": "plan"},
                      headers=login(c2, "plan2"))
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
        assert _scalar(url, "SELECT count(*) FROM login_failures WHERE at > now() - "
                            "interval '1 minute'") == 3


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
        res = subprocess.run([*cli, "--client", "testclient"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "unlocked" in res.stdout and "testclient" in res.stdout
        assert _sign_in(c, "plan", PASSWORD).status_code == 200
        # the CLI also lifts an account lock, and says when there was none
        for _ in range(6):
            _sign_in(c, "plan2", WRONG)
        assert _sign_in(c, "plan2", PASSWORD).status_code == 429
        res = subprocess.run([*cli, "plan2"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0 and "unlocked: plan2" in res.stdout, res.stdout
        assert _sign_in(c, "plan2", PASSWORD).status_code == 200
        res = subprocess.run([*cli, "plan2"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0 and "not locked" in res.stdout
        res = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 1 and "Traceback" not in res.stderr
