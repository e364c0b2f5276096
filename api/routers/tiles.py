"""Vector tiles: ``/ogc/collections/{id}/tiles[/WebMercatorQuad[/{z}/{x}/{y}]]``.

The tile route is the hottest path of the investor map, so it skips FastAPI dependencies and
talks to :class:`parkgis.tiles.TileService` (version check, cache, SQL) directly.

Path order is ``{z}/{x}/{y}`` as the design contract (and Leaflet) has it; note that OGC API –
Tiles writes ``{tileMatrix}/{tileRow}/{tileCol}`` (z/y/x), so the templated link below says
``{tileMatrix}/{tileCol}/{tileRow}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from parkgis import tiles as core

router = APIRouter(tags=["tiles"])

CACHE_CONTROL = f"public, max-age={core.CACHE_MAX_AGE_S}"


def service(request: Request) -> core.TileService:
    """The app's tile service, created on first use (one per worker process)."""
    svc = getattr(request.app.state, "tiles", None)
    if svc is None:
        s = request.app.state.settings
        svc = core.TileService(request.app.state.pool, s.tile_cache_size, s.tile_max_features)
        request.app.state.tiles = svc
    return svc


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/ogc/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}",
    summary="Vector tile / 矢量瓦片 (MVT)",
    responses={200: {"content": {core.MVT_MEDIA_TYPE: {}}}, 304: {"description": "Not modified"}},
)
async def get_tile(
    request: Request,
    collection_id: str,
    tms: str,
    z: int = Path(ge=0, description="zoom / 缩放级别"),
    x: int = Path(ge=0, description="column / 列"),
    y: int = Path(ge=0, description="row / 行"),
) -> Response:
    core.check_tms(tms)
    res = await service(request).tile(collection_id, z, x, y,
                                      request.headers.get("if-none-match"))
    headers = {"ETag": res.etag, "Cache-Control": CACHE_CONTROL}
    if res.status == 304:
        return Response(status_code=304, headers=headers)
    headers["X-Tile-Cache"] = "hit" if res.cache_hit else "miss"
    return Response(res.body, media_type=core.MVT_MEDIA_TYPE, headers=headers)


@router.get("/ogc/collections/{collection_id}/tiles", summary="Tilesets / 瓦片集列表")
async def tilesets(request: Request, collection_id: str) -> JSONResponse:
    coll = core.collection(collection_id)
    base = f"{_base(request)}/ogc/collections/{coll.id}/tiles"
    body: dict[str, Any] = {
        "links": [
            {"rel": "self", "type": "application/json", "href": base,
             "title": "瓦片集 / Tilesets"},
            {"rel": "collection", "type": "application/json",
             "href": f"{_base(request)}/ogc/collections/{coll.id}"},
        ],
        "tilesets": [{
            "title": f"{coll.title} — {core.TMS_ID}",
            "dataType": "vector",
            "crs": core.TMS_CRS,
            "tileMatrixSetURI": core.TMS_URI,
            "links": [
                {"rel": "self", "type": "application/json", "href": f"{base}/{core.TMS_ID}",
                 "title": "TileJSON"},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                 "href": core.TMS_URI},
                {"rel": "item", "type": core.MVT_MEDIA_TYPE, "templated": True,
                 "href": f"{base}/{core.TMS_ID}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}"},
            ],
        }],
    }
    return JSONResponse(body)


@router.get("/ogc/collections/{collection_id}/tiles/{tms}",
            summary="Tileset metadata (TileJSON 3.0) / 瓦片集元数据")
async def tileset(request: Request, collection_id: str, tms: str) -> JSONResponse:
    coll = core.collection(collection_id)
    core.check_tms(tms)
    url = f"{_base(request)}/ogc/collections/{coll.id}/tiles/{core.TMS_ID}/{{z}}/{{x}}/{{y}}"
    bounds = await service(request).bounds(coll.id)
    return JSONResponse(core.tilejson(coll, url, bounds))
