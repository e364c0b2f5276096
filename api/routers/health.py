"""Liveness and readiness: ``/healthz`` reports the database too.

Degraded answers are problem+json 503 with Retry-After, like every other database outage,
and say nothing of the error itself (it may carry the server's socket path). The check takes
its own connection from the pool with the pool's bound, so it never hangs and, because the
pool checks connections on checkout, it turns 200 as soon as the database is back.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import unavailable
from parkgis import __version__
from parkgis.db.health import readiness

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Health / 健康检查",
    responses={
        503: {
            "description": "数据库不可用 / database unavailable",
            "content": {"application/problem+json": {}},
        }
    },
)
async def healthz(request: Request) -> JSONResponse:
    s = request.app.state.settings
    try:
        # Held for the one query only: the connection is back in the pool before the answer.
        async with request.app.state.pool.connection(timeout=s.db_pool_timeout_s) as conn:
            row = await readiness(conn)
    except Exception:  # the point of a health check is to report, not to raise
        return unavailable(request, s.db_retry_after_s)
    return JSONResponse({"status": "ok", "version": __version__, "database": {"ok": True, **row}})
