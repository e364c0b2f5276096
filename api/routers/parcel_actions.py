"""One parcel: read it, move it through its lifecycle, read its history, split and merge.

Optimistic concurrency: ``GET /api/parcels/{code}`` sends ``ETag: "<code>-<version>"``; every
write must send it back in ``If-Match`` (428 without it, 412 when the parcel has changed since).
A weak form (``W/"..."``) or a bare version (``"7"``) is accepted too, and ``*`` means "whatever
the current version" (then only the lifecycle rules and the database constraints guard). A merge
names every parcel: ``If-Match: "WH-A-001-3", "WH-A-002-5"``.

Public callers (anonymous, investors) see a parcel without its internal note and project, and
its history without actors, notes and projects; planners and admins see everything.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import PARCEL_ACTION, PARCEL_CODE, Conn, OptionalUser, RequirePlanner, User
from parkgis.errors import InvalidInput, NotFound, ParkGISError, PreconditionFailed
from parkgis.land import actions, lifecycle, parcel_edit

router = APIRouter(tags=["parcels"])

#: Never shown to anonymous callers or investors.
CONFIDENTIAL_PARCEL = frozenset({"note_internal", "project_code"})
PUBLIC_EVENT_FIELDS = ("id", "parcel_code", "at", "action", "from_status", "to_status")
_ETAG_RE = re.compile(r'^(?:W/)?"([^"]*)"$')
_CODE_VERSION_RE = re.compile(r"^(.+)-(\d+)$")


class PreconditionRequired(ParkGISError):
    status = 428
    title_zh = "需要版本号"
    title_en = "Precondition required"


class ActionBody(BaseModel):
    """Parameters of a lifecycle action; each action reads the fields it needs."""

    project: str | None = Field(None, max_length=64, description="项目编号 / project code")
    until: date | None = Field(None, description="预留截止日（含） / last day of a reservation")
    note: str | None = Field(None, max_length=lifecycle.NOTE_MAX, description="备注 / note")
    contract_no: str | None = Field(None, max_length=64, description="出让合同编号 / contract")
    lease_years: int | None = Field(None, ge=1, le=70, description="出让年限 / lease term")
    notice_start: date | None = Field(None, description="挂牌公告开始日 / notice start")
    notice_days: int | None = Field(
        None,
        ge=1,
        le=lifecycle.NOTICE_MAX_DAYS,
        description="公告天数（≥20） / notice length in days",
    )


class MergeBody(BaseModel):
    codes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=2, max_length=100, description="要合并的地块编号 / parcels to merge"
    )
    note: str | None = Field(None, max_length=lifecycle.NOTE_MAX)


def etag(code: str, version: int) -> str:
    return f'"{code}-{version}"'


def parse_if_match(header: str | None) -> list[tuple[str | None, int]] | None:
    """``If-Match`` as ``[(code or None, version), ...]``; None for ``*``.

    428 when the header is missing, 412 when it names no version we could ever match.
    """
    if header is None or not header.strip():
        raise PreconditionRequired(
            "修改地块需要 If-Match 请求头（取自 GET 返回的 ETag） / writes need an If-Match "
            "header carrying the ETag from GET /api/parcels/{code}"
        )
    if header.strip() == "*":
        return None
    tags: list[tuple[str | None, int]] = []
    for raw in header.split(","):
        m = _ETAG_RE.match(raw.strip())
        value = m.group(1) if m else raw.strip()
        if value.isdigit():
            tags.append((None, int(value)))
        elif cv := _CODE_VERSION_RE.match(value):
            tags.append((cv.group(1), int(cv.group(2))))
    if not tags:
        raise PreconditionFailed(f"无法识别的 If-Match：{header} / unrecognised If-Match: {header}")
    return tags


def expected_version(tags: list[tuple[str | None, int]] | None, code: str) -> int | None:
    """The version ``If-Match`` claims for ``code`` (None: no check); 412 if it names others."""
    if tags is None:
        return None
    for c, v in tags:
        if c == code:
            return v
    for c, v in tags:
        if c is None:
            return v
    raise PreconditionFailed(
        f"If-Match 未包含地块 {code} 的版本 / If-Match names no version of parcel {code}"
    )


def public_view(row: dict[str, Any], user: User | None) -> dict[str, Any]:
    if user is not None and user.can_write:
        return dict(row)
    return {k: v for k, v in row.items() if k not in CONFIDENTIAL_PARCEL}


def feature(row: dict[str, Any], user: User | None) -> dict[str, Any]:
    """A parcel row as a GeoJSON Feature (EPSG:4490 ≈ WGS84 lon/lat)."""
    props = public_view(row, user)
    geometry = props.pop("geometry", None)
    props["etag"] = etag(row["code"], row["version"])
    if user is not None and user.can_write:
        props["allowed_actions"] = lifecycle.allowed_actions(row["status"])
    return {"type": "Feature", "id": row["code"], "geometry": geometry, "properties": props}


def _json(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


@router.get(
    f"/api/parcels/{PARCEL_CODE}",
    summary="A parcel / 地块详情",
    responses={200: {"content": {"application/geo+json": {}}}, 304: {}},
)
def get_parcel(
    code: str, user: OptionalUser, conn: Conn, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    actions.catch_up(conn, code)
    row = lifecycle.get_parcel(conn, code)
    tag = etag(row["code"], row["version"])
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Authorization"}
    if if_none_match and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    resp = _json(feature(row, user), headers=headers)
    resp.media_type = "application/geo+json"
    resp.headers["content-type"] = "application/geo+json"
    return resp


@router.get(f"/api/parcels/{PARCEL_CODE}/events", summary="Parcel history / 地块变更记录")
def get_events(code: str, user: OptionalUser, conn: Conn) -> JSONResponse:
    actions.catch_up(conn, code)
    rows = lifecycle.events(conn, code)
    if user is None or not user.can_write:
        rows = [{k: r[k] for k in PUBLIC_EVENT_FIELDS} for r in rows]
    return _json({"code": code, "events": rows})


@router.post(
    "/api/parcels/merge",
    status_code=status.HTTP_201_CREATED,
    summary="Merge adjacent parcels / 合并相邻地块",
)
def merge(
    user: RequirePlanner,
    body: MergeBody,
    conn: Conn,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    tags = parse_if_match(if_match)
    versions = None
    if tags is not None:
        versions = {c: v for c, v in tags if c is not None}
        if any(c is None for c, _ in tags):
            raise PreconditionFailed(
                "合并须在 If-Match 中逐一给出各地块的 ETag（编号-版本） / a "
                "merge needs each parcel's ETag (code-version) in If-Match"
            )
    result = parcel_edit.merge_parcels(conn, body.codes, user.name, versions, body.note)
    parcel = result.pop("parcel")
    result["feature"] = feature(parcel, user)
    return _json(
        result,
        status.HTTP_201_CREATED,
        headers={
            "Location": f"/api/parcels/{parcel['code']}",
            "ETag": etag(parcel["code"], parcel["version"]),
        },
    )


@router.post(
    f"/api/parcels/{PARCEL_CODE}/split",
    status_code=status.HTTP_201_CREATED,
    summary="Split a parcel by a line or polygon / 分割地块",
)
def split(
    code: str,
    user: RequirePlanner,
    conn: Conn,
    body: Annotated[
        dict[str, Any],
        Body(
            description="GeoJSON LineString/Polygon (lon/lat), a Feature, or "
            '{"blade": <GeoJSON>, "note": "..."}'
        ),
    ],
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    version = expected_version(parse_if_match(if_match), code)
    blade = body.get("blade", body)
    note = body.get("note")
    if note is None and isinstance(blade, dict) and blade.get("type") == "Feature":
        note = (blade.get("properties") or {}).get("note")
    if note is not None and (not isinstance(note, str) or len(note) > lifecycle.NOTE_MAX):
        raise InvalidInput(
            f"备注须为不超过 {lifecycle.NOTE_MAX} 字的文本 / note must be text of at most "
            f"{lifecycle.NOTE_MAX} characters"
        )
    actions.catch_up(conn, code)
    result = parcel_edit.split_parcel(conn, code, blade, user.name, version, note)
    result["features"] = [feature(r, user) for r in result.pop("parcels")]
    return _json(result, status.HTTP_201_CREATED)


@router.post(
    f"/api/parcels/{PARCEL_CODE}/{PARCEL_ACTION}",
    summary="Lifecycle action / 地块状态操作",
    description="Actions: "
    + ", ".join(
        f"`{a}` ({lifecycle.ACTION_NAMES_ZH[a]}: {' / '.join(s)} → {t})"
        for a, (s, t) in lifecycle.TRANSITIONS.items()
    ),
)
def act(
    code: str,
    action: str,
    user: RequirePlanner,
    conn: Conn,
    body: ActionBody | None = None,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    if action not in lifecycle.TRANSITIONS:
        raise NotFound(
            f"未知操作 {action}；可用：{', '.join(lifecycle.ACTIONS)} / unknown "
            f"action {action}; one of {', '.join(lifecycle.ACTIONS)}"
        )
    version = expected_version(parse_if_match(if_match), code)
    params = lifecycle.ActionParams(**(body.model_dump() if body else {}))
    result = actions.perform(conn, code, action, params, user.name, version)
    parcel = result["parcel"]
    return _json(
        {
            "parcel": feature(parcel, user),
            "event": result["event"],
            "allowed_actions": lifecycle.allowed_actions(parcel["status"]),
        },
        headers={"ETag": etag(parcel["code"], parcel["version"])},
    )
