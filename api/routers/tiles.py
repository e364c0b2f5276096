"""Vector tiles: ``/ogc/collections/{id}/tiles[/WebMercatorQuad[/{z}/{x}/{y}]]``.

The tile route is the hottest path of the investor map. A well-formed tile GET is answered by
:class:`TileFastPath`, a plain ASGI middleware installed by the app factory: no routing over
every route's regex, no dependency injection, no request object — it talks to
:class:`parkgis.publish.tiles.TileService` (version check, cache, SQL) and sends the bytes. Anything
else (a bad zoom, letters, an unknown collection or tile matrix set, HEAD, a database error)
falls through to the routed endpoint below, which has the same answer for good requests and
the problem+json answers for bad ones.

``?as_of=YYYY-MM-DD`` cuts the date-dependent properties (the parcels' 七通一平 and overdue
project) as of that date; the fast path parses it with the same parser as every ``as_of``
(:func:`parkgis.siting.search.parse_as_of`) and leaves a bad one to the routed endpoint's 400.

Path order is ``{z}/{x}/{y}`` as the design contract (and Leaflet) has it; note that OGC API –
Tiles writes ``{tileMatrix}/{tileRow}/{tileCol}`` (z/y/x), so the templated link below says
``{tileMatrix}/{tileCol}/{tileRow}``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.dependencies import AsOf
from api.deps import caller_from_authorization, caller_of
from api.errors import unavailable
from api.headers import COMMON, NON_HTML_CSP
from parkgis.db.pool import is_unavailable
from parkgis.errors import InvalidInput
from parkgis.publish import tiles as core
from parkgis.siting.search import parse_as_of

router = APIRouter(tags=["tiles"])

CACHE_CONTROL = f"public, max-age={core.CACHE_MAX_AGE_S}"


def service_of(app: Any) -> core.TileService:
    """The app's tile service, created on first use (one per worker process)."""
    svc = getattr(app.state, "tiles", None)
    if svc is None:
        s = app.state.settings
        svc = core.TileService(
            app.state.pool,
            s.tile_cache_size,
            s.tile_max_features,
            wait_s=s.db_pool_timeout_s,
            replicas=getattr(app.state, "replicas", None),
        )
        app.state.tiles = svc
    return svc


@asynccontextmanager
async def tile_service(app: Any) -> AsyncIterator[core.TileService]:
    """The worker's tile service for the app's lifespan, with its NOTIFY listener running."""
    s = app.state.settings
    svc = core.TileService(
        app.state.pool,
        s.tile_cache_size,
        s.tile_max_features,
        listen_url=app.state.database_url,
        wait_s=s.db_pool_timeout_s,
        # Uncached tiles are cut on a replica when one is configured and fit (see TileService).
        replicas=getattr(app.state, "replicas", None),
    )
    app.state.tiles = svc
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


def service(request: Request) -> core.TileService:
    return service_of(request.app)


_FAST_PREFIX = "/ogc/collections/"
_FAST_PATH = re.compile(
    r"/ogc/collections/([a-z_]{1,40})/tiles/"
    + core.TMS_ID
    + r"/([0-9]{1,2})/([0-9]{1,7})/([0-9]{1,7})"
)
_MVT = core.MVT_MEDIA_TYPE.encode()
_CACHE_CONTROL = CACHE_CONTROL.encode()
# The fast path runs outside the header middleware (api.main builds it outermost), so it sends
# the same security headers itself: every response, and the non-HTML policy unless a 304.
_SECURITY = [(k.encode(), v.encode()) for k, v in COMMON.items()]
_CSP = (b"content-security-policy", NON_HTML_CSP.encode())


def _secured(send: Send) -> Send:
    """``send`` adding the security headers, for the rare answers the fast path does not
    build itself (a 503)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []), *_SECURITY, _CSP]
        await send(message)

    return wrapped


class _Refer(Exception):
    """The request is not the fast path's to answer: the routed endpoint will."""


def _query_as_of(query: bytes) -> dt.date | None:
    """``as_of`` of a tile request's query string (other parameters are ignored, as by the
    routed endpoint); :class:`_Refer` for one the routed endpoint must answer (bad, repeated)."""
    if b"as_of" not in query:
        return None
    values = [
        v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == "as_of"
    ]
    if not values:
        return None
    if len(values) > 1:
        raise _Refer
    try:
        return parse_as_of(values[0])
    except InvalidInput:
        raise _Refer from None


class TileFastPath:
    """ASGI middleware: answers well-formed ``GET`` tile requests without the router.

    Only requests whose collection is tiled and whose z/x/y lie in WebMercatorQuad are served
    here; every other request (and any failure before the first byte is sent) goes on to the
    app unchanged, so errors keep their problem+json answers and nothing else is affected.
    It wraps the whole middleware stack (``api.main``): a request with a body (which the body
    limit must judge) goes on too, and the security headers are sent from here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(_FAST_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        m = _FAST_PATH.fullmatch(scope["path"])
        if m is None or m[1] not in core.COLLECTIONS:
            await self.app(scope, receive, send)
            return
        z, x, y = int(m[2]), int(m[3]), int(m[4])
        if z > core.MAX_ZOOM or x >= (1 << z) or y >= (1 << z):
            await self.app(scope, receive, send)
            return
        try:
            as_of = _query_as_of(scope.get("query_string", b""))
        except _Refer:
            await self.app(scope, receive, send)
            return
        inm = None
        accept = None
        auth = None
        for k, v in scope["headers"]:
            if k == b"if-none-match":
                inm = v.decode("latin-1")
            elif k == b"accept-encoding":
                accept = v.decode("latin-1")
            elif k == b"authorization":
                auth = v.decode("latin-1")
            elif k == b"content-length" or k == b"transfer-encoding":
                await self.app(scope, receive, send)  # a body: the body limit's to judge
                return
        app = scope["app"]
        # Only a replica router cares who asks (read-your-writes): no token decoding without.
        caller = (
            caller_from_authorization(auth, app.state.settings)
            if auth and getattr(app.state, "replicas", None) is not None
            else None
        )
        try:
            res = await service_of(app).tile(
                m[1], z, x, y, inm, core.accepts_gzip(accept), as_of, caller
            )
        except Exception as exc:
            if is_unavailable(exc):
                # Answer the outage here: falling through would wait for the pool a second
                # time and double the bound a client waits for its 503.
                retry = app.state.settings.db_retry_after_s
                await unavailable(None, retry)(scope, receive, _secured(send))
                return
            await self.app(scope, receive, send)  # the routed endpoint answers problem+json
            return
        headers = [
            (b"etag", res.etag.encode()),
            (b"cache-control", _CACHE_CONTROL),
            (b"vary", b"Accept-Encoding"),
            *_SECURITY,
        ]
        if res.status == 304:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if res.encoding:
            headers.append((b"content-encoding", res.encoding.encode()))
        headers += [
            (b"content-type", _MVT),
            (b"content-length", str(len(res.body)).encode()),
            (b"x-tile-cache", b"hit" if res.cache_hit else b"miss"),
            _CSP,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": res.body})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/ogc/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}",
    summary="Vector tile / 矢量瓦片 (MVT)",
    responses={200: {"content": {core.MVT_MEDIA_TYPE: {}}}, 304: {"description": "Not modified"}},
)
async def get_tile(
    request: Request,
    collection_id: str,
    tms: str,
    z: int = Path(ge=0, description="zoom / 缩放级别"),
    x: int = Path(ge=0, description="column / 列"),
    y: int = Path(ge=0, description="row / 行"),
    as_of: AsOf = None,
) -> Response:
    core.check_tms(tms)
    res = await service(request).tile(
        collection_id,
        z,
        x,
        y,
        request.headers.get("if-none-match"),
        core.accepts_gzip(request.headers.get("accept-encoding")),
        as_of,
        caller_of(request) if getattr(request.app.state, "replicas", None) is not None else None,
    )
    headers = {"ETag": res.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if res.status == 304:
        return Response(status_code=304, headers=headers)
    if res.encoding:
        headers["Content-Encoding"] = res.encoding
    headers["X-Tile-Cache"] = "hit" if res.cache_hit else "miss"
    return Response(res.body, media_type=core.MVT_MEDIA_TYPE, headers=headers)


@router.get("/ogc/collections/{collection_id}/tiles", summary="Tilesets / 瓦片集列表")
async def tilesets(request: Request, collection_id: str) -> JSONResponse:
    coll = core.collection(collection_id)
    base = f"{_base(request)}/ogc/collections/{coll.id}/tiles"
    body: dict[str, Any] = {
        "links": [
            {"rel": "self", "type": "application/json", "href": base, "title": "瓦片集 / Tilesets"},
            {
                "rel": "collection",
                "type": "application/json",
                "href": f"{_base(request)}/ogc/collections/{coll.id}",
            },
        ],
        "tilesets": [
            {
                "title": f"{coll.title} — {core.TMS_ID}",
                "dataType": "vector",
                "crs": core.TMS_CRS,
                "tileMatrixSetURI": core.TMS_URI,
                "links": [
                    {
                        "rel": "self",
                        "type": "application/json",
                        "href": f"{base}/{core.TMS_ID}",
                        "title": "TileJSON",
                    },
                    {
                        "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                        "href": core.TMS_URI,
                    },
                    {
                        "rel": "item",
                        "type": core.MVT_MEDIA_TYPE,
                        "templated": True,
                        "href": f"{base}/{core.TMS_ID}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}",
                    },
                ],
            }
        ],
    }
    return JSONResponse(body)


@router.get(
    "/ogc/collections/{collection_id}/tiles/{tms}",
    summary="Tileset metadata (TileJSON 3.0) / 瓦片集元数据",
)
async def tileset(request: Request, collection_id: str, tms: str) -> JSONResponse:
    coll = core.collection(collection_id)
    core.check_tms(tms)
    url = f"{_base(request)}/ogc/collections/{coll.id}/tiles/{core.TMS_ID}/{{z}}/{{x}}/{{y}}"
    bounds = await service(request).bounds(coll.id)
    return JSONResponse(core.tilejson(coll, url, bounds))
