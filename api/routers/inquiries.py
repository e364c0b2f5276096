"""``POST /api/inquiries``: the public "咨询此地块 / Ask about this site" form.

Public (no token), validated (:class:`parkgis.inquiries.Inquiry`), rate-limited per client
address in the database (``settings.inquiry_rate_per_hour``; see :mod:`parkgis.inquiries` for
why DB-backed), stored in ``inquiries``. Answers carry a Chinese and an English message; a
refusal is problem+json (422 invalid or unknown parcel, 429 with ``Retry-After``).

The client key is :data:`api.security.ClientAddress`: the TCP peer, or behind a reverse proxy
listed in ``PARKGIS_TRUSTED_PROXIES`` the address that proxy forwarded. A client-written
``X-Forwarded-For`` is never believed, so it cannot buy a fresh limit per request.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep, SyncConn
from api.security import ClientAddress, RequirePlanner
from parkgis import inquiries as core
from parkgis import notify
from parkgis.errors import InvalidInput

router = APIRouter(tags=["inquiries"])
MAX_BODY = 16_384


@router.post(
    "/api/inquiries", status_code=201,
    summary="Send an inquiry / 提交投资咨询",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": core.Inquiry.model_json_schema()}}}},
    responses={201: {"description": "stored / 已收到"}, 422: {"description": "invalid / 无效"},
               429: {"description": "rate limited / 过于频繁"}},
)
async def post_inquiry(request: Request, settings: SettingsDep,
                       client: ClientAddress) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput(f"请求过大 / body over {MAX_BODY} bytes")
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("请求体不是 JSON / body is not JSON") from None
    inquiry = core.parse(payload)
    def store() -> dict[str, object]:
        with request.app.state.sync_pool.connection() as conn:
            return core.submit(conn, inquiry, client, settings.inquiry_rate_per_hour)

    body = await run_in_threadpool(store)
    # core.submit has committed: only now may planners be told.
    notify.notify_inquiry(settings, int(str(body["id"])), inquiry.parcels)
    return JSONResponse(body, status_code=201)


@router.get("/api/inquiries/new-count", summary="New inquiries / 未处理咨询数 (planner)")
def inquiries_new_count(user: RequirePlanner, conn: SyncConn) -> JSONResponse:
    return JSONResponse(core.new_count(conn), headers={"Cache-Control": "no-store"})
