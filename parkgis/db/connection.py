"""Synchronous connections for the CLI and the domain core.

The API keeps its own async pool (``api/deps.py``); both resolve the URL here so that the
embedded cluster and ``PARKGIS_DATABASE_URL`` behave the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row

from parkgis.db import cluster
from parkgis.settings import get_settings


def database_url() -> str:
    return cluster.database_url(get_settings())


@contextmanager
def connect(url: str | None = None, actor: str | None = None) -> Iterator[psycopg.Connection]:
    """A connection in one transaction: committed on success, rolled back on any error.

    ``actor`` is recorded by the audit triggers (``parcel_events.actor``).
    """
    with psycopg.connect(url or database_url(), row_factory=dict_row) as conn:
        if actor:
            conn.execute("SELECT set_config('parkgis.actor', %s, true)", (actor,))
        yield conn
