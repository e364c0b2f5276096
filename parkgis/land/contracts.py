"""Land-use right contracts (国有建设用地使用权出让合同) and what happens on the ground.

Signing a contract is the lifecycle's ``allocate`` plus the contract record (one transaction):
number, price (the listing's closing price when the parcel was sold by listing), lease term
(≤ 50 years for industrial land), the agreed start (约定动工) and completion (约定竣工) dates
and the promised investment. Recording the actual start moves the parcel to
``under_construction``, the completion to ``operational`` — through the lifecycle, so each is
one audited event. Progress (developed area, investment to date, work stopped since) and
government-caused delays feed the idle-land rules (:mod:`parkgis.land.idle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import Conflict, InvalidData, NotFound
from parkgis.land import lifecycle

CAUSE_MAX = 2000

SQL_SOLD_LISTING = """
SELECT id, closing_price_wan, winner FROM land_listings
 WHERE parcel_code = %s AND status = 'sold' ORDER BY id DESC LIMIT 1
"""
SQL_INSERT = """
INSERT INTO land_contracts (contract_no, parcel_code, project_code, listing_id, landuse_code,
    price_wan, lease_years, signed_on, agreed_start, agreed_completion,
    promised_investment_wan, created_by)
SELECT %(no)s, p.code, p.project_code, %(listing)s, p.landuse_code, %(price)s, %(lease)s,
       %(signed)s, %(start)s, %(completion)s, %(investment)s, %(actor)s
  FROM parcels p WHERE p.code = %(code)s
RETURNING *
"""
SQL_EXISTS = "SELECT 1 FROM land_contracts WHERE contract_no = %s"
SQL_LOCK = "SELECT * FROM land_contracts WHERE contract_no = %s FOR UPDATE"
SQL_GET = "SELECT * FROM land_contracts WHERE contract_no = %s"
SQL_DELAYS = "SELECT * FROM contract_delays WHERE contract_id = %s ORDER BY from_date, id"
SQL_START = """
UPDATE land_contracts SET actual_start = %s, updated_at = now() WHERE id = %s RETURNING *
"""
SQL_COMPLETE = """
UPDATE land_contracts SET actual_completion = %s, status = 'completed', work_stopped_since = NULL,
       updated_at = now() WHERE id = %s RETURNING *
"""
SQL_PROGRESS = """
UPDATE land_contracts
   SET developed_area_m2 = coalesce(%(area)s, developed_area_m2),
       investment_to_date_wan = coalesce(%(invested)s, investment_to_date_wan),
       work_stopped_since = CASE WHEN %(resume)s THEN NULL
                                 ELSE coalesce(%(stopped)s, work_stopped_since) END,
       updated_at = now()
 WHERE id = %(id)s RETURNING *
"""
SQL_DELAY = """
INSERT INTO contract_delays (contract_id, from_date, to_date, cause, document_no, recorded_by)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING *
"""


@dataclass
class ContractParams:
    contract_no: str | None = None
    price_wan: Decimal | None = None
    lease_years: int | None = None
    agreed_start: date | None = None
    agreed_completion: date | None = None
    promised_investment_wan: Decimal | None = None
    project: str | None = None
    note: str | None = None


def _positive(name: str, v: Decimal | None, required: bool) -> None:
    if v is None:
        if required:
            raise InvalidData(f"缺少 {name} / {name} is required", field=name)
        return
    if not Decimal(v).is_finite() or Decimal(v) <= 0:
        raise InvalidData(
            f"{name} 须为正数（万元） / {name} must be positive (10k yuan)", field=name
        )


def sign(
    conn: psycopg.Connection,
    code: str,
    p: ContractParams,
    actor: str,
    expected_version: int | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Allocate a listed parcel under a contract; 409 before the listing's result, 422 for a
    contract the law does not allow (lease over the maximum, completion before start).

    The checks against the listing, the allocation and the contract's insert are one
    transaction.
    """
    start, completion = _check_terms(p)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if p.contract_no and cur.execute(SQL_EXISTS, (p.contract_no.strip(),)).fetchone():
            raise Conflict(
                f"合同编号 {p.contract_no.strip()} 已存在 / contract "
                f"{p.contract_no.strip()} exists already"
            )
        sold = cur.execute(SQL_SOLD_LISTING, (code,)).fetchone()
        price = _contract_price(p, sold)
        extra = {
            "price_wan": str(price),
            "agreed_start": start.isoformat(),
            "agreed_completion": completion.isoformat(),
        }
        out = lifecycle.apply_action(
            conn,
            code,
            "allocate",
            lifecycle.ActionParams(
                project=p.project,
                note=p.note,
                contract_no=p.contract_no,
                lease_years=p.lease_years,
                extra=extra,
            ),
            actor,
            expected_version,
            now=now,
        )
        assert p.contract_no is not None  # apply_action's validation requires it
        contract = cur.execute(
            SQL_INSERT,
            {
                "no": p.contract_no.strip(),
                "listing": (sold or {}).get("id"),
                "price": price,
                "lease": p.lease_years,
                "signed": lifecycle.park_today(now),
                "start": start,
                "completion": completion,
                "investment": p.promised_investment_wan,
                "actor": actor,
                "code": code,
            },
        ).fetchone()
    out["contract"] = contract
    return out


def _check_terms(p: ContractParams) -> tuple[date, date]:
    """The contract's own terms: both dates, in order, and positive sums; the agreed start
    and completion."""
    if p.agreed_start is None or p.agreed_completion is None:
        raise InvalidData(
            "合同需要约定开工日 agreed_start 和约定竣工日 agreed_completion / the "
            "contract needs agreed_start and agreed_completion",
            field="agreed_start",
        )
    if p.agreed_completion < p.agreed_start:
        raise InvalidData(
            "约定竣工日不能早于约定开工日 / agreed_completion is before agreed_start",
            field="agreed_completion",
        )
    _positive("promised_investment_wan", p.promised_investment_wan, False)
    _positive("price_wan", p.price_wan, False)
    return p.agreed_start, p.agreed_completion


def _contract_price(p: ContractParams, sold: dict[str, Any] | None) -> Any:
    """The contract price: the one given, else the listing's closing price; a given price
    must be the closing price of a listing the parcel was sold by."""
    price = p.price_wan if p.price_wan is not None else (sold or {}).get("closing_price_wan")
    if price is None:
        raise InvalidData(
            "需要成交价款 price_wan（万元） / the contract price is needed (price_wan, 10k yuan)",
            field="price_wan",
        )
    if sold is not None and Decimal(price) != Decimal(sold["closing_price_wan"]):
        raise InvalidData(
            f"出让价款须为挂牌成交价 {sold['closing_price_wan']} 万元 / the "
            f"price must be the listing's closing price "
            f"{sold['closing_price_wan']}",
            field="price_wan",
        )
    return price


def _locked(cur: psycopg.Cursor[dict[str, Any]], contract_no: str) -> dict[str, Any]:
    row = cur.execute(SQL_LOCK, (contract_no,)).fetchone()
    if row is None:
        raise NotFound(f"合同 {contract_no} 不存在 / no contract {contract_no}")
    return row


def _not_future(d: date, today: date, name: str) -> None:
    if d > today:
        raise InvalidData(
            f"{name} {d} 晚于今天 {today} / {name} {d} is after today ({today})", field=name
        )


def record_start(
    conn: psycopg.Connection,
    contract_no: str,
    actual_start: date,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Construction started: the parcel goes to ``under_construction`` (event
    ``start_construction``)."""
    _not_future(actual_start, lifecycle.park_today(now), "actual_start")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        c = _locked(cur, contract_no)
        if c["actual_start"] is not None:
            raise Conflict(
                f"合同 {contract_no} 已于 {c['actual_start']} 开工 / contract "
                f"{contract_no} started on {c['actual_start']} already"
            )
        if c["status"] != "active":
            raise Conflict(f"合同 {contract_no} 状态为 {c['status']} / contract is {c['status']}")
        out = lifecycle.apply_action(
            conn,
            c["parcel_code"],
            "start_construction",
            lifecycle.ActionParams(
                note=f"实际开工 {actual_start} / construction started",
                extra={"contract_no": contract_no, "actual_start": actual_start.isoformat()},
            ),
            actor,
            None,
            now=now,
        )
        out["contract"] = cur.execute(SQL_START, (actual_start, c["id"])).fetchone()
    return out


def record_completion(
    conn: psycopg.Connection,
    contract_no: str,
    actual_completion: date,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Construction completed: the parcel goes to ``operational`` (event ``complete``)."""
    _not_future(actual_completion, lifecycle.park_today(now), "actual_completion")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        c = _locked(cur, contract_no)
        if c["actual_start"] is None:
            raise Conflict(
                f"合同 {contract_no} 尚未开工 / contract {contract_no} has not started",
                allowed_actions=["start"],
            )
        if c["actual_completion"] is not None:
            raise Conflict(f"合同 {contract_no} 已竣工 / contract {contract_no} is complete")
        if actual_completion < c["actual_start"]:
            raise InvalidData(
                "竣工日早于开工日 / completion before the start", field="actual_completion"
            )
        out = lifecycle.apply_action(
            conn,
            c["parcel_code"],
            "complete",
            lifecycle.ActionParams(
                note=f"竣工 {actual_completion} / completed",
                extra={
                    "contract_no": contract_no,
                    "actual_completion": actual_completion.isoformat(),
                },
            ),
            actor,
            None,
            now=now,
        )
        out["contract"] = cur.execute(SQL_COMPLETE, (actual_completion, c["id"])).fetchone()
    return out


def record_progress(
    conn: psycopg.Connection,
    contract_no: str,
    actor: str,
    developed_area_m2: float | None = None,
    investment_to_date_wan: Decimal | None = None,
    work_stopped_since: date | None = None,
    resumed: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Developed area, investment to date and whether work has stopped (and since when)."""
    today = lifecycle.park_today(now)
    if work_stopped_since is not None:
        _not_future(work_stopped_since, today, "work_stopped_since")
    if developed_area_m2 is not None and not developed_area_m2 >= 0:
        raise InvalidData("developed_area_m2 须 ≥ 0 / must be ≥ 0", field="developed_area_m2")
    if investment_to_date_wan is not None and not Decimal(investment_to_date_wan) >= 0:
        raise InvalidData(
            "investment_to_date_wan 须 ≥ 0 / must be ≥ 0", field="investment_to_date_wan"
        )
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        c = _locked(cur, contract_no)
        if c["actual_start"] is None:
            raise Conflict(f"合同 {contract_no} 尚未开工 / contract {contract_no} has not started")
        row = cur.execute(
            SQL_PROGRESS,
            {
                "area": developed_area_m2,
                "invested": investment_to_date_wan,
                "stopped": work_stopped_since,
                "resume": resumed,
                "id": c["id"],
            },
        ).fetchone()
        lifecycle.note_event(
            cur,
            c["parcel_code"],
            actor,
            "progress",
            "开发进度 / progress",
            {
                "contract_no": contract_no,
                "developed_area_m2": developed_area_m2,
                "investment_to_date_wan": investment_to_date_wan,
                "work_stopped_since": work_stopped_since,
                "resumed": resumed,
            },
        )
    assert row is not None  # UPDATE ... RETURNING of the locked contract
    return row


def record_delay(
    conn: psycopg.Connection,
    contract_no: str,
    from_date: date,
    to_date: date | None,
    cause: str,
    document_no: str | None,
    actor: str,
) -> dict[str, Any]:
    """A delay the government caused; its days do not count towards idleness (令53 第八条)."""
    if not cause or not cause.strip() or len(cause) > CAUSE_MAX:
        raise InvalidData(
            f"需要延误原因（最长 {CAUSE_MAX} 字） / the cause is needed (at most "
            f"{CAUSE_MAX} characters)",
            field="cause",
        )
    if to_date is not None and to_date < from_date:
        raise InvalidData("延误结束日早于开始日 / to_date is before from_date", field="to_date")
    if document_no is not None and len(document_no) > 64:
        raise InvalidData("文号最长 64 字 / document_no at most 64 characters", field="document_no")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        c = _locked(cur, contract_no)
        row = cur.execute(
            SQL_DELAY, (c["id"], from_date, to_date, cause.strip(), document_no, actor)
        ).fetchone()
        lifecycle.note_event(
            cur,
            c["parcel_code"],
            actor,
            "government_delay",
            f"政府原因延误 / government-caused delay: {cause.strip()}",
            {
                "contract_no": contract_no,
                "from_date": from_date,
                "to_date": to_date,
                "document_no": document_no,
            },
        )
    assert row is not None  # INSERT ... RETURNING
    return row


def get_contract(conn: psycopg.Connection, contract_no: str) -> dict[str, Any]:
    """A contract with its recorded government delays; 404 if unknown."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_GET, (contract_no,)).fetchone()
        if row is None:
            raise NotFound(f"合同 {contract_no} 不存在 / no contract {contract_no}")
        row["delays"] = cur.execute(SQL_DELAYS, (row["id"],)).fetchall()
    return row
