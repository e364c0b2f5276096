"""The project pipeline and where projects fit (项目库与选址匹配).

Public routes show a project's public fields only, as :mod:`parkgis.promotion.projects`
decides (never contacts, notes, money under negotiation or the township's tax share); match
reasons do not quote the budget either.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.dependencies import AppSettings, AsOf, Conn
from parkgis.promotion import projects
from parkgis.publish import matching
from parkgis.siting import fit

router = APIRouter(tags=["projects"])

TopQ = Annotated[int, Query(ge=0, le=100, description="matches returned / 返回匹配数")]
NearQ = Annotated[int, Query(ge=0, le=100, description="near misses returned / 返回近似数")]
ZonesQ = Annotated[
    list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]] | None,
    Query(
        max_length=100,
        description="只在这些园区内合并相邻地块（可重复；默认全部园区）/ assemble groups of "
        "adjacent parcels only in these zones (repeatable; default: every zone — at a "
        "province's 10^6 parcels, narrow it to keep assembly within seconds). Singles are "
        "ranked everywhere; the body's `assembly` says which applied.",
    ),
]


@router.get("/api/projects", summary="项目库 / the project pipeline (public fields)")
def list_projects(conn: Conn) -> dict[str, Any]:
    return {"projects": projects.public_projects(conn)}


@router.get("/api/projects/{code}", summary="一个项目 / one project (public fields)")
def get_project(code: str, conn: Conn) -> dict[str, Any]:
    return projects.public_project(conn, code)


@router.get(
    "/api/projects/{code}/matches",
    summary="项目选址匹配 / where a project fits: ranked matches and near misses",
)
def project_matches(
    code: str,
    conn: Conn,
    settings: AppSettings,
    as_of: AsOf,
    top: TopQ = 10,
    near: NearQ = 10,
    assembly_zone: ZonesQ = None,
) -> dict[str, Any]:
    """The same body as ``parkgis match CODE --json``, with ``fills``: the chain gaps the
    project would fill (补链, :mod:`parkgis.publish.matching`) (footprints in lon/lat, EPSG:4490 ≈
    WGS84). Judged on the project's start date, never before ``as_of`` (default today);
    within ``PARKGIS_MATCH_TIME_BUDGET_S`` (then ``incomplete`` says what is left)."""
    return matching.project_match(
        conn,
        code,
        top=top,
        near_miss_limit=near,
        as_of=as_of,
        siting=settings.siting,
        time_budget_s=settings.match_time_budget_s,
        assembly_zones=assembly_zone,
    )


class MatchRequest(BaseModel):
    """An ad-hoc requirement: the requirement columns of ``projects``; all optional."""

    # Infinity and NaN are no requirement (Python's JSON reader accepts both)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name_zh: str = Field("临时需求", max_length=200)
    name_en: str = Field("ad-hoc requirement", max_length=200)
    industry: str | None = Field(None, max_length=100)
    chain_role: str | None = Field(None, max_length=100)
    min_area_mu: float | None = Field(None, gt=0, le=100000)
    max_area_mu: float | None = Field(None, gt=0, le=100000)
    footprint_length_m: float | None = Field(None, gt=0, le=5000)
    footprint_width_m: float | None = Field(None, gt=0, le=5000)
    landuse_codes: list[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")]] = Field(
        default_factory=list, max_length=20
    )
    power_kva: float | None = Field(None, ge=0)
    water_tpd: float | None = Field(None, ge=0)
    wastewater_tpd: float | None = Field(None, ge=0)
    gas_m3pd: float | None = Field(None, ge=0)
    rail_required: bool = False
    max_rail_m: float | None = Field(None, ge=0)
    max_trunk_road_m: float | None = Field(None, ge=0)
    hazard_class: str | None = Field(None, max_length=50)
    min_sensitive_m: float | None = Field(None, ge=0)
    preferred_neighbours: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    start_date: dt.date | None = None
    land_budget_wan: float | None = Field(None, ge=0)
    max_slope_deg: float | None = Field(None, ge=0, le=90)
    max_flood_share: float | None = Field(None, ge=0, le=1)
    weights: dict[str, Annotated[float, Field(ge=0, le=1000)]] = Field(default_factory=dict)
    # drive time on the road network (issue #15, parkgis.geo.network)
    max_drive_min_interchange: float | None = Field(None, gt=0, le=1440)
    max_drive_min_rail_yard: float | None = Field(None, gt=0, le=1440)

    @model_validator(mode="after")
    def _consistent(self) -> MatchRequest:
        if (
            self.min_area_mu is not None
            and self.max_area_mu is not None
            and self.max_area_mu < self.min_area_mu
        ):
            raise ValueError("max_area_mu < min_area_mu / 最大面积小于最小面积")
        if (self.footprint_length_m is None) != (self.footprint_width_m is None):
            raise ValueError("footprint needs both length and width / 厂房尺寸需同时给出长和宽")
        unknown = set(self.weights) - set(fit.DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown criteria in weights: {sorted(unknown)}; "
                f"known: {sorted(fit.DEFAULT_WEIGHTS)}"
            )
        return self


@router.post("/api/match", summary="临时选址匹配 / where an ad-hoc requirement fits")
def adhoc_match(
    body: MatchRequest,
    conn: Conn,
    settings: AppSettings,
    as_of: AsOf,
    top: TopQ = 10,
    near: NearQ = 10,
    assembly_zone: ZonesQ = None,
) -> dict[str, Any]:
    """Nothing is stored. The caller's own budget may be quoted back in reasons. Bounded by
    ``PARKGIS_MATCH_TIME_BUDGET_S`` (then ``incomplete`` names the undecided sites)."""
    req = fit.Requirement(**body.model_dump())
    return matching.requirement_match(
        conn,
        req,
        top=top,
        near_miss_limit=near,
        confidential=True,
        as_of=as_of,
        siting=settings.siting,
        time_budget_s=settings.match_time_budget_s,
        assembly_zones=assembly_zone,
    )


@router.get(
    "/api/projects/{code}/fit-map",
    response_class=HTMLResponse,
    summary="选址匹配地图 / map of where a project fits (HTML)",
)
async def project_fit_map(
    code: str, conn: Conn, settings: AppSettings, as_of: AsOf, top: TopQ = 10
) -> HTMLResponse:
    from parkgis.publish.maps.fit_map import fit_map_html

    html = await run_in_threadpool(fit_map_html, conn, code, top, as_of, settings.siting)
    return HTMLResponse(html)
