"""Projects (招商项目): the one rule of which of their fields may leave the building.

Everything that shows a project -- the public project API, the pipeline board, match results --
asks this module. Public fields are an allow-list (kept as pure data in
:mod:`parkgis.vocabulary`, the bottom layer, so that the fit engine, which this layer's review
uses, reads the same list without an import cycle), so a column added later stays staff-only
until someone decides otherwise. Staff-only: how to reach the investor and what was said
(``contact``, ``negotiation_notes``), money under negotiation (``land_budget_wan``,
``investment_wan``, ``expected_tax_wan``) and the inter-township deal (``township_tax_share``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import NotFound
from parkgis.jsonvalues import jsonable_row
from parkgis.vocabulary import PUBLIC_PROJECT_FIELDS as PUBLIC_FIELDS

_PUBLIC = frozenset(PUBLIC_FIELDS)

# Column names come from the allow-list, never from a request.
SQL_PUBLIC_LIST = f"SELECT {', '.join(PUBLIC_FIELDS)} FROM projects ORDER BY code"
SQL_PUBLIC_ONE = f"SELECT {', '.join(PUBLIC_FIELDS)} FROM projects WHERE code = %s"


def is_public(field: str) -> bool:
    """Whether ``field`` of a project may be shown to anyone.

    >>> is_public("name_zh"), is_public("contact"), is_public("township_tax_share")
    (True, False, False)
    """
    return field in _PUBLIC


def visible_fields(fields: Iterable[str], staff: bool) -> tuple[str, ...]:
    """``fields`` (in order) that the caller may see: all for staff, the public ones else.

    >>> visible_fields(["code", "investment_wan", "stage"], staff=False)
    ('code', 'stage')
    >>> visible_fields(["code", "investment_wan"], staff=True)
    ('code', 'investment_wan')
    """
    return tuple(f for f in fields if staff or f in _PUBLIC)


def project_view(
    row: Mapping[str, Any], staff: bool, fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """``row`` cut to ``fields`` (default: all its keys) that the caller may see."""
    return {f: row.get(f) for f in visible_fields(fields if fields is not None else row, staff)}


def public_projects(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every project's public fields, as JSON values, by code."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [jsonable_row(r) for r in cur.execute(SQL_PUBLIC_LIST).fetchall()]


def public_project(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """One project's public fields; :class:`NotFound` when there is no such code."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_PUBLIC_ONE, (code,)).fetchone()
    if row is None:
        raise NotFound(f"项目 {code} 不存在 / no project {code}")
    return jsonable_row(row)
