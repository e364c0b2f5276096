"""The project pipeline and where projects fit (项目库与选址匹配).

Public routes show a project's public fields only: never ``contact``, ``negotiation_notes``
or ``land_budget_wan``; match reasons do not quote the budget either.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import SettingsDep, SyncConn
from api.routers.search import AsOf
from parkgis import fit
from parkgis.errors import NotFound

router = APIRouter(tags=["projects"])

PUBLIC_COLUMNS = (
    "code", "name_zh", "name_en", "industry", "chain_role", "stage", "min_area_mu",
    "max_area_mu", "footprint_length_m", "footprint_width_m", "landuse_codes", "power_kva",
    "water_tpd", "wastewater_tpd", "gas_m3pd", "rail_required", "max_rail_m",
    "max_trunk_road_m", "hazard_class", "min_sensitive_m", "preferred_neighbours",
    "start_date", "investment_wan", "expected_tax_wan", "floor_area_ratio",
    "building_coverage", "green_ratio", "office_share", "max_slope_deg", "max_flood_share",
    "source_township", "township_tax_share", "fostered", "target_quarter", "updated_at",
)
# Column names come from the constant above, never from a request.
LIST_SQL = f"SELECT {', '.join(PUBLIC_COLUMNS)} FROM projects ORDER BY code"
ONE_SQL = f"SELECT {', '.join(PUBLIC_COLUMNS)} FROM projects WHERE code = %s"

TopQ = Annotated[int, Query(ge=0, le=100, description="matches returned / 返回匹配数")]
NearQ = Annotated[int, Query(ge=0, le=100, description="near misses returned / 返回近似数")]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, dt.date | dt.datetime):
            v = v.isoformat()
        elif v is not None and not isinstance(v, str | int | float | bool | list | dict):
            v = float(v)  # Decimal
        out[k] = v
    return out


@router.get("/api/projects", summary="项目库 / the project pipeline (public fields)")
def list_projects(conn: SyncConn) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST_SQL).fetchall()
    return {"projects": [_jsonable(r) for r in rows]}


@router.get("/api/projects/{code}", summary="一个项目 / one project (public fields)")
def get_project(code: str, conn: SyncConn) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(ONE_SQL, (code,)).fetchone()
    if row is None:
        raise NotFound(f"项目 {code} 不存在 / no project {code}")
    return _jsonable(row)


@router.get("/api/projects/{code}/matches",
            summary="项目选址匹配 / where a project fits: ranked matches and near misses")
def project_matches(code: str, conn: SyncConn, settings: SettingsDep, as_of: AsOf,
                    top: TopQ = 10, near: NearQ = 10) -> dict[str, Any]:
    """The same body as ``parkgis match CODE --json`` (footprints in lon/lat, EPSG:4490 ≈
    WGS84). Judged on the project's start date, never before ``as_of`` (default today);
    within ``PARKGIS_MATCH_TIME_BUDGET_S`` (then ``incomplete`` says what is left)."""
    return fit.match_project(
        conn, code, top=top, near_miss_limit=near, as_of=as_of, siting=settings.siting,
        time_budget_s=settings.match_time_budget_s).body()


class MatchRequest(BaseModel):
    """An ad-hoc requirement: the requirement columns of ``projects``; all optional."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field("临时需求", max_length=200)
    name_en: str = Field("ad-hoc requirement", max_length=200)
    industry: str | None = Field(None, max_length=100)
    chain_role: str | None = Field(None, max_length=100)
    min_area_mu: float | None = Field(None, gt=0, le=100000)
    max_area_mu: float | None = Field(None, gt=0, le=100000)
    footprint_length_m: float | None = Field(None, gt=0, le=5000)
    footprint_width_m: float | None = Field(None, gt=0, le=5000)
    landuse_codes: list[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")]] = Field(
        default_factory=list, max_length=20)
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
        default_factory=list, max_length=50)
    start_date: dt.date | None = None
    land_budget_wan: float | None = Field(None, ge=0)
    max_slope_deg: float | None = Field(None, ge=0, le=90)
    max_flood_share: float | None = Field(None, ge=0, le=1)
    weights: dict[str, Annotated[float, Field(ge=0, le=1000)]] = Field(default_factory=dict)
    # drive time on the road network (issue #15, parkgis.network)
    max_drive_min_interchange: float | None = Field(None, gt=0, le=1440)
    max_drive_min_rail_yard: float | None = Field(None, gt=0, le=1440)

    @model_validator(mode="after")
    def _consistent(self) -> MatchRequest:
        if (self.min_area_mu is not None and self.max_area_mu is not None
                and self.max_area_mu < self.min_area_mu):
            raise ValueError("max_area_mu < min_area_mu / 最大面积小于最小面积")
        if (self.footprint_length_m is None) != (self.footprint_width_m is None):
            raise ValueError("footprint needs both length and width / 厂房尺寸需同时给出长和宽")
        unknown = set(self.weights) - set(fit.DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown criteria in weights: {sorted(unknown)}; "
                             f"known: {sorted(fit.DEFAULT_WEIGHTS)}")
        return self


@router.post("/api/match", summary="临时选址匹配 / where an ad-hoc requirement fits")
def adhoc_match(body: MatchRequest, conn: SyncConn, settings: SettingsDep, as_of: AsOf,
                top: TopQ = 10, near: NearQ = 10) -> dict[str, Any]:
    """Nothing is stored. The caller's own budget may be quoted back in reasons. Bounded by
    ``PARKGIS_MATCH_TIME_BUDGET_S`` (then ``incomplete`` names the undecided sites)."""
    req = fit.Requirement(**body.model_dump())
    return fit.match(
        conn, req, top=top, near_miss_limit=near, confidential=True, as_of=as_of,
        siting=settings.siting, time_budget_s=settings.match_time_budget_s).body()


@router.get("/api/projects/{code}/fit-map", response_class=HTMLResponse,
            summary="选址匹配地图 / map of where a project fits (HTML)")
async def project_fit_map(code: str, conn: SyncConn, request: Request, as_of: AsOf,
                          top: TopQ = 10) -> HTMLResponse:
    from parkgis.maps.fit_map import fit_map_html

    html = await run_in_threadpool(fit_map_html, conn, code, top, as_of,
                                   request.app.state.settings.siting)
    return HTMLResponse(html)
