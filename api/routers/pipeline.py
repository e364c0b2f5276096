"""The project pipeline board, stages, township attribution and bottlenecks (招商项目动态).

The board is public with public fields only; everything else is for planners and admins.
Which project fields are public is decided once, in :mod:`parkgis.promotion.projects`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import Conn, RequirePlanner, Staff
from parkgis.promotion import pipeline

router = APIRouter(tags=["pipeline"])


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


@router.get(
    "/api/pipeline/board",
    summary="Pipeline board / 项目看板",
    description="Public callers see stage, names, industry, township; planners also "
    "see tax shares, money figures and open bottlenecks.",
)
def pipeline_board(staff: Staff, conn: Conn) -> JSONResponse:
    return _json(
        {
            **pipeline.board(conn, staff),
            "stages": pipeline.STAGES,
            "stage_names_zh": pipeline.STAGE_NAMES_ZH,
            "staff": staff,
        }
    )


@router.get("/api/pipeline/projects/{code}", summary="A project in the pipeline / 项目动态")
def pipeline_project(code: str, user: RequirePlanner, conn: Conn) -> JSONResponse:
    return _json(pipeline.project_detail(conn, code))


@router.get("/api/pipeline/projects/{code}/events", summary="Project history / 项目变更记录")
def pipeline_events(code: str, user: RequirePlanner, conn: Conn) -> JSONResponse:
    return _json({"code": code, "events": pipeline.events(conn, code)})


class ProjectFields(BaseModel):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    industry: str | None = Field(None, min_length=1, max_length=100)
    chain_role: str | None = Field(None, max_length=100)
    min_area_mu: float | None = Field(None, gt=0, le=100000)
    max_area_mu: float | None = Field(None, gt=0, le=100000)
    start_date: date | None = None
    investment_wan: float | None = Field(None, ge=0, le=1e9)
    expected_tax_wan: float | None = Field(None, ge=0, le=1e9)
    land_budget_wan: float | None = Field(None, ge=0, le=1e9)
    target_quarter: str | None = Field(None, max_length=16)
    contact: str | None = Field(None, max_length=500)
    negotiation_notes: str | None = Field(None, max_length=pipeline.TEXT_MAX)


class NewProject(ProjectFields):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    industry: str = Field(min_length=1, max_length=100)


@router.post("/api/pipeline/projects", status_code=201, summary="New lead / 新建项目线索 (planner)")
def pipeline_create(body: NewProject, user: RequirePlanner, conn: Conn) -> JSONResponse:
    row = pipeline.create_project(conn, body.model_dump(exclude_none=True), user.name)
    return _json({"project": pipeline.public_project(row, True)}, status.HTTP_201_CREATED)


@router.patch("/api/pipeline/projects/{code}", summary="Edit a project / 修改项目 (planner)")
def pipeline_edit(code: str, body: ProjectFields, user: RequirePlanner, conn: Conn) -> JSONResponse:
    row = pipeline.update_project(conn, code, body.model_dump(exclude_unset=True), user.name)
    return _json({"project": pipeline.public_project(row, True)})


class StageBody(BaseModel):
    to: Literal[pipeline.STAGES]  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.post("/api/pipeline/projects/{code}/stage", summary="Move a project / 项目阶段变更")
def pipeline_stage(code: str, body: StageBody, user: RequirePlanner, conn: Conn) -> JSONResponse:
    out = pipeline.set_stage(conn, code, body.to, user.name, body.note)
    out["project"] = pipeline.public_project(out["project"], True)
    return _json(out)


class TownshipBody(BaseModel):
    source_township: str | None = Field(None, max_length=100)
    township_tax_share: float | None = Field(None, ge=0, le=1)
    fostered: bool | None = None
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.patch(
    "/api/pipeline/projects/{code}/township",
    summary="Township attribution / 来源乡镇与税收分成（项目寄养）",
)
def pipeline_township(
    code: str, body: TownshipBody, user: RequirePlanner, conn: Conn
) -> JSONResponse:
    out = pipeline.set_township(conn, code, body.model_dump(exclude_unset=True), user.name)
    out["project"] = pipeline.public_project(out["project"], True)
    return _json(out)


class BottleneckBody(BaseModel):
    kind: Literal[tuple(pipeline.BOTTLENECK_KINDS)]  # type: ignore[valid-type]
    description: str = Field(min_length=1, max_length=pipeline.TEXT_MAX)
    owner: str = Field(min_length=1, max_length=100)
    due_date: date | None = None
    status: Literal[pipeline.BOTTLENECK_STATUSES] = "open"  # type: ignore[valid-type]


class BottleneckPatch(BaseModel):
    kind: Literal[tuple(pipeline.BOTTLENECK_KINDS)] | None = None  # type: ignore[valid-type]
    description: str | None = Field(None, min_length=1, max_length=pipeline.TEXT_MAX)
    owner: str | None = Field(None, min_length=1, max_length=100)
    due_date: date | None = None
    status: Literal[pipeline.BOTTLENECK_STATUSES] | None = None  # type: ignore[valid-type]
    resolution: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.get("/api/pipeline/bottlenecks", summary="Bottlenecks / 瓶颈问题")
def list_bottlenecks(
    user: RequirePlanner,
    conn: Conn,
    project: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
) -> JSONResponse:
    return _json(
        {
            "bottlenecks": pipeline.bottlenecks(conn, project, status_),
            "kinds": pipeline.BOTTLENECK_KINDS,
        }
    )


@router.post(
    "/api/pipeline/projects/{code}/bottlenecks",
    status_code=201,
    summary="Flag a bottleneck / 登记瓶颈（用地、环评、审批、其他）",
)
def add_bottleneck(
    code: str, body: BottleneckBody, user: RequirePlanner, conn: Conn
) -> JSONResponse:
    return _json(
        pipeline.add_bottleneck(conn, code, body.model_dump(), user.name), status.HTTP_201_CREATED
    )


@router.patch("/api/pipeline/bottlenecks/{bid}", summary="Update a bottleneck / 更新瓶颈")
def patch_bottleneck(
    bid: int, body: BottleneckPatch, user: RequirePlanner, conn: Conn
) -> JSONResponse:
    return _json(
        pipeline.update_bottleneck(conn, bid, body.model_dump(exclude_unset=True), user.name)
    )
