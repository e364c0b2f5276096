"""Shared helpers of the benchmark scripts: the bench database, servers, timing, figures."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parkgis.db import cluster, migrate  # noqa: E402
from parkgis.settings import get_settings  # noqa: E402

BENCH_DB = os.environ.get("PARKGIS_BENCH_DB", "parkgis_bench")


def server_url() -> str:
    """The PostgreSQL server: ``PARKGIS_DATABASE_URL``'s, or the embedded cluster (started)."""
    s = get_settings()
    return s.database_url or cluster.start(s).url()


def bench_url(create: bool = True) -> str:
    """Conninfo of the bench database (created and migrated when ``create``)."""
    srv = server_url()
    if create:
        with psycopg.connect(make_conninfo(srv, dbname="postgres"), autocommit=True) as c:
            if not c.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
            ).fetchone():
                c.execute(f'CREATE DATABASE "{BENCH_DB}"')
    url = make_conninfo(srv, dbname=BENCH_DB)
    if create:
        migrate(url)
    return url


def tcp_url(url: str) -> str:
    """``postgresql://`` URL over loopback TCP (asyncpg, as tipg uses, ignores ``?host=``)."""
    d = conninfo_to_dict(url)
    port = d.get("port") or "5432"
    user = d.get("user") or "parkgis"
    password = d.get("password") or _from_passfile(d)
    pw = f":{quote(password, safe='')}" if password else ""
    host = d.get("host") or "127.0.0.1"
    if host.startswith("/"):
        host = "127.0.0.1"
    return f"postgresql://{user}{pw}@{host}:{port}/{d['dbname']}"


def _from_passfile(d: dict[str, str]) -> str | None:
    """The password libpq would take from ``passfile`` (the embedded cluster uses SCRAM, and
    the tipg bench speaks asyncpg over TCP, which is handed a URL, not our conninfo)."""
    path = d.get("passfile")
    if not path or not Path(path).exists():
        return None
    for line in Path(path).read_text().splitlines():
        fields = line.split(":")
        if len(fields) == 5 and fields[3] in ("*", d.get("user") or "parkgis"):
            return fields[4]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.3)


@contextmanager
def serve(
    cmd: list[str], env: dict[str, str], probe: str, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """Run a server process (in ``cwd``: another checkout runs its own code), wait until
    ``probe`` answers, stop it (only it) afterwards."""
    from urllib.parse import urlsplit

    # the port keeps apart the logs of several servers of one command run side by side
    port = urlsplit(probe).port
    (ROOT / ".parkgis").mkdir(exist_ok=True)
    log = open(ROOT / ".parkgis" / f"bench-{Path(cmd[0]).name}-{os.getpid()}-{port}.log", "w")
    proc = subprocess.Popen(
        cmd,
        # the park's daily job (parkgis.land.clock) runs at app start-up and, at 10^6, its
        # road-network refresh keeps one worker and one backend busy for minutes: a benchmark
        # of the servers must not measure it (production runs it once a day, or from cron)
        env={**os.environ, "PARKGIS_CLOCK_ENABLED": "false", **env},
        stdout=log,
        stderr=log,
        cwd=str(cwd),
        start_new_session=True,
    )
    try:
        wait_http(probe)
        yield proc
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


def summary(label: str, latencies_s: list[float], wall_s: float) -> dict[str, float]:
    """req/s, p50 and p95 in ms of one run."""
    out = {
        "n": len(latencies_s),
        "rps": len(latencies_s) / wall_s if wall_s else 0.0,
        "p50_ms": pct(latencies_s, 50) * 1000,
        "p95_ms": pct(latencies_s, 95) * 1000,
        "mean_ms": statistics.fmean(latencies_s) * 1000 if latencies_s else 0.0,
    }
    print(
        f"{label:<34} n={out['n']:>5}  {out['rps']:>8.1f} req/s  p50 {out['p50_ms']:7.2f} ms"
        f"  p95 {out['p95_ms']:7.2f} ms",
        flush=True,
    )
    return out


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPU ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}"


async def http_load(
    urls: list[str], concurrency: int, headers: dict[str, str] | None = None
) -> tuple[list[float], float, dict]:
    """GET every URL once with ``concurrency`` clients; returns latencies, wall time, statuses."""
    import asyncio

    import httpx

    lat: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(urls))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as client:

        async def worker() -> None:
            while queue:
                u = queue.pop()
                t0 = time.perf_counter()
                r = await client.get(u)
                await r.aread()
                lat.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, wall, statuses


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_paths.lua"


def have_wrk() -> bool:
    import shutil

    return shutil.which("wrk") is not None


def wrk_load(
    label: str, urls: list[str], duration_s: float = 10, threads: int = 2, connections: int = 8
) -> dict[str, float]:
    """Load ``urls`` (one host) with wrk for ``duration_s``, cycling through them.

    wrk (Debian package ``wrk``) is a C load generator: on a 2-core machine shared by client
    and servers it leaves far more CPU to the server than a Python client does. Returns the
    same figures as :func:`summary` (req/s, p50, p95 in ms) and prints them.
    """
    import tempfile
    from urllib.parse import urlsplit

    first = urlsplit(urls[0])
    base = f"{first.scheme}://{first.netloc}"
    paths = []
    for u in urls:
        s = urlsplit(u)
        if f"{s.scheme}://{s.netloc}" != base:
            raise ValueError("wrk_load: all URLs must share one host")
        paths.append(s.path + (f"?{s.query}" if s.query else ""))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(paths) + "\n")
        listing = fh.name
    try:
        cmd = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration_s:g}s",
            "--timeout",
            "30s",
            "-s",
            str(WRK_SCRIPT),
            base + "/",
        ]
        out = subprocess.run(
            cmd,
            env={**os.environ, "WRK_PATHS": listing},
            check=True,
            capture_output=True,
            text=True,
            timeout=duration_s + 60,
        ).stdout
    finally:
        os.unlink(listing)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKRESULT"))
    f = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    res = {
        "n": f["requests"],
        "rps": f["requests"] / (f["duration_us"] / 1e6),
        "p50_ms": f["p50_us"] / 1000,
        "p95_ms": f["p95_us"] / 1000,
        "mean_ms": f["mean_us"] / 1000,
    }
    errs = int(f["errors_connect"] + f["errors_read"] + f["errors_timeout"] + f["errors_status"])
    print(
        f"{label:<34} n={int(res['n']):>6}  {res['rps']:>8.1f} req/s  p50 {res['p50_ms']:7.2f} "
        f"ms  p95 {res['p95_ms']:7.2f} ms  [wrk {duration_s:g}s, {connections} conns"
        f"{f', {errs} errors' if errs else ''}]",
        flush=True,
    )
    res["errors"] = errs
    return res


# The relations the benchmarks read: parcels and the precomputed stores, with their indexes.
WARM_TABLES = ("parcels", "parcel_nearest", "parcel_services", "parcel_access", "infrastructure")


def prewarm(url: str, tables: tuple[str, ...] = WARM_TABLES) -> str:
    """Read the tables and their indexes into the OS page cache (pg_prewarm, mode 'read'), so
    that a run measures a warm database — what a server holding its data in RAM serves — and
    not whatever an earlier run happened to leave cached (at 10^6 a cold probe of the access
    store cost 4 ms instead of 2 µs). Returns a one-line note; never fails the bench."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            rels = conn.execute(
                "SELECT c.oid::regclass::text FROM pg_class c"
                " WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest(%s::text[]) t)"
                " UNION SELECT i.indexrelid::regclass::text FROM pg_index i"
                " WHERE i.indrelid = ANY(SELECT to_regclass(t) FROM unnest(%s::text[]) t)",
                (list(tables), list(tables)),
            ).fetchall()
            blocks = 0
            for (rel,) in rels:
                got = conn.execute("SELECT pg_prewarm(%s::regclass, 'read')", (rel,)).fetchone()
                blocks += got[0] if got else 0
        return f"prewarmed {len(rels)} relations, {blocks * 8 / 1024:.0f} MiB (OS cache)"
    except Exception as exc:  # noqa: BLE001 - a bench on a restricted database runs cold
        return f"not prewarmed ({type(exc).__name__}): figures may include cold reads"
