"""Land supply routes: the 令39 listing (notice, periods, bids), contracts, idle land.

Thin: each route parses, makes one core call (:mod:`parkgis.land`) and responds; the ``Conn``
dependency commits the unit of work.
``POST /api/parcels/{code}/list`` (and ``/bids``, ``/contract``) are sub-resources the generic
lifecycle route's path converter refuses (``api.dependencies.PARCEL_SUBRESOURCES``), so every
listing made over HTTP carries its notice, periods and prices whatever the router order.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import PARCEL_CODE, Conn
from api.routers.parcel_actions import etag, expected_version, feature, parse_if_match
from api.security import OptionalUser, RequirePlanner
from parkgis.land import clock, contracts, idle, lifecycle, listing

router = APIRouter(tags=["land supply / 土地供应"])

Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)]


class ListBody(BaseModel):
    """A listing under 令39. ``notice_start``/``notice_days`` are the older names, still read:
    the notice date and the days from it to the listing's start."""

    notice_no: str | None = Field(None, max_length=64, description="出让公告文号 / notice number")
    notice_date: date | None = Field(None, description="公告发布日（默认今天） / notice date")
    notice_start: date | None = Field(None, description="= notice_date (older name)")
    notice_days: int | None = Field(
        None,
        ge=1,
        le=lifecycle.NOTICE_MAX_DAYS,
        description="公告至挂牌开始天数（≥20） / days to the start",
    )
    listing_start: date | None = Field(None, description="挂牌开始日 / listing start")
    listing_end: date | None = Field(None, description="挂牌截止日 / listing end")
    start_price_wan: Money | None = Field(None, description="起始价（万元） / starting price")
    increment_wan: Money | None = Field(None, description="加价幅度（万元） / increment")
    project: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=lifecycle.NOTE_MAX)


class BidBody(BaseModel):
    bidder: str = Field(min_length=1, max_length=listing.BIDDER_MAX, description="竞买人")
    amount_wan: Money = Field(description="报价（万元） / bid (10k yuan)")


class ContractBody(BaseModel):
    contract_no: str = Field(min_length=1, max_length=64, description="合同编号")
    price_wan: Money | None = Field(None, description="出让价款（万元），默认挂牌成交价")
    lease_years: int = Field(ge=1, le=70, description="出让年限（工业 ≤ 50）")
    agreed_start: date = Field(description="约定开工日")
    agreed_completion: date = Field(description="约定竣工日")
    promised_investment_wan: Money | None = Field(None, description="承诺投资（万元）")
    project: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=lifecycle.NOTE_MAX)


class DateBody(BaseModel):
    date: dt.date = Field(description="日期 / the day it happened")


class ProgressBody(BaseModel):
    developed_area_m2: float | None = Field(None, ge=0, le=1e8)
    investment_to_date_wan: (
        Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)] | None
    ) = None
    work_stopped_since: date | None = None
    resumed: bool = False


class DelayBody(BaseModel):
    from_date: date
    to_date: date | None = None
    cause: str = Field(min_length=1, max_length=contracts.CAUSE_MAX)
    document_no: str | None = Field(None, max_length=64)


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


@router.post(f"/api/parcels/{PARCEL_CODE}/list", summary="List a parcel (令39) / 挂牌出让")
def list_parcel(
    code: str,
    user: RequirePlanner,
    conn: Conn,
    body: ListBody,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    version = expected_version(parse_if_match(if_match), code)
    notice = body.notice_date or body.notice_start
    start = body.listing_start
    if start is None and body.notice_days is not None:
        start = (notice or lifecycle.park_today()) + timedelta(days=body.notice_days)
    params = listing.ListingParams(
        notice_no=body.notice_no,
        notice_date=notice,
        listing_start=start,
        listing_end=body.listing_end,
        start_price_wan=body.start_price_wan,
        increment_wan=body.increment_wan,
        project=body.project,
        note=body.note,
    )
    lifecycle.expire_reservations(conn, codes=[code])
    result = listing.list_parcel(conn, code, params, user.name, user.role, version)
    parcel = result["parcel"]
    return _json(
        {
            "parcel": feature(parcel, user),
            "event": result["event"],
            "listing": result["listing"],
            "earliest_allocation": listing.earliest_allocation(result["listing"]["listing_end"]),
            "allowed_actions": lifecycle.allowed_actions(parcel["status"]),
        },
        headers={"ETag": etag(parcel["code"], parcel["version"])},
    )


@router.get("/api/parcels/{code}/listing", summary="The parcel's listing and bids / 挂牌信息")
def get_listing(code: str, user: OptionalUser, conn: Conn) -> JSONResponse:
    row = listing.listing_of(conn, code)
    if user is None or not user.can_write:
        row = {k: v for k, v in row.items() if k not in ("created_by",)}
        row["bids"] = [{k: b[k] for k in ("amount_wan", "at")} for b in row["bids"]]
    return _json(row)


@router.post(f"/api/parcels/{PARCEL_CODE}/bids", status_code=201, summary="Record a bid / 记录报价")
def bid(code: str, user: RequirePlanner, conn: Conn, body: BidBody) -> JSONResponse:
    result = listing.place_bid(conn, code, body.bidder, body.amount_wan, user.name)
    return _json(result, 201)


@router.post(
    f"/api/parcels/{PARCEL_CODE}/contract", summary="Sign the contract (allocate) / 签订出让合同"
)
def sign(
    code: str,
    user: RequirePlanner,
    conn: Conn,
    body: ContractBody,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    version = expected_version(parse_if_match(if_match), code)
    listing.close_due(conn, lifecycle.park_today(), codes=[code])
    result = contracts.sign(
        conn, code, contracts.ContractParams(**body.model_dump()), user.name, version
    )
    parcel = result["parcel"]
    return _json(
        {"parcel": feature(parcel, user), "event": result["event"], "contract": result["contract"]},
        headers={"ETag": etag(parcel["code"], parcel["version"])},
    )


@router.get("/api/contracts/{contract_no}", summary="A contract / 出让合同")
def get_contract(contract_no: str, user: RequirePlanner, conn: Conn) -> JSONResponse:
    return _json(contracts.get_contract(conn, contract_no))


@router.post("/api/contracts/{contract_no}/start", summary="Construction started / 实际开工")
def start(contract_no: str, user: RequirePlanner, conn: Conn, body: DateBody) -> JSONResponse:
    result = contracts.record_start(conn, contract_no, body.date, user.name)
    return _json(
        {
            "parcel": feature(result["parcel"], user),
            "event": result["event"],
            "contract": result["contract"],
        }
    )


@router.post("/api/contracts/{contract_no}/complete", summary="Construction complete / 竣工")
def complete(contract_no: str, user: RequirePlanner, conn: Conn, body: DateBody) -> JSONResponse:
    result = contracts.record_completion(conn, contract_no, body.date, user.name)
    return _json(
        {
            "parcel": feature(result["parcel"], user),
            "event": result["event"],
            "contract": result["contract"],
        }
    )


@router.post("/api/contracts/{contract_no}/progress", summary="Progress / 开发进度")
def progress(
    contract_no: str, user: RequirePlanner, conn: Conn, body: ProgressBody
) -> JSONResponse:
    row = contracts.record_progress(conn, contract_no, user.name, **body.model_dump())
    return _json(row)


@router.post(
    "/api/contracts/{contract_no}/delays",
    status_code=201,
    summary="A government-caused delay / 政府原因延误",
)
def delay(contract_no: str, user: RequirePlanner, conn: Conn, body: DelayBody) -> JSONResponse:
    row = contracts.record_delay(
        conn, contract_no, body.from_date, body.to_date, body.cause, body.document_no, user.name
    )
    return _json(row, 201)


@router.get(
    "/api/land/idle",
    summary="Idle land (令53) / 闲置土地",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def idle_land(
    user: RequirePlanner,
    conn: Conn,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD, default today")] = None,
) -> JSONResponse:
    body = idle.idle_land_features(conn, as_of or lifecycle.park_today())
    return _json(body, headers={"Cache-Control": "no-store"})


@router.get("/api/land/clock-flags", summary="Overdue upgrades and projects / 逾期提示")
def clock_flags(
    user: RequirePlanner,
    conn: Conn,
    kind: Annotated[str | None, Query(pattern="^(upgrade|project)$")] = None,
) -> JSONResponse:
    """What the daily job found: upgrades past their finish (not complete) or planned past
    their start, projects past their start date that have not started building."""
    return _json({"flags": clock.flags(conn, kind)})
