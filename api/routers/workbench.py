"""The planner workbench API: pre-review, indicator tables, pipeline, inquiries inbox.

Reads of the indicator tables are public (they are published regulation); everything else
that carries project figures is for planners and admins. Writes need planner or admin; the
indicator tables need admin. ``POST /api/inquiries`` (the public form) lives in
``api.routers.inquiries``; the inbox routes here are ``GET /api/inquiries`` and
``PATCH /api/inquiries/{id}``.

Pre-review
    ``GET /api/review/{project}`` — on the project's best site (parkgis.fit's top match);
    ``GET /api/review/{project}/{parcels}`` — on one parcel or a comma-separated group;
    ``?format=json|csv|html`` (CSV is UTF-8 with a BOM; HTML is printable);
    ``POST /api/review`` — the same with what-if figures (``overrides``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from api.deps import SyncConn
from api.security import OptionalUser, RequireAdmin, RequirePlanner
from parkgis import indicators, pipeline, review
from parkgis.errors import InvalidInput

router = APIRouter(tags=["workbench"])
MAX_CSV_BYTES = 1_000_000
Format = Literal["json", "csv", "html"]


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


# ---------------------------------------------------------------------------- pre-review


def _review_response(r: review.Review, fmt: str) -> Response:
    name = f"review-{r.project['code']}-{'_'.join(p['code'] for p in r.parcels)}"
    if fmt == "csv":
        return Response(review.to_csv(r), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "html":
        return HTMLResponse(review.to_html(r))
    return _json(r.body())


@router.get("/api/review/{project}", summary="Pre-review on the best site / 预审（最佳选址）")
def review_best(project: str, user: RequirePlanner, conn: SyncConn,
                format: Format = "json", version: str | None = None) -> Response:
    r = review.review_best(conn, project, version=version)
    conn.commit()
    return _review_response(r, format)


@router.get("/api/review/{project}/{parcels}",
            summary="Pre-review on a site / 预审（指定地块）",
            description="`parcels`: one parcel code or several, comma-separated.")
def review_site(project: str, parcels: str, user: RequirePlanner, conn: SyncConn,
                format: Format = "json", version: str | None = None) -> Response:
    r = review.review(conn, project, parcels.split(","), version=version)
    conn.commit()
    return _review_response(r, format)


class Building(BaseModel):
    floor_area_m2: float = Field(ge=0, description="楼层建筑面积 / floor area of a storey")
    storey_height_m: float | None = Field(None, gt=0, le=100, description="层高 / storey height")


class Overrides(BaseModel):
    investment_wan: float | None = Field(None, ge=0)
    expected_tax_wan: float | None = Field(None, ge=0)
    floor_area_ratio: float | None = Field(None, ge=0, le=50)
    building_coverage: float | None = Field(None, ge=0, le=1)
    green_ratio: float | None = Field(None, ge=0, le=1)
    office_share: float | None = Field(None, ge=0, le=1)
    buildings: list[Building] | None = Field(None, max_length=500)


class ReviewBody(BaseModel):
    project: str = Field(min_length=1, max_length=64)
    parcels: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=20, description="地块；省略则取最佳匹配 / omit for the best match")
    version: str | None = Field(None, max_length=32)
    overrides: Overrides | None = None


@router.post("/api/review", summary="Pre-review with what-if figures / 预审（假设方案）")
def review_post(body: ReviewBody, user: RequirePlanner, conn: SyncConn,
                format: Format = "json") -> Response:
    ov = body.overrides.model_dump(exclude_none=True) if body.overrides else {}
    if body.parcels:
        r = review.review(conn, body.project, body.parcels, version=body.version, overrides=ov)
    else:
        r = review.review_best(conn, body.project, version=body.version, overrides=ov)
    conn.commit()
    return _review_response(r, format)


# ---------------------------------------------------------------------------- indicators


@router.get("/api/indicators", summary="Indicator tables / 用地控制指标表（版本）")
def list_indicator_sets(conn: SyncConn) -> JSONResponse:
    indicators.ensure_seeded(conn)
    conn.commit()
    return _json({"sets": indicators.list_sets(conn),
                  "industry_map": indicators.industry_map(conn),
                  "indicators": {k: {"name_zh": v[0], "name_en": v[1], "unit": v[2]}
                                 for k, v in indicators.INDICATOR_NAMES.items()},
                  "units": sorted(indicators.UNITS)})


@router.post("/api/indicators/import", summary="Import a CSV / 导入指标 CSV (admin)",
             openapi_extra={"requestBody": {"content": {"text/csv": {}}}})
async def import_indicators(request: Request, user: RequireAdmin) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"CSV 过大（≤{MAX_CSV_BYTES} 字节） / CSV over {MAX_CSV_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("CSV 须为 UTF-8 编码 / the CSV must be UTF-8") from None
    from starlette.concurrency import run_in_threadpool

    def run() -> indicators.LoadResult:
        with request.app.state.sync_pool.connection() as conn:
            res = indicators.load_text(conn, text, user.name)
            conn.commit()
            return res

    res = await run_in_threadpool(run)
    return _json({"sets": res.sets, "rows": res.rows, "industries": res.industries})


@router.get("/api/indicators/{version}", summary="One indicator table / 指标表（含各行）",
            description="`version` = `active` for the set in force.")
def get_indicator_set(version: str, conn: SyncConn) -> JSONResponse:
    indicators.ensure_seeded(conn)
    conn.commit()
    return _json(indicators.get_set(conn, None if version == "active" else version))


class SetBody(BaseModel):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    issued: date | None = None
    source: str = Field(min_length=1, max_length=500)
    is_active: bool = False
    park_region_tier: str | None = Field(None, max_length=100)
    park_region_note: str | None = Field(None, max_length=2000)
    note: str | None = Field(None, max_length=2000)
    copy_from: str | None = Field(None, max_length=32, description="复制某版本的各行 / copy rows")
    rows: list[dict[str, Any]] = Field(default_factory=list, max_length=2000)


class SetPatch(BaseModel):
    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, min_length=1, max_length=200)
    issued: date | None = None
    source: str | None = Field(None, min_length=1, max_length=500)
    is_active: bool | None = None
    park_region_tier: str | None = Field(None, max_length=100)
    park_region_note: str | None = Field(None, max_length=2000)
    note: str | None = Field(None, max_length=2000)


@router.post("/api/indicators", status_code=201, summary="New indicator set / 新建指标版本 (admin)")
def create_indicator_set(body: SetBody, user: RequireAdmin, conn: SyncConn) -> JSONResponse:
    indicators.ensure_seeded(conn)
    out = indicators.create_set(conn, body.model_dump(), user.name)
    conn.commit()
    return _json(out, status.HTTP_201_CREATED)


@router.patch("/api/indicators/{version}", summary="Edit a set / 修改指标版本 (admin)")
def patch_indicator_set(version: str, body: SetPatch, user: RequireAdmin,
                        conn: SyncConn) -> JSONResponse:
    out = indicators.update_set(conn, version, body.model_dump(exclude_unset=True), user.name)
    conn.commit()
    return _json(out)


@router.post("/api/indicators/{version}/activate", summary="Put a set in force / 启用 (admin)")
def activate_indicator_set(version: str, user: RequireAdmin, conn: SyncConn) -> JSONResponse:
    out = indicators.activate(conn, version, user.name)
    conn.commit()
    return _json(out)


@router.delete("/api/indicators/{version}", status_code=204,
               summary="Delete an inactive set / 删除 (admin)")
def delete_indicator_set(version: str, user: RequireAdmin, conn: SyncConn) -> Response:
    indicators.delete_set(conn, version)
    conn.commit()
    return Response(status_code=204)


class RowBody(BaseModel):
    indicator: Literal[indicators.INDICATORS]  # type: ignore[valid-type]
    region_tier: str | None = Field(None, max_length=100)
    industry_code: str | None = Field(None, pattern=r"^[0-9]{2,4}$")
    industry_name: str | None = Field(None, max_length=100)
    min_value: float | str | None = None
    max_value: float | str | None = None
    unit: str | None = Field(None, max_length=16)
    note: str | None = Field(None, max_length=1000)
    is_assumption: bool = False


@router.post("/api/indicators/{version}/rows", status_code=201,
             summary="Add or replace a row / 新增指标行 (admin)")
def add_indicator_row(version: str, body: RowBody, user: RequireAdmin,
                      conn: SyncConn) -> JSONResponse:
    out = indicators.add_row(conn, version, body.model_dump(), user.name)
    conn.commit()
    return _json(out, status.HTTP_201_CREATED)


@router.patch("/api/indicators/{version}/rows/{row_id}", summary="Edit a row / 修改指标行 (admin)")
def patch_indicator_row(version: str, row_id: int, user: RequireAdmin, conn: SyncConn,
                        body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    out = indicators.update_row(conn, version, row_id, body, user.name)
    conn.commit()
    return _json(out)


@router.delete("/api/indicators/{version}/rows/{row_id}", status_code=204,
               summary="Delete a row / 删除指标行 (admin)")
def delete_indicator_row(version: str, row_id: int, user: RequireAdmin,
                         conn: SyncConn) -> Response:
    indicators.delete_row(conn, version, row_id, user.name)
    conn.commit()
    return Response(status_code=204)


# ------------------------------------------------------------------------------ pipeline


@router.get("/api/pipeline/board", summary="Pipeline board / 项目看板",
            description="Public callers see stage, names, industry, township; planners also "
                        "see tax shares, money figures and open bottlenecks.")
def pipeline_board(user: OptionalUser, conn: SyncConn) -> JSONResponse:
    staff = user is not None and user.can_write
    return _json({**pipeline.board(conn, staff), "stages": pipeline.STAGES,
                  "stage_names_zh": pipeline.STAGE_NAMES_ZH, "staff": staff})


@router.get("/api/pipeline/projects/{code}", summary="A project in the pipeline / 项目动态")
def pipeline_project(code: str, user: RequirePlanner, conn: SyncConn) -> JSONResponse:
    evs = pipeline.events(conn, code)
    row = conn.execute(pipeline.SQL_PROJECT, (code,)).fetchone()
    return _json({"project": pipeline.public_project(row, True),
                  "allowed_stages": pipeline.allowed_stages(row["stage"]),
                  "events": evs, "bottlenecks": pipeline.bottlenecks(conn, code)})


@router.get("/api/pipeline/projects/{code}/events", summary="Project history / 项目变更记录")
def pipeline_events(code: str, user: RequirePlanner, conn: SyncConn) -> JSONResponse:
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


@router.post("/api/pipeline/projects", status_code=201,
             summary="New lead / 新建项目线索 (planner)")
def pipeline_create(body: NewProject, user: RequirePlanner, conn: SyncConn) -> JSONResponse:
    row = pipeline.create_project(conn, body.model_dump(exclude_none=True), user.name)
    conn.commit()
    return _json({"project": pipeline.public_project(row, True)}, status.HTTP_201_CREATED)


@router.patch("/api/pipeline/projects/{code}", summary="Edit a project / 修改项目 (planner)")
def pipeline_edit(code: str, body: ProjectFields, user: RequirePlanner,
                  conn: SyncConn) -> JSONResponse:
    row = pipeline.update_project(conn, code, body.model_dump(exclude_unset=True), user.name)
    conn.commit()
    return _json({"project": pipeline.public_project(row, True)})


class StageBody(BaseModel):
    to: Literal[pipeline.STAGES]  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.post("/api/pipeline/projects/{code}/stage", summary="Move a project / 项目阶段变更")
def pipeline_stage(code: str, body: StageBody, user: RequirePlanner,
                   conn: SyncConn) -> JSONResponse:
    out = pipeline.set_stage(conn, code, body.to, user.name, body.note)
    conn.commit()
    out["project"] = pipeline.public_project(out["project"], True)
    return _json(out)


class TownshipBody(BaseModel):
    source_township: str | None = Field(None, max_length=100)
    township_tax_share: float | None = Field(None, ge=0, le=1)
    fostered: bool | None = None
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.patch("/api/pipeline/projects/{code}/township",
              summary="Township attribution / 来源乡镇与税收分成（项目寄养）")
def pipeline_township(code: str, body: TownshipBody, user: RequirePlanner,
                      conn: SyncConn) -> JSONResponse:
    out = pipeline.set_township(conn, code, body.model_dump(exclude_unset=True), user.name)
    conn.commit()
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
def list_bottlenecks(user: RequirePlanner, conn: SyncConn, project: str | None = None,
                     status_: Annotated[str | None, Query(alias="status")] = None
                     ) -> JSONResponse:
    return _json({"bottlenecks": pipeline.bottlenecks(conn, project, status_),
                  "kinds": pipeline.BOTTLENECK_KINDS})


@router.post("/api/pipeline/projects/{code}/bottlenecks", status_code=201,
             summary="Flag a bottleneck / 登记瓶颈（用地、环评、审批、其他）")
def add_bottleneck(code: str, body: BottleneckBody, user: RequirePlanner,
                   conn: SyncConn) -> JSONResponse:
    out = pipeline.add_bottleneck(conn, code, body.model_dump(), user.name)
    conn.commit()
    return _json(out, status.HTTP_201_CREATED)


@router.patch("/api/pipeline/bottlenecks/{bid}", summary="Update a bottleneck / 更新瓶颈")
def patch_bottleneck(bid: int, body: BottleneckPatch, user: RequirePlanner,
                     conn: SyncConn) -> JSONResponse:
    out = pipeline.update_bottleneck(conn, bid, body.model_dump(exclude_unset=True), user.name)
    conn.commit()
    return _json(out)


class ComplaintBody(BaseModel):
    received: date | None = None
    complainant: str = Field(min_length=1, max_length=200)
    project_code: str | None = Field(None, max_length=64)
    enterprise_code: str | None = Field(None, max_length=64)
    category: Literal[tuple(pipeline.COMPLAINT_CATEGORIES)]  # type: ignore[valid-type]
    summary: str = Field(min_length=1, max_length=4000)
    handler: str | None = Field(None, max_length=100)


class ComplaintPatch(BaseModel):
    status: Literal[pipeline.COMPLAINT_STATUSES] | None = None  # type: ignore[valid-type]
    handler: str | None = Field(None, max_length=100)
    resolution: str | None = Field(None, max_length=4000)
    category: Literal[tuple(pipeline.COMPLAINT_CATEGORIES)] | None = None  # type: ignore[valid-type]


@router.get("/api/pipeline/complaints", summary="Complaints and disputes / 投诉纠纷台账")
def list_complaints(user: RequirePlanner, conn: SyncConn,
                    status_: Annotated[str | None, Query(alias="status")] = None
                    ) -> JSONResponse:
    return _json({"complaints": pipeline.complaints(conn, status_),
                  "categories": pipeline.COMPLAINT_CATEGORIES})


@router.post("/api/pipeline/complaints", status_code=201, summary="Log a complaint / 登记投诉")
def add_complaint(body: ComplaintBody, user: RequirePlanner, conn: SyncConn) -> JSONResponse:
    out = pipeline.add_complaint(conn, body.model_dump(), user.name)
    conn.commit()
    return _json(out, status.HTTP_201_CREATED)


@router.patch("/api/pipeline/complaints/{cid}", summary="Handle a complaint / 处理投诉")
def patch_complaint(cid: int, body: ComplaintPatch, user: RequirePlanner,
                    conn: SyncConn) -> JSONResponse:
    out = pipeline.update_complaint(conn, cid, body.model_dump(exclude_unset=True), user.name)
    conn.commit()
    return _json(out)


# ------------------------------------------------------------------------ inquiries inbox


@router.get("/api/inquiries", summary="Inquiries inbox / 投资咨询收件箱")
def inquiries_inbox(user: RequirePlanner, conn: SyncConn,
                    status_: Annotated[str | None, Query(alias="status")] = None,
                    limit: int = Query(200, ge=1, le=1000)) -> JSONResponse:
    return _json({"inquiries": pipeline.inquiries(conn, status_, limit)})


class InquiryPatch(BaseModel):
    status: Literal[pipeline.INQUIRY_STATUSES]  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=pipeline.TEXT_MAX)


@router.patch("/api/inquiries/{iid}", summary="Mark an inquiry / 标记咨询（已回复、已关闭）")
def inquiry_mark(iid: int, body: InquiryPatch, user: RequirePlanner,
                 conn: SyncConn) -> JSONResponse:
    out = pipeline.mark_inquiry(conn, iid, body.status, user.name, body.note)
    conn.commit()
    return _json(out)
