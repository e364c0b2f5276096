"""Availability search: ``GET /api/parcels/available`` (public).

Thin: parse with :meth:`parkgis.search.AvailabilityQuery.from_params`, run
:func:`parkgis.search.search` on a pooled sync connection (FastAPI runs this ``def`` route in
its thread pool), write GeoJSON, CSV or GeoPackage.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.deps import SyncConn
from parkgis import search as core
from parkgis.errors import InvalidInput

router = APIRouter(tags=["search"])

_OPENAPI_PARAMS = [
    {"name": name, "in": "query", "required": False, "description": desc,
     "schema": {"type": "string"}}
    for name, desc in core.PARAMS.items()
]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"


@router.get(
    "/api/parcels/available",
    summary="Available land search / 可用地块查询",
    description="Vacant parcels (available, reserved, listed by default) meeting zone, land "
                "use, area, servicing and distance conditions. Distances in metres, measured "
                "in the zone's CGCS2000 Gauss-Krüger projection. / 按园区、用地、面积、配套和"
                "距离条件查询空闲地块。",
    openapi_extra={"parameters": _OPENAPI_PARAMS},
    responses={200: {"content": {"application/geo+json": {}, "text/csv": {},
                                 GPKG_MEDIA_TYPE: {}}}},
)
def available(request: Request, conn: SyncConn) -> Response:
    items = request.query_params.multi_items()
    fmts = [v for k, v in items if k == "f"]
    if len(fmts) > 1:
        raise InvalidInput("参数 f 只能给一次 / f given more than once", param="f")
    fmt = fmts[0] if fmts else "geojson"
    if fmt not in core.FORMATS:
        raise InvalidInput(f"不支持的格式 {fmt!r} / unknown format {fmt!r}; one of "
                           f"{', '.join(core.FORMATS)}", param="f")
    q = core.AvailabilityQuery.from_params(items)
    # Exact totals on park-sized tables; past that size a full page reports an estimate.
    exact_max = min(request.app.state.settings.count_exact_max, core.COUNT_EXACT_MAX_PARCELS)
    result = core.search(conn, q, exact_max)
    headers = {"X-Number-Matched": str(result.number_matched)}
    if not result.exact:
        headers["X-Number-Matched-Estimated"] = "true"
    if fmt == "csv":
        headers["Content-Disposition"] = 'attachment; filename="available_parcels.csv"'
        return Response(core.to_csv(result), media_type=CSV_MEDIA_TYPE, headers=headers)
    if fmt == "gpkg":
        headers["Content-Disposition"] = 'attachment; filename="available_parcels.gpkg"'
        return Response(core.to_gpkg(result), media_type=GPKG_MEDIA_TYPE, headers=headers)
    return JSONResponse(core.to_geojson(result), media_type="application/geo+json",
                        headers=headers)
