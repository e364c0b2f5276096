"""Availability search: ``GET /api/parcels/available`` (public).

Thin: parse with :meth:`parkgis.siting.search.AvailabilityQuery.from_params`, run
:func:`parkgis.siting.search.search` on a pooled sync connection (FastAPI runs this ``def`` route in
its thread pool), write GeoJSON (pre-encoded bytes, :func:`parkgis.siting.search.to_geojson_bytes`),
CSV or GeoPackage. The search expires lapsed reservations
first (a GET that may write: see :func:`parkgis.siting.search.expire_lapsed`, which never fails the
request) and refuses terrain filters without terrain data (422).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.dependencies import AppSettings, Conn, documented_query, output_format
from parkgis.siting import search as core

router = APIRouter(tags=["search"])

# The search's own filters are parsed by the core from the raw query (repeatable, open-ended
# names); OpenAPI lists them from the core's table, ``f`` comes from the shared dependency.
SearchParams = Annotated[list[tuple[str, str]], Depends(documented_query(core.PARAMS, skip=("f",)))]
GEOJSON_MEDIA_TYPE = "application/geo+json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"
MEDIA_TYPES = {"geojson": GEOJSON_MEDIA_TYPE, "csv": CSV_MEDIA_TYPE, "gpkg": GPKG_MEDIA_TYPE}
assert set(MEDIA_TYPES) == set(core.FORMATS)
SearchFormat = Annotated[str, Depends(output_format(MEDIA_TYPES, "geojson"))]


@router.get(
    "/api/parcels/available",
    summary="Available land search / 可用地块查询",
    description="按园区、用地、面积、配套、距离和地形条件查询空闲地块。地形：max_slope_deg 按"
    "平均坡度筛选（最大坡度 slope_max_deg 只列出、不筛选，与选址匹配一致），"
    "max_flood_share 按易涝面积比例（0–1），max_earthwork_wan 按场地平整费用（万元，"
    "(挖方+填方)×yuan_per_m3/10000）；未加载地形数据时使用地形条件返回 422。查询前"
    "自动释放已到期的预留。 / "
    "Vacant parcels (available, reserved, listed by default) meeting zone, land "
    "use, area, servicing, distance and terrain conditions. Distances in metres, "
    "measured in the zone's CGCS2000 Gauss-Krüger projection. Terrain: "
    "max_slope_deg is tested against the mean slope (slope_max_deg is reported, not "
    "filtered, as in project fit); max_flood_share against the flood-prone share "
    "(0..1); max_earthwork_wan against the levelling cost in 10k CNY = (cut + fill) "
    "m³ × yuan_per_m3 / 10000 (default rate from settings). A terrain filter with no "
    "terrain loaded is answered 422. Lapsed reservations are expired before the "
    "search, so they are listed as available.",
    responses={
        200: {"content": {"application/geo+json": {}, "text/csv": {}, GPKG_MEDIA_TYPE: {}}},
        400: {"description": "bad parameter / 参数错误 (problem+json)"},
        422: {"description": "terrain filter without terrain data / 未加载地形数据 (problem+json)"},
    },
)
def available(
    params: SearchParams, conn: Conn, settings: AppSettings, fmt: SearchFormat
) -> Response:
    q = core.AvailabilityQuery.from_params(params, earthwork=settings.earthwork)
    # Exact totals on park-sized tables; past that size a full page reports an estimate.
    exact_max = min(settings.publication.count_exact_max, core.COUNT_EXACT_MAX_PARCELS)
    # Each output reads only the columns it writes (no geometry for CSV, no lon/lat for JSON).
    result = core.search(conn, q, exact_max, output=fmt)
    headers = {"X-Number-Matched": str(result.number_matched)}
    if not result.exact:
        headers["X-Number-Matched-Estimated"] = "true"
    if fmt == "csv":
        headers["Content-Disposition"] = 'attachment; filename="available_parcels.csv"'
        return Response(core.to_csv(result), media_type=CSV_MEDIA_TYPE, headers=headers)
    if fmt == "gpkg":
        headers["Content-Disposition"] = 'attachment; filename="available_parcels.gpkg"'
        return Response(core.to_gpkg(result), media_type=GPKG_MEDIA_TYPE, headers=headers)
    # Pre-encoded bytes (orjson, geometry text as PostGIS wrote it): no json.loads/dumps of
    # every geometry, no response-model validation.
    return Response(core.to_geojson_bytes(result), media_type=GEOJSON_MEDIA_TYPE, headers=headers)
