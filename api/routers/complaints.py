"""Complaints and disputes (投诉纠纷台账), for planners and admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import Conn, RequirePlanner
from parkgis.promotion import pipeline

router = APIRouter(tags=["complaints"])


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


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
def list_complaints(
    user: RequirePlanner, conn: Conn, status_: Annotated[str | None, Query(alias="status")] = None
) -> JSONResponse:
    return _json(
        {
            "complaints": pipeline.complaints(conn, status_),
            "categories": pipeline.COMPLAINT_CATEGORIES,
        }
    )


@router.post("/api/pipeline/complaints", status_code=201, summary="Log a complaint / 登记投诉")
def add_complaint(body: ComplaintBody, user: RequirePlanner, conn: Conn) -> JSONResponse:
    return _json(
        pipeline.add_complaint(conn, body.model_dump(), user.name), status.HTTP_201_CREATED
    )


@router.patch("/api/pipeline/complaints/{cid}", summary="Handle a complaint / 处理投诉")
def patch_complaint(
    cid: int, body: ComplaintPatch, user: RequirePlanner, conn: Conn
) -> JSONResponse:
    return _json(
        pipeline.update_complaint(conn, cid, body.model_dump(exclude_unset=True), user.name)
    )
