"""The listing flow of 国土资源部令第39号 (招标拍卖挂牌出让国有建设用地使用权规定).

Two periods, not one:
- the notice (出让公告, with its document number 公告文号) is published at least 20 days
  before the listing starts (第十条);
- the listing (挂牌) runs at least 10 working days (第二十条); bids raise the price by at least
  the increment; at the close the highest bid wins at its amount, and no valid bid is 流拍.

Working days follow the State Council's yearly holiday notice (国务院办公厅关于节假日安排的通知)
including make-up working days (调休), read from the maintained ``chinese-calendar`` package.
The package covers the years it was released for (1.11: 2004–2026); past that the count uses
the safe bound of :mod:`parkgis.land.workdays` (every possible holiday window off, no make-up
days), so a listing is never shorter than the law and is marked ``calendar_provisional``.

A notice dated before the day it is recorded is a backfill: only an admin may record one, it
needs the document number, and the listing row and its event say ``backfill``. The result of a
listing is recorded by the clock (:func:`close_due`), never by hand; ``allocate`` from
``listed`` is refused until then with the earliest legal date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import Conflict, InvalidData, NotFound
from parkgis.land import lifecycle
from parkgis.land.workdays import (  # noqa: F401  (re-exported: the listing rules' calendar)
    OutsideCalendar,
    calendar_years,
    is_provisional,
    is_workday,
    nth_workday,
)

#: 第十条: the notice is published at least 20 days before the listing starts.
NOTICE_LEAD_DAYS = 20
#: 第二十条: the listing runs at least 10 working days.
LISTING_MIN_WORKDAYS = 10
#: A listing longer than this is a typo, not a listing.
LISTING_MAX_DAYS = 180
BIDDER_MAX = 200

SQL_LIVE = """
SELECT * FROM land_listings WHERE parcel_code = %s AND status IN ('notice', 'open')
"""
SQL_LATEST = """
SELECT * FROM land_listings WHERE parcel_code = %s ORDER BY id DESC LIMIT 1
"""
SQL_INSERT = """
INSERT INTO land_listings (parcel_code, notice_no, notice_date, listing_start, listing_end,
                           start_price_wan, increment_wan, status, backfill, created_by)
VALUES (%(code)s, %(notice_no)s, %(notice_date)s, %(listing_start)s, %(listing_end)s,
        %(start_price)s, %(increment)s, %(status)s, %(backfill)s, %(actor)s)
RETURNING *
"""
SQL_LOCK_LIVE = """
SELECT l.*, p.status AS parcel_status FROM land_listings l JOIN parcels p ON p.code = l.parcel_code
 WHERE l.parcel_code = %s AND l.status IN ('notice', 'open') FOR UPDATE OF l
"""
SQL_TOP_BID = """
SELECT bidder, amount_wan, at FROM listing_bids WHERE listing_id = %s
 ORDER BY amount_wan DESC, id LIMIT 1
"""
SQL_BIDS = """
SELECT id, bidder, amount_wan, at, actor FROM listing_bids WHERE listing_id = %s ORDER BY id
"""
SQL_BID = """
INSERT INTO listing_bids (listing_id, bidder, amount_wan, at, actor)
VALUES (%s, %s, %s, %s, %s) RETURNING id, bidder, amount_wan, at
"""
SQL_DUE_OPEN = """
SELECT * FROM land_listings
 WHERE status = 'notice' AND listing_start <= %(today)s
   AND (%(codes)s::text[] IS NULL OR parcel_code = ANY(%(codes)s::text[]))
 ORDER BY parcel_code FOR UPDATE SKIP LOCKED
"""
SQL_DUE_CLOSE = """
SELECT * FROM land_listings
 WHERE status IN ('notice', 'open') AND listing_end < %(today)s
   AND (%(codes)s::text[] IS NULL OR parcel_code = ANY(%(codes)s::text[]))
 ORDER BY parcel_code FOR UPDATE SKIP LOCKED
"""
SQL_SET_STATUS = """
UPDATE land_listings SET status = %(status)s, winner = %(winner)s,
       closing_price_wan = %(price)s, closed_at = CASE WHEN %(closed)s THEN now() END
 WHERE id = %(id)s
"""
SQL_PARCEL_STATUS = "SELECT status, project_code FROM parcels WHERE code = %s FOR UPDATE"


def earliest_listing_end(start: date, workdays: int = LISTING_MIN_WORKDAYS) -> date:
    """The last day of a listing that starts on ``start`` and runs ``workdays`` working days,
    the start day counting when it is one (past the official calendar: the safe bound of
    :mod:`parkgis.land.workdays`, never shorter than the law)."""
    return nth_workday(start, workdays)


def earliest_allocation(listing_end: date) -> date:
    """The listing closes at the end of its last day; the land can be granted the day after."""
    return listing_end + timedelta(days=1)


@dataclass
class ListingParams:
    """What ``list`` records: the notice, the two periods and the prices."""

    notice_no: str | None = None
    notice_date: date | None = None
    listing_start: date | None = None
    listing_end: date | None = None
    start_price_wan: Decimal | None = None
    increment_wan: Decimal | None = None
    project: str | None = None
    note: str | None = None


def validate(p: ListingParams, today: date, role: str) -> tuple[date, date, date, bool]:
    """Check a listing against 令39 and the role; returns (notice, start, end, backfill)."""
    notice = p.notice_date or today
    backfill = notice < today
    if backfill and role != "admin":
        # 409 with the date the law allows: a notice published today, the listing 20 days on,
        # ten working days of listing, granted the day after the close.
        lawful_end = earliest_listing_end(today + timedelta(days=NOTICE_LEAD_DAYS))
        raise Conflict(
            f"公告日期 {notice} 早于今天 {today}：规划人员不能倒签公告；补录历史公告须由管理员"
            f"办理并注明公告文号；今天公告，最早 {earliest_allocation(lawful_end)} 可出让 / the "
            f"notice date {notice} is before today ({today}): a planner cannot backdate a "
            f"notice; only an admin may record a past notice, as a backfill with its document "
            f"number. Published today, the land can be granted on "
            f"{earliest_allocation(lawful_end)} at the earliest",
            field="notice_date",
            earliest_allocation=earliest_allocation(lawful_end).isoformat(),
        )
    if (notice - today).days > lifecycle.NOTICE_MAX_DAYS or (
        today - notice
    ).days > lifecycle.NOTICE_MAX_DAYS:
        raise InvalidData(
            "公告日期距今超过一年 / the notice date is more than a year from today",
            field="notice_date",
        )
    if not p.notice_no or not p.notice_no.strip() or len(p.notice_no) > 64:
        raise InvalidData(
            "挂牌需要出让公告文号 notice_no（最长 64 字） / a listing needs the "
            "notice's document number (notice_no, at most 64 characters)",
            field="notice_no",
        )
    first_start = notice + timedelta(days=NOTICE_LEAD_DAYS)
    start = p.listing_start or first_start
    if start < first_start:
        raise InvalidData(
            f"挂牌开始日须在公告发布 {NOTICE_LEAD_DAYS} 日之后，最早 {first_start} / the listing "
            f"may start no earlier than {NOTICE_LEAD_DAYS} days after the notice: "
            f"{first_start} at the earliest",
            field="listing_start",
            earliest=first_start.isoformat(),
        )
    first_end = earliest_listing_end(start)
    end = p.listing_end or first_end
    if end < first_end:
        raise InvalidData(
            f"挂牌期不得少于 {LISTING_MIN_WORKDAYS} 个工作日，最早截止 {first_end} / the listing "
            f"must run at least {LISTING_MIN_WORKDAYS} working days: it ends {first_end} at "
            f"the earliest",
            field="listing_end",
            earliest=first_end.isoformat(),
        )
    if (end - start).days > LISTING_MAX_DAYS:
        raise InvalidData(
            f"挂牌期不超过 {LISTING_MAX_DAYS} 天 / a listing runs at most {LISTING_MAX_DAYS} days",
            field="listing_end",
        )
    for name, v in (("start_price_wan", p.start_price_wan), ("increment_wan", p.increment_wan)):
        if v is None or not Decimal(v).is_finite() or Decimal(v) <= 0:
            raise InvalidData(
                f"需要起始价和加价幅度（万元，> 0）：{name} / the starting price "
                f"and the increment are needed (10k yuan, > 0): {name}",
                field=name,
            )
    return notice, start, end, backfill


def list_parcel(
    conn: psycopg.Connection,
    code: str,
    p: ListingParams,
    actor: str,
    role: str,
    expected_version: int | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Put a parcel on the market: the lifecycle's ``list`` plus the listing record, atomically.

    Raises InvalidData (422) for a notice or period the law does not allow — including a
    planner's backdated notice — and whatever :func:`parkgis.land.lifecycle.apply_action` raises.
    """
    today = lifecycle.park_today(now)
    notice, start, end, backfill = validate(p, today, role)
    assert p.notice_no is not None  # validate() requires it
    data = {
        "notice_no": p.notice_no.strip(),
        "notice_date": notice.isoformat(),
        "listing_start": start.isoformat(),
        "listing_end": end.isoformat(),
        "start_price_wan": str(p.start_price_wan),
        "increment_wan": str(p.increment_wan),
        "backfill": backfill,
        "calendar_provisional": is_provisional(end),
    }
    note = p.note
    if backfill:
        no = p.notice_no.strip()
        tag = f"补录公告（公告文号 {no}） / backfilled notice {no}"
        note = f"{tag}; {note}" if note else tag
    with conn.transaction():
        out = lifecycle.apply_action(
            conn,
            code,
            "list",
            lifecycle.ActionParams(
                project=p.project,
                note=note,
                notice_start=notice,
                notice_days=(start - notice).days,
                backfill=backfill,
                extra=data,
            ),
            actor,
            expected_version,
            now=now,
        )
        with conn.cursor(row_factory=dict_row) as cur:
            listing = cur.execute(
                SQL_INSERT,
                {
                    "code": code,
                    "notice_no": p.notice_no.strip(),
                    "notice_date": notice,
                    "listing_start": start,
                    "listing_end": end,
                    "start_price": p.start_price_wan,
                    "increment": p.increment_wan,
                    "backfill": backfill,
                    "actor": actor,
                    "status": "open" if start <= today else "notice",
                },
            ).fetchone()
    out["listing"] = listing
    out["calendar_provisional"] = is_provisional(end)
    return out


def current_price(
    cur: psycopg.Cursor[dict[str, Any]], listing: dict[str, Any]
) -> tuple[Decimal, bool]:
    """(price now, whether any bid stands): the top bid, or the starting price."""
    top = cur.execute(SQL_TOP_BID, (listing["id"],)).fetchone()
    if top is None:
        return Decimal(listing["start_price_wan"]), False
    return Decimal(top["amount_wan"]), True


def place_bid(
    conn: psycopg.Connection,
    code: str,
    bidder: str,
    amount_wan: Decimal,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record a bid during the listing period: the first at least the starting price, every
    later one at least the standing price plus the increment (409 otherwise)."""
    if not bidder or not bidder.strip() or len(bidder) > BIDDER_MAX:
        raise InvalidData(
            f"需要竞买人名称（最长 {BIDDER_MAX} 字） / the bidder's name is needed "
            f"(at most {BIDDER_MAX} characters)",
            field="bidder",
        )
    amount = Decimal(amount_wan)
    if not amount.is_finite() or amount <= 0:
        raise InvalidData(
            "报价须为正数（万元） / the bid must be a positive amount (10k yuan)",
            field="amount_wan",
        )
    when = now or datetime.now(lifecycle.PARK_TZ)
    today = lifecycle.park_today(when)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        listing = cur.execute(SQL_LOCK_LIVE, (code,)).fetchone()
        if listing is None:
            raise NotFound(
                f"地块 {code} 没有正在进行的挂牌 / parcel {code} has no listing in progress"
            )
        if today < listing["listing_start"]:
            raise Conflict(
                f"挂牌 {listing['listing_start']} 才开始，之前不接受报价 / the listing "
                f"starts {listing['listing_start']}; no bids before then",
                listing_start=listing["listing_start"].isoformat(),
            )
        if today > listing["listing_end"]:
            raise Conflict(
                f"挂牌已于 {listing['listing_end']} 截止，不再接受报价 / the listing "
                f"closed on {listing['listing_end']}; no more bids",
                listing_end=listing["listing_end"].isoformat(),
            )
        price, standing = current_price(cur, listing)
        minimum = price + Decimal(listing["increment_wan"]) if standing else price
        if amount < minimum:
            raise Conflict(
                f"报价须不低于 {minimum} 万元（当前价 {price} + 加价幅度） / the bid "
                f"must be at least {minimum} (10k yuan): current price plus the "
                f"increment",
                minimum_wan=str(minimum),
            )
        bid = cur.execute(SQL_BID, (listing["id"], bidder.strip(), amount, when, actor)).fetchone()
    return {"listing_id": listing["id"], "bid": bid}


def listing_of(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """The parcel's latest listing with its bids and current price; 404 when never listed."""
    with conn.cursor(row_factory=dict_row) as cur:
        listing = cur.execute(SQL_LATEST, (code,)).fetchone()
        if listing is None:
            raise NotFound(f"地块 {code} 没有挂牌记录 / parcel {code} has never been listed")
        price, _ = current_price(cur, listing)
        listing["bids"] = cur.execute(SQL_BIDS, (listing["id"],)).fetchall()
    listing["current_price_wan"] = price
    listing["earliest_allocation"] = earliest_allocation(listing["listing_end"])
    return listing


def open_due(conn: psycopg.Connection, today: date, codes: list[str] | None = None) -> list[str]:
    """Open the listing period of notices whose start day has come (event ``listing_open``)."""
    opened: list[str] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(SQL_DUE_OPEN, {"today": today, "codes": codes}).fetchall():
            cur.execute(SQL_PARCEL_STATUS, (row["parcel_code"],))  # lock, as before a change
            cur.execute(
                SQL_SET_STATUS,
                {"status": "open", "winner": None, "price": None, "closed": False, "id": row["id"]},
            )
            lifecycle.note_event(
                cur,
                row["parcel_code"],
                "system",
                "listing_open",
                f"挂牌期开始（{row['listing_start']} 至 {row['listing_end']}） / listing "
                f"period open ({row['listing_start']} to {row['listing_end']})",
                {"listing_id": row["id"], "notice_no": row["notice_no"]},
            )
            opened.append(row["parcel_code"])
    return opened


def close_due(
    conn: psycopg.Connection, today: date, codes: list[str] | None = None
) -> list[dict[str, Any]]:
    """Record the result of listings whose last day has passed: sold to the highest bidder at
    the closing price (event ``listing_sold``, the parcel stays listed until allocated), or
    流拍 (``listing_failed``: the parcel goes back to available)."""
    results: list[dict[str, Any]] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(SQL_DUE_CLOSE, {"today": today, "codes": codes}).fetchall():
            code = row["parcel_code"]
            top = cur.execute(SQL_TOP_BID, (row["id"],)).fetchone()
            if top is not None:
                cur.execute(
                    SQL_SET_STATUS,
                    {
                        "status": "sold",
                        "winner": top["bidder"],
                        "price": top["amount_wan"],
                        "closed": True,
                        "id": row["id"],
                    },
                )
                cur.execute(SQL_PARCEL_STATUS, (code,))  # lock the parcel, as before a change
                lifecycle.note_event(
                    cur,
                    code,
                    "system",
                    "listing_sold",
                    f"挂牌截止，{top['bidder']} 以 {top['amount_wan']} 万元竞得 / listing "
                    f"closed: won by {top['bidder']} at {top['amount_wan']} (10k yuan)",
                    {
                        "listing_id": row["id"],
                        "winner": top["bidder"],
                        "closing_price_wan": str(top["amount_wan"]),
                    },
                )
                results.append(
                    {
                        "parcel_code": code,
                        "result": "sold",
                        "winner": top["bidder"],
                        "price_wan": top["amount_wan"],
                    }
                )
            else:
                cur.execute(
                    SQL_SET_STATUS,
                    {
                        "status": "failed",
                        "winner": None,
                        "price": None,
                        "closed": True,
                        "id": row["id"],
                    },
                )
                lifecycle.system_transition(
                    conn,
                    code,
                    "listing_failed",
                    ("listed",),
                    "available",
                    "挂牌截止无人竞买，流拍 / listing closed without a valid bid (流拍)",
                    {"listing_id": row["id"], "notice_no": row["notice_no"]},
                )
                results.append({"parcel_code": code, "result": "failed"})
    return results
