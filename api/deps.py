"""Dependencies shared by routers (connections, settings)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request

from parkgis.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def async_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    async with request.app.state.pool.connection() as conn:
        yield conn


def sync_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection for the domain core; committed when the request succeeds."""
    with request.app.state.sync_pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AsyncConn = Annotated[psycopg.AsyncConnection, Depends(async_conn)]
SyncConn = Annotated[psycopg.Connection, Depends(sync_conn)]
