"""Helpers for the planner-workbench tests (accounts, lifecycle, split/merge, concurrency).

``small_park`` builds a tiny, exactly known park in an empty database: 100 m squares laid out in
the zone's Gauss–Krüger projection (EPSG:4547) and stored in EPSG:4490 like real data.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from parkgis import auth

ZONE = "WH-TZ"
X0, Y0 = 515_000.0, 3_918_000.0  # near Weihui, metres in EPSG:4547
PASSWORD = "correct-horse-9"

SQL_ZONE = """
INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom)
VALUES (%s, '测试园区', 'Test zone', 'cluster_zone', 'approved', 4547,
        ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))
"""
SQL_PARCEL = """
INSERT INTO parcels (code, zone_code, status, landuse_code, note_internal, geom)
VALUES (%s, %s, %s, %s, %s, ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))
"""
SQL_PROJECT = """
INSERT INTO projects (code, name_zh, name_en, industry, contact, negotiation_notes,
                      land_budget_wan)
VALUES (%s, '测试项目', 'Test project', 'food_beverage_packaging', '13800000000', 'secret', 100)
"""


def small_park(url: str, statuses: dict[str, str] | None = None) -> list[str]:
    """A zone, parcels ``T-1``..``T-n`` (100 m squares in a row, touching) and projects
    ``PRJ-A``/``PRJ-B``. ``statuses`` maps code → status (default all available)."""
    statuses = statuses or {f"T-{i}": "available" for i in range(1, 5)}
    with psycopg.connect(url) as conn:
        conn.execute(SQL_ZONE, (ZONE, X0 - 1000, Y0 - 1000, X0 + 2000, Y0 + 2000))
        for i, (code, status) in enumerate(statuses.items()):
            x = X0 + 100 * i
            conn.execute(
                SQL_PARCEL,
                (code, ZONE, status, "100101", f"internal note {code}", x, Y0, x + 100, Y0 + 100),
            )
        for p in ("PRJ-A", "PRJ-B"):
            conn.execute(SQL_PROJECT, (p,))
    return list(statuses)


def add_users(url: str) -> dict[str, str]:
    """One account per role (``inv``, ``plan``, ``plan2``, ``boss``), all with PASSWORD."""
    users = {"inv": "investor", "plan": "planner", "plan2": "planner", "boss": "admin"}
    with psycopg.connect(url) as conn:
        for name, role in users.items():
            auth.add_user(conn, name, role, PASSWORD)
    return users


def login(client: httpx.Client | Any, name: str, password: str = PASSWORD) -> dict[str, str]:
    """``Authorization`` header for ``name`` via the real token endpoint."""
    r = client.post(
        "/api/auth/token", data={"username": name, "password": password, "grant_type": "password"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def rows(url: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def one(url: str, sql: str, params: Any = None) -> dict[str, Any]:
    got = rows(url, sql, params)
    assert len(got) == 1, got
    return got[0]
