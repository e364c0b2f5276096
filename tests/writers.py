"""Two writers, one after the other: the stores' triggers take a turn (an advisory lock), so
a second transaction's write must wait for the first one's commit, then see it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg


def second_waits_for_first(
    first: psycopg.Connection,
    second: psycopg.Connection,
    sql: str,
    params: Any = None,
    then: Callable[[], object] | None = None,
) -> None:
    """With ``first`` holding an uncommitted write, run ``sql`` on ``second`` and commit it in
    a thread: it must still be waiting a second later, and finish once ``first`` commits.
    ``then`` runs more of ``first``'s transaction while ``second`` waits, before the commit;
    an error of either writer (a deadlock) is raised here."""
    done = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            second.execute(sql, params)
            second.commit()
            done.set()
        except BaseException as exc:
            failed.append(exc)

    th = threading.Thread(target=run)
    th.start()
    assert not done.wait(1.0)  # the second writer waits for the first one's turn
    if then is not None:
        then()
    first.commit()
    th.join(30)
    if failed:
        raise failed[0]
    assert done.is_set()
