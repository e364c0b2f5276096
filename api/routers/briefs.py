"""Site briefs: ``GET /api/parcels/{code}/brief.pdf|.png|.html`` (public).

Thin: :mod:`parkgis.publish.brief` gathers and renders on a pooled sync connection (FastAPI runs
these
``def`` routes in its thread pool; the renderer uses matplotlib's object API only, so requests
may draw concurrently). ``lang`` is ``zh``, ``en`` or ``both``; ``project`` adds that project's
fit (score, reasons, footprint) — never its budget, contact or notes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.dependencies import AppSettings, AsOf
from api.deps import SyncConn
from parkgis.errors import InvalidInput
from parkgis.publish import brief as core
from parkgis.settings import Settings

router = APIRouter(tags=["briefs"])

LangQ = Annotated[str, Query(description="zh | en | both（中文、英文或双语） / language(s)")]
ProjectQ = Annotated[
    str | None,
    Query(
        description="项目编号：加入该项目的匹配得分、理由与厂房布置 / project code: adds its fit"
    ),
]
_PROJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _render(
    conn: SyncConn,
    settings: Settings,
    code: str,
    fmt: str,
    lang: str,
    project: str | None,
    as_of: dt.date | None = None,
) -> Response:
    core.check_lang(lang)
    if project is not None and not _PROJECT_RE.match(project):
        raise InvalidInput(f"项目编号格式错误 / not a project code: {project!r}", param="project")
    data = core.brief(conn, code, fmt, lang, project, as_of=as_of, earthwork=settings.earthwork)
    suffix = f"-{project}" if project else ""
    name = f"{code}{suffix}-{lang}.{fmt}"
    return Response(
        data,
        media_type=core.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            # A brief quotes live data (status, holds): never serve a stale copy.
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/api/parcels/{code}/brief.pdf",
    summary="Site brief (PDF) / 地块推介书（PDF）",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        404: {"content": {"application/problem+json": {}}},
    },
)
def brief_pdf(
    code: str,
    conn: SyncConn,
    settings: AppSettings,
    as_of: AsOf,
    lang: LangQ = "both",
    project: ProjectQ = None,
) -> Response:
    """One A4 page: maps, facts, distances, upgrades, chain neighbours, indicators, contact;
    CJK fonts embedded, text selectable."""
    return _render(conn, settings, code, "pdf", lang, project, as_of)


@router.get(
    "/api/parcels/{code}/brief.png",
    summary="Site brief (PNG, 300 dpi) / 地块推介书（图片）",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"content": {"application/problem+json": {}}},
    },
)
def brief_png(
    code: str,
    conn: SyncConn,
    settings: AppSettings,
    as_of: AsOf,
    lang: LangQ = "both",
    project: ProjectQ = None,
) -> Response:
    """The PDF's page as a 300 dpi PNG (2480 × 3508 px)."""
    return _render(conn, settings, code, "png", lang, project, as_of)


@router.get(
    "/api/parcels/{code}/brief.html",
    summary="Site brief (offline HTML) / 地块推介书（离线网页）",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}},
        404: {"content": {"application/problem+json": {}}},
    },
)
def brief_html(
    code: str,
    conn: SyncConn,
    settings: AppSettings,
    as_of: AsOf,
    lang: LangQ = "both",
    project: ProjectQ = None,
) -> Response:
    """A self-contained page (map + facts) with every asset inlined: opens offline."""
    return _render(conn, settings, code, "html", lang, project, as_of)
