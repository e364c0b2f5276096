"""The embedded cluster manager, run the way a newcomer runs it: through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from parkgis.db import cluster
from parkgis.settings import Settings

CLI = [sys.executable, "-m", "parkgis.cli"]


def _cli(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "PARKGIS_DATABASE_URL"}
    # The generated password goes next to the test's data dir, not into ~/.config.
    e.update(
        {
            "PARKGIS_DATA_DIR": str(data_dir),
            "PARKGIS_PG_SECRETS_DIR": str(data_dir.parent / "secrets"),
            **env,
        }
    )
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
    proc_owner = subprocess.run(
        ["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True
    )
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


def _status_url(data_dir: Path) -> str:
    r = _cli(["db", "status"], data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_port_is_kept_across_restarts_and_a_taken_port_is_one_line(data_dir: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    url = _status_url(data_dir)
    port = conninfo_to_dict(url)["port"]
    for _ in range(2):
        assert "stopped" in _cli(["db", "stop"], data_dir).stdout
        r = _cli(["db", "start"], data_dir)
        assert r.returncode == 0, r.stderr
        assert _status_url(data_dir) == url  # same port, same socket: clients reconnect
    assert _cli(["db", "stop"], data_dir).returncode == 0
    # Someone else listens on the cluster's port meanwhile: refuse, do not move silently.
    import socket

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(port)))
        squatter.listen(1)
        r = _cli(["db", "start"], data_dir)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and str(port) in lines[0], r.stderr
    c = cluster.locate(Settings(data_dir=data_dir))
    assert c.port() == int(port) and not cluster.is_running(c)
    assert _cli(["db", "start"], data_dir).returncode == 0  # free again: same port
    assert _status_url(data_dir) == url


def _hba_methods(data_dir: Path) -> set[str]:
    c = cluster.locate(Settings(data_dir=data_dir))
    lines = (c.pgdata / "pg_hba.conf").read_text().splitlines()
    return {ln.split("#")[0].split()[-1] for ln in lines if ln.split("#")[0].strip()}


def _refused_without_credentials(url: str, tmp: Path) -> None:
    params = conninfo_to_dict(url)
    params.pop("passfile", None)
    empty = tmp / "empty-pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    for host in (params["host"], "127.0.0.1"):  # the unix socket and loopback TCP
        bare = make_conninfo("", **{**params, "host": host, "passfile": str(empty)})
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(bare, connect_timeout=5).close()


def test_cluster_requires_a_password(data_dir: Path, tmp_path: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    assert _hba_methods(data_dir) == {"scram-sha-256"}
    url = _status_url(data_dir)
    passfile = Path(conninfo_to_dict(url)["passfile"])
    assert (passfile.stat().st_mode & 0o777) == 0o600
    assert not str(passfile).startswith(str(data_dir))  # not under the app's data dir
    assert passfile.read_text().split(":")[-1].strip() not in url  # no secret in the URL
    with psycopg.connect(url) as conn:  # the printed URL is usable as it is
        assert conn.execute("SELECT current_user").fetchone()[0] == "parkgis"
    _refused_without_credentials(url, tmp_path)


def test_trust_cluster_is_upgraded_on_next_start(data_dir: Path, tmp_path: Path) -> None:
    assert _cli(["db", "start"], data_dir).returncode == 0
    url = _status_url(data_dir)
    passfile = Path(conninfo_to_dict(url)["passfile"])
    assert _cli(["db", "stop"], data_dir).returncode == 0
    # Make it look like a cluster created by the old code: trust everywhere, no password.
    c = cluster.locate(Settings(data_dir=data_dir))
    hba = c.pgdata / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    passfile.unlink()
    assert _cli(["db", "start"], data_dir).returncode == 0
    assert _hba_methods(data_dir) == {"scram-sha-256"}
    new_url = _status_url(data_dir)
    assert Path(conninfo_to_dict(new_url)["passfile"]).exists()
    with psycopg.connect(new_url) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    _refused_without_credentials(new_url, tmp_path)
