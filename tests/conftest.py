"""Shared fixtures: every test talks to a real PostGIS.

The server is the embedded cluster (started if needed) or ``PARKGIS_DATABASE_URL``. Each test
session works in databases of its own, created from a migrated template and dropped at the
end, so parallel sessions and the demo database never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from parkgis.db import cluster, migrate
from parkgis.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
ARTIFACTS = ROOT / "tests" / "artifacts"


def _server_url() -> str:
    s = get_settings()
    return s.database_url or cluster.start(s).url()


def _with_db(url: str, name: str) -> str:
    return make_conninfo(url, dbname=name)


class Databases:
    """Creates and drops the session's databases."""

    def __init__(self) -> None:
        self.server = _server_url()
        self.prefix = f"pgtest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.template = self._create(f"{self.prefix}_tpl")
        migrate(_with_db(self.server, self.template))

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(_with_db(self.server, "postgres"), autocommit=True)

    def _create(self, name: str, template: str | None = None) -> str:
        with self._admin() as conn:
            tpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tpl}')
        self.created.append(name)
        return name

    def new(self, label: str = "db") -> str:
        """A freshly migrated, empty database; returns its conninfo."""
        name = self._create(f"{self.prefix}_{label}_{len(self.created)}", self.template)
        return _with_db(self.server, name)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in reversed(self.created):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    dbs = Databases()
    yield dbs
    dbs.drop_all()


@pytest.fixture
def empty_db(databases: Databases) -> str:
    """A migrated database with no rows, for one test."""
    return databases.new("empty")


@pytest.fixture(scope="session")
def sample_template(databases: Databases) -> str:
    """The sample data loaded once into a database nobody connects to afterwards, so that
    copies can be made of it (CREATE DATABASE ... TEMPLATE needs it idle)."""
    from parkgis.land.loader import load_sample_package

    url = databases.new("sampletpl")
    load_sample_package(url, SAMPLE_GPKG)
    return conninfo_to_dict(url)["dbname"]


@pytest.fixture(scope="session")
def synth_10k(databases: Databases) -> str:
    """``bench/synth.py`` at 10^4 parcels (bulk load with the stores' triggers off, stores
    filled set-based after it), shared by the session: tests may add rows that leave the
    parcels as they are (upgrades), nothing else."""
    import subprocess
    import sys

    url = databases.new("synth10k")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "synth.py"), "--parcels", "10000", "--url", url],
        check=True,
        cwd=ROOT / "bench",
        capture_output=True,
        timeout=900,
    )
    return url


def _copy(databases: Databases, template: str, label: str) -> str:
    name = f"{databases.prefix}_{label}_{len(databases.created)}"
    databases._create(name, template)
    return _with_db(databases.server, name)


@pytest.fixture(scope="session")
def sample_db(databases: Databases, sample_template: str) -> str:
    """The Weihui sample data, shared by the session: read it, do not change it."""
    return _copy(databases, sample_template, "sample")


@pytest.fixture
def sample_db_rw(databases: Databases, sample_template: str) -> str:
    """A private copy of the sample data that one test may change."""
    return _copy(databases, sample_template, "rw")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _serve(url: str) -> Iterator[str]:
    """uvicorn on a free loopback port in a thread; yields the base URL."""
    import socket
    import threading
    import time

    import uvicorn

    from api.main import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(database_url=url), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def client(sample_db: str):
    """FastAPI's test client on the shared (read-only) sample database."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(database_url=sample_db)) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(sample_db: str) -> Iterator[str]:
    """The app served by uvicorn on loopback over the shared sample database."""
    yield from _serve(sample_db)


@pytest.fixture
def live_server_rw(sample_db_rw: str) -> Iterator[str]:
    """The app served by uvicorn over a private, writable copy of the sample data."""
    yield from _serve(sample_db_rw)


# -- CI=true: a missing tool fails the run ------------------------------------------------------

# Skip reasons that mean "a tool the suite needs is not installed" (not "this case does not
# apply here"). Locally such a test is skipped; under CI=true the run must not pass without it.
TOOL_SKIP_WORDS = ("chromium", "chromedriver", "poppler", "gdal", "ogr2ogr", "ogrinfo", "qgis")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _ci()):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(w in reason.lower() for w in TOOL_SKIP_WORDS):
        report.outcome = "failed"
        report.longrepr = f"CI=true and a required tool is missing: {reason}"
