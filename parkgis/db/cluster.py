"""The embedded PostGIS cluster: initialise, start, stop and locate it.

PostgreSQL refuses to run as root, and CI runs as root on a clone that may sit under a home
directory other users cannot traverse. So when we are root the cluster belongs to an
unprivileged system user, and if that user cannot reach ``data_dir`` we keep the cluster in a
fallback directory that user owns (recorded in ``data_dir/pg.location`` so every later command
finds it, and printed by ``parkgis db status``).

The port is chosen once and kept in ``<root>/port``: a restart reuses it, so a running app
whose pool holds the old URL reconnects by itself; if another program took it meanwhile,
start fails with one line rather than moving silently.

Authentication is scram-sha-256 for the socket and loopback, never ``trust``. The generated
password lives in a libpq passfile (mode 0600) under ``settings.pg_secrets_dir``, outside the
working tree, and the URL names that file (``passfile=``) rather than carrying the secret,
so ``parkgis db status`` can print a usable URL. Clusters created with ``trust`` by older
versions are switched over on their next ``start``.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parkgis.errors import ParkGISError
from parkgis.settings import Settings

if TYPE_CHECKING:
    import psycopg

DB_NAME = "parkgis"
DB_ROLE = "parkgis"
APT_HINT = "apt-get install postgresql-15 postgresql-15-postgis-3"


class ClusterError(ParkGISError):
    """A problem with the embedded cluster, phrased for a one-line CLI message."""


@dataclass(frozen=True)
class Cluster:
    root: Path  # holds data/, run/ (socket), port, log
    secrets_dir: Path  # settings.pg_secrets_dir

    @property
    def passfile(self) -> Path:
        base = self.secrets_dir
        digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:12]
        return base / f"pgpass-{digest}"

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, dbname: str = DB_NAME) -> str:
        port = self.port()
        if port is None:
            raise ClusterError("embedded cluster has no port yet: run `parkgis db start`")
        url = f"postgresql://{DB_ROLE}@127.0.0.1:{port}/{dbname}?host={self.socket_dir}"
        if self.passfile.exists():
            url += f"&passfile={self.passfile}"
        return url


def is_root() -> bool:
    return os.geteuid() == 0


def run_as(user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--"] if user else []


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _user_can_traverse(user: str, path: Path) -> bool:
    # Fails when any ancestor (e.g. /root, mode 700) is closed to that user.
    _ensure_os_user(user)
    r = subprocess.run([*run_as(user), "test", "-x", str(path)], capture_output=True)
    return r.returncode == 0


def locate(settings: Settings) -> Cluster:
    """Where the embedded cluster lives (without creating anything)."""
    s = settings
    pointer = s.data_dir / "pg.location"
    if pointer.exists():
        return Cluster(Path(pointer.read_text().strip()), s.pg_secrets_dir)
    return Cluster(s.data_dir / "pg", s.pg_secrets_dir)


def _choose_location(s: Settings) -> Cluster:
    s.data_dir.mkdir(parents=True, exist_ok=True)
    pointer = s.data_dir / "pg.location"
    if pointer.exists():
        return Cluster(Path(pointer.read_text().strip()), s.pg_secrets_dir)
    default = s.data_dir / "pg"
    # Unix socket paths are limited to ~107 bytes; deep clones need the fallback too.
    too_long = len(str(default / "run" / ".s.PGSQL.65535")) > 100
    if not too_long and (not is_root() or _user_can_traverse(s.pg_os_user, s.data_dir)):
        return Cluster(default, s.pg_secrets_dir)
    digest = hashlib.sha1(str(s.data_dir.resolve()).encode()).hexdigest()[:10]
    base = Path("/var/lib/parkgis") if is_root() else Path("/tmp") / f"parkgis-{os.getuid()}"
    root = base / digest
    pointer.write_text(str(root) + "\n")
    return Cluster(root, s.pg_secrets_dir)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_binary(s: Settings, name: str) -> str:
    """The path of PostgreSQL program ``name`` (``settings.pg_bin_dir``); a one-line error
    naming the package to install when it is missing."""
    path = s.pg_bin_dir / name
    if not path.exists():
        raise ClusterError(f"PostgreSQL binary {path} not found: {APT_HINT}")
    return str(path)


def _check_postgis(s: Settings) -> None:
    share = Path("/usr/share/postgresql") / s.pg_bin_dir.parent.name / "extension"
    if not (share / "postgis.control").exists():
        raise ClusterError(f"PostGIS extension not found in {share}: {APT_HINT}")


def _postmaster_pid(cluster: Cluster) -> int | None:
    try:
        return int((cluster.pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def is_running(cluster: Cluster, settings: Settings | None = None) -> bool:
    """Whether the cluster's postmaster is alive.

    Read from /proc rather than ``pg_ctl status``: a killed postmaster whose parent never
    reaps it stays a zombie (containers often lack an init that reaps), and a recycled pid
    may belong to another program; pg_ctl counts both as running.
    """
    if not (cluster.pgdata / "PG_VERSION").exists():
        return False
    pid = _postmaster_pid(cluster)
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and comm.startswith("postgres")


def start(settings: Settings) -> Cluster:
    """Initialise (first time) and start the cluster; a no-op when it already runs.

    A first start is one fixed sequence: directories, initdb, port, start, role, database.
    """
    s = settings
    initdb, pg_ctl = pg_binary(s, "initdb"), pg_binary(s, "pg_ctl")
    _check_postgis(s)
    cluster = _choose_location(s)
    user = None
    if is_root():
        user = s.pg_os_user
        _ensure_os_user(user)
    if is_running(cluster, s):
        _secure(cluster)
        _ensure_database(cluster)  # someone may have dropped it; cheap when it exists
        return cluster

    _make_root(cluster, user, s.data_dir)
    if not (cluster.pgdata / "PG_VERSION").exists():
        _initdb(cluster, user, initdb)
    # A postmaster.pid left by a killed server blocks start-up only when its pid is alive;
    # pg_ctl status already told us no server runs, so whatever is there is stale.
    (cluster.pgdata / "postmaster.pid").unlink(missing_ok=True)
    # Moving to another port would strand every running app on the old URL.
    port = claim_port(cluster, "the embedded cluster")
    opts = (
        f"-p {port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
        "-c max_connections=200 -c shared_buffers=256MB -c fsync=on "
        "-c jit=off"
    )
    # After a crash, orphaned backends hold the old shared memory for a moment and the new
    # postmaster refuses to start until they have exited: retry briefly.
    pg_ctl_start(pg_ctl, cluster, user, opts, "postgres did not start", attempts=4)
    _secure(cluster)
    _ensure_database(cluster)
    return cluster


def _make_root(cluster: Cluster, user: str | None, data_dir: Path) -> None:
    cluster.root.mkdir(parents=True, exist_ok=True)
    cluster.socket_dir.mkdir(exist_ok=True)
    if user:
        shutil.chown(cluster.root, user)
        shutil.chown(cluster.socket_dir, user)
        # The root-owned pointer directory stays private; only the cluster root is handed over.
        if cluster.root.parent != data_dir:
            os.chmod(cluster.root.parent, 0o755)


def _initdb(cluster: Cluster, user: str | None, initdb: str) -> None:
    password = cluster_password(cluster, new=True)
    # initdb reads the password from a file the cluster's owner can read; it lives only
    # for the duration of initdb, inside the (private) cluster root.
    pwfile = cluster.root / ".initdb-pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    if user:
        shutil.chown(pwfile, user)
    try:
        r = subprocess.run(
            [
                *run_as(user),
                initdb,
                "-D",
                str(cluster.pgdata),
                "-U",
                DB_ROLE,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if r.returncode != 0:
        raise ClusterError(f"initdb failed: {r.stderr.strip().splitlines()[-1:]}")


def claim_port(cluster: Cluster, what: str) -> int:
    """The port kept in ``cluster``'s port file, or a free one chosen now and kept there;
    :class:`ClusterError` naming ``what`` when another program holds the kept one."""
    port = cluster.port()
    if port is None:
        port = free_port()
        cluster.port_file.write_text(f"{port}\n")
    elif not port_free(port):
        raise ClusterError(
            f"port {port} of {what} is in use by another program: free it, "
            f"or write a new port into {cluster.port_file}"
        )
    return port


def pg_ctl_start(
    pg_ctl: str, cluster: Cluster, user: str | None, opts: str, failure: str, attempts: int = 1
) -> None:
    """``pg_ctl start -w`` of ``cluster`` with server options ``opts``, tried ``attempts``
    times with a growing pause (a stale postmaster.pid removed between tries); else
    :class:`ClusterError` ``"<failure>: <last line of the server log>"``."""
    stale = cluster.pgdata / "postmaster.pid"
    for attempt in range(attempts):
        r = subprocess.run(
            [
                *run_as(user),
                pg_ctl,
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(cluster.pgdata),
                "-l",
                str(cluster.logfile),
                "-o",
                opts,
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode == 0 or attempt == attempts - 1:
            break
        stale.unlink(missing_ok=True)
        time.sleep(1.5 * (attempt + 1))
    if r.returncode != 0:
        log = cluster.logfile.read_text() if cluster.logfile.exists() else ""
        tail = log.strip().splitlines()[-1:]
        raise ClusterError(f"{failure}: {' '.join(tail) or r.stderr.strip()}")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as postgres itself binds: connections of the previous run lingering
        # in TIME_WAIT must not count as "taken", only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


def cluster_password(cluster: Cluster, new: bool = False) -> str:
    """The cluster's password from its passfile; generated (and the file written, 0600) when
    ``new`` or when there is none yet."""
    pf = cluster.passfile
    if pf.exists() and not new:
        return pf.read_text().strip().rsplit(":", 1)[-1]
    password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: nothing to escape in a passfile
    pf.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = pf.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"*:*:*:{DB_ROLE}:{password}\n")
    os.replace(tmp, pf)
    return password


def _hba_trusts(cluster: Cluster) -> bool:
    hba = cluster.pgdata / "pg_hba.conf"
    for line in hba.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[-1] == "trust":
            return True
    return False


def _secure(cluster: Cluster) -> None:
    """Switch a running cluster still on ``trust`` (made by an older version) to scram.

    While ``trust`` is in force we can still connect without a password, so: set the
    password, rewrite pg_hba.conf with scram-sha-256 in place of trust, reload.
    """
    from psycopg import sql

    if not _hba_trusts(cluster):
        if not cluster.passfile.exists():
            raise ClusterError(
                f"the password of the embedded cluster is missing ({cluster.passfile}): "
                "restore that file, or set PARKGIS_DATABASE_URL"
            )
        return
    password = cluster_password(cluster)
    with _connect_retrying(cluster.url("postgres")) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(DB_ROLE), sql.Literal(password)
            )
        )
        hba = cluster.pgdata / "pg_hba.conf"
        lines = []
        for line in hba.read_text().splitlines():
            body, sep, comment = line.partition("#")
            fields = body.split()
            if fields and fields[-1] == "trust":
                line = (
                    body.rstrip()[: -len("trust")]
                    + "scram-sha-256"
                    + (f"  {sep}{comment}" if sep else "")
                )
            lines.append(line)
        hba.write_text("\n".join(lines) + "\n")  # in place: keeps the cluster owner's file
        conn.execute("SELECT pg_reload_conf()")


def _connect_retrying(url: str) -> psycopg.Connection[Any]:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _ensure_database(cluster: Cluster) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DB_NAME}"')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def stop(settings: Settings) -> bool:
    """Stop the cluster cleanly; returns False when it was not running."""
    s = settings
    cluster = locate(s)
    if not is_running(cluster, s):
        return False
    user = s.pg_os_user if is_root() else None
    subprocess.run(
        [
            *run_as(user),
            pg_binary(s, "pg_ctl"),
            "stop",
            "-D",
            str(cluster.pgdata),
            "-m",
            "fast",
            "-w",
        ],
        capture_output=True,
        check=True,
    )
    return True


def database_url(settings: Settings) -> str:
    """The URL the app uses: ``PARKGIS_DATABASE_URL`` or the embedded cluster's."""
    s = settings
    if s.database_url:
        return s.database_url
    cluster = locate(s)
    if not is_running(cluster, s):
        raise ClusterError("the embedded database is not running: run `parkgis db start`")
    return cluster.url()
