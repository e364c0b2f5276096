"""The land ledger: ``/dashboard`` and ``/api/ledger/…`` (issue 14).

The dashboard page is public HTML, like ``/planner``: every figure on it comes from the
ledger endpoints, which need a planner or admin bearer token. ``/api/ledger/public`` is the
subset anyone may see (available land by park, for the investor map).

Each table endpoint takes ``?format=json|xlsx``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api import page_shell
from api.deps import SyncConn
from api.security import RequirePlanner
from parkgis.errors import InvalidInput
from parkgis.ledger import chains, performance, stock, townships, xlsx
from parkgis.ledger.common import parse_date
from parkgis.publish.ledger_report import render_month_pdf

router = APIRouter(tags=["ledger"])
Format = Literal["json", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OWN_ASSETS = ("css/dashboard.css", "js/dashboard.js")


def _out(body: dict[str, Any], fmt: str, name: str, to_xlsx: Any) -> Response:
    if fmt == "xlsx":
        return Response(
            to_xlsx(body),
            media_type=XLSX,
            headers={
                "Content-Disposition": f'attachment; filename="{name}.xlsx"',
                "Cache-Control": "no-store",
            },
        )
    return JSONResponse(jsonable_encoder(body), headers={"Cache-Control": "no-store"})


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request) -> Response:
    version = page_shell.asset_version(OWN_ASSETS)
    html = page_shell.templates.get_template("dashboard.html").render(v=version)
    etag = f'"dash-{version}"'
    return page_shell.html_response(request, html, etag)


@router.get("/api/ledger/stock", summary="Land-stock accounts / 土地存量账 (planner)")
def ledger_stock(
    user: RequirePlanner,
    conn: SyncConn,
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD (today)")] = None,
    period_from: Annotated[str | None, Query(alias="from")] = None,
    period_to: Annotated[str | None, Query(alias="to")] = None,
    format: Format = "json",
) -> Response:
    d = parse_date(as_of, "as_of", date.today())
    body = stock.stock(
        conn,
        d,
        parse_date(period_from, "from", None) if period_from else None,
        parse_date(period_to, "to", None) if period_to else None,
    )
    return _out(body, format, f"ledger-stock-{d.isoformat()}", xlsx.stock_workbook)


def _year(conn: SyncConn, year: int | None) -> int:
    if year is not None:
        return year
    ys = performance.years(conn)
    if not ys:
        raise InvalidInput("尚无亩均数据 / no per-mu figures loaded yet", param="year")
    return ys[-1]


@router.get("/api/ledger/performance", summary="Per-mu grading / 亩均效益评价 (planner)")
def ledger_performance(
    user: RequirePlanner,
    conn: SyncConn,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    version: Annotated[str | None, Query(max_length=32)] = None,
    format: Format = "json",
) -> Response:
    body = performance.grade(conn, _year(conn, year), version)
    body["years"] = performance.years(conn)
    return _out(body, format, f"ledger-performance-{body['year']}", xlsx.performance_workbook)


@router.post(
    "/api/ledger/performance",
    status_code=201,
    summary="Load annual figures (XLSX/CSV) / 导入亩均数据 (planner)",
)
async def ledger_performance_upload(
    user: RequirePlanner,
    conn: SyncConn,
    file: Annotated[UploadFile, File(description="XLSX 或 CSV / XLSX or CSV")],
) -> Response:
    from fastapi.concurrency import run_in_threadpool

    data = await file.read(performance.MAX_BYTES + 1)
    res = await run_in_threadpool(
        performance.load, conn, data, file.filename or "upload", user.name
    )
    # committed by the pooled connection when the request succeeds (api.deps.sync_conn)
    return JSONResponse(
        {"rows": res.rows, "years": res.years, "enterprises": res.enterprises}, status_code=201
    )


@router.get(
    "/api/ledger/performance/map",
    summary="Occupied parcels by grade / 亩均等级图层",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def ledger_performance_map(
    user: RequirePlanner,
    conn: SyncConn,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
) -> Response:
    return JSONResponse(
        performance.grade_map(conn, _year(conn, year)),
        media_type="application/geo+json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/api/ledger/chains", summary="Chain completeness / 产业链补链 (planner)")
def ledger_chains(user: RequirePlanner, conn: SyncConn, format: Format = "json") -> Response:
    return _out(chains.chains(conn), format, "ledger-chains", xlsx.chains_workbook)


@router.get(
    "/api/ledger/chains/fills/{project}", summary="Links a project would fill / 项目补链 (planner)"
)
def ledger_fills(project: str, user: RequirePlanner, conn: SyncConn) -> JSONResponse:
    return JSONResponse({"project": project, "fills": chains.fills_gap(conn, project)})


@router.get("/api/ledger/townships", summary="Township leaderboard / 乡镇招商排名 (planner)")
def ledger_townships(user: RequirePlanner, conn: SyncConn, format: Format = "json") -> Response:
    return _out(townships.leaderboard(conn), format, "ledger-townships", xlsx.townships_workbook)


@router.get("/api/ledger/public", summary="Available land by park / 各园区可供土地 (public)")
def ledger_public(conn: SyncConn) -> JSONResponse:
    return JSONResponse(stock.public_summary(conn), headers={"Cache-Control": "public, max-age=60"})


@router.get(
    "/api/ledger/report.pdf",
    summary="Monthly ledger report / 月度土地账报告 (planner)",
    responses={200: {"content": {"application/pdf": {}}}},
)
def ledger_report(
    user: RequirePlanner, conn: SyncConn, month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]
) -> Response:
    pdf = render_month_pdf(conn, month)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="ledger-{month}.pdf"'},
    )
