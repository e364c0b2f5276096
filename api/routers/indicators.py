"""Indicator tables (用地控制指标): reads are public (published regulation), writes are admin's.

An empty database is seeded from ``data/indicators`` on first use
(:mod:`parkgis.promotion.indicators`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import Conn, RequireAdmin
from parkgis.errors import InvalidInput
from parkgis.promotion import indicators

router = APIRouter(tags=["indicators"])
MAX_CSV_BYTES = 1_000_000


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


@router.get("/api/indicators", summary="Indicator tables / 用地控制指标表（版本）")
def list_indicator_sets(conn: Conn) -> JSONResponse:
    return _json(indicators.catalogue(conn))


@router.post(
    "/api/indicators/import",
    summary="Import a CSV / 导入指标 CSV (admin)",
    openapi_extra={"requestBody": {"content": {"text/csv": {}}}},
)
async def import_indicators(request: Request, user: RequireAdmin, conn: Conn) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"CSV 过大（≤{MAX_CSV_BYTES} 字节） / CSV over {MAX_CSV_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("CSV 须为 UTF-8 编码 / the CSV must be UTF-8") from None
    res = await run_in_threadpool(indicators.load_text, conn, text, user.name)
    return _json({"sets": res.sets, "rows": res.rows, "industries": res.industries})


@router.get(
    "/api/indicators/{version}",
    summary="One indicator table / 指标表（含各行）",
    description="`version` = `active` for the set in force.",
)
def get_indicator_set(version: str, conn: Conn) -> JSONResponse:
    return _json(indicators.seeded_set(conn, None if version == "active" else version))


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
def create_indicator_set(body: SetBody, user: RequireAdmin, conn: Conn) -> JSONResponse:
    return _json(indicators.create_set(conn, body.model_dump(), user.name), status.HTTP_201_CREATED)


@router.patch("/api/indicators/{version}", summary="Edit a set / 修改指标版本 (admin)")
def patch_indicator_set(
    version: str, body: SetPatch, user: RequireAdmin, conn: Conn
) -> JSONResponse:
    return _json(
        indicators.update_set(conn, version, body.model_dump(exclude_unset=True), user.name)
    )


@router.post("/api/indicators/{version}/activate", summary="Put a set in force / 启用 (admin)")
def activate_indicator_set(version: str, user: RequireAdmin, conn: Conn) -> JSONResponse:
    return _json(indicators.activate(conn, version, user.name))


@router.delete(
    "/api/indicators/{version}", status_code=204, summary="Delete an inactive set / 删除 (admin)"
)
def delete_indicator_set(version: str, user: RequireAdmin, conn: Conn) -> Response:
    indicators.delete_set(conn, version)
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


@router.post(
    "/api/indicators/{version}/rows",
    status_code=201,
    summary="Add or replace a row / 新增指标行 (admin)",
)
def add_indicator_row(version: str, body: RowBody, user: RequireAdmin, conn: Conn) -> JSONResponse:
    return _json(
        indicators.add_row(conn, version, body.model_dump(), user.name), status.HTTP_201_CREATED
    )


@router.patch("/api/indicators/{version}/rows/{row_id}", summary="Edit a row / 修改指标行 (admin)")
def patch_indicator_row(
    version: str,
    row_id: int,
    user: RequireAdmin,
    conn: Conn,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    return _json(indicators.update_row(conn, version, row_id, body, user.name))


@router.delete(
    "/api/indicators/{version}/rows/{row_id}",
    status_code=204,
    summary="Delete a row / 删除指标行 (admin)",
)
def delete_indicator_row(version: str, row_id: int, user: RequireAdmin, conn: Conn) -> Response:
    indicators.delete_row(conn, version, row_id, user.name)
    return Response(status_code=204)
