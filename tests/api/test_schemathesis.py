"""Schemathesis over ``/openapi.json`` against a real server: no request it can make from the
document may get a 5xx, anonymously or as a planner (issue 11 §7).

The server is uvicorn on loopback over a private copy of the sample data (a planner's
requests write to it). Examples per operation are bounded and the seed fixed, so the run is
deterministic and takes a couple of minutes. Nothing is skipped: admin-only routes answer the
planner 403 and everything that writes answers anonymous callers 401, which is what is checked
for them. On failure the whole schemathesis report (with a curl line per failing case) is
shown.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from workbench_helpers import PASSWORD, add_users

from api.main import create_app
from parkgis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv" / "bin" / "st"
ARTIFACTS = ROOT / "tests" / "artifacts"
SEED = 20261203
MAX_EXAMPLES = int(os.environ.get("PARKGIS_FUZZ_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def fuzz_server(databases, sample_template, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, a planner's bearer token)."""
    from conftest import _copy

    url = _copy(databases, sample_template, "fuzz")
    add_users(url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The fuzzer signs in with random names from one address: the per-client lock would
    # soon answer every sign-in 429, hiding what the password check does with odd input.
    settings = Settings(
        login_max_failures_per_client=1_000_000,
        inquiry_rate_per_hour=1_000_000,
        data_dir=tmp_path_factory.mktemp("fuzz-data"),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database_url=url),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{base}/api/auth/token", data={"username": "plan", "password": PASSWORD})
    r.raise_for_status()
    yield base, r.json()["access_token"]
    server.should_exit = True
    thread.join(timeout=15)


def test_openapi_json_is_the_apps_document(fuzz_server) -> None:
    base, _ = fuzz_server
    r = httpx.get(f"{base}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["openapi"].startswith("3.") and "/api/match" in doc["paths"]
    assert "/api/auth/lockouts" in doc["paths"]
    # the OGC document is the same one, with its own media type, where GDAL/QGIS expect it
    ogc = httpx.get(f"{base}/ogc/api")
    assert ogc.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    assert ogc.json() == doc


@pytest.mark.slow
@pytest.mark.parametrize("role", ["anonymous", "planner"])
def test_no_request_from_the_openapi_document_gets_a_5xx(fuzz_server, role, tmp_path) -> None:
    base, token = fuzz_server
    assert ST.exists(), "schemathesis is missing: `make setup` installs the dev extras"
    cmd = [
        str(ST),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "60",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "--output-truncate",
        "false",
        "--warnings",
        "off",
    ]
    if role == "planner":
        cmd += ["--header", f"Authorization: Bearer {token}"]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    report = res.stdout + res.stderr
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"schemathesis-{role}.txt").write_text(report)
    assert "Server error" not in report, report[-8000:]
    assert res.returncode == 0, report[-8000:]
    # it did test the API: cases were generated and sent, not just the schema loaded
    m = re.search(r"(\d+) generated", report)
    assert m and int(m.group(1)) > 500, report[-2000:]
    if role == "planner":
        # and as a planner throughout: the token was still good at the end
        me = httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "planner"
