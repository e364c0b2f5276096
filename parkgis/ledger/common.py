"""What the ledger modules share: figures with their definitions, units and dates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from parkgis.errors import InvalidInput

M2_PER_MU = Decimal(10000) / Decimal(15)

# Land counts as supplied (供地) once allocated: the allocation is the supply act; construction
# and operation follow on the same land.
SUPPLIED = ("allocated", "under_construction", "operational")
VACANT = ("available", "reserved", "listed")

#: The end of a calendar day in China as a timestamptz expression over a ``date`` parameter:
#: "as of 2025-06-30" includes everything that happened that day in Beijing time.
DAY_END = "((%(as_of)s::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"


@dataclass
class Figure:
    """One reported number with what it means and how to reproduce it."""

    key: str
    name_zh: str
    name_en: str
    unit: str
    value: float | None
    definition_zh: str
    definition_en: str
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    note: str | None = None

    def body(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.params.items()
        }
        return d


def mu(m2: Any) -> float:
    return float(Decimal(str(m2 or 0)) / M2_PER_MU)


def ha(m2: Any) -> float:
    return float(m2 or 0) / 10000


def ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


def parse_date(value: str | date | None, name: str, default: date | None = None) -> date:
    if value is None or value == "":
        if default is None:
            raise InvalidInput(f"缺少 {name} / {name} is required", param=name)
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} 须为 YYYY-MM-DD / {name} must be YYYY-MM-DD", param=name
        ) from None


def data_version(conn: psycopg.Connection) -> str:
    """The versions of the layers the ledger reads, e.g. ``parcels 12 · approvals 3``: a report
    names the data it was made from."""
    found = rows(
        conn,
        "SELECT layer, version FROM data_versions WHERE layer = ANY(%(l)s) ORDER BY layer",
        {"l": ["parcels", "approvals", "enterprises", "projects", "ledger"]},
    )
    return " · ".join(f"{r['layer']} {r['version']}" for r in found)


def bump_ledger_version(conn: psycopg.Connection) -> None:
    conn.execute(
        "UPDATE data_versions SET version = version + 1, changed = now() WHERE layer = 'ledger'"
    )


def rows(
    conn: psycopg.Connection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params or {}).fetchall()  # type: ignore[arg-type]
