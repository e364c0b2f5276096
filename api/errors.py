"""Every error leaves the API as RFC 9457 ``application/problem+json``.

Domain errors carry their status; database refusals map to the status a client can act on
(an overlap or a conflicting hold is 409, a bad value 422); an unreachable or overloaded
database (no pooled connection within the bound, a lost connection, a statement timeout) is a
503 with Retry-After; anything unexpected is a 500 whose detail says nothing internal.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from parkgis.db.pool import is_unavailable
from parkgis.errors import ParkGISError

log = logging.getLogger("parkgis.api")
PROBLEM = "application/problem+json"

# SQLSTATE class/code -> HTTP status for refusals that reach the API from the database.
SQLSTATE_STATUS = {
    "23P01": 409,  # exclusion_violation: overlapping parcels, two active holds
    "23505": 409,  # unique_violation
    "40001": 409,  # serialization_failure
    "40P01": 409,  # deadlock_detected
    "55P03": 409,  # lock_not_available
    "23514": 422,  # check_violation
    "23502": 422,  # not_null_violation
    "23503": 422,  # foreign_key_violation
    "22023": 400,  # invalid_parameter_value
    "22P02": 400,  # invalid_text_representation
}

TITLES = {
    400: ("请求无效", "Bad request"),
    401: ("需要登录", "Authentication required"),
    403: ("无权操作", "Forbidden"),
    404: ("未找到", "Not found"),
    405: ("方法不允许", "Method not allowed"),
    409: ("冲突", "Conflict"),
    412: ("版本已过期", "Precondition failed"),
    422: ("数据无效", "Unprocessable content"),
    428: ("需要版本号", "Precondition required"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("服务器错误", "Internal server error"),
    503: ("服务暂不可用", "Service unavailable"),
}

UNAVAILABLE_DETAIL = (
    "数据库暂不可用或繁忙，请稍后重试 / the database is unavailable or busy, please retry shortly"
)


def unavailable(request: Request | None, retry_after_s: int) -> JSONResponse:
    """The 503 every database outage, pool exhaustion or statement timeout answers."""
    return problem(
        503, UNAVAILABLE_DETAIL, request, headers={"Retry-After": str(max(1, int(retry_after_s)))}
    )


def problem(
    status: int,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    zh, en = TITLES.get(status, ("错误", "Error"))
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": f"{zh} / {en}",
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = str(request.url.path)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ParkGISError)
    async def _domain(request: Request, exc: ParkGISError) -> JSONResponse:
        headers = exc.extra.pop("headers", None)
        return problem(exc.status, exc.message, request, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        # pydantic speaks English only: the reader gets the Chinese sentence first.
        return problem(
            400, f"请求参数无效 / invalid request: {where}: {first['msg']}", request, errors=errs
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        zh, en = TITLES.get(exc.status_code, ("错误", "Error"))
        if detail.lower() == en.lower() or not re.search(r"[\u4e00-\u9fff]", detail):
            # Starlette's own phrases ("Not Found", "Method Not Allowed") are English only.
            detail = f"{zh} / {detail}"
        return problem(exc.status_code, detail, request, headers=exc.headers)

    @app.exception_handler(psycopg.Error)
    async def _db(request: Request, exc: psycopg.Error) -> JSONResponse:
        status = SQLSTATE_STATUS.get(exc.sqlstate or "")
        if isinstance(exc, psycopg.DataError) and exc.sqlstate is None and "NUL" in str(exc):
            # Refused by psycopg before the query was sent: a NUL character in a value from
            # the request (PostgreSQL text cannot hold one). Nothing reached the database.
            return problem(
                422,
                "文本不能包含 NUL 字符 (\\u0000) / text may not contain the NUL "
                "character (\\u0000)",
                request,
            )
        if status is None and is_unavailable(exc):
            # Nothing of the message goes out: it may name the server's socket path.
            log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
            return unavailable(request, request.app.state.settings.db_retry_after_s)
        if status is None and (exc.sqlstate or "").startswith("22"):
            status = 422  # data_exception: a value out of range or malformed for its column
        if status is None:
            log.exception("database error on %s", request.url.path)
            return problem(500, "数据库错误 / database error", request)
        diag = exc.diag.message_primary or str(exc)
        return problem(status, diag, request)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "服务器内部错误 / internal error", request)
