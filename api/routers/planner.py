"""The planner workbench page ``/planner`` and the parcel layer it edits on.

The page is public HTML (the map carries only public context layers); everything it shows
beyond that comes from the API with the bearer token the page keeps in ``sessionStorage``
after ``POST /api/auth/token``. ``GET /api/planner/parcels`` is that parcel layer: live parcels
as GeoJSON with their confidential fields, for planners and admins only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from branca.element import Element
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api import page_shell
from api.dependencies import BBoxQ, Conn, Page, RequirePlanner, paging
from parkgis.land import parcel_edit
from parkgis.promotion import pipeline
from parkgis.publish import i18n
from parkgis.publish.maps import investor
from parkgis.publish.maps.planner import build_planner_map

router = APIRouter(tags=["planner"])

OWN_ASSETS = (
    "css/planner.css",
    "css/idle_land.css",
    "js/idle_land.js",
    "js/planner.js",
    "js/inbox_count.js",
)
MAX_PARCELS = parcel_edit.EDIT_LAYER_MAX
_pages = page_shell.PageCache()


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
def planner_page(request: Request, conn: Conn) -> Response:
    html, etag = render_planner_page(conn)
    return page_shell.html_response(request, html, etag)


PIPELINE_ASSETS = ("css/pipeline.css", "js/pipeline.js")


def _vocabulary(prefix: str) -> list[tuple[str, str, str]]:
    return [
        (k.split(".", 1)[1], zh, en)
        for k, (zh, en) in i18n.LABELS.items()
        if k.startswith(prefix + ".")
    ]


@router.get("/planner/pipeline", response_class=HTMLResponse, include_in_schema=False)
def pipeline_page(request: Request) -> Response:
    """The full-width pipeline board. Like ``/planner`` the HTML carries no data: the script
    asks the API with the planner's token and shows a sign-in pointer to anyone else."""
    version = page_shell.asset_version(PIPELINE_ASSETS)
    html = page_shell.templates.get_template("pipeline.html").render(
        version=version,
        industries=_vocabulary("industry"),
        roles=_vocabulary("role"),
        complaint_categories=list(pipeline.COMPLAINT_CATEGORIES.items()),
    )
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:20] + '"'
    return page_shell.html_response(request, html, etag)


@router.get(
    "/api/planner/parcels",
    summary="Parcels for editing / 编辑用地块图层 (planner)",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def planner_parcels(
    user: RequirePlanner,
    conn: Conn,
    box: BBoxQ,
    page: Annotated[Page, Depends(paging(MAX_PARCELS, MAX_PARCELS))],
) -> Response:
    body = parcel_edit.edit_layer(conn, box, page.limit, page.offset)
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        media_type="application/geo+json",
        headers={"Cache-Control": "no-store"},
    )
