"""Terrain endpoints: map overlays (hillshade, flood) and per-parcel terrain and earthwork.

Overlays are PNG pictures already warped to Web Mercator, for a Leaflet ``L.imageOverlay``
with the ``bounds`` given by ``/api/terrain/overlays`` (south-west, north-east in lat/lon).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import SettingsDep, SyncConn
from parkgis.errors import NotFound
from parkgis.geo import terrain
from parkgis.settings import Settings

router = APIRouter(tags=["terrain"])

OVERLAYS = {
    "hillshade": ("地形晕渲", "Hillshade"),
    "flood": ("洪水淹没深度（模拟）", "Flood depth (synthetic)"),
}


def _raster_meta(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "name",
            "kind",
            "epsg",
            "width",
            "height",
            "res_x",
            "res_y",
            "bounds",
            "checksum",
            "options",
        )
    } | {"loaded_at": row["loaded_at"].isoformat()}


@router.get("/api/terrain", summary="已加载的地形栅格 / Loaded terrain rasters")
def terrain_info(conn: SyncConn, request: Request) -> dict[str, Any]:
    rasters = terrain.active_rasters(conn)
    return {
        "rasters": {k: _raster_meta(v) for k, v in rasters.items()},
        "overlays": [
            {
                "id": oid,
                "title_zh": zh,
                "title_en": en,
                "url": str(request.url_for("terrain_overlay_png", kind=oid).path),
                "bounds_url": str(request.url_for("terrain_overlay_meta", kind=oid).path),
            }
            for oid, (zh, en) in OVERLAYS.items()
            if (oid == "hillshade" and "dem" in rasters) or (oid == "flood" and "flood" in rasters)
        ],
    }


def _overlay(conn: SyncConn, kind: str, settings: Settings) -> terrain.Overlay:
    if kind not in OVERLAYS:
        raise NotFound(f"没有该图层 / no overlay {kind!r}: use hillshade or flood")
    return terrain.overlay(
        conn,
        kind,  # type: ignore[arg-type]
        default_srid=settings.siting.default_gk_srid,
    )


@router.get(
    "/api/terrain/{kind}.png",
    name="terrain_overlay_png",
    summary="叠加图 PNG（Web 墨卡托）/ Overlay PNG (Web Mercator)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def terrain_overlay_png(
    kind: str, conn: SyncConn, request: Request, settings: SettingsDep
) -> Response:
    ov = _overlay(conn, kind, settings)
    etag = f'"{kind}-{ov.checksum[:16]}"'
    bounds = ov.bounds
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=3600",
        # Also in a header, for clients that fetch only the picture.
        "X-Overlay-Bounds": f"{bounds[0][0]},{bounds[0][1]},{bounds[1][0]},{bounds[1][1]}",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(ov.png, media_type="image/png", headers=headers)


@router.get(
    "/api/terrain/{kind}.json",
    name="terrain_overlay_meta",
    summary="叠加图范围 / Overlay bounds for L.imageOverlay",
)
def terrain_overlay_meta(
    kind: str, conn: SyncConn, request: Request, settings: SettingsDep
) -> dict[str, Any]:
    ov = _overlay(conn, kind, settings)
    zh, en = OVERLAYS[kind]
    return {
        "id": kind,
        "title_zh": zh,
        "title_en": en,
        "url": str(request.url_for("terrain_overlay_png", kind=kind).path),
        "bounds": ov.bounds,  # [[south, west], [north, east]], EPSG:4326
        "crs": "EPSG:3857",
        "checksum": ov.checksum,
    }


@router.get("/api/terrain/overlays", summary="叠加图列表 / Overlays with bounds")
def terrain_overlays(
    conn: SyncConn, request: Request, settings: SettingsDep
) -> list[dict[str, Any]]:
    rasters = terrain.active_rasters(conn)
    out = []
    for kind in OVERLAYS:
        if ("flood" if kind == "flood" else "dem") not in rasters:
            continue
        out.append(terrain_overlay_meta(kind, conn, request, settings))
    return out


@router.get(
    "/api/parcels/{code}/terrain", summary="地块地形与土方 / Parcel terrain and levelling earthwork"
)
def parcel_terrain(
    code: str,
    conn: SyncConn,
    settings: SettingsDep,
    level: Annotated[
        str,
        Query(
            description="flat（水平场地，挖填平衡）| plane（最佳拟合斜面）| "
            "高程 m / flat | plane | elevation in m"
        ),
    ] = "flat",
    yuan_per_m3: Annotated[
        float | None, Query(ge=0, le=100000, description="土方单价 ¥/m³")
    ] = None,
) -> dict[str, Any]:
    """Stored terrain figures of the parcel and the earthwork to level it (computed now)."""
    rate = settings.earthwork.yuan_per_m3 if yuan_per_m3 is None else yuan_per_m3
    lvl = terrain.parse_level(level)
    ew = terrain.parcel_earthwork(conn, code, lvl, rate)
    stats = terrain.terrain_for(conn, [code]).get(code)
    return {
        "code": code,
        "terrain": stats.to_dict() if stats else None,
        "earthwork": ew.to_dict(),
    }
