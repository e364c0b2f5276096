"""Synchronous connections for the CLI and the domain core.

The API keeps its own async pool (``api/deps.py``); both resolve the URL here so that the
embedded cluster and ``PARKGIS_DATABASE_URL`` behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.db import cluster
from parkgis.db.audit import set_audit_context
from parkgis.settings import Settings


def database_url(settings: Settings) -> str:
    """The database of ``settings``: its URL, or the embedded cluster's (started if need be)."""
    return cluster.database_url(settings)


@contextmanager
def connect(url: str, actor: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    """A connection in one transaction: committed on success, rolled back on any error.

    ``actor`` is recorded by the audit triggers (``parcel_events.actor``).
    """
    with psycopg.connect(url, row_factory=dict_row) as conn:
        if actor:
            set_audit_context(conn, actor)
        yield conn
