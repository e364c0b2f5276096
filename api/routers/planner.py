"""The planner workbench page ``/planner`` and the parcel layer it edits on.

The page is public HTML (the map carries only public context layers); everything it shows
beyond that comes from the API with the bearer token the page keeps in ``sessionStorage``
after ``POST /api/auth/token``. ``GET /api/planner/parcels`` is that parcel layer: live parcels
as GeoJSON with their confidential fields, for planners and admins only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from branca.element import CssLink, Element, JavascriptLink
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import SyncConn
from api.security import RequirePlanner
from parkgis.errors import InvalidInput
from parkgis.maps import assets, investor
from parkgis.maps.planner import build_planner_map

router = APIRouter(tags=["planner"])

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
OWN_ASSETS = ("css/planner.css", "js/planner.js")
MAX_PARCELS = 5000
_jinja = Environment(loader=FileSystemLoader(WEB_DIR / "templates"),
                     autoescape=select_autoescape(["html"]))
_cache: dict[tuple[Any, ...], tuple[str, str]] = {}
_cache_lock = threading.Lock()

# Live parcels in a bbox (lon/lat), for the editing layer. 7 decimals (~1 cm) so a drawn split
# line is placed against the stored outline, not a rounded one.
PARCELS_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
         json_build_object('type', 'Feature', 'id', code,
           'properties', json_build_object(
              'code', code, 'status', status, 'zone_code', zone_code,
              'landuse_code', landuse_code, 'landuse_alias', landuse_alias,
              'area_m2', area_m2, 'area_mu', area_mu, 'project_code', project_code,
              'reserved_until', reserved_until, 'parent_codes', parent_codes,
              'version', version),
           'geometry', ST_AsGeoJSON(geom, 7)::json) ORDER BY code), '[]')) AS fc,
       count(*) AS n
  FROM (SELECT * FROM parcels
         WHERE status <> 'historic'
           AND (%(bbox)s::float8[] IS NULL
                OR geom && ST_MakeEnvelope(%(bbox)s[1], %(bbox)s[2], %(bbox)s[3], %(bbox)s[4],
                                           4490))
         ORDER BY code LIMIT %(limit)s) p
"""


def _asset_version() -> str:
    h = hashlib.sha256()
    for rel in OWN_ASSETS:
        h.update((WEB_DIR / "static" / rel).read_bytes())
    return h.hexdigest()[:10]


def render_planner_page(conn: Any) -> tuple[str, str]:
    """The HTML of ``/planner`` and its ETag, cached on data and asset versions."""
    version = _asset_version()
    key = (conn.info.dbname, investor.data_versions(conn), version)
    with _cache_lock:
        hit = _cache.get(key)
    if hit:
        return hit
    data = investor.load_map_data(conn)
    m = build_planner_map(data)
    fig = m.get_root()
    fig.header.add_child(Element('<meta name="viewport" content="width=device-width, '
                                 'initial-scale=1">'), name="viewport_pgp")
    for rel in OWN_ASSETS:
        url = f"/static/{rel}?v={version}"
        link = CssLink(url) if rel.endswith(".css") else JavascriptLink(url)
        fig.header.add_child(link, name=f"own_{rel}")
    fig.html.add_child(Element(_jinja.get_template("planner_panel.html").render()),
                       name="pgp_panel")
    html = assets.render(m).replace("<html>", '<html lang="zh-CN">', 1)
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
    with _cache_lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = (html, etag)
    return html, etag


@router.get("/planner", response_class=HTMLResponse, include_in_schema=False)
def planner_page(request: Request, conn: SyncConn) -> Response:
    html, etag = render_planner_page(conn)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)


@router.get("/api/planner/parcels", summary="Parcels for editing / 编辑用地块图层 (planner)",
            responses={200: {"content": {"application/geo+json": {}}}})
def planner_parcels(user: RequirePlanner, conn: SyncConn,
                    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat"),
                    limit: int = Query(MAX_PARCELS, ge=1, le=MAX_PARCELS)) -> Response:
    box = None
    if bbox:
        try:
            box = [float(v) for v in bbox.split(",")]
        except ValueError:
            raise InvalidInput("bbox 须为 4 个数 / bbox takes 4 numbers", param="bbox") from None
        if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]) or any(
                abs(v) > 180 for v in box):
            raise InvalidInput("bbox 须为 minLon,minLat,maxLon,maxLat / bbox must be "
                               "minLon,minLat,maxLon,maxLat", param="bbox")
    row = conn.execute(PARCELS_SQL, {"bbox": box, "limit": limit}).fetchone()
    body = row["fc"] if isinstance(row, dict) else row[0]
    body["truncated"] = int(row["n"] if isinstance(row, dict) else row[1]) >= limit
    return Response(json.dumps(body, ensure_ascii=False, default=str),
                    media_type="application/geo+json", headers={"Cache-Control": "no-store"})
