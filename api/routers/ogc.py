"""OGC API – Features under ``/ogc``: Part 1 Core/GeoJSON/OAS30, Part 2 CRS, Part 3 Filtering
with CQL2 text, queryables.

The router parses and shapes; ``parkgis.publish.ogc`` validates and builds the SQL. The feature JSON
comes from PostgreSQL as one string and is wrapped, not re-encoded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from api.deps import AsyncConn, SettingsDep
from parkgis.db.collections import COLLECTIONS, Collection
from parkgis.errors import InvalidInput
from parkgis.geo.crs import CRS84, CRS_LIST, STORAGE, resolve
from parkgis.publish.ogc import features as ft

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
)
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_CONFORMANCE = "conformance"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
GEOJSON_SCHEMA = "https://geojson.org/schema/{}.json"


def _crs_param(name: str, desc: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": desc,
        "schema": {"type": "string", "format": "uri", "enum": [c.uri for c in CRS_LIST]},
    }


def _items_parameters(collection: Collection | None) -> list[dict[str, Any]]:
    """OpenAPI parameters of /items (declared by hand: the handler validates them itself).

    Long because it declares the items route's query parameters as data.
    """
    params: list[dict[str, Any]] = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": ft.MAX_LIMIT,
                "default": ft.DEFAULT_LIMIT,
            },
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        {
            "name": "bbox",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        },
        _crs_param("bbox-crs", "CRS of bbox (axis order as the CRS defines it)"),
        _crs_param("crs", "Output CRS; EPSG:4490 and EPSG:4547 are northing/latitude first"),
        {
            "name": "properties",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        {
            "name": "sortby",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "items": {"type": "string", "pattern": r"^[+-]?\w+$"}},
        },
        {
            "name": "filter",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "CQL2 text; property names from /queryables",
        },
        {
            "name": "filter-lang",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(ft.FILTER_LANGS), "default": "cql2-text"},
        },
        _crs_param("filter-crs", "CRS of geometry literals in filter"),
        {
            "name": "resultType",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["results", "hits"], "default": "results"},
        },
    ]
    if collection is not None:
        for p in collection.props:
            schema: dict[str, Any] = {"type": p.type}
            if p.format:
                schema["format"] = p.format
            params.append(
                {
                    "name": p.name,
                    "in": "query",
                    "required": False,
                    "schema": schema,
                    "description": f"{p.title_zh} / {p.title_en} (equality)",
                }
            )
    return params


@asynccontextmanager
async def _install_openapi(app: FastAPI) -> AsyncIterator[None]:
    """Serve ``/ogc/api`` as ``application/vnd.oai.openapi+json;version=3.0``.

    FastAPI registers its own openapi route (``application/json``) before any router, so the
    OGC router replaces that route's endpoint when the app starts. The document also gains
    per-collection ``/collections/{id}/items`` paths (relative to the ``/ogc`` API root, where
    GDAL's OAPIF driver looks for the filter parameters and queryable properties).
    """
    if app.openapi_url and not getattr(app.state, "ogc_openapi_installed", False):
        app.state.ogc_openapi_installed = True
        original = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                schema = original()
                for c in COLLECTIONS.values():
                    schema["paths"][f"/collections/{c.id}/items"] = {
                        "get": {
                            "summary": f"{c.title} — items",
                            "operationId": f"ogc_items_{c.id}",
                            "servers": [{"url": "/ogc"}],
                            "parameters": _items_parameters(c),
                            "responses": {
                                "200": {
                                    "description": "GeoJSON FeatureCollection",
                                    "content": {GEOJSON: {}},
                                }
                            },
                        }
                    }
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]

        async def serve(request: Request) -> Response:
            return Response(json.dumps(app.openapi(), ensure_ascii=False), media_type=OPENAPI)

        for route in app.router.routes:
            if isinstance(route, Route) and route.path == app.openapi_url:
                route.app = request_response(serve)
    yield


router = APIRouter(tags=["OGC API - Features"], lifespan=_install_openapi)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


@router.get("/ogc", summary="Landing page / 服务首页")
async def landing(request: Request) -> JSONResponse:
    b = _base(request)
    return JSONResponse(
        {
            "title": "ParkGIS 卫辉产业集聚区 OGC API",
            "description": "卫辉市产业集聚区地块、基础设施、提升工程与入驻企业 / Weihui industrial "
            "cluster zone: parcels, infrastructure, upgrades, enterprises. "
            "CGCS2000 and WGS84 are treated as the same datum (a few cm apart).",
            "links": [
                _link(b, "self", JSON, "本页 / This document"),
                _link(f"{b}/api", "service-desc", OPENAPI, "API 定义 / API definition"),
                _link(
                    str(request.base_url).rstrip("/") + "/docs",
                    "service-doc",
                    "text/html",
                    "API 文档 / API documentation",
                ),
                _link(f"{b}/conformance", REL_CONFORMANCE, JSON, "符合性 / Conformance"),
                _link(f"{b}/collections", "data", JSON, "图层 / Collections"),
            ],
        }
    )


@router.get("/ogc/conformance", summary="Conformance classes / 符合性声明")
async def conformance() -> JSONResponse:
    return JSONResponse({"conformsTo": list(CONFORMANCE)})


def _collection_doc(c: Collection, b: str, bbox: list[float] | None) -> dict[str, Any]:
    href = f"{b}/collections/{c.id}"
    doc: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [c.uri for c in CRS_LIST],
        "storageCrs": STORAGE.uri,
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}/items", "items", GEOJSON, "要素 / Features"),
            _link(f"{href}/queryables", REL_QUERYABLES, SCHEMA_JSON, "可查询属性 / Queryables"),
            # Relation types are case-insensitive (RFC 8288); GDAL 3.6 matches "describedBy".
            _link(
                f"{href}/feature-schema",
                "describedBy",
                SCHEMA_JSON,
                "要素结构 / GeoJSON feature schema",
            ),
            _link(
                f"{href}/tiles/WebMercatorQuad",
                REL_TILESETS,
                JSON,
                "矢量瓦片 / Vector tiles (WebMercatorQuad)",
            ),
        ],
    }
    if bbox is not None:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get("/ogc/collections", summary="Collections / 图层列表")
async def collections(request: Request, conn: AsyncConn) -> JSONResponse:
    b = _base(request)
    docs = [_collection_doc(c, b, await ft.extent(conn, c)) for c in COLLECTIONS.values()]
    return JSONResponse(
        {
            "links": [_link(f"{b}/collections", "self", JSON, "图层 / Collections")],
            "collections": docs,
        }
    )


@router.get("/ogc/collections/{collectionId}", summary="Collection / 图层")
async def collection(collectionId: str, request: Request, conn: AsyncConn) -> JSONResponse:
    c = ft.get_collection(collectionId)
    return JSONResponse(_collection_doc(c, _base(request), await ft.extent(conn, c)))


@router.get("/ogc/collections/{collectionId}/queryables", summary="Queryables / 可查询属性")
async def queryables(collectionId: str, request: Request) -> Response:
    c = ft.get_collection(collectionId)
    props: dict[str, Any] = {
        "geometry": {
            "title": "几何 / Geometry",
            "x-ogc-role": "primary-geometry",
            "format": f"geometry-{c.geometry_type.lower()}"
            if c.geometry_type != "Geometry"
            else "geometry-any",
            **(
                {"$ref": GEOJSON_SCHEMA.format(c.geometry_type)}
                if c.geometry_type != "Geometry"
                else {}
            ),
        },
    }
    for p in c.props:
        schema: dict[str, Any] = {"title": f"{p.title_zh} / {p.title_en}", "type": p.type}
        if p.format:
            schema["format"] = p.format
        if p.enum:
            schema["enum"] = list(p.enum)
        props[p.name] = schema
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_base(request)}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }
    return Response(json.dumps(doc, ensure_ascii=False), media_type=SCHEMA_JSON)


@router.get(
    "/ogc/collections/{collectionId}/feature-schema", summary="GeoJSON feature schema / 要素结构"
)
async def feature_schema(collectionId: str, request: Request) -> Response:
    """JSON Schema of one GeoJSON feature of the collection (the ``describedby`` link).

    GDAL's OAPIF driver reads field types from it; without it GDAL guesses them from the
    first page, and a price that happens to be whole there becomes an integer field.
    """
    c = ft.get_collection(collectionId)
    props: dict[str, Any] = {}
    for p in c.props:
        schema: dict[str, Any] = {"title": f"{p.title_zh} / {p.title_en}", "type": p.type}
        if p.format:
            schema["format"] = p.format
        props[p.name] = schema
    geometry = (
        {"$ref": GEOJSON_SCHEMA.format(c.geometry_type)}
        if c.geometry_type != "Geometry"
        else {"$ref": GEOJSON_SCHEMA.format("Geometry")}
    )
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_base(request)}/collections/{c.id}/feature-schema",
        "title": c.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": geometry,
            "properties": {"type": "object", "properties": props},
        },
    }
    return Response(json.dumps(doc, ensure_ascii=False), media_type=SCHEMA_JSON)


def _content_crs(uri: str) -> dict[str, str]:
    return {"Content-Crs": f"<{uri}>"}


@router.get(
    "/ogc/collections/{collectionId}/items",
    summary="Features / 要素",
    openapi_extra={"parameters": _items_parameters(None)},
    response_class=Response,
)
async def items(
    collectionId: str, request: Request, conn: AsyncConn, settings: SettingsDep
) -> Response:
    c = ft.get_collection(collectionId)
    params: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        params.setdefault(k, []).append(v)
    q = ft.parse_items_query(c, params)
    matched, exact, returned, features = await ft.read_page(conn, q, settings.count_exact_max)

    url = request.url
    b = _base(request)
    links = [
        _link(str(url), "self", GEOJSON, "本页 / This page"),
        _link(f"{b}/collections/{c.id}", "collection", JSON, c.title),
    ]
    if not q.hits_only and returned == q.limit and (not exact or q.offset + returned < matched):
        links.append(
            _link(
                str(url.include_query_params(offset=q.offset + q.limit)),
                "next",
                GEOJSON,
                "下一页 / Next page",
            )
        )
    if not q.hits_only and q.offset > 0:
        links.append(
            _link(
                str(url.include_query_params(offset=max(0, q.offset - q.limit))),
                "prev",
                GEOJSON,
                "上一页 / Previous page",
            )
        )
    head = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    if not exact:
        head["numberMatchedEstimated"] = True
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": ' + features + "}"
    return Response(body, media_type=GEOJSON, headers=_content_crs(q.crs.uri))


@router.get(
    "/ogc/collections/{collectionId}/items/{featureId}",
    summary="Feature / 要素",
    openapi_extra={
        "parameters": [_crs_param("crs", "Output CRS; EPSG:4490 and EPSG:4547 are northing first")]
    },
    response_class=Response,
)
async def item(collectionId: str, featureId: str, request: Request, conn: AsyncConn) -> Response:
    c = ft.get_collection(collectionId)
    for name in request.query_params:
        if name not in ("crs", "f"):
            raise InvalidInput(f"{name}: 未知参数 / unknown query parameter {name!r}")
    crs = resolve(request.query_params.get("crs"), "crs")
    feature = await ft.fetch_feature(conn, c, featureId, crs)
    b = _base(request)
    links = [
        _link(str(request.url), "self", GEOJSON, "本要素 / This feature"),
        _link(f"{b}/collections/{c.id}", "collection", JSON, c.title),
    ]
    body = feature[:-1] + ', "links": ' + json.dumps(links, ensure_ascii=False) + "}"
    return Response(body, media_type=GEOJSON, headers=_content_crs(crs.uri))
