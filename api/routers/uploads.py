"""Upload a vector file into the store (planner/admin): the loader behind ``parkgis load``.

The form takes the CLI's options: ``layer``, ``crs``, ``from_gcj02``, ``fix``, ``encoding``
and ``set`` (repeatable ``COLUMN=VALUE``); the path's ``{table}`` is ``--into``. The format
is decided by the loader from the file's content, so the client's file name only labels the
upload in messages.

A refused file — invalid geometry, no CRS, swapped lon/lat, a GBK .dbf read wrongly, a
broken archive, an overlap with a live parcel — is a precise problem+json and stores nothing:
the loader writes in one transaction.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.security import RequirePlanner
from parkgis.errors import InvalidInput
from parkgis.land.loader import load_file, parse_set_options

router = APIRouter(tags=["uploads"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
TABLES = ("zones", "parcels", "infrastructure", "upgrades", "enterprises", "projects", "boundaries")
# Only the file's own name is kept, reduced to safe characters: the suffix tells the reader
# the format; nothing of the client's path reaches the file system.
SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u4e00-\u9fff]")


@router.post(
    "/api/layers/{table}/upload",
    status_code=201,
    summary="Load a vector file / 上传矢量数据 (planner)",
)
async def upload_layer(
    table: str,
    request: Request,
    user: RequirePlanner,
    file: Annotated[
        UploadFile, File(description="GeoPackage, GeoJSON, zipped Shapefile, KML, DXF")
    ],
    layer: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form(description="CRS of a file that declares none")] = None,
    from_gcj02: Annotated[bool, Form()] = False,
    fix: Annotated[bool, Form()] = False,
    encoding: Annotated[str | None, Form()] = None,
    set_: Annotated[
        list[str] | None,
        Form(
            alias="set",
            description="COLUMN=VALUE for columns the file lacks (repeatable), "
            "as parkgis load --set",
        ),
    ] = None,
) -> JSONResponse:
    if table not in TABLES:
        raise InvalidInput(f"未知图层 / unknown table {table[:40]!r}: one of {', '.join(TABLES)}")
    defaults = parse_set_options(set_)
    name = SAFE_NAME.sub("_", Path(file.filename or "upload").name)[:100].lstrip(".") or "upload"
    with tempfile.TemporaryDirectory(prefix="parkgis-upload-") as tmp:
        path = Path(tmp) / name
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInput(f"文件过大 / file larger than {MAX_UPLOAD_BYTES >> 20} MB")
                out.write(chunk)
        if size == 0:
            raise InvalidInput("空文件 / empty file")
        report = await run_in_threadpool(
            load_file,
            request.app.state.database_url,
            path,
            layer=layer,
            into=table,
            crs=crs,
            from_gcj02=from_gcj02,
            fix=fix,
            encoding=encoding,
            actor=user.name,
            defaults=defaults or None,
        )
    body: dict[str, Any] = dataclasses.asdict(report)
    body["summary"] = report.summary()
    return JSONResponse(body, status_code=201)
