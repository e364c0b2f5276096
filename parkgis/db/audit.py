"""The audit context: who does what, and why, for the audit triggers of this transaction.

The triggers (migrations 0001, 0002, 0006 ...) write ``parcel_events``/``project_events`` rows
from four transaction-local settings: ``parkgis.actor``, ``parkgis.action``, ``parkgis.note`` and
``parkgis.data`` (JSON). This module is the one place that sets them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg

SQL_SET_ACTOR = "SELECT set_config('parkgis.actor', %(actor)s, true)"
# An action resets note and data so that one action's note never leaks into the next one in the
# same transaction; without an actor the connection's actor (``connect(actor=...)``) stays.
SQL_SET_ACTION = """
SELECT set_config('parkgis.actor',
                  coalesce(%(actor)s, current_setting('parkgis.actor', true), ''), true),
       set_config('parkgis.action', %(action)s, true),
       set_config('parkgis.note', coalesce(%(note)s, ''), true),
       set_config('parkgis.data', %(data)s, true)
"""

Executor = psycopg.Connection[Any] | psycopg.Cursor[Any]


def set_audit_context(
    target: Executor,
    actor: str | None,
    action: str | None = None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Record ``actor`` (and, with ``action``, the action, its note and JSON ``data``) for the
    audit triggers, until the transaction ends.

    ``action=None`` sets only the actor: the default for everything the transaction does.
    """
    if action is None:
        if actor is None:
            raise ValueError("set_audit_context needs an actor or an action")
        target.execute(SQL_SET_ACTOR, {"actor": actor})
        return
    target.execute(
        SQL_SET_ACTION,
        {
            "actor": actor,
            "action": action,
            "note": note,
            "data": json.dumps(dict(data or {}), default=str, ensure_ascii=False),
        },
    )
