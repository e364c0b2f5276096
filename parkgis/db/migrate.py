"""Versioned SQL migrations, applied in order, each in its own transaction, idempotently.

Files are ``migrations/NNNN_name.sql``; a row in ``schema_migrations`` records each one applied.
An advisory lock makes concurrent starts (several workers, tests in parallel) safe.
"""

from __future__ import annotations

from importlib import resources

import psycopg

MIGRATION_LOCK = 7_413_011


def available() -> list[tuple[str, str]]:
    files = resources.files("parkgis.db") / "migrations"
    out = [
        (f.name.removesuffix(".sql"), f.read_text(encoding="utf-8"))
        for f in files.iterdir()
        if f.name.endswith(".sql")
    ]
    return sorted(out)


def migrate(url: str) -> list[str]:
    """Apply pending migrations to the database at ``url``; returns the versions applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in available():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (version,))
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied
