"""Two writers, one after the other: the stores' triggers take a turn (an advisory lock), so
a second transaction's write must wait for the first one's commit, then see it."""

from __future__ import annotations

import threading
from typing import Any

import psycopg


def second_waits_for_first(
    first: psycopg.Connection, second: psycopg.Connection, sql: str, params: Any = None
) -> None:
    """With ``first`` holding an uncommitted write, run ``sql`` on ``second`` and commit it in
    a thread: it must still be waiting a second later, and finish once ``first`` commits."""
    done = threading.Event()

    def run() -> None:
        second.execute(sql, params)
        second.commit()
        done.set()

    th = threading.Thread(target=run)
    th.start()
    assert not done.wait(1.0)  # the second writer waits for the first one's turn
    first.commit()
    th.join(30)
    assert done.is_set()
