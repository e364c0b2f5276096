"""The embedded cluster manager, run the way a newcomer runs it: through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from parkgis.db import cluster
from parkgis.settings import Settings

CLI = [sys.executable, "-m", "parkgis.cli"]


def _cli(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "PARKGIS_DATABASE_URL"}
    e.update({"PARKGIS_DATA_DIR": str(data_dir), **env})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=e, timeout=120)


def _stop_and_remove(d: Path, tmp_path: Path) -> None:
    """Stop the test's cluster and delete a fallback copy outside tmp_path (pytest's tmp dir
    is closed to other users, so as root the cluster lands in /var/lib/parkgis)."""
    _cli(["db", "stop"], d)
    root = cluster.locate(Settings(data_dir=d)).root
    if not str(root).startswith(str(tmp_path)):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def data_dir(tmp_path: Path):
    d = tmp_path / "pgdata-home"
    yield d
    _stop_and_remove(d, tmp_path)


def test_start_status_stop_cycle(data_dir: Path) -> None:
    r = _cli(["db", "start"], data_dir)
    assert r.returncode == 0, r.stderr
    assert "0001_core" in r.stdout  # migrated on first start

    again = _cli(["db", "start"], data_dir)  # idempotent: already running, nothing to apply
    assert again.returncode == 0 and "applied" not in again.stdout

    status = _cli(["db", "status"], data_dir)
    assert status.returncode == 0
    url = status.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql://")  # the URL alone on its own line
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3.")
        assert conn.execute("SELECT current_user").fetchone()[0] == "parkgis"

    assert "stopped" in _cli(["db", "stop"], data_dir).stdout
    down = _cli(["db", "status"], data_dir)
    assert down.returncode == 3 and "not running" in down.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged owner matters only as root")
def test_runs_as_unprivileged_user_when_root(data_dir: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    c = cluster.locate(Settings(data_dir=data_dir))
    owner = subprocess.run(["stat", "-c", "%U", str(c.pgdata)], capture_output=True, text=True)
    assert owner.stdout.strip() == "parkgis"
    pid = int((c.pgdata / "postmaster.pid").read_text().splitlines()[0])
    proc_owner = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True,
                                text=True)
    assert proc_owner.stdout.strip() == "parkgis"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory closed to other users")
def test_falls_back_when_the_clone_is_not_traversable(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    d = closed / "home" / ".parkgis"
    try:
        r = _cli(["db", "start"], d)
        assert r.returncode == 0, r.stderr
        c = cluster.locate(Settings(data_dir=d))
        assert not str(c.root).startswith(str(closed))  # lives where the user can reach it
        status = _cli(["db", "status"], d)
        assert str(c.root) in status.stdout  # and status says where
    finally:
        _stop_and_remove(d, tmp_path)


def test_stale_pid_file_is_handled(data_dir: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    c = cluster.locate(Settings(data_dir=data_dir))
    pid = int((c.pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, 9)  # a crash leaves postmaster.pid behind
    subprocess.run(["sleep", "1"])
    r = _cli(["db", "start"], data_dir)
    assert r.returncode == 0, r.stderr
    assert _cli(["db", "status"], data_dir).returncode == 0


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    r = _cli(["db", "start"], tmp_path / "x", PARKGIS_PG_BIN_DIR="/nonexistent/bin")
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "postgresql-15-postgis-3" in lines[0]


def test_external_url_bypasses_the_embedded_cluster(tmp_path: Path) -> None:
    url = "postgresql://someone@db.example:5432/parkgis"
    r = _cli(["db", "status"], tmp_path / "y", PARKGIS_DATABASE_URL=url)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == url


def test_start_recreates_a_dropped_database(data_dir: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    url = _cli(["db", "status"], data_dir).stdout.strip().splitlines()[-1]
    admin = url.replace("/parkgis?", "/postgres?")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE parkgis WITH (FORCE)")
    r = _cli(["db", "start"], data_dir)
    assert r.returncode == 0, r.stderr
    assert "0001_core" in r.stdout  # created and migrated again
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM zones").fetchone()[0] == 0


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    r = _cli(["migrate"], tmp_path / "z", PARKGIS_DATABASE_URL="postgresql://x@127.0.0.1:1/none")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "database unavailable" in lines[0]
