"""Database values as outgoing values: JSON values and spreadsheet-safe cells (the one owner
of those conversions; a CSV export, the search and the review all write cells)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def jsonable(v: Any) -> Any:
    """``numeric`` → float (17 significant digits: far below a square millimetre of area),
    dates and times → ISO strings, anything else unchanged.

    >>> import datetime as dt
    >>> jsonable(Decimal("12.50")), jsonable(dt.date(2026, 3, 1)), jsonable("WH-A-1")
    (12.5, '2026-03-01', 'WH-A-1')
    """
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def jsonable_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row with every value :func:`jsonable`.

    >>> jsonable_row({"area_mu": Decimal("3.0"), "code": None})
    {'area_mu': 3.0, 'code': None}
    """
    return {k: jsonable(v) for k, v in row.items()}
