"""The planner workbench page ``/planner`` and the parcel layer it edits on.

The page is public HTML (the map carries only public context layers); everything it shows
beyond that comes from the API with the bearer token the page keeps in ``sessionStorage``
after ``POST /api/auth/token``. ``GET /api/planner/parcels`` is that parcel layer: live parcels
as GeoJSON with their confidential fields, for planners and admins only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from branca.element import Element
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import page_shell
from api.deps import SyncConn
from api.security import RequirePlanner
from parkgis import pipeline
from parkgis.errors import InvalidInput
from parkgis.maps import i18n, investor
from parkgis.maps.planner import build_planner_map

router = APIRouter(tags=["planner"])

OWN_ASSETS = ("css/planner.css", "css/idle_land.css", "js/idle_land.js", "js/planner.js",
              "js/inbox_count.js")
MAX_PARCELS = 5000
_pages = page_shell.PageCache()

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


def render_planner_page(conn: Any) -> tuple[str, str]:
    """The HTML of ``/planner`` and its ETag, cached on data and asset versions."""
    version = page_shell.asset_version(OWN_ASSETS)

    def build() -> tuple[str, str]:
        m = build_planner_map(investor.load_map_data(conn))
        page_shell.add_head(m, OWN_ASSETS, version)
        panel = page_shell.templates.get_template("planner_panel.html").render()
        m.get_root().html.add_child(Element(panel), name="pgp_panel")
        return page_shell.render(m)

    return _pages.get_or_build((conn.info.dbname, investor.data_versions(conn), version), build)


@router.get("/planner", response_class=HTMLResponse, include_in_schema=False)
def planner_page(request: Request, conn: SyncConn) -> Response:
    html, etag = render_planner_page(conn)
    return page_shell.html_response(request, html, etag)


PIPELINE_ASSETS = ("css/pipeline.css", "js/pipeline.js")


def _vocabulary(prefix: str) -> list[tuple[str, str, str]]:
    return [(k.split(".", 1)[1], zh, en) for k, (zh, en) in i18n.LABELS.items()
            if k.startswith(prefix + ".")]


@router.get("/planner/pipeline", response_class=HTMLResponse, include_in_schema=False)
def pipeline_page(request: Request) -> Response:
    """The full-width pipeline board. Like ``/planner`` the HTML carries no data: the script
    asks the API with the planner's token and shows a sign-in pointer to anyone else."""
    version = page_shell.asset_version(PIPELINE_ASSETS)
    html = page_shell.templates.get_template("pipeline.html").render(
        version=version, industries=_vocabulary("industry"), roles=_vocabulary("role"),
        complaint_categories=list(pipeline.COMPLAINT_CATEGORIES.items()))
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
    return page_shell.html_response(request, html, etag)


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
