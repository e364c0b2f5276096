"""Read replicas on PostgreSQL's streaming replication, proved on one machine.

A throwaway embedded primary and its streaming replica (made by ``parkgis db replica start``
through the CLI) live in this module's tmp dir. Which server answered is told without any
debug hook: replay is paused on the replica (``pg_wal_replay_pause()``) and the primary is
changed behind the app's back, so the two servers hold different data and the answer shows
where it was read.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mapbox_vector_tile
import psycopg
import pytest
import uvicorn

from parkgis import auth
from parkgis.db import cluster, connect, migrate, replica
from parkgis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
CLI = [sys.executable, "-m", "parkgis.cli"]
PASSWORD = "replica-proof-pw"
SEARCH = "/api/parcels/available?limit=1000"


@dataclass
class Pair:
    settings: Settings
    home: Path
    primary_url: str
    replica_url: str
    codes: list[str]  # available parcels, in code order


def _cli(args: list[str], s: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARKGIS_")}
    env.update(
        {"PARKGIS_DATA_DIR": str(s.data_dir), "PARKGIS_PG_SECRETS_DIR": str(s.pg_secrets_dir)}
    )
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    from parkgis.land.loader import load_sample_package

    home = tmp_path_factory.mktemp("replica")
    s = Settings(data_dir=home / ".parkgis", pg_secrets_dir=home / "secrets", database_url=None)
    c = cluster.start(s)
    try:
        url = c.url()
        migrate(url)
        load_sample_package(url, SAMPLE_GPKG)
        with connect(url) as conn:
            auth.add_user(conn, "rep_plan", "planner", PASSWORD)
            codes = [
                r["code"]
                for r in conn.execute(
                    "SELECT code FROM parcels WHERE status = 'available' ORDER BY code"
                )
            ]
        r = _cli(["db", "replica", "start"], s)
        assert r.returncode == 0, r.stderr
        rurl = r.stdout.strip().splitlines()[-1]
        _wait_caught_up(url, rurl)
        yield Pair(s, home, url, rurl, codes)
    finally:
        replica.stop(s, remove=True)
        cluster.stop(s)
        for root in (cluster.locate(s).root, replica.locate(s).root):
            if not str(root).startswith(str(home)):
                shutil.rmtree(root, ignore_errors=True)


def _lsn(conn: psycopg.Connection, sql: str) -> str:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return str(row[0])


def _wait_caught_up(primary_url: str, replica_url: str, timeout: float = 30) -> None:
    with psycopg.connect(primary_url, autocommit=True) as p:
        target = _lsn(p, "SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_url, autocommit=True) as r:
        while not r.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[
            0
        ]:  # type: ignore[index]
            assert time.monotonic() < deadline, "replica did not catch up"
            time.sleep(0.05)


class paused_replay:
    """Replay paused on the replica for the block; resumed (and caught up) after."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair

    def __enter__(self) -> None:
        with psycopg.connect(self.pair.replica_url, autocommit=True) as r:
            r.execute("SELECT pg_wal_replay_pause()")
            while r.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":  # type: ignore[index]
                time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.pair.replica_url, autocommit=True) as r:
            r.execute("SELECT pg_wal_replay_resume()")
        _wait_caught_up(self.pair.primary_url, self.pair.replica_url)


def _set_status_behind_app(pair: Pair, code: str, status: str) -> None:
    """Change a parcel on the primary directly (not through the app: no caller's LSN)."""
    with psycopg.connect(pair.primary_url, autocommit=True) as p:
        p.execute("UPDATE parcels SET status = %s WHERE code = %s", (status, code))


def _serve(pair: Pair, **overrides: object) -> Iterator[str]:
    from api.main import create_app

    s = pair.settings.model_copy(
        update={"database_replica_urls": pair.replica_url, "clock_enabled": False, **overrides}
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(s, database_url=pair.primary_url),
            host="127.0.0.1",
            port=port,
            log_level="error",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


# Generous lag bounds: a paused replay must not make an app skip the replica.
PATIENT = {"replica_max_lag_s": 3600.0, "replica_max_lag_bytes": 1 << 40, "replica_check_s": 0.2}


@pytest.fixture(scope="module")
def base(pair: Pair) -> Iterator[str]:
    # No tile cache: every tile request below reaches a database.
    yield from _serve(pair, tile_cache_size=0, **PATIENT)


def _listed(c: httpx.Client, headers: dict[str, str] | None = None) -> set[str]:
    r = c.get(SEARCH, headers=headers)
    assert r.status_code == 200, r.text
    return {f["properties"]["code"] for f in r.json()["features"]}


def _ogc_ids(c: httpx.Client) -> set[str]:
    r = c.get("/ogc/collections/parcels/items", params={"limit": 1000, "status": "available"})
    assert r.status_code == 200, r.text
    return {str(f["properties"].get("code", f.get("id"))) for f in r.json()["features"]}


def _login(c: httpx.Client) -> dict[str, str]:
    r = c.post("/api/auth/token", data={"username": "rep_plan", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_cli_status_shows_replay_and_url(pair: Pair) -> None:
    r = _cli(["db", "replica", "status"], pair.settings)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == pair.replica_url  # the URL alone on its own line
    assert "replay LSN" in r.stdout and "in recovery: True" in r.stdout
    with psycopg.connect(pair.replica_url) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True  # type: ignore[index]
        # scram over the passfile, as for the primary: the URL carries no secret
        assert "password" not in pair.replica_url
    with psycopg.connect(pair.primary_url) as conn:
        rows = conn.execute(
            "SELECT application_name, state FROM pg_stat_replication "
            "JOIN pg_replication_slots ON active_pid = pid "
            "WHERE slot_name = %s",
            (replica.SLOT,),
        ).fetchall()
    assert rows == [(replica.APP_NAME, "streaming")]


def test_public_reads_are_served_by_the_replica(pair: Pair, base: str) -> None:
    code = pair.codes[0]
    with httpx.Client(base_url=base, timeout=30) as c:
        assert code in _listed(c)
        with paused_replay(pair):
            _set_status_behind_app(pair, code, "not_for_supply")
            time.sleep(0.3)  # past replica_check_s: a fresh health verdict
            # The primary no longer lists it; only the paused replica still does.
            assert code in _listed(c)
            assert code in _ogc_ids(c)
            # Planner routes never read a replica.
            h = _login(c)
            r = c.get(f"/api/parcels/{code}", headers=h)
            assert r.status_code == 200 and r.json()["properties"]["status"] == "not_for_supply"
        assert code not in _listed(c)  # replayed: the replica has it now
        _set_status_behind_app(pair, code, "available")
        _wait_caught_up(pair.primary_url, pair.replica_url)


def test_planner_reads_own_write_even_while_the_replica_lags(pair: Pair, base: str) -> None:
    code = pair.codes[1]
    with httpx.Client(base_url=base, timeout=30) as c:
        h = _login(c)
        with paused_replay(pair):
            t0 = time.monotonic()
            r = c.post(
                f"/api/parcels/{code}/withdraw",
                json={"note": "replica"},
                headers={**h, "If-Match": "*"},
            )
            assert r.status_code == 200, r.text
            # The planner's own read: the replica cannot replay it, so after the bounded
            # wait the primary answers and the write is seen.
            assert code not in _listed(c, h)
            assert time.monotonic() - t0 < 5
            # Anyone else still reads the (stale) replica: proof the routing is per caller.
            assert code in _listed(c)
        # Replay resumed: a write then an immediate read by the same planner sees it, with
        # the replica back in use for everyone.
        r = c.post(
            f"/api/parcels/{code}/restore", json={"note": "replica"}, headers={**h, "If-Match": "*"}
        )
        assert r.status_code == 200, r.text
        assert code in _listed(c, h)
        _wait_caught_up(pair.primary_url, pair.replica_url)
        assert code in _listed(c)


def test_replica_lagging_past_the_threshold_is_skipped(pair: Pair) -> None:
    code = pair.codes[2]
    served = _serve(pair, replica_max_lag_s=0.5, replica_max_lag_bytes=1, replica_check_s=0.1)
    tight = next(served)
    try:
        with httpx.Client(base_url=tight, timeout=30) as c:
            assert code in _listed(c)
            with paused_replay(pair):
                _set_status_behind_app(pair, code, "not_for_supply")
                time.sleep(0.3)
                # Lagging by more than a byte: the primary answers, without the parcel.
                assert code not in _listed(c)
                assert code not in _ogc_ids(c)
            _set_status_behind_app(pair, code, "available")
    finally:
        next(served, None)
    _wait_caught_up(pair.primary_url, pair.replica_url)


def test_unreachable_replica_at_start_up_is_skipped(pair: Pair) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    s = pair.settings.model_copy(
        update={
            "database_replica_urls": f"postgresql://parkgis@127.0.0.1:{dead}/parkgis",
            "clock_enabled": False,
        }
    )
    with TestClient(create_app(s, database_url=pair.primary_url)) as c:
        for _ in range(3):
            t0 = time.monotonic()
            r = c.get(SEARCH)
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 < 3  # the replica's short checkout bound, then primary
        assert set(pair.codes) <= {f["properties"]["code"] for f in r.json()["features"]}


def test_replica_killed_mid_run_requests_keep_answering(pair: Pair, base: str) -> None:
    code = pair.codes[3]
    z, x, y = _tile_of(pair, code)
    routes = [
        SEARCH,
        "/ogc/collections/parcels/items?limit=50",
        f"/api/parcels/{code}/sheet",
        _tile_path(z, x, y),
    ]
    answers: list[tuple[str, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(400):  # bounded, in case the main thread fails
                if stop.is_set():
                    return
                path = routes[i % len(routes)]
                try:
                    answers.append((path, c.get(path).status_code))
                except httpx.HTTPError as exc:  # a dropped connection is a failure too
                    answers.append((path, -1))
                    errors.append(repr(exc))

    def replica_xacts() -> int:
        # Transactions the replica ran: it is really serving the loop before it is killed.
        with psycopg.connect(pair.replica_url, autocommit=True) as r:
            return int(
                r.execute(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()"
                ).fetchone()[0]
            )  # type: ignore[index]

    xacts0 = replica_xacts()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        before = len(answers)
        time.sleep(0.6)  # statistics reach pg_stat_database within ~0.5 s
        assert replica_xacts() - xacts0 >= 10
        assert replica.stop(pair.settings) is True  # fast shutdown: backends terminated
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    after = answers[before:]
    assert before > 0 and len(after) > 0
    bad = [(p, s) for p, s in answers if s != 200]
    assert not bad, (bad[:10], errors[:3])
    # With the replica gone the primary answers, and it has what the replica had.
    with httpx.Client(base_url=base, timeout=30) as c:
        assert code in _listed(c)
        r = c.get(_tile_path(z, x, y))
        assert r.status_code == 200 and _tile_status(r.content, code) == "available"
        assert r.content == _render(pair.primary_url, z, x, y)
    replica.start(pair.settings)  # back for any later test
    _wait_caught_up(pair.primary_url, pair.replica_url)


def test_cli_without_a_running_primary_says_so_in_one_line(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path / ".parkgis", pg_secrets_dir=tmp_path / "secrets", database_url=None
    )
    r = _cli(["db", "replica", "start"], s)
    assert r.returncode != 0
    msg = (r.stderr + r.stdout).strip()
    assert len(msg.splitlines()) == 1 and "parkgis db start" in msg, msg
    assert "Traceback" not in msg and str(tmp_path) not in msg
    st = _cli(["db", "replica", "status"], s)
    assert st.returncode == 3 and "not running" in st.stdout
    assert not replica.locate(s).root.exists()  # nothing made on the way


# -- tiles and the other public reads ----------------------------------------------------------


def _tile_of(pair: Pair, code: str, z: int = 16) -> tuple[int, int, int]:
    """The WebMercatorQuad tile holding a point of the parcel, by the slippy-map formula."""
    with psycopg.connect(pair.primary_url) as conn:
        row = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
            "FROM parcels WHERE code = %s) s",
            (code,),
        ).fetchone()
    assert row is not None
    lon, lat = float(row[0]), float(row[1])
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, x, y


def _tile_path(z: int, x: int, y: int) -> str:
    return f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"


def _tile_status(body: bytes, code: str) -> str | None:
    """The ``status`` the tile gives the parcel, decoded with an MVT reader of its own."""
    layer = mapbox_vector_tile.decode(body).get("parcels", {"features": []})
    found = [f["properties"] for f in layer["features"] if f["properties"].get("code") == code]
    assert len(found) <= 1
    return str(found[0]["status"]) if found else None


def _render(url: str, z: int, x: int, y: int) -> bytes:
    """The parcels tile as the server at ``url`` cuts it (its data, the same SQL)."""
    from parkgis.publish.tiles import render_tile

    with psycopg.connect(url) as conn:
        return render_tile(conn, "parcels", z, x, y)


def _set_status_silently(pair: Pair, code: str, status: str) -> None:
    """Change a parcel on the primary with its triggers off: no data version bump and no
    NOTIFY, so the app still believes the replica holds the current version of the tiles."""
    with psycopg.connect(pair.primary_url, autocommit=True) as p:
        p.execute("SET session_replication_role = replica")
        p.execute("UPDATE parcels SET status = %s WHERE code = %s", (status, code))


def _primary_status(pair: Pair, code: str) -> str:
    with psycopg.connect(pair.primary_url) as conn:
        row = conn.execute("SELECT status FROM parcels WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return str(row[0])


def test_public_tiles_are_cut_on_the_replica(pair: Pair, base: str) -> None:
    code = pair.codes[4]
    z, x, y = _tile_of(pair, code)
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get(_tile_path(z, x, y))
        assert r.status_code == 200 and _tile_status(r.content, code) == "available"
        try:
            with paused_replay(pair):
                _set_status_silently(pair, code, "not_for_supply")
                time.sleep(0.3)  # past replica_check_s: a fresh health verdict
                assert _tile_status(_render(pair.primary_url, z, x, y), code) != "available"
                # Only the paused replica still has the parcel available: it cut this tile.
                r = c.get(_tile_path(z, x, y))
                assert r.status_code == 200 and r.headers["x-tile-cache"] == "miss"
                assert _tile_status(r.content, code) == "available"
                assert r.content == _render(pair.replica_url, z, x, y)
        finally:
            _set_status_silently(pair, code, "available")
            _wait_caught_up(pair.primary_url, pair.replica_url)
        # Caught up: the replica's bytes are the primary's bytes.
        r = c.get(_tile_path(z, x, y))
        assert r.status_code == 200 and r.content == _render(pair.primary_url, z, x, y)
        gz = c.get(_tile_path(z, x, y), headers={"Accept-Encoding": "gzip"})
        assert gz.headers.get("content-encoding") == "gzip" and gz.content == r.content


def test_a_write_invalidates_cached_tiles_even_while_the_replica_lags(pair: Pair) -> None:
    code = pair.codes[5]
    mine = _tile_of(pair, code)  # the planner's tile
    theirs = _tile_of(pair, code, z=17)  # another visitor's tile of the same parcel
    served = _serve(pair, **PATIENT)  # the tile cache on (default size)
    cached = next(served)
    try:
        with httpx.Client(base_url=cached, timeout=30) as c:
            h = _login(c)
            for t in (mine, theirs):
                assert c.get(_tile_path(*t)).headers["x-tile-cache"] == "miss"
                r = c.get(_tile_path(*t))
                assert r.headers["x-tile-cache"] == "hit"
                assert _tile_status(r.content, code) == "available"
            with paused_replay(pair):
                r = c.post(
                    f"/api/parcels/{code}/withdraw",
                    json={"note": "tiles"},
                    headers={**h, "If-Match": "*"},
                )
                assert r.status_code == 200, r.text
                new = _primary_status(pair, code)
                assert new != "available"
                # The planner's own next tile, at once: versions read after the write, and
                # the replica cannot have replayed it, so the primary cuts it.
                r = c.get(_tile_path(*mine), headers=h)
                assert r.status_code == 200 and r.headers["x-tile-cache"] == "miss"
                assert _tile_status(r.content, code) == new
                assert r.content == _render(pair.primary_url, *mine)
                # Anyone else, past the 20 ms version recheck of design §5: their cached tile
                # is stale, and the lagging replica (its version of the tile is behind) may
                # not cut the new one either.
                time.sleep(0.1)
                r = c.get(_tile_path(*theirs))
                assert r.status_code == 200 and r.headers["x-tile-cache"] == "miss"
                assert _tile_status(r.content, code) == new
                assert r.content == _render(pair.primary_url, *theirs)
            r = c.post(
                f"/api/parcels/{code}/restore",
                json={"note": "tiles"},
                headers={**h, "If-Match": "*"},
            )
            assert r.status_code == 200, r.text
            r = c.get(_tile_path(*mine), headers=h)
            assert _tile_status(r.content, code) == "available"
    finally:
        next(served, None)
    _wait_caught_up(pair.primary_url, pair.replica_url)


def _first_named(pair: Pair, table: str) -> tuple[str, str]:
    with psycopg.connect(pair.primary_url) as conn:
        row = conn.execute(
            f"SELECT code, name_en FROM {table} WHERE name_en <> '' ORDER BY code LIMIT 1"
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _rename(pair: Pair, table: str, code: str, name_en: str) -> None:
    """Rename behind the app (triggers on: the primary's data versions move)."""
    with psycopg.connect(pair.primary_url, autocommit=True) as p:
        p.execute(f"UPDATE {table} SET name_en = %s WHERE code = %s", (name_en, code))


def test_every_public_read_the_issue_names_is_served_by_the_replica(pair: Pair, base: str) -> None:
    """Search, items, the sheet, the investor page (its zone filter) and the map search read
    the replica (tiles: the test above). Proved as the module does: the primary is changed
    behind the app while replay is paused, and each answer still shows the replica's data."""
    code = pair.codes[6]
    zone, zone_name = _first_named(pair, "zones")
    ent, ent_name = _first_named(pair, "enterprises")
    probe = "Replica Probe Works"
    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.get(f"/api/parcels/{code}/sheet").json()["parcel"]["status"] == "available"
        try:
            with paused_replay(pair):
                _set_status_behind_app(pair, code, "not_for_supply")
                _rename(pair, "zones", zone, probe)
                _rename(pair, "enterprises", ent, probe)
                time.sleep(0.3)
                assert code in _listed(c)
                assert code in _ogc_ids(c)
                sheet = c.get(f"/api/parcels/{code}/sheet")
                assert sheet.status_code == 200 and sheet.json()["parcel"]["status"] == "available"
                page = c.get("/")
                assert page.status_code == 200 and probe not in page.text
                found = c.get("/api/map/search", params={"q": "Replica Probe"})
                assert found.status_code == 200 and probe not in found.text
            # Replayed: every one of them now shows the primary's data.
            assert code not in _listed(c)
            assert code not in _ogc_ids(c)
            assert c.get(f"/api/parcels/{code}/sheet").json()["parcel"]["status"] != "available"
            assert probe in c.get("/").text
            assert probe in c.get("/api/map/search", params={"q": "Replica Probe"}).text
        finally:
            _set_status_behind_app(pair, code, "available")
            _rename(pair, "zones", zone, zone_name)
            _rename(pair, "enterprises", ent, ent_name)
            _wait_caught_up(pair.primary_url, pair.replica_url)
