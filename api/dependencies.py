"""The typed parts of a request, declared once and reused by every route.

A route names what it needs in its signature and gets it parsed and validated; the OpenAPI
parameters come from here, not from hand-written lists::

    @router.get("/api/planner/parcels")
    def planner_parcels(user: RequirePlanner, conn: Conn, box: BBoxQ, page: EditPage) -> ...

* ``Conn`` -- the unit of work: a pooled connection, committed once when the route returns
  (before the response is sent, so a client that reads the answer sees the change) and rolled
  back when it raises. Routes never call ``commit()``.
* ``AppSettings`` -- the app's own :class:`parkgis.settings.Settings` (``create_app(settings)``).
* ``BBoxQ`` -- ``bbox`` with its ``bbox-crs``, parsed by :func:`parkgis.geo.crs.parse_bbox`, the
  one parser the OGC API uses too.
* :func:`output_format` -- ``f=`` or, failing that, the ``Accept`` header.
* :func:`paging` -- ``limit``/``offset`` with a route's own default and maximum.
* ``ParcelCode`` and the ``{code:parcel_code}`` / ``{action:parcel_action}`` path converters, so
  that ``/api/parcels/available`` and ``/api/parcels/merge`` can never be taken for a parcel
  code whatever order routers are registered in.
* The caller: ``OptionalUser``, ``CurrentUser``, ``RequirePlanner``, ``RequireAdmin``, ``Staff``.

(This module deliberately has no ``from __future__ import annotations``: FastAPI reads the
``Annotated`` metadata of the closures below at runtime.)
"""

import datetime as dt
import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Path, Query, Request
from starlette.convertors import Convertor, register_url_convertor

from api.deps import SettingsDep, sync_conn
from api.security import CurrentUser, OptionalUser, RequireAdmin, RequirePlanner, User
from parkgis.errors import InvalidInput
from parkgis.geo.crs import BBox, parse_bbox, resolve
from parkgis.siting.search import parse_as_of

__all__ = [
    "PARCEL_ACTION",
    "PARCEL_CODE",
    "AppSettings",
    "BBoxQ",
    "Conn",
    "CurrentUser",
    "OptionalUser",
    "Page",
    "ParcelCode",
    "RequireAdmin",
    "RequirePlanner",
    "Staff",
    "User",
    "documented_query",
    "output_format",
    "paging",
]


def unit_of_work(request: Request) -> Iterator[psycopg.Connection]:
    """The request's connection; committed once on success, rolled back on an error."""
    yield from sync_conn(request)


# scope="function": the commit runs when the route returns, before the response is sent.
Conn = Annotated[psycopg.Connection, Depends(unit_of_work, scope="function")]
AppSettings = SettingsDep


def _as_of(
    as_of: Annotated[
        str | None,
        Query(
            description="按该日期在用的基础设施计算（YYYY-MM-DD，默认今天） / what is in service "
            "on this date (YYYY-MM-DD, default today)"
        ),
    ] = None,
) -> dt.date | None:
    return parse_as_of(as_of) if as_of is not None else None


#: ``as_of=YYYY-MM-DD`` (design §4b) for search, the sheet and the match routes; a bad date is
#: a 400 problem+json from the core's parser.
AsOf = Annotated[dt.date | None, Depends(_as_of)]


# -- path converters: routes that cannot shadow each other ---------------------------------------

# Words under /api/parcels/ that are endpoints, never parcel codes.
RESERVED_PARCEL_WORDS = ("available", "merge")


class ParcelCodeConvertor(Convertor[str]):
    regex = r"(?!(?:" + "|".join(RESERVED_PARCEL_WORDS) + r")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# POST sub-resources of a parcel that are not the generic lifecycle route: a split, and the
# listing flow (api/routers/listing.py), whose ``list`` must carry its notice and prices.
PARCEL_SUBRESOURCES = ("split", "list", "bids", "contract")


class ParcelActionConvertor(Convertor[str]):
    # Anything but a sub-resource, so an unknown action still gets the lifecycle's bilingual
    # 404 naming the actions there are, and ``/split`` can never be taken for an action.
    regex = r"(?!(?:" + "|".join(PARCEL_SUBRESOURCES) + r")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("parcel_code", ParcelCodeConvertor())
register_url_convertor("parcel_action", ParcelActionConvertor())

#: Use in paths: ``f"/api/parcels/{PARCEL_CODE}/terrain"``.
PARCEL_CODE = "{code:parcel_code}"
PARCEL_ACTION = "{action:parcel_action}"
ParcelCode = Annotated[
    str, Path(description="地块编号 / parcel code, e.g. WH-A-012", max_length=64)
]


# -- bbox ---------------------------------------------------------------------------------------


def bbox_query(
    bbox: Annotated[
        str | None,
        Query(description="minX,minY,maxX,maxY in bbox-crs axis order (CRS84: lon,lat) / 范围"),
    ] = None,
    bbox_crs: Annotated[
        str | None,
        Query(alias="bbox-crs", description="bbox 的坐标参考系 / CRS of bbox (default CRS84)"),
    ] = None,
) -> BBox | None:
    crs = resolve(bbox_crs, "bbox-crs")  # refuse nonsense even without a bbox
    return parse_bbox(bbox, crs) if bbox is not None else None


BBoxQ = Annotated[BBox | None, Depends(bbox_query)]


# -- output format ------------------------------------------------------------------------------


def _accepted(header: str) -> list[str]:
    """Media types of an Accept header, most wanted first (q=0 dropped)."""
    ranked = []
    for i, part in enumerate(header.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media and q > 0:
            ranked.append((-q, i, media.lower()))
    return [m for _q, _i, m in sorted(ranked)]


def output_format(formats: Mapping[str, str], default: str) -> Callable[..., str]:
    """A dependency choosing one of ``formats`` (name -> media type): ``f=name`` if given
    (once), else the first acceptable media type of ``Accept``, else ``default``."""
    names = ", ".join(formats)

    def dependency(
        request: Request,
        f: Annotated[str | None, Query(description=f"输出格式 / output format: {names}")] = None,
    ) -> str:
        if len(request.query_params.getlist("f")) > 1:
            raise InvalidInput("参数 f 只能给一次 / f given more than once", param="f")
        if f is not None:
            if f not in formats:
                raise InvalidInput(
                    f"不支持的格式 {f!r} / unknown format {f!r}; one of {names}", param="f"
                )
            return f
        by_type = {m.split(";")[0].strip().lower(): n for n, m in formats.items()}
        for media in _accepted(request.headers.get("accept", "")):
            if media in by_type:
                return by_type[media]
        return default

    return dependency


# -- a core's own parameter table --------------------------------------------------------------


def documented_query(
    table: Mapping[str, str], skip: Collection[str] = ()
) -> Callable[..., list[tuple[str, str]]]:
    """A dependency handing over the raw ``(name, value)`` pairs of the query string, for a core
    that parses its own open-ended parameters (repeatable, comma lists, unknown names refused),
    while OpenAPI lists each name of the core's ``table`` (name -> description) as a query
    parameter. ``skip``: names another dependency declares (``f``)."""

    def dependency(request: Request, **_declared: Any) -> list[tuple[str, str]]:
        return request.query_params.multi_items()

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    # Declared under neutral names with the real name as alias: "max-dist" or "as_of" need
    # not be identifiers, and the values are read from the request, not from these.
    params += [
        inspect.Parameter(
            f"param_{i}",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[list[str] | None, Query(alias=name, description=desc)],
        )
        for i, (name, desc) in enumerate(table.items())
        if name not in skip
    ]
    dependency.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return dependency


# -- paging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int = 0


def paging(default: int, maximum: int) -> Callable[..., Page]:
    """A dependency for ``limit`` (1..maximum, ``default``) and ``offset`` (≥ 0)."""

    def dependency(
        limit: Annotated[
            int, Query(ge=1, le=maximum, description=f"最多返回条数 / at most (≤ {maximum})")
        ] = default,
        offset: Annotated[
            int, Query(ge=0, le=10_000_000, description="跳过条数 / skip this many")
        ] = 0,
    ) -> Page:
        return Page(limit, offset)

    return dependency


# -- the caller ---------------------------------------------------------------------------------


def is_staff(user: OptionalUser) -> bool:
    """Whether the caller may see confidential figures (planner or admin)."""
    return user is not None and user.can_write


Staff = Annotated[bool, Depends(is_staff)]
