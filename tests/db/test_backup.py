"""`parkgis db backup` / `parkgis db restore`: the sample with terrain round-trips exactly.

Each table is compared by an md5 of all its rows ordered by primary key, computed here in
SQL independently of the product, plus every sequence's state and the raster files' bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from parkgis import auth
from parkgis.db import connect
from parkgis.geo.terrain import load_terrain
from parkgis.promotion import indicators

ROOT = Path(__file__).resolve().parents[2]
DEM = ROOT / "data" / "rasters" / "weihui_dem.tif"
FLOOD = ROOT / "data" / "rasters" / "weihui_flood.tif"
CLI = [sys.executable, "-m", "parkgis.cli"]


def _cli(args: list[str], url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARKGIS_DATABASE_URL": url, "PARKGIS_DATA_DIR": str(data_dir)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def _fingerprint(url: str) -> dict[str, object]:
    """md5 of every public table's rows (by primary key) and every sequence's state."""
    out: dict[str, object] = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
            )
        ]
        for t in tables:
            pk = [
                r[0]
                for r in conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                    " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                    " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
                    (f"public.{t}",),
                )
            ]
            order = sql.SQL(", ").join(sql.Identifier(c) for c in pk) if pk else sql.SQL("t::text")
            q = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}),"
                " '')) FROM {} t"
            ).format(order, sql.Identifier("public", t))
            n, digest = conn.execute(q).fetchone()
            out[t] = (n, digest)
        for (s,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall():
            out[f"seq:{s}"] = conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier("public", s))
            ).fetchone()
    return out


def _raster_row_digests(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT name, path, checksum FROM rasters ORDER BY name").fetchall()
    return {name: (path, checksum) for name, path, checksum in rows}


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def loaded(sample_db_rw: str, tmp_path: Path) -> str:
    """The sample with terrain, accounts, indicator sets and a parcel's later history."""
    with connect(sample_db_rw) as conn:
        load_terrain(conn, DEM, FLOOD, out_dir=tmp_path / "src-rasters")
        auth.add_user(conn, "backup_planner", "planner", "correct horse battery")
        indicators.ensure_seeded(conn)
        conn.execute(
            "UPDATE parcels SET note_internal = 'before backup' WHERE code = "
            "(SELECT min(code) FROM parcels)"
        )
    return sample_db_rw


def test_backup_restore_round_trips_every_table(loaded: str, empty_db: str, tmp_path: Path) -> None:
    before = _fingerprint(loaded)
    # The test is only meaningful if the sample really fills what the brief names.
    for t in ("parcels", "parcel_events", "projects", "users", "rasters", "parcel_terrain"):
        assert before[t][0] > 0, t  # type: ignore[index]

    dump = tmp_path / "backup" / "parkgis.dump"
    dump.parent.mkdir()
    r = _cli(["db", "backup", str(dump)], loaded, tmp_path / "home-a")
    assert r.returncode == 0, r.stderr
    assert dump.stat().st_size > 0 and (dump.parent / "parkgis.dump.rasters.tar").is_file()

    restored_home = tmp_path / "home-b"
    r = _cli(["db", "restore", str(dump)], empty_db, restored_home)
    assert r.returncode == 0, r.stderr

    after = _fingerprint(empty_db)
    src_rasters, dst_rasters = _raster_row_digests(loaded), _raster_row_digests(empty_db)
    # Only the raster file locations may differ: they now live in this installation.
    assert {k: v for k, v in after.items() if k != "rasters"} == {
        k: v for k, v in before.items() if k != "rasters"
    }
    assert set(dst_rasters) == set(src_rasters) and len(dst_rasters) == 2
    for name, (path, checksum) in dst_rasters.items():
        assert Path(path).parent == (restored_home / "rasters").resolve()
        assert checksum == src_rasters[name][1] == _sha256(path)
    with psycopg.connect(empty_db) as conn:
        q = "SELECT to_jsonb(r) - 'path' FROM rasters r ORDER BY name"
        restored = conn.execute(q).fetchall()
    with psycopg.connect(loaded) as conn:
        assert conn.execute(q).fetchall() == restored


def test_restore_refuses_a_database_with_data_unless_forced(
    loaded: str, sample_db_rw: str, empty_db: str, tmp_path: Path
) -> None:
    # A backup of an empty (migrated) database, restored over the sample.
    dump = tmp_path / "empty.dump"
    assert _cli(["db", "backup", str(dump)], empty_db, tmp_path / "h").returncode == 0
    before = _fingerprint(loaded)
    r = _cli(["db", "restore", str(dump)], loaded, tmp_path / "h")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "--force" in lines[0], r.stderr
    assert _fingerprint(loaded) == before  # nothing changed

    r = _cli(["db", "restore", "--force", str(dump)], loaded, tmp_path / "h")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(loaded) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_a_damaged_backup_changes_nothing(loaded: str, tmp_path: Path) -> None:
    dump = tmp_path / "whole.dump"
    assert _cli(["db", "backup", str(dump)], loaded, tmp_path / "h").returncode == 0
    cut = tmp_path / "cut.dump"
    data = dump.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])  # the tail (most table data) is gone
    before = _fingerprint(loaded)
    r = _cli(["db", "restore", "--force", str(cut)], loaded, tmp_path / "h")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert _fingerprint(loaded) == before

    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"not a dump at all")
    r = _cli(["db", "restore", str(garbage)], loaded, tmp_path / "h")
    assert r.returncode == 1 and "custom-format" in r.stderr


def test_a_crafted_raster_archive_writes_nothing_outside(empty_db: str, tmp_path: Path) -> None:
    import io
    import tarfile

    dump = tmp_path / "b" / "x.dump"
    dump.parent.mkdir()
    assert _cli(["db", "backup", str(dump)], empty_db, tmp_path / "h").returncode == 0
    with tarfile.open(dump.parent / "x.dump.rasters.tar", "w") as tar:
        data = b"not a raster"
        info = tarfile.TarInfo("rasters/../../escaped.tif")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    home = tmp_path / "deep" / "home"
    r = _cli(["db", "restore", str(dump)], empty_db, home)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "raster archive" in lines[0], r.stderr
    assert not list(tmp_path.rglob("escaped.tif"))
