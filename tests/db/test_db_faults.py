"""Database faults: a restart of the database under load, against a real uvicorn.

The database is a throwaway embedded cluster of this module's own (in a tmp dir, started and
stopped through ``parkgis.db.cluster``), so stopping it disturbs no other test. The bounds
are the issue's: during the outage every answer comes within 5 s and is either a 503
problem+json with Retry-After or a 200 the app could give without the database (a cached
tile); never a 500, never a hang. Once the database is back every route answers 200 within
5 s, with the load still running and again without it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from parkgis import auth
from parkgis.db import cluster, connect, migrate
from parkgis.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
BOUND_S = 5.0
PASSWORD = "restart-proof-pw"


@dataclass
class Park:
    settings: Settings
    url: str
    base: str
    code: str  # an available parcel


def _serve(url: str, settings: Settings) -> Iterator[str]:
    from api.main import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database_url=url), host="127.0.0.1", port=port, log_level="error"
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


@pytest.fixture(scope="module")
def park(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Park]:
    from parkgis.land.loader import load_sample_package

    home = tmp_path_factory.mktemp("faults")
    s = Settings(data_dir=home / ".parkgis", pg_secrets_dir=home / "secrets", database_url=None)
    c = cluster.start(s)
    try:
        url = c.url()
        migrate(url)
        load_sample_package(url, SAMPLE_GPKG)
        with connect(url) as conn:
            auth.add_user(conn, "fault_plan", "planner", PASSWORD)
            code = conn.execute(
                "SELECT code FROM parcels WHERE status = 'available' ORDER BY code LIMIT 1"
            ).fetchone()["code"]
        served = _serve(url, s)
        base = next(served)
        try:
            yield Park(s, url, base, code)
        finally:
            next(served, None)
    finally:
        cluster.stop(s)
        root = cluster.locate(s).root
        if not str(root).startswith(str(home)):
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Answer:
    route: str
    started: float
    elapsed: float
    status: int
    ctype: str
    retry_after: str | None


# Routes the load mixes: a search (sync pool), tiles (async pool, fast path) and /healthz.
def _load_routes(tick: int) -> list[tuple[str, str]]:
    # Tiles at varying addresses so that most are not in the tile cache.
    z = 14
    x, y = 13_390 + tick % 7, 6_490 + (tick // 7) % 7
    return [
        ("search", "/api/parcels/available?min_mu=5&limit=20"),
        ("tile", f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"),
        ("healthz", "/healthz"),
    ]


def _get(c: httpx.Client, route: str, path: str) -> Answer:
    t0 = time.monotonic()
    try:
        r = c.get(path)
        status, ctype, ra = (
            r.status_code,
            r.headers.get("content-type", ""),
            r.headers.get("retry-after"),
        )
    except httpx.TimeoutException:
        status, ctype, ra = -1, "", None  # a hang: the client gave up
    return Answer(route, t0, time.monotonic() - t0, status, ctype, ra)


class Load:
    """Two threads per route, each repeating its route until told to stop (or a hard cap
    is hit), so that every route is asked throughout the outage."""

    def __init__(self, base: str, threads: int = 6, max_requests: int = 900) -> None:
        self.base = base
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.max_requests = max_requests
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _run(self, i: int) -> None:
        tick = i * 100
        with httpx.Client(base_url=self.base, timeout=BOUND_S * 3) as c:
            while not self.stop.is_set():
                route, path = _load_routes(tick)[i % 3]
                a = _get(c, route, path)
                with self.lock:
                    self.answers.append(a)
                    if len(self.answers) >= self.max_requests:
                        self.stop.set()
                tick += 1
                time.sleep(0.1)  # bounded: a few dozen requests a second in all

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def _assert_outage_answers(answers: list[Answer]) -> None:
    assert answers, "no request was made during the outage"
    for a in answers:
        assert a.status != -1 and a.elapsed < BOUND_S, (a.route, a.elapsed)
        assert a.status in (200, 503), (a.route, a.status)
        if a.status == 503:
            assert a.ctype == "application/problem+json", (a.route, a.ctype)
            assert a.retry_after is not None and int(a.retry_after) >= 1
    # The outage was real: the database-bound routes said so.
    assert {a.route for a in answers if a.status == 503} >= {"search", "healthz"}


def _assert_recovered(answers: list[Answer], back: float, routes: set[str]) -> None:
    """Every route answered 200 within BOUND_S of the database's return and never failed
    again after that."""
    for route in routes:
        mine = [a for a in answers if a.route == route and a.started >= back]
        assert mine, f"no {route} request after the restart"
        first_ok = next((a for a in mine if a.status == 200), None)
        assert first_ok is not None, (route, [a.status for a in mine])
        assert first_ok.started + first_ok.elapsed - back <= BOUND_S, (
            route,
            first_ok.started + first_ok.elapsed - back,
        )
        late = [a for a in mine if a.started > back + BOUND_S]
        assert late and all(a.status == 200 for a in late), (
            route,
            [(a.status, round(a.started - back, 2)) for a in late],
        )
    for a in answers:
        assert a.status != 500 and a.status != -1 and a.elapsed < BOUND_S, a


def _restart(park: Park, outage_s: float) -> float:
    """Stop the cluster, keep it down ``outage_s``, start it; returns when it is back."""
    assert cluster.stop(park.settings)
    time.sleep(outage_s)
    c = cluster.start(park.settings)
    assert c.url() == park.url  # same port, same socket: nobody needs a new URL
    return time.monotonic()


def _login(c: httpx.Client) -> dict[str, str]:
    r = c.post("/api/auth/token", data={"username": "fault_plan", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _planner_round(c: httpx.Client, park: Park) -> list[tuple[str, int, float]]:
    """Auth and a parcel action there and back; (what, status, seconds) each."""
    out = []
    t0 = time.monotonic()
    r = c.post("/api/auth/token", data={"username": "fault_plan", "password": PASSWORD})
    out.append(("token", r.status_code, time.monotonic() - t0))
    if r.status_code != 200:
        return out
    h = {"Authorization": f"Bearer {r.json()['access_token']}", "If-Match": "*"}
    for action in ("withdraw", "restore"):
        t0 = time.monotonic()
        r = c.post(f"/api/parcels/{park.code}/{action}", json={"note": "restart"}, headers=h)
        out.append((action, r.status_code, time.monotonic() - t0))
    return out


def _until_ok(fn, deadline: float):  # type: ignore[no-untyped-def]
    while True:
        res = fn()
        if all(s == 200 for _, s, _ in res) or time.monotonic() > deadline:
            return res
        time.sleep(0.1)


def test_database_restart_under_load(park: Park) -> None:
    with httpx.Client(base_url=park.base, timeout=BOUND_S * 3) as c:
        _login(c)  # warm: every pool has connections that the restart will leave dead
    with Load(park.base) as load:
        time.sleep(1.5)
        with load.lock:
            assert all(a.status == 200 for a in load.answers), [
                (a.route, a.status) for a in load.answers if a.status != 200
            ]
        down = time.monotonic()
        assert cluster.stop(park.settings)
        time.sleep(6)
        up_at = time.monotonic()
        c2 = cluster.start(park.settings)
        assert c2.url() == park.url  # the port was kept: the running app's URL still works
        back = time.monotonic()
        # The load keeps going for a while after the return.
        time.sleep(BOUND_S + 3)
        # Auth and parcel actions recover within the bound too, under load.
        with httpx.Client(base_url=park.base, timeout=BOUND_S * 3) as c:
            planner = _until_ok(lambda: _planner_round(c, park), back + BOUND_S)
    answers = load.answers
    assert len(answers) <= 900  # bounded, stopped by itself or by us
    outage = [a for a in answers if down + 0.2 <= a.started < up_at]
    _assert_outage_answers(outage)
    _assert_recovered(answers, back, {"search", "tile", "healthz"})
    assert all(s == 200 for _, s, _ in planner), planner


def test_database_restart_without_load(park: Park) -> None:
    with httpx.Client(base_url=park.base, timeout=BOUND_S * 3) as c:
        for route, path in _load_routes(0):
            assert c.get(path).status_code == 200, route
        back = _restart(park, outage_s=2)
        answers: list[Answer] = []
        # One request at a time, as a lone user would: each route must be 200 within the
        # bound of the database's return.
        while time.monotonic() < back + BOUND_S + 2:
            for route, path in _load_routes(int(time.monotonic() * 10)):
                answers.append(_get(c, route, path))
            time.sleep(0.2)
        _assert_recovered(answers, back, {"search", "tile", "healthz"})
        planner = _until_ok(lambda: _planner_round(c, park), back + BOUND_S)
        assert all(s == 200 for _, s, _ in planner), planner
        assert time.monotonic() - back < BOUND_S * 3


def test_healthz_degraded_is_problem_json_and_hides_the_error(park: Park) -> None:
    with httpx.Client(base_url=park.base, timeout=BOUND_S * 3) as c:
        assert cluster.stop(park.settings)
        try:
            t0 = time.monotonic()
            r = c.get("/healthz")
            assert time.monotonic() - t0 < BOUND_S
            assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) >= 1
            body = r.json()
            assert body["status"] == 503 and "/" in body["title"]
            # Neither the socket directory nor the cluster root leaks out.
            root = str(cluster.locate(park.settings).root)
            assert root not in r.text and "s.PGSQL" not in r.text
        finally:
            cluster.start(park.settings)
        deadline = time.monotonic() + BOUND_S
        while (r := c.get("/healthz")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.1)
        assert r.json()["status"] == "ok"


def test_slow_query_times_out_with_503(park: Park) -> None:
    """A public read runs under the short statement_timeout; planner routes get the long one."""
    from api.main import create_app

    s = park.settings.model_copy(update={"db_statement_timeout_public_ms": 1})
    from fastapi.testclient import TestClient

    with TestClient(create_app(s, database_url=park.url)) as c:
        t0 = time.monotonic()
        r = c.get("/api/parcels/available?min_mu=5")
        assert time.monotonic() - t0 < BOUND_S
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "retry-after" in r.headers
        # The planner class raises the limit for its transaction: on the same app and
        # database a planner route (its board is readable anonymously) answers.
        r = c.get("/api/pipeline/board")
        assert r.status_code == 200, r.text
        # ... and only for that transaction: the pooled connection is back on the short one.
        assert c.get("/api/parcels/available?min_mu=5").status_code == 503


def test_more_waiters_than_worker_threads_still_get_their_503_in_time(park: Park) -> None:
    """Sync routes run on FastAPI's 40 worker threads: 60 searches at once during an outage
    must not queue behind each other's pool waits (60 x 2.5 s / 40 threads would be 5 s)."""
    from concurrent.futures import ThreadPoolExecutor

    path = "/api/parcels/available?min_mu=5&limit=5"
    assert cluster.stop(park.settings)
    try:
        with (
            httpx.Client(
                base_url=park.base, timeout=BOUND_S * 3, limits=httpx.Limits(max_connections=60)
            ) as c,
            ThreadPoolExecutor(max_workers=60) as ex,
        ):
            answers = list(ex.map(lambda _: _get(c, "search", path), range(60)))
    finally:
        cluster.start(park.settings)
    slow = [round(a.elapsed, 2) for a in answers if a.elapsed >= BOUND_S]
    assert not slow, slow
    assert all(a.status == 503 and a.retry_after for a in answers), sorted(
        {a.status for a in answers}
    )
    with httpx.Client(base_url=park.base, timeout=BOUND_S * 3) as c:
        deadline = time.monotonic() + BOUND_S
        while (r := c.get(path)).status_code != 200:
            assert time.monotonic() < deadline, r.status_code
            time.sleep(0.1)
