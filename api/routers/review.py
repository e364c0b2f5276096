"""Pre-review (预审) of a project on a site, for planners and admins.

``GET /api/review/{project}`` -- on the project's best site (parkgis.siting.fit's top match);
``GET /api/review/{project}/{parcels}`` -- on one parcel or a comma-separated group;
``?format=json|csv|html`` (CSV is UTF-8 with a BOM; HTML is printable);
``POST /api/review`` -- the same with what-if figures (``overrides``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import Conn, RequirePlanner
from parkgis.promotion import review

router = APIRouter(tags=["review"])
Format = Literal["json", "csv", "html"]


def _review_response(r: review.Review, fmt: str) -> Response:
    name = f"review-{r.project['code']}-{'_'.join(p['code'] for p in r.parcels)}"
    if fmt == "csv":
        return Response(
            review.to_csv(r),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "html":
        return HTMLResponse(review.to_html(r))
    return JSONResponse(jsonable_encoder(r.body()))


@router.get("/api/review/{project}", summary="Pre-review on the best site / 预审（最佳选址）")
def review_best(
    project: str,
    user: RequirePlanner,
    conn: Conn,
    format: Format = "json",
    version: str | None = None,
) -> Response:
    return _review_response(review.review_best(conn, project, version=version), format)


@router.get(
    "/api/review/{project}/{parcels}",
    summary="Pre-review on a site / 预审（指定地块）",
    description="`parcels`: one parcel code or several, comma-separated.",
)
def review_site(
    project: str,
    parcels: str,
    user: RequirePlanner,
    conn: Conn,
    format: Format = "json",
    version: str | None = None,
) -> Response:
    return _review_response(
        review.review(conn, project, parcels.split(","), version=version), format
    )


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
        None, max_length=20, description="地块；省略则取最佳匹配 / omit for the best match"
    )
    version: str | None = Field(None, max_length=32)
    overrides: Overrides | None = None


@router.post("/api/review", summary="Pre-review with what-if figures / 预审（假设方案）")
def review_post(
    body: ReviewBody, user: RequirePlanner, conn: Conn, format: Format = "json"
) -> Response:
    ov = body.overrides.model_dump(exclude_none=True) if body.overrides else {}
    r = review.review_for(conn, body.project, body.parcels, version=body.version, overrides=ov)
    return _review_response(r, format)
