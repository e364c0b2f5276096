"""Database values as JSON values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def jsonable(v: Any) -> Any:
    """``numeric`` → float (17 significant digits: far below a square millimetre of area),
    dates and times → ISO strings, anything else unchanged."""
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
