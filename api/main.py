"""The FastAPI app factory.

One app serves the OGC API (``/ogc``), the app endpoints (``/api``) and the pages (``/``,
``/planner``). Routers stay thin: they parse, call ``parkgis`` and shape the response.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from api import errors
from api.deps import ReplicaFallback
from api.headers import SecurityHeaders
from api.limits import BodyLimit
from api.page_shell import WEB_DIR
from api.routers import ROUTERS
from api.routers.tiles import TileFastPath, tile_service
from api.security import trusted_networks
from parkgis import __version__
from parkgis.db import cluster, migrate
from parkgis.db import pool as db_pool
from parkgis.db.replica import ReplicaRouter
from parkgis.land import clock
from parkgis.settings import Settings, get_settings

API_DESCRIPTION = """
ParkGIS — 卫辉市产业集聚区 (Weihui industrial cluster zone): land availability, infrastructure
and its upgrade programme, resident enterprises and the project pipeline.

Coordinates are CGCS2000 (EPSG:4490) longitude/latitude. GeoJSON output and vector tiles treat
CGCS2000 and WGS84 as the same datum: they agree to a few centimetres. Areas and distances are
computed in the park's CGCS2000 Gauss-Krüger projection (EPSG:4547 for Weihui), never in degrees.
"""


class _App(FastAPI):
    """FastAPI entered through the tile fast path (api/routers/tiles.py): a well-formed tile
    GET skips routing, dependency injection and every middleware, Starlette's error handler
    included -- the investor map's hottest request pays for none of them. The fast path sends
    the security headers itself and hands everything else to the stack unchanged."""

    def build_middleware_stack(self) -> ASGIApp:
        return TileFastPath(super().build_middleware_stack())


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """Build the app. ``database_url`` overrides the configured/embedded database (tests).

    Everything the app does follows ``settings`` (the process environment's when omitted):
    routes hand its per-concern parts (``settings.tiles``, ``settings.earthwork`` ...) to the
    core, so several apps with different settings can run in one process.
    """
    settings = settings or get_settings()
    url = database_url or cluster.database_url(settings)
    trusted_networks(settings.trusted_proxies)  # a malformed PARKGIS_TRUSTED_PROXIES fails here

    app = _App(
        title="ParkGIS 卫辉产业集聚区",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=_lifespan(settings, url),
        openapi_url="/ogc/api",
        # /docs is served below from our own copy of Swagger UI: FastAPI's default loads it
        # from a CDN, which fails offline and in China.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database_url = url
    app.state.replicas = None
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    _add_api_docs(app)
    _add_middleware(app, settings)
    return app


def _lifespan(
    settings: Settings, url: str
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: migrations, the pools, the replicas, the clock, the tile service."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(url)
        # Two pools: async for the hot read paths (items, tiles), sync for the domain core
        # functions that the CLI shares (run in FastAPI's thread pool). Both check
        # connections on checkout and bound the wait (parkgis.db.pool).
        async with db_pool.async_pool(url, settings) as apool:
            with db_pool.sync_pool(url, settings) as spool:
                app.state.pool = apool
                app.state.sync_pool = spool
                async with AsyncExitStack() as stack:
                    # Read replicas (PARKGIS_DATABASE_REPLICA_URLS): public reads only.
                    router = ReplicaRouter.from_settings(settings)
                    app.state.replicas = router and await stack.enter_async_context(router.open())
                    # The park's clock runs here so a plain `make demo` needs no cron; the
                    # advisory lock inside makes extra workers harmless.
                    clock_task = None
                    if settings.clock_enabled:
                        await asyncio.to_thread(clock.run_once, url)
                        clock_task = asyncio.create_task(clock.run_daily(url))
                    try:
                        async with tile_service(app):
                            yield
                    finally:
                        if clock_task is not None:
                            clock_task.cancel()

    return lifespan


def _add_api_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/ogc/api",
            title=f"{app.title} — API",
            swagger_js_url="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/static/img/favicon.svg",
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        # The same document as /ogc/api (where GDAL and QGIS look for it, with the OGC media
        # type), under the name every other OpenAPI client tries first (design §4b).
        return JSONResponse(app.openapi())


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The middleware, innermost first (each ``add_middleware`` wraps the ones before)."""
    if settings.database_replica_urls.strip():
        # A GET whose replica failed under it is answered again by the primary.
        app.add_middleware(ReplicaFallback)
    # A body over the limit is refused before any route (or the tile path) runs.
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(SecurityHeaders)  # outermost: tiles, 413s and every page get the headers
