"""Investor inquiries: the public form ``POST /api/inquiries`` and the planners' inbox.

The form ("咨询此地块 / Ask about this site") is public (no token), validated
(:class:`parkgis.promotion.inquiries.Inquiry`), rate-limited per client address in the database
(``settings.inquiry_rate_per_hour``; see :mod:`parkgis.promotion.inquiries` for why DB-backed),
stored in
``inquiries``. Answers carry a Chinese and an English message; a refusal is problem+json (422
invalid or unknown parcel, 429 with ``Retry-After``).

The client key is :data:`api.security.ClientAddress`: the TCP peer, or behind a reverse proxy
listed in ``PARKGIS_TRUSTED_PROXIES`` the address that proxy forwarded. A client-written
``X-Forwarded-For`` is never believed, so it cannot buy a fresh limit per request.

The inbox (``GET /api/inquiries``, ``PATCH /api/inquiries/{id}``) is for planners and admins.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import AppSettings, Conn, RequirePlanner
from api.security import ClientAddress
from parkgis.errors import InvalidInput
from parkgis.promotion import inquiries as core
from parkgis.promotion import notify, pipeline

router = APIRouter(tags=["inquiries"])
MAX_BODY = 16_384


@router.post(
    "/api/inquiries",
    status_code=201,
    summary="Send an inquiry / 提交投资咨询",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": core.Inquiry.model_json_schema()}},
        }
    },
    responses={
        201: {"description": "stored / 已收到"},
        422: {"description": "invalid / 无效"},
        429: {"description": "rate limited / 过于频繁"},
    },
)
async def post_inquiry(
    request: Request,
    settings: AppSettings,
    conn: Conn,
    client: ClientAddress,
    background: BackgroundTasks,
) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput(f"请求过大 / body over {MAX_BODY} bytes")
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("请求体不是 JSON / body is not JSON") from None
    inquiry = core.parse(payload)
    body: dict[str, Any] = await run_in_threadpool(
        core.submit, conn, inquiry, client, settings.inquiry_rate_per_hour
    )
    # Background tasks run after the response, so after the unit of work has committed: only
    # then may planners be told.
    background.add_task(notify.notify_inquiry, settings, int(str(body["id"])), inquiry.parcels)
    return JSONResponse(body, status_code=201)


@router.get("/api/inquiries/new-count", summary="New inquiries / 未处理咨询数 (planner)")
def inquiries_new_count(user: RequirePlanner, conn: Conn) -> JSONResponse:
    return JSONResponse(core.new_count(conn), headers={"Cache-Control": "no-store"})


@router.get("/api/inquiries", summary="Inquiries inbox / 投资咨询收件箱")
def inquiries_inbox(
    user: RequirePlanner,
    conn: Conn,
    status_: Annotated[str | None, Query(alias="status")] = None,
    limit: int = Query(200, ge=1, le=1000),
) -> JSONResponse:
    return JSONResponse(jsonable_encoder({"inquiries": pipeline.inquiries(conn, status_, limit)}))


class InquiryPatch(BaseModel):
    status: Literal[pipeline.INQUIRY_STATUSES]  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.patch("/api/inquiries/{iid}", summary="Mark an inquiry / 标记咨询（已回复、已关闭）")
def inquiry_mark(iid: int, body: InquiryPatch, user: RequirePlanner, conn: Conn) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(pipeline.mark_inquiry(conn, iid, body.status, user.name, body.note))
    )
