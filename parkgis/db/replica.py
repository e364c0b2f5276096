"""Read replicas on PostgreSQL's own streaming replication.

Two halves:

* ``start``/``stop``/``status`` make a local streaming replica of the embedded cluster
  (``parkgis db replica ...``): ``pg_basebackup -R`` over a physical replication slot, run as
  the cluster's own unprivileged OS user, scram authentication (the password travels in a
  passfile inside the replica's private root, never on a command line), and its own port
  kept in ``<replica root>/port`` like the primary's.
* :class:`ReplicaRouter` sends public reads to a healthy replica (``PARKGIS_DATABASE_REPLICA_URLS``)
  and gives a caller who just wrote read-your-writes: a replica serves that caller only once
  ``pg_last_wal_replay_lsn()`` has reached the LSN remembered after their commit, waited for
  at most ``replica_wait_ms``, else the primary answers.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from parkgis.db import cluster as cl
from parkgis.db import pool as db_pool
from parkgis.settings import Settings

SLOT = "parkgis_replica"
# Remembered for a caller while their write is in flight: no replica can have it yet.
PENDING = 1 << 64
APP_NAME = "parkgis_replica"

# --------------------------------------------------------------------------- local replica


def locate(settings: Settings) -> cl.Cluster:
    """The local replica sits beside the primary's root (same owner, same fallback rules)."""
    s = settings
    primary = cl.locate(s)
    return cl.Cluster(primary.root.with_name(primary.root.name + "-replica"), s.pg_secrets_dir)


def _user(s: Settings) -> str | None:
    return s.pg_os_user if cl.is_root() else None


def _owned_file(path: os.PathLike[str] | str, text: str, user: str | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if user:
        shutil.chown(path, user)


def start(settings: Settings) -> cl.Cluster:
    """Create (first time, by ``pg_basebackup``) and start the local replica; idempotent.

    The steps run in this order, each with its own one-line error: directories and
    passfiles, the copy, the port, the first start.
    """
    s = settings
    if s.database_url:
        raise cl.ClusterError(
            "PARKGIS_DATABASE_URL is set: a local replica copies only the embedded cluster"
        )
    primary = cl.locate(s)
    if not cl.is_running(primary, s):
        raise cl.ClusterError("the embedded database is not running: run `parkgis db start`")
    rep = locate(s)
    if cl.is_running(rep, s):
        return rep
    user = _user(s)
    upstream_pass = _prepare(primary, rep, user)
    if not (rep.pgdata / "PG_VERSION").exists():
        _basebackup(s, primary, rep, user, upstream_pass)
    rport = cl.claim_port(rep, "the local replica")
    (rep.pgdata / "postmaster.pid").unlink(missing_ok=True)
    opts = (
        f"-p {rport} -k {rep.socket_dir} -c listen_addresses=127.0.0.1 "
        "-c max_connections=200 -c hot_standby=on -c jit=off"
    )
    cl.pg_ctl_start(cl.pg_binary(s, "pg_ctl"), rep, user, opts, "the replica did not start")
    return rep


def _prepare(primary: cl.Cluster, rep: cl.Cluster, user: str | None) -> Path:
    """The replica's private root and its two passfiles; returns the upstream one."""
    port = primary.port()
    password = cl.cluster_password(primary)
    rep.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user:
        shutil.chown(rep.root, user)
    rep.socket_dir.mkdir(exist_ok=True)
    if user:
        shutil.chown(rep.socket_dir, user)
    # The replica authenticates to the primary with the same scram password; libpq reads it
    # from this file (mode 0600, owned by the cluster user) and primary_conninfo names it.
    upstream_pass = rep.root / "primary.pgpass"
    _owned_file(upstream_pass, f"127.0.0.1:{port}:*:{cl.DB_ROLE}:{password}\n", user)
    # The app reaches the replica with the same password: same file layout as the primary.
    rep.passfile.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _owned_file(rep.passfile, f"*:*:*:{cl.DB_ROLE}:{password}\n", None)
    return upstream_pass


def _basebackup(
    s: Settings, primary: cl.Cluster, rep: cl.Cluster, user: str | None, upstream_pass: Path
) -> None:
    """Copy the primary into the replica's data directory over the replication slot."""
    with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)
        ).fetchone():
            conn.execute("SELECT pg_create_physical_replication_slot(%s)", (SLOT,))
    if rep.pgdata.exists():
        shutil.rmtree(rep.pgdata)  # a half-made copy from an interrupted start
    conninfo = (
        f"host=127.0.0.1 port={primary.port()} user={cl.DB_ROLE} "
        f"passfile={upstream_pass} application_name={APP_NAME}"
    )
    r = subprocess.run(
        [
            *cl.run_as(user),
            cl.pg_binary(s, "pg_basebackup"),
            "-D",
            str(rep.pgdata),
            "-R",
            "-S",
            SLOT,
            "-X",
            "stream",
            "-c",
            "fast",
            "-d",
            conninfo,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise cl.ClusterError(f"pg_basebackup failed: {tail[0]}")
    # The primary's port file and pid must not come along with the copy.
    (rep.pgdata / "postmaster.pid").unlink(missing_ok=True)


def stop(settings: Settings, remove: bool = False) -> bool:
    """Stop the replica (fast shutdown). ``remove`` also deletes its copy and drops the slot,
    which otherwise keeps WAL on the primary for the replica's return."""
    s = settings
    rep = locate(s)
    was_running = cl.is_running(rep, s)
    if was_running:
        subprocess.run(
            [
                *cl.run_as(_user(s)),
                cl.pg_binary(s, "pg_ctl"),
                "stop",
                "-D",
                str(rep.pgdata),
                "-m",
                "fast",
                "-w",
            ],
            capture_output=True,
            check=True,
        )
    if remove:
        primary = cl.locate(s)
        if cl.is_running(primary, s):
            with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM "
                    "pg_replication_slots WHERE slot_name = %s AND NOT active",
                    (SLOT,),
                )
        shutil.rmtree(rep.root, ignore_errors=True)
        rep.passfile.unlink(missing_ok=True)
    return was_running


@dataclass(frozen=True)
class ReplicaStatus:
    running: bool
    port: int | None
    url: str | None
    in_recovery: bool | None = None
    replay_lsn: str | None = None
    primary_lsn: str | None = None
    lag_bytes: int | None = None
    lag_s: float | None = None


SQL_STANDBY = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL
              OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag_s
"""


def status(settings: Settings) -> ReplicaStatus:
    s = settings
    rep = locate(s)
    if not cl.is_running(rep, s):
        return ReplicaStatus(False, rep.port(), None)
    url = rep.url()
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(SQL_STANDBY).fetchone()
    assert row is not None
    primary_lsn = lag_bytes = None
    primary = cl.locate(s)
    if cl.is_running(primary, s):
        with psycopg.connect(primary.url(), autocommit=True, connect_timeout=3) as conn:
            prow = conn.execute(
                "SELECT pg_current_wal_lsn()::text, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint",
                (row[1],),
            ).fetchone()
        assert prow is not None
        primary_lsn, lag_bytes = prow[0], int(prow[1])
    return ReplicaStatus(
        True, rep.port(), url, bool(row[0]), row[1], primary_lsn, lag_bytes, float(row[3])
    )


# --------------------------------------------------------------------------- routing

SQL_HEALTH = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint
         AS lag_bytes,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL
              OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag_s
"""
SQL_REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn AS ok"


def lsn_int(lsn: str) -> int:
    """'16/B374D848' -> an integer, so LSNs compare without a round trip."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass
class _Replica:
    url: str
    apool: AsyncConnectionPool | None = None
    spool: ConnectionPool | None = None
    checked_at: float = -1e9
    healthy: bool = False
    replay_lsn: int = 0
    lag_bytes: int = 0
    lag_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReplicaRouter:
    """Picks a connection source for a read: a healthy, caught-up replica or the primary.

    Health is checked on the replica's own pool at most once per ``replica_check_s`` (the
    first caller past the interval checks, the others use the last verdict), so a request
    costs no extra round trip. A replica whose check fails, whose connection breaks, or that
    lags by more than ``replica_max_lag_s`` seconds or ``replica_max_lag_bytes`` bytes of
    received-but-unreplayed WAL is skipped until a later check passes.

    Read-your-writes is remembered per caller (the account name) in this process: a bounded
    map from caller to the primary's WAL insert LSN after their last commit.
    """

    def __init__(self, urls: list[str], settings: Settings) -> None:
        self.settings = settings
        self.replicas = [_Replica(u) for u in urls]
        self._rr = itertools.count()
        self._written: OrderedDict[str, int] = OrderedDict()
        self._written_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaRouter | None:
        urls = [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        return cls(urls, settings) if urls else None

    # -- pools: a short checkout wait, since the primary is always there to fall back on
    def _pool_settings(self) -> Settings:
        return self.settings.model_copy(
            update={
                "db_pool_timeout_s": self.settings.replica_pool_timeout_s,
                "db_connect_timeout_s": max(1, int(self.settings.replica_pool_timeout_s)),
            }
        )

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ReplicaRouter]:
        ps = self._pool_settings()
        for r in self.replicas:
            r.apool = db_pool.async_pool(r.url, ps)
            r.spool = db_pool.sync_pool(r.url, ps)
            # open(wait=False): a replica that is down at start-up must not stop the app.
            await r.apool.open(wait=False)
            r.spool.open(wait=False)
        try:
            yield self
        finally:
            for r in self.replicas:
                if r.apool is not None:
                    await r.apool.close()
                if r.spool is not None:
                    r.spool.close()

    # -- read-your-writes
    def remember_write(self, caller: str, lsn: str) -> None:
        with self._written_lock:
            self._written[caller] = lsn_int(lsn)
            self._written.move_to_end(caller)
            while len(self._written) > 10_000:
                self._written.popitem(last=False)

    def remember_pending(self, caller: str) -> None:
        with self._written_lock:
            self._written[caller] = PENDING
            self._written.move_to_end(caller)

    def restore(self, caller: str, lsn: int) -> None:
        """Undo :meth:`remember_pending` for a write that did not commit."""
        with self._written_lock:
            if lsn:
                self._written[caller] = lsn
            else:
                self._written.pop(caller, None)

    def wrote(self, caller: str) -> bool:
        """Whether ``caller`` has a write remembered (committed or in flight)."""
        with self._written_lock:
            return caller in self._written

    def required_lsn(self, caller: str | None) -> int:
        if caller is None:
            return 0
        with self._written_lock:
            return self._written.get(caller, 0)

    # -- health
    def _fresh(self, r: _Replica) -> bool:
        return time.monotonic() - r.checked_at < self.settings.replica_check_s

    def _verdict(self, r: _Replica, row: dict[str, Any] | None) -> None:
        s = self.settings
        r.checked_at = time.monotonic()
        if row is None or not row["in_recovery"] or row["replay_lsn"] is None:
            r.healthy = False
            return
        r.replay_lsn = lsn_int(row["replay_lsn"])
        r.lag_bytes, r.lag_s = int(row["lag_bytes"]), float(row["lag_s"] or 0.0)
        r.healthy = r.lag_bytes <= s.replica_max_lag_bytes and r.lag_s <= s.replica_max_lag_s

    def mark_down(self, r: _Replica) -> None:
        r.healthy = False
        r.checked_at = time.monotonic()

    def _candidates(self) -> list[_Replica]:
        n = len(self.replicas)
        start = next(self._rr) % n
        return [self.replicas[(start + i) % n] for i in range(n)]

    # -- sync side (the domain core's routes)
    def _check_sync(self, r: _Replica) -> None:
        if not r.lock.acquire(blocking=False):
            return  # another thread is checking: use the last verdict
        try:
            assert r.spool is not None
            with r.spool.connection(timeout=self.settings.replica_pool_timeout_s) as conn:
                with conn.cursor(row_factory=dict_row) as cur:
                    self._verdict(r, cur.execute(SQL_HEALTH).fetchone())
        except (psycopg.Error, PoolTimeout):
            self.mark_down(r)
        finally:
            r.lock.release()

    def _wait_replayed_sync(self, conn: psycopg.Connection, need: int, need_txt: str) -> bool:
        deadline = time.monotonic() + self.settings.replica_wait_ms / 1000
        while True:
            with conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(SQL_REPLAYED, (need_txt,)).fetchone()
            conn.rollback()  # no snapshot held across the wait: each poll sees fresh replay
            if row and row["ok"]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    @contextmanager
    def sync_read(self, caller: str | None) -> Iterator[tuple[_Replica, psycopg.Connection] | None]:
        """A replica connection fit for ``caller``'s read, or None: use the primary."""
        need = self.required_lsn(caller)
        if need >= PENDING:
            yield None
            return
        for r in self._candidates():
            if not self._fresh(r):
                self._check_sync(r)
            if not r.healthy:
                continue
            assert r.spool is not None
            try:
                conn = r.spool.getconn(timeout=self.settings.replica_pool_timeout_s)
            except PoolTimeout:
                self.mark_down(r)
                continue
            # getconn/putconn rather than connection(): an error raised by the caller's
            # block must not be mistaken for this replica's checkout failing.
            try:
                try:
                    ok = need <= r.replay_lsn or self._wait_replayed_sync(
                        conn, need, lsn_text(need)
                    )
                except psycopg.Error:
                    self.mark_down(r)
                    ok = False
                yield (r, conn) if ok else None
            finally:
                # Nothing to commit on a read-only replica; and the end of a request runs
                # after its response is sent, where a replica that died meanwhile must not
                # raise (the pool discards the broken connection on putconn).
                try:
                    conn.rollback()
                except psycopg.Error:
                    pass
                r.spool.putconn(conn)
            return
        yield None

    # -- async side (OGC items, public pages on the async pool)
    async def _check_async(self, r: _Replica) -> None:
        if not r.lock.acquire(blocking=False):
            return
        try:
            assert r.apool is not None
            async with r.apool.connection(timeout=self.settings.replica_pool_timeout_s) as conn:
                async with conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(SQL_HEALTH)
                    self._verdict(r, await cur.fetchone())
        except (psycopg.Error, PoolTimeout):
            self.mark_down(r)
        finally:
            r.lock.release()

    async def _wait_replayed_async(self, conn: psycopg.AsyncConnection, need_txt: str) -> bool:
        # Each check is a statement of its own (the async pools lend connections in
        # autocommit): no snapshot is held between them, unlike on the sync side.
        import asyncio

        deadline = time.monotonic() + self.settings.replica_wait_ms / 1000
        while True:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(SQL_REPLAYED, (need_txt,))
                row = await cur.fetchone()
            if row and row["ok"]:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)

    @asynccontextmanager
    async def async_read(
        self, caller: str | None
    ) -> AsyncIterator[tuple[_Replica, psycopg.AsyncConnection] | None]:
        need = self.required_lsn(caller)
        if need >= PENDING:
            yield None
            return
        for r in self._candidates():
            if not self._fresh(r):
                await self._check_async(r)
            if not r.healthy:
                continue
            assert r.apool is not None
            try:
                aconn = await r.apool.getconn(timeout=self.settings.replica_pool_timeout_s)
            except PoolTimeout:
                self.mark_down(r)
                continue
            try:
                try:
                    ok = need <= r.replay_lsn or await self._wait_replayed_async(
                        aconn, lsn_text(need)
                    )
                except psycopg.Error:
                    self.mark_down(r)
                    ok = False
                yield (r, aconn) if ok else None
            finally:
                # the pool rolls back a connection handed back inside a transaction
                await r.apool.putconn(aconn)
            return
        yield None


def replica_fault(exc: BaseException) -> tuple[bool, bool]:
    """(retry on the primary, mark the replica down) for an error raised on a replica.

    A lost connection or a shut-down server means the replica is gone; a query cancelled by
    a recovery conflict (40001 on a hot standby) deserves another try elsewhere but says
    nothing against the replica. Anything else -- bad input, our own statement timeout --
    would fail the same way on the primary: no retry (a hostile client must not be able to
    double the work, or talk the app out of using its replicas).
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False, False
    state = exc.sqlstate or ""
    gone = state == "" or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return gone or state == "40001", gone


def lsn_text(n: int) -> str:
    return f"{n >> 32:X}/{n & 0xFFFFFFFF:X}"


def commit_lsn(conn: psycopg.Connection) -> str:
    """Commit ``conn``'s transaction and return an LSN at or past its commit record.

    Read after the commit, ``pg_current_wal_insert_lsn()`` is past the commit record, so a
    replica that has replayed up to it has the caller's write.
    """
    conn.commit()
    row = conn.execute("SELECT pg_current_wal_insert_lsn()::text AS lsn").fetchone()
    assert row is not None
    return str(row["lsn"] if isinstance(row, dict) else row[0])
