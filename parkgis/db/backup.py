"""``parkgis db backup`` / ``parkgis db restore``: everything, in pg_dump's custom format.

The dump holds every table (parcels including historic ones, events, projects, users,
indicator versions, the raster catalogue, ``schema_migrations``) and every sequence. The
terrain rasters themselves are files (Cloud-Optimized GeoTIFFs under ``data_dir/rasters``),
so they go into a tar next to the dump, ``PATH.rasters.tar``, named by their stored
(content-addressed) file names; restore unpacks them into this installation's raster
directory and points ``rasters.path`` there.

Restore runs as one transaction (``psql --single-transaction`` over ``pg_restore``'s script):
either the whole backup replaces the database's contents or, on any error, nothing changed.
It refuses a database that already holds data unless ``force``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from parkgis.db.cluster import ClusterError, pg_binary
from parkgis.settings import Settings

# Tables whose rows the migrations themselves write (bookkeeping, and reference data seeded by
# 0009 ledger: chains and their links, the grading scheme, the townships; 0011: service reach;
# 0012: road speeds and network parameters; 0013: the access categories): their presence does
# not make a database "non-empty".
MIGRATION_OWNED = frozenset(
    {
        "schema_migrations",
        "spatial_ref_sys",
        "data_versions",
        "chains",
        "chain_links",
        "perf_schemes",
        "townships",
        "service_reach",
        "access_categories",
        "road_speeds",
        "network_params",
    }
)

SQL_TABLES = """
SELECT c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.objid = c.oid AND d.deptype = 'e')
 ORDER BY c.relname
"""

SQL_RASTER_FILES = "SELECT name, path, checksum FROM rasters ORDER BY name"

# Runs before pg_restore's script, in the same transaction: the backup replaces everything.
RESTORE_PREAMBLE = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP
        EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
    END LOOP;
END $$;
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
"""

# psql interpolates :'rasters_dir' as a quoted literal.
RESTORE_RASTER_PATHS = """
UPDATE public.rasters SET path = :'rasters_dir' || '/' || regexp_replace(path, '^.*/', '');
"""

ABORT = "DO $$ BEGIN RAISE EXCEPTION 'backup stream incomplete'; END $$;\n"


@dataclass(frozen=True)
class BackupResult:
    dump: Path
    rasters: Path | None
    raster_files: int
    bytes: int


def rasters_archive(path: Path) -> Path:
    return path.with_name(path.name + ".rasters.tar")


def _split_password(url: str) -> tuple[str, dict[str, str]]:
    """Keep an inline password out of argv (``ps`` shows it to every local user)."""
    params = conninfo_to_dict(url)
    env = dict(os.environ)
    pw = params.pop("password", None)
    if pw:
        env["PGPASSWORD"] = str(pw)
    return make_conninfo("", **params), env


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "ERROR" in ln or "error" in ln]
    return (errors or lines or ["unknown error"])[0][:300]


def backup(url: str, path: Path, settings: Settings) -> BackupResult:
    """Dump the database at ``url`` to ``path`` (custom format) plus its raster files."""
    s = settings
    path = Path(path)
    if path.is_dir():
        raise ClusterError(f"{path} is a directory: give a file name, e.g. {path}/parkgis.dump")
    if not path.parent.is_dir():
        raise ClusterError(f"directory {path.parent} does not exist")
    with psycopg.connect(url) as conn:
        rasters = conn.execute(SQL_RASTER_FILES).fetchall()
    for name, file, _ in rasters:
        if not Path(file).is_file():
            raise ClusterError(
                f"raster {name} is missing its file {Path(file).name}: "
                "run `parkgis terrain load` again before backing up"
            )
    conninfo, env = _split_password(url)
    tmp = path.with_name(f".{path.name}.partial")
    r = subprocess.run(
        [
            pg_binary(s, "pg_dump"),
            "--format=custom",
            "--compress=6",
            f"--file={tmp}",
            f"--dbname={conninfo}",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ClusterError(f"pg_dump failed: {_last_error(r.stderr)}")
    archive = rasters_archive(path)
    if rasters:
        tar_tmp = archive.with_name(f".{archive.name}.partial")
        with tarfile.open(tar_tmp, "w") as tar:
            for _, file, _ in rasters:
                tar.add(file, arcname=f"rasters/{Path(file).name}", recursive=False)
        os.replace(tar_tmp, archive)
    else:
        archive.unlink(missing_ok=True)  # a stale one would restore rasters the dump lacks
    os.replace(tmp, path)
    size = path.stat().st_size + (archive.stat().st_size if rasters else 0)
    return BackupResult(path, archive if rasters else None, len(rasters), size)


def tables_with_rows(url: str) -> list[str]:
    """The app's tables that hold rows (ignoring those only migrations fill)."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(SQL_TABLES)]
        out = []
        for name in names:
            if name in MIGRATION_OWNED:
                continue
            q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier("public", name))
            if conn.execute(q).fetchone()[0]:  # type: ignore[index]
                out.append(name)
    return out


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Only plain files directly under ``rasters/``: a crafted archive must not write
    anywhere else (no '..', no absolute names, no links or devices)."""
    members = []
    for m in tar.getmembers():
        p = PurePosixPath(m.name)
        if (
            not m.isfile()
            or len(p.parts) != 2
            or p.parts[0] != "rasters"
            or p.name.startswith(".")
            or not p.name.endswith(".tif")
        ):
            raise ClusterError(f"unexpected entry in the raster archive: {m.name[:80]!r}")
        members.append(m)
    return members


def _unpack_rasters(archive: Path, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(archive, "r") as tar:
        for m in _safe_members(tar):
            src = tar.extractfile(m)
            if src is None:
                continue
            target = dest / PurePosixPath(m.name).name
            fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".restore-")
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(tmp_name, target)
            n += 1
    return n


def _check_raster_files(url: str) -> None:
    with psycopg.connect(url) as conn:
        for name, file, checksum in conn.execute(SQL_RASTER_FILES):
            p = Path(file)
            if not p.is_file():
                raise ClusterError(f"restored raster {name} has no file {p.name}")
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != checksum:
                raise ClusterError(f"restored raster {name}: checksum mismatch")


# pg_restore's script empties search_path, but some of our SQL-language helper functions
# (e.g. the geometry checks used by CHECK constraints) name PostGIS functions unqualified, so
# COPY would fail evaluating them. The script qualifies everything it creates itself, and the
# schema was emptied just before, so putting public back on the path captures nothing.
_EMPTY_PATH = b"SELECT pg_catalog.set_config('search_path', '', false);\n"
_PUBLIC_PATH = b"SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false);\n"


def _feed(dst: IO[bytes], parts: list[bytes | IO[bytes]], close: bool = True) -> None:
    for part in parts:
        if isinstance(part, bytes):
            dst.write(part)
        else:
            # Whole-line match only: COPY data escapes newlines, so no row can equal it.
            for line in part:
                dst.write(_PUBLIC_PATH if line == _EMPTY_PATH else line)
    if close:
        dst.close()


def restore(url: str, path: Path, settings: Settings, force: bool = False) -> int:
    """Replace the contents of the database at ``url`` with the backup at ``path``.

    Returns the number of raster files restored.
    """
    s = settings
    path = Path(path)
    if not path.is_file():
        raise ClusterError(f"backup {path} not found")
    pg_restore, psql = pg_binary(s, "pg_restore"), pg_binary(s, "psql")
    listed = subprocess.run([pg_restore, "--list", str(path)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise ClusterError(f"{path.name} is not a pg_dump custom-format backup")
    busy = tables_with_rows(url)
    if busy and not force:
        shown = ", ".join(busy[:5]) + (" …" if len(busy) > 5 else "")
        raise ClusterError(
            f"目标数据库非空 / the target database is not empty ({shown}): "
            "restore into an empty one, or pass --force to replace its contents"
        )
    archive = rasters_archive(path)
    rasters_dir = s.data_dir / "rasters"
    n_rasters = _unpack_rasters(archive, rasters_dir) if archive.is_file() else 0

    conninfo, env = _split_password(url)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_out:
        producer = subprocess.Popen(
            [pg_restore, "--no-owner", "--no-acl", "--file=-", str(path)],
            stdout=subprocess.PIPE,
            stderr=restore_err,
        )
        consumer = subprocess.Popen(
            [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-v",
                f"rasters_dir={rasters_dir.resolve()}",
                "-f",
                "-",
                f"--dbname={conninfo}",
            ],
            stdin=subprocess.PIPE,
            stdout=psql_out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        assert producer.stdout is not None and consumer.stdin is not None
        try:
            _feed(consumer.stdin, [RESTORE_PREAMBLE.encode(), producer.stdout], close=False)
            # A dump cut short (unreadable archive, disk error) must not be committed as if
            # it were whole: end the transaction with an error instead of the postamble.
            ok = producer.wait() == 0
            _feed(consumer.stdin, [RESTORE_RASTER_PATHS.encode() if ok else ABORT.encode()])
        except BrokenPipeError:
            pass  # psql stopped at an error; its output says which
        finally:
            producer.stdout.close()  # unblocks a pg_restore still writing to a gone psql
        producer.wait()
        consumer.wait()
        psql_out.seek(0)
        restore_err.seek(0)
        if consumer.returncode != 0:
            raise ClusterError(
                "restore failed, nothing changed: "
                f"{_last_error(psql_out.read().decode(errors='replace'))}"
            )
        if producer.returncode != 0:
            raise ClusterError(
                f"pg_restore failed: {_last_error(restore_err.read().decode(errors='replace'))}"
            )
    if n_rasters:
        _check_raster_files(url)
    return n_rasters
