"""Liveness and readiness: ``/healthz`` reports the database too."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import AsyncConn
from parkgis import __version__

router = APIRouter(tags=["health"])

HEALTH_SQL = """
SELECT current_database() AS database,
       postgis_lib_version() AS postgis,
       current_setting('server_version') AS postgres,
       (SELECT count(*) FROM parcels) AS parcels,
       (SELECT max(version) FROM schema_migrations) AS schema
"""


@router.get("/healthz", summary="Health / 健康检查")
async def healthz(conn: AsyncConn) -> JSONResponse:
    try:
        row = await (await conn.execute(HEALTH_SQL)).fetchone()
    except Exception as exc:  # the point of a health check is to report, not to raise
        return JSONResponse({"status": "error", "database": {"ok": False, "error": str(exc)}},
                            status_code=503)
    return JSONResponse({"status": "ok", "version": __version__,
                         "database": {"ok": True, **row}})
