"""A parcel action as the API runs it: the day's due work on that parcel first, then the
transition, in the caller's one unit of work.

Reservations lapse and listings close by the clock; a request must not act on a state the
clock would already have moved, so the due work for this parcel is done first.
"""

from __future__ import annotations

from typing import Any

import psycopg

from parkgis.land import lifecycle, listing


def perform(conn: psycopg.Connection, code: str, action: str, params: lifecycle.ActionParams,
            actor: str, expected_version: int | None) -> dict[str, Any]:
    """Expire a lapsed reservation, record a closed listing's result before ``allocate``, then
    :func:`parkgis.land.lifecycle.apply_action`."""
    lifecycle.expire_reservations(conn, codes=[code])
    if action == "allocate":
        listing.close_due(conn, lifecycle.park_today(), codes=[code])
    return lifecycle.apply_action(conn, code, action, params, actor, expected_version)
