"""A parcel action as the API runs it: the day's due work on that parcel first, then the
transition, in the caller's one unit of work.

Reservations lapse and listings close by the clock; a request must not act on a state the
clock would already have moved, so the due work for this parcel is done first.
"""

from __future__ import annotations

from typing import Any

import psycopg

from parkgis.land import lifecycle, listing


def catch_up(conn: psycopg.Connection, code: str) -> None:
    """The clock's due work for one parcel: a lapsed reservation expires, a listing past its
    last day records its result.

    Reads that hand out an ETag run this too: otherwise the version a client sees predates the
    close that the next action performs first, every action answers 412 "reload and retry",
    and the 412 rolls the close back, so reloading never helps until the nightly tick.
    """
    lifecycle.expire_reservations(conn, codes=[code])
    listing.close_due(conn, lifecycle.park_today(), codes=[code])


def perform(
    conn: psycopg.Connection,
    code: str,
    action: str,
    params: lifecycle.ActionParams,
    actor: str,
    expected_version: int | None,
) -> dict[str, Any]:
    """:func:`catch_up` on the parcel, then :func:`parkgis.land.lifecycle.apply_action`."""
    catch_up(conn, code)
    return lifecycle.apply_action(conn, code, action, params, actor, expected_version)
