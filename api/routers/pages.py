"""Pages: the investor map at ``/`` and what it asks the server for.

* ``GET /`` — the investor map (Folium map from :mod:`parkgis.publish.maps.investor` plus the page
  chrome of ``web/templates/investor_panel.html`` and ``/static/js|css/investor.*``).
  The HTML is cached per process and keyed on ``data_versions``: any edit to an embedded
  layer rebuilds it; parcel edits do not (parcels come as tiles).
* ``GET /api/parcels/{code}/sheet`` — the parcel sheet (:func:`parkgis.publish.sheet.parcel_sheet`).
* ``GET /api/map/search?q=`` — parcel codes and enterprise names for the search box.
* ``GET /api/map/county`` — the county boundary as GeoJSON (it is not an OGC collection).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from branca.element import Element
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api import page_shell
from api.dependencies import AsOf
from api.deps import SettingsDep, SyncConn
from parkgis.errors import NotFound
from parkgis.publish import i18n, preview
from parkgis.publish import sheet as sheet_core
from parkgis.publish.maps import investor
from parkgis.settings import Settings
from parkgis.siting.search import AS_OF_RANGE

router = APIRouter(tags=["pages"])

OWN_ASSETS = (
    "css/investor.css",
    "css/orientation.css",
    "css/access.css",
    "js/gcj02.js",
    "js/access.js",
    "js/investor.js",
    "js/orientation.js",
)
_pages = page_shell.PageCache()


def render_investor_page(conn: Any, tianditu_key: str | None) -> tuple[str, str]:
    """The HTML of ``/`` and its ETag (cached on data versions and asset versions)."""
    version = page_shell.asset_version(OWN_ASSETS)

    def build() -> tuple[str, str]:
        data = investor.load_map_data(conn)
        m = investor.build_investor_map(data, tianditu_key=tianditu_key)
        page_shell.add_head(m, OWN_ASSETS, version)
        m.get_root().header.add_child(Element(investor.OG_MARKER), name="pg_og")
        panel = page_shell.templates.get_template("investor_panel.html").render(
            t=i18n.span,
            label=i18n.label,
            zones=data.zones["features"],
            landuse=data.landuse_codes,
            landuse_key=i18n.landuse_key,
            roles=sorted({e["chain_role"] for e in data.enterprises}),
            services=["road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled"],
            as_of_range=[d.isoformat() for d in AS_OF_RANGE],
            sample=investor.shows_sample(data),
        )
        m.get_root().html.add_child(Element(panel), name="pg_panel")
        return page_shell.render(m)

    # The database name keeps two apps of one process (tests) from sharing pages.
    key = (conn.info.dbname, investor.data_versions(conn), tianditu_key, version)
    return _pages.get_or_build(key, build)


def _base_url(request: Request, settings: Settings) -> str:
    return settings.public_base_url or str(request.base_url)


def _with_og(request: Request, page: tuple[str, str], og: str) -> Response:
    """The cached page with this link's Open Graph tags; the ETag covers both."""
    html, etag = page
    tag = '"' + hashlib.sha256((etag + og).encode()).hexdigest()[:20] + '"'
    return page_shell.html_response(request, html.replace(investor.OG_MARKER, og, 1), tag)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def investor_page(request: Request, conn: SyncConn, settings: SettingsDep) -> Response:
    og = preview.page_og(conn, _base_url(request, settings))
    return _with_og(request, render_investor_page(conn, settings.tianditu_key), og)


@router.get("/parcel/{code}", response_class=HTMLResponse, include_in_schema=False)
def parcel_page(code: str, request: Request, conn: SyncConn, settings: SettingsDep) -> Response:
    """One parcel's shareable link: the map (which selects it) with the parcel's title,
    description and picture for chat apps. A link to a parcel that is gone (split, merged,
    retired) or never was is still the map, with status 404 and the map's own preview: the
    investor who follows an old link lands on the park, and the sheet says "未找到 / not
    found" (the code is escaped there), rather than on a JSON error body."""
    base = _base_url(request, settings)
    page = render_investor_page(conn, settings.tianditu_key)
    try:
        og = preview.page_og(conn, base, code)
    except NotFound:
        html = page[0].replace(investor.OG_MARKER, preview.page_og(conn, base), 1)
        return HTMLResponse(html, status_code=404, headers={"Cache-Control": "no-cache"})
    return _with_og(request, page, og)


def _png(request: Request, answer: tuple[str, bytes | None]) -> Response:
    etag, png = answer
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if png is None:
        return Response(status_code=304, headers=headers)
    return Response(png, media_type="image/png", headers=headers)


@router.get(
    "/api/parcels/{code}/preview.png",
    summary="Parcel link preview / 地块分享预览图 (PNG 1200×630)",
    description="The picture a chat app shows beside a shared parcel link (Open Graph): the "
    "parcel outlined over its neighbours and its park's boundary, with its code and "
    "area in mu and ha. Public fields only; 404 for unknown or retired parcels. "
    "ETag / If-None-Match.",
    responses={200: {"content": {"image/png": {}}}},
)
def parcel_preview_png(code: str, request: Request, conn: SyncConn) -> Response:
    return _png(request, preview.parcel_preview(conn, code, request.headers.get("if-none-match")))


@router.get(
    "/api/map/preview.png",
    summary="Map link preview / 投资地图分享预览图 (PNG 1200×630)",
    description="The picture shown beside a shared link to the investor map: the parks and "
    "their parcels, and the available land's total. ETag / If-None-Match.",
    responses={200: {"content": {"image/png": {}}}},
)
def map_preview_png(request: Request, conn: SyncConn) -> Response:
    return _png(request, preview.park_preview(conn, request.headers.get("if-none-match")))


@router.get("/privacy", response_class=HTMLResponse, include_in_schema=False)
def privacy_page() -> HTMLResponse:
    """The personal-information notice the inquiry form's consent line links to (PIPL)."""
    from parkgis.publish.brief.facts import CONTACT

    html = page_shell.templates.get_template("privacy.html").render(
        version=page_shell.asset_version(("css/pipeline.css",)),
        handler_zh=CONTACT["zh"][0],
        handler_en=CONTACT["en"][0],
        contact_zh=f"{CONTACT['zh'][1]} {CONTACT['zh'][2]}",
        contact_en=f"{CONTACT['en'][1]} · {CONTACT['en'][2]}",
    )
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    # Browsers ask for /favicon.ico whatever the page says; a 404 is a console error.
    return Response(
        (page_shell.WEB_DIR / "static" / "img" / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get(
    "/api/parcels/{code}/sheet",
    summary="Parcel sheet / 地块信息卡",
    description="Public facts of one parcel for the investor map: area (m², mu, ha), "
    "land use, status, 七通一平, key distances (m, Gauss-Krüger), nearby "
    "infrastructure, the upgrades that will serve it, nearest anchors.",
)
def parcel_sheet(code: str, conn: SyncConn, as_of: AsOf) -> JSONResponse:
    return JSONResponse(sheet_core.parcel_sheet(conn, code, as_of))


@router.get("/api/map/search", summary="Map search / 地图搜索（地块编号、企业名称）")
def map_search(
    conn: SyncConn,
    q: str = Query(min_length=1, max_length=64, description="编号或名称 / code or name"),
    limit: int = Query(8, ge=1, le=50),
) -> JSONResponse:
    return JSONResponse(investor.map_search(conn, q, limit))


@router.get("/api/map/county", summary="County boundary / 市界 (GeoJSON)")
def county(conn: SyncConn) -> Response:
    return Response(
        json.dumps(investor.county_geojson(conn), ensure_ascii=False),
        media_type="application/geo+json",
    )


@router.get(
    "/api/map/layers/{name}",
    summary="Map data layer / 地图数据图层 (GeoJSON)",
    description="One data layer of the investor and planner maps: county, zones, "
    "infrastructure, upgrades, enterprises, context (roads, rail, river), "
    "outline (geometry only), terrain (overlay list). The pages fetch "
    "these instead of carrying stored values in their scripts. With "
    "as_of, infrastructure is what is in service on that date and "
    "upgrades carry their status and overdue flag then.",
)
def map_layer(name: str, conn: SyncConn, as_of: AsOf) -> Response:
    body = investor.map_layer(conn, name, as_of)
    media = "application/json" if name == "terrain" else "application/geo+json"
    return Response(json.dumps(body, ensure_ascii=False), media_type=media)
