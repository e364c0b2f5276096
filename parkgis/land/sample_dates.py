"""Keep the sample's story on today's calendar.

The sample GeoPackage's dates (project starts, upgrade schedules, reservations) were written
for one day, its *as-of* date, kept beside it in ``<name>.dates.json``
(``{"as_of": "YYYY-MM-DD"}``). When that package is loaded every date is moved by
(today − as_of), so a demo loaded a year later tells the same story: the same upgrades
just finished, the same projects about to start, the same reservations weeks from running
out. The listing and contract records the law needs and the package does not carry are laid
relative to the load date too:

- every ``listed`` parcel gets a notice published 25 days ago and a listing that started 5
  days ago (≥ 20 days after the notice) and ends 22 days from now — 28 calendar days, which
  hold at least 10 working days whatever the holiday calendar (the longest official break is
  9 days), so the sample is lawful even past the installed calendar's years; within them the
  end is also checked against the calendar;
- every ``allocated`` or ``under_construction`` parcel gets its contract; the first allocated
  one (by code) was due to start 14 months ago and has not, so the idle-land list has its
  case on any load date.

The loader calls :func:`shift_rows` on the package's rows and :func:`lay_records` in its
transaction; nothing here runs for files without the ``.dates.json`` beside them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import InvalidData
from parkgis.land import listing as listing_rules
from parkgis.land.workdays import OutsideCalendar

NOTICE_AGO = 25
LISTING_DAYS = 28  # calendar days from the start through the last day
DEFAULT_PRICE_WAN_PER_MU = Decimal("15")
IDLE_DAYS_PAST_START = 425

#: The dates of the story, by table: moved by (today - as_of) as the rows are loaded.
SHIFTED: dict[str, tuple[str, ...]] = {
    "projects": ("start_date",),
    "upgrades": ("start_date", "finish_date"),
    "parcels": ("reserved_until",),
}
SQL_PARCELS = """
SELECT code, status, project_code, landuse_code, area_mu,
       coalesce(land_price_wan_per_mu, %(default)s) AS price_per_mu
  FROM parcels
 WHERE status IN ('listed', 'allocated', 'under_construction')
   AND NOT EXISTS (SELECT 1 FROM land_listings l WHERE l.parcel_code = parcels.code)
   AND NOT EXISTS (SELECT 1 FROM land_contracts c WHERE c.parcel_code = parcels.code)
 ORDER BY code
"""
SQL_LISTING = """
INSERT INTO land_listings (parcel_code, notice_no, notice_date, listing_start, listing_end,
                           start_price_wan, increment_wan, status, backfill, created_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, 'open', true, 'sample')
"""
SQL_CONTRACT = """
INSERT INTO land_contracts (contract_no, parcel_code, project_code, landuse_code, price_wan,
    lease_years, signed_on, agreed_start, agreed_completion, promised_investment_wan,
    actual_start, created_by)
VALUES (%(no)s, %(code)s, %(project)s, %(landuse)s, %(price)s, 50, %(signed)s, %(start)s,
        %(completion)s, %(investment)s, %(actual)s, 'sample')
"""


def read_as_of(gpkg_path: str | Path) -> date | None:
    """The as-of date kept beside a package (``<stem>.dates.json``), or None."""
    side = Path(gpkg_path).with_suffix(".dates.json")
    if not side.is_file():
        return None
    try:
        return date.fromisoformat(json.loads(side.read_text(encoding="utf-8"))["as_of"])
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidData(
            f'{side.name}: 需要 {{"as_of": "YYYY-MM-DD"}} / needs {{"as_of": "YYYY-MM-DD"}}'
        ) from e


def _money(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.1"), ROUND_HALF_UP)


def _listing_end(start: date) -> date:
    end = start + timedelta(days=LISTING_DAYS - 1)
    try:
        return max(end, listing_rules.earliest_listing_end(start))
    except OutsideCalendar:
        return end


def shift_rows(
    table: str, columns: list[str], rows: list[tuple[Any, ...]], days: int
) -> list[tuple[Any, ...]]:
    """The loader's rows ``(ord, *values[, geom])`` with the story's dates moved by ``days``
    (done before writing, so loading the package twice on one day changes nothing)."""
    idx = [i + 1 for i, c in enumerate(columns) if c in SHIFTED.get(table, ())]
    if not idx or days == 0:
        return rows
    step = timedelta(days=days)
    out = []
    for row in rows:
        r = list(row)
        for i in idx:
            if isinstance(r[i], date):
                r[i] = r[i] + step
        out.append(tuple(r))
    return out


def lay_records(conn: psycopg.Connection, today: date) -> dict[str, int]:
    """Listings and contracts for the loaded sample's listed and contracted parcels that have
    none yet, dated relative to ``today``."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        notice = today - timedelta(days=NOTICE_AGO)
        start = notice + timedelta(days=listing_rules.NOTICE_LEAD_DAYS)
        end = _listing_end(start)
        listed = contracted = 0
        first_allocated = True
        for n, p in enumerate(
            cur.execute(SQL_PARCELS, {"default": DEFAULT_PRICE_WAN_PER_MU}).fetchall(), 1
        ):
            price = _money(Decimal(p["price_per_mu"]) * Decimal(p["area_mu"]))
            if p["status"] == "listed":
                cur.execute(
                    SQL_LISTING,
                    (
                        p["code"],
                        f"卫自然资告字〔{notice.year}〕{n}号",
                        notice,
                        start,
                        end,
                        price,
                        max(Decimal("1"), _money(price / 100)),
                    ),
                )
                listed += 1
                continue
            if p["status"] == "allocated" and first_allocated:
                first_allocated = False
                agreed = today - timedelta(days=IDLE_DAYS_PAST_START)
                actual = None
            elif p["status"] == "allocated":
                agreed, actual = today + timedelta(days=60), None
            else:
                agreed = today - timedelta(days=230)
                actual = agreed + timedelta(days=30)
            cur.execute(
                SQL_CONTRACT,
                {
                    "no": f"卫出让合〔{agreed.year}〕{n:03d}号",
                    "code": p["code"],
                    "project": p["project_code"],
                    "landuse": p["landuse_code"],
                    "price": price,
                    "signed": agreed - timedelta(days=90),
                    "start": agreed,
                    "completion": agreed + timedelta(days=730),
                    "investment": _money(price * 12),
                    "actual": actual,
                },
            )
            contracted += 1
    return {"listings": listed, "contracts": contracted}
