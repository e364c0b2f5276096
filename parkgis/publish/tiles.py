"""Vector tiles (MVT) of the public collections on the WebMercatorQuad tile matrix set.

One SQL per collection (and per simplification mode), built once at import from the registry
in :mod:`parkgis.db.collections`: only the layer's ``tile_props`` leave the database, so a
confidential column cannot reach a tile. The SQL follows design §5:

* the filter is ``geom && <tile envelope + buffer, transformed to EPSG:4490>``, which the GiST
  index on ``geom`` answers (a Web-Mercator rectangle is a lon/lat rectangle, so transforming
  the envelope loses nothing);
* ``ST_AsMVTGeom`` clips to the tile plus a 64-unit buffer at extent 4096;
* a feature cap (``settings.tile_max_features``) bounds the work of a low-zoom tile;
* below :data:`SIMPLIFY_BELOW_ZOOM` geometries are simplified by half an MVT unit first, so
  the reprojection and clipping handle fewer vertices;
* statements are executed with ``prepare=True`` so each pooled connection plans them once.

Edits invalidate cached tiles because every cache key and ``ETag`` carries the layer's
``data_versions.version`` (bumped by a statement trigger on every write) -- summed over the
tables a tile reads (:data:`TILE_READS`: a parcel's 七通一平 follow the upgrades).

A collection whose tile properties depend on the date (the parcels' 七通一平 and overdue
project, an upgrade's overdue flag: :data:`parkgis.db.collections.PARK_TODAY_SQL`) is cut as of
a date, ``?as_of=YYYY-MM-DD`` or today in the park, bound as a parameter; that date is part of
the cache key and the ``ETag`` (so a tile cut yesterday is not served as today's).

The API learns new versions without a round trip per request: :class:`VersionWatch` LISTENs on
:data:`NOTIFY_CHANNEL` (migration 0007 NOTIFYs every bump at commit) and still re-reads
``data_versions`` whenever its knowledge is older than :data:`VERSION_RECHECK_S`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip as _gzip
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from parkgis.db.collections import COLLECTIONS, PARK_TODAY_SQL, Collection
from parkgis.db.replica import ReplicaRouter, replica_fault
from parkgis.errors import NotFound
from parkgis.land.lifecycle import park_today

log = logging.getLogger("parkgis.publish.tiles")

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
TMS_CRS = "http://www.opengis.net/def/crs/EPSG/0/3857"
EXTENT = 4096
BUFFER = 64
MIN_ZOOM = 0
MAX_ZOOM = 22
SIMPLIFY_BELOW_ZOOM = 14
# Web-Mercator half-world in metres and the lat limit of the square world.
_HALF_WORLD = 20037508.342789244
# Browsers may reuse a tile this long; ETag revalidation keeps it cheap afterwards.
CACHE_MAX_AGE_S = 30
# Hard ceiling on the bytes the in-memory cache holds, whatever the entry count allows.
CACHE_MAX_BYTES = 256 * 1024 * 1024

_PROP_CAST = {"number": "float8", "integer": "int8", "boolean": "boolean", "string": "text"}
# The bound date that replaces today in date-dependent tile properties.
AS_OF_SQL = "%(as_of)s::date"
# Tables a collection's tiles read besides its own, whose edits must invalidate them too.
TILE_READS: dict[str, tuple[str, ...]] = {"parcels": ("parcels", "upgrades", "projects")}

# {geom}, {props}, {table}, {joins} and {where} come from the registry (code, never input).
TILE_SQL_TEMPLATE = """
WITH env AS (
    SELECT ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int) AS tile,
           ST_Transform(ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int,
                                        margin => {margin}), 4490) AS q
), f AS (
    SELECT ST_AsMVTGeom(ST_Transform({geom}, 3857), env.tile, {extent}, {buffer}, true) AS geom,
           {props}
      FROM env, {table} t {joins}
     WHERE t.geom && env.q AND ({where})
     LIMIT %(limit)s::int
)
SELECT coalesce(ST_AsMVT(f.*, {layer}, {extent}, 'geom'), ''::bytea) AS mvt{version}
  FROM f WHERE f.geom IS NOT NULL
"""
# A replica labels its tile with the data version it was cut from, read in the same statement
# (one snapshot): a replica that has not replayed the edit a version names cannot pass its
# older tile off as that version's.
REPLICA_VERSION_SQL = """,
       (SELECT coalesce(sum(version), 0) FROM data_versions
         WHERE layer = ANY(%(layers)s::text[]))::int8 AS version"""

VERSIONS_SQL = "SELECT layer, version FROM data_versions"
NOTIFY_CHANNEL = "parkgis_data_versions"
# Versions learnt by NOTIFY are trusted this long after the last read of data_versions.
# NOTIFY reaches the listener typically within a millisecond of the commit, but not
# synchronously: a tile asked for in that gap (a client on a kept-alive connection right after
# its own commit) can still be the previous version. This bounds that gap, and the staleness
# if a notification is lost (listener reconnecting), at the cost of at most
# 1/VERSION_RECHECK_S reads per second per worker under load. (Cache-Control already lets
# browsers reuse a tile for CACHE_MAX_AGE_S.)
VERSION_RECHECK_S = 0.02
EXTENT_SQL_TEMPLATE = (
    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
    "(SELECT ST_Extent(t.geom) AS e FROM {table} t WHERE {where}) s"
)


def _needs_joins(coll: Collection) -> bool:
    for name in coll.tile_props:
        p = coll.prop(name)
        if p is not None and p.sql is not None and not p.sql.startswith("t."):
            return True
    return False


def _build_sql(coll: Collection, simplify: bool, versioned: bool = False) -> str:
    props = []
    for name in coll.tile_props:
        p = coll.prop(name)
        if p is None:  # the registry lists a tile prop that is not public: refuse to build
            raise KeyError(f"{coll.id}: tile prop {name} is not a public property")
        ident = sql.Identifier(name).as_string(None)
        expr = coll.expr(name).replace(PARK_TODAY_SQL, AS_OF_SQL)
        props.append(f"({expr})::{_PROP_CAST[p.type]} AS {ident}")
    geom = "ST_Simplify(t.geom, %(tol)s::float8, true)" if simplify else "t.geom"
    return TILE_SQL_TEMPLATE.format(
        margin=BUFFER / EXTENT,
        geom=geom,
        extent=EXTENT,
        buffer=BUFFER,
        props=",\n           ".join(props) or "NULL::text AS _",
        table=sql.Identifier(coll.table).as_string(None),
        joins=coll.joins if _needs_joins(coll) else "",
        where=coll.where,
        layer=sql.Literal(coll.id).as_string(None),
        version=REPLICA_VERSION_SQL if versioned else "",
    )


def build_tile_sql(coll: Collection, simplify: bool) -> str:
    """The tile SQL of any registry collection (e.g. a narrowed copy made by ``publish``);
    refuses a tile prop that is not a public property of the collection."""
    return _build_sql(coll, simplify)


# Built once: (collection id, simplify?) -> SQL text. Identical text keeps prepared plans reused.
TILE_SQL: dict[tuple[str, bool], str] = {
    (cid, simp): _build_sql(c, simp) for cid, c in COLLECTIONS.items() for simp in (False, True)
}
# The same, with the tile's data version read beside it: what a replica runs.
REPLICA_TILE_SQL: dict[tuple[str, bool], str] = {
    (cid, simp): _build_sql(c, simp, versioned=True)
    for cid, c in COLLECTIONS.items()
    for simp in (False, True)
}
# Collections whose tiles depend on the date asked.
DATED: frozenset[str] = frozenset(cid for (cid, _simp), q in TILE_SQL.items() if AS_OF_SQL in q)


def tile_date(cid: str, as_of: dt.date | None) -> dt.date | None:
    """The date a tile of ``cid`` is cut as of: ``as_of`` or today in the park, or ``None``
    for a collection whose tiles do not depend on the date."""
    if cid not in DATED:
        return None
    return as_of or park_today()


def tile_tables(cid: str) -> tuple[str, ...]:
    """The tables ``cid``'s tiles read, whose versions make the tile's version."""
    return TILE_READS.get(cid, (COLLECTIONS[cid].table,))


def tile_version(cid: str, versions: Mapping[str, int]) -> int:
    """The data version of ``cid``'s tiles: the sum over the tables they read. Versions only
    grow, so the sum changes with every edit of any of them."""
    return sum(versions.get(t, 0) for t in tile_tables(cid))


def collection(cid: str) -> Collection:
    """The registry entry of a tiled collection, or :class:`NotFound`."""
    c = COLLECTIONS.get(cid)
    if c is None:
        raise NotFound(f"没有图层 {cid} / no collection {cid!r}")
    return c


def check_tms(tms: str) -> None:
    if tms != TMS_ID:
        raise NotFound(
            f"不支持的瓦片矩阵集 {tms} / tile matrix set {tms!r} is not offered; use {TMS_ID}"
        )


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`NotFound` unless (z, x, y) is a tile of WebMercatorQuad (z ≤ MAX_ZOOM)."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise NotFound(f"缩放级别超出范围 / zoom {z} outside {MIN_ZOOM}..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise NotFound(f"瓦片超出范围 / tile {z}/{x}/{y} outside the matrix (0..{n - 1})")


def tile_params(
    z: int, x: int, y: int, max_features: int, day: dt.date | None = None
) -> tuple[bool, dict[str, Any]]:
    """Whether the tile is simplified, and the bind parameters of its SQL (``day``: the date
    of a dated collection, :func:`tile_date`).

    The tolerance is half an MVT unit in degrees of longitude: anything finer disappears in
    ``ST_AsMVTGeom``'s snapping anyway.
    """
    simplify = z < SIMPLIFY_BELOW_ZOOM
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "limit": max_features}
    if day is not None:
        params["as_of"] = day
    if simplify:
        params["tol"] = 360.0 / (EXTENT * (1 << z)) / 2
    return simplify, params


def render_tile(
    conn: psycopg.Connection,
    cid: str,
    z: int,
    x: int,
    y: int,
    max_features: int = 20_000,
    as_of: dt.date | None = None,
) -> bytes:
    """One MVT tile from a sync connection (the CLI, benchmarks, tests).

    Parameters
    ----------
    conn : psycopg.Connection
    cid : str
        Collection id from the registry; the MVT layer takes this name.
    z, x, y : int
        WebMercatorQuad tile; validated.
    max_features : int
        Feature cap per tile.
    as_of : date, optional
        Date-dependent properties as of this date (default today in the park).

    Returns
    -------
    bytes
        The MVT; empty when no feature touches the tile.
    """
    collection(cid)
    check_tile(z, x, y)
    simplify, params = tile_params(z, x, y, max_features, tile_date(cid, as_of))
    row = conn.execute(TILE_SQL[(cid, simplify)], params, prepare=True, binary=True).fetchone()
    return bytes(_first(row))


async def render_tile_async(
    conn: psycopg.AsyncConnection,
    cid: str,
    z: int,
    x: int,
    y: int,
    max_features: int,
    day: dt.date | None = None,
) -> bytes:
    """As :func:`render_tile`, on an async connection (the API); arguments already checked,
    ``day`` from :func:`tile_date`."""
    simplify, params = tile_params(z, x, y, max_features, day)
    cur = await conn.execute(TILE_SQL[(cid, simplify)], params, prepare=True, binary=True)
    return bytes(_first(await cur.fetchone()))


async def render_tile_versioned(
    conn: psycopg.AsyncConnection,
    cid: str,
    z: int,
    x: int,
    y: int,
    max_features: int,
    day: dt.date | None = None,
) -> tuple[bytes, int]:
    """As :func:`render_tile_async`, with the data version (:func:`tile_version`) the tile was
    cut from, read in the same statement: what a replica, whose replay may trail the version
    the app knows, answers."""
    simplify, params = tile_params(z, x, y, max_features, day)
    params["layers"] = list(tile_tables(cid))
    cur = await conn.execute(REPLICA_TILE_SQL[(cid, simplify)], params, prepare=True, binary=True)
    row = _row(await cur.fetchone())
    return bytes(row[0]), int(row[1])


def _first(row: Any) -> Any:
    if isinstance(row, Mapping):
        return next(iter(row.values()))
    return row[0]


def etag(
    cid: str,
    version: int,
    z: int,
    x: int,
    y: int,
    day: dt.date | None = None,
    encoding: str | None = None,
) -> str:
    """Strong ETag of one tile version on one date; the gzip body is another representation,
    so it gets its own tag (a cache must not answer a 304 for bytes it holds in the other
    encoding)."""
    tail = "" if day is None else f"-{day.isoformat()}"
    suffix = "-gz" if encoding == "gzip" else ""
    return f'"{cid}-v{version}-{z}-{x}-{y}{tail}{suffix}"'


# Level 6: tiles are compressed once per cached version, so a higher level buys little and
# costs every uncached request; mtime=0 makes the bytes (and so the strong ETag) identical in
# every worker.
GZIP_LEVEL = 6


def gzip_tile(data: bytes) -> bytes:
    return _gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (RFC 9110 §12.5.3: ``gzip;q=0``
    refuses it; ``*`` admits it unless gzip is named with q=0)."""
    if not header:
        return False
    star = False
    for part in header.split(","):
        name, _sep, params = part.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for prm in params.split(";"):
            k, _s, v = prm.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if name in ("gzip", "x-gzip"):
            return q > 0
        if name == "*":
            star = q > 0
    return star


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a tile in degrees."""
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def lonlat_to_tile_pixel(
    lon: float, lat: float, z: int, x: int, y: int, extent: int = EXTENT
) -> tuple[float, float]:
    """Position of a lon/lat point in the MVT coordinates of tile (z, x, y), y down."""
    n = 1 << z
    fx = (lon + 180.0) / 360.0 * n
    s = math.sin(math.radians(lat))
    fy = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return (fx - x) * extent, (fy - y) * extent


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    px, py = lonlat_to_tile_pixel(lon, lat, z, 0, 0, extent=1)
    return min(n - 1, int(px)), min(n - 1, int(py))


class TileCache:
    """LRU of rendered tiles, bounded by entry count and by bytes. Not thread-safe: one per
    event loop (each uvicorn worker has its own)."""

    def __init__(self, max_entries: int, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._d: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def __len__(self) -> int:
        return len(self._d)

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        data = self._d.get(key)
        if data is None:
            self.misses += 1
            return None
        self._d.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        if not self.enabled or len(data) > self.max_bytes:
            return
        old = self._d.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        self._d[key] = data
        self.bytes += len(data)
        while len(self._d) > self.max_entries or self.bytes > self.max_bytes:
            _, dropped = self._d.popitem(last=False)
            self.bytes -= len(dropped)


class VersionReader:
    """Reads ``data_versions`` once for every burst of concurrent requests, never staler than
    the request: a caller joins the next read that *starts* after it arrived, so a tile asked
    for after an edit committed always sees the new version (read-your-writes), while a
    thousand requests in flight share a handful of round trips.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._waiting: asyncio.Future[dict[str, int]] | None = None
        self._busy = False

    async def get(self) -> dict[str, int]:
        fut = self._waiting
        if fut is None:
            fut = self._waiting = asyncio.get_running_loop().create_future()
            if not self._busy:
                self._busy = True
                asyncio.get_running_loop().create_task(self._run())
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        try:
            while self._waiting is not None:
                fut, self._waiting = self._waiting, None
                try:
                    async with self._pool.connection() as conn:
                        cur = await conn.execute(VERSIONS_SQL, prepare=True)
                        rows = await cur.fetchall()
                    fut.set_result({_row(r)[0]: int(_row(r)[1]) for r in rows})
                except BaseException as exc:  # every waiter must hear about it
                    fut.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._busy = False


class VersionWatch:
    """Layer versions kept current by LISTEN/NOTIFY, so a tile request needs no round trip.

    Guarantee: a request sees every edit committed more than :data:`VERSION_RECHECK_S` before
    it arrived (it re-reads ``data_versions`` through :class:`VersionReader`, read-your-writes,
    when the last read is older), and every edit whose notification has arrived — normally
    within a millisecond of the commit. While the listener is down (not started, connection
    lost and reconnecting) every request reads ``data_versions``, as without the watch.

    Parameters
    ----------
    listen_url : str or None
        Conninfo for the dedicated LISTEN connection; ``None`` disables listening.
    reader : VersionReader
        The coalescing reader of ``data_versions``.
    recheck_s : float
    """

    def __init__(
        self, listen_url: str | None, reader: VersionReader, recheck_s: float = VERSION_RECHECK_S
    ) -> None:
        self._url = listen_url
        self._reader = reader
        self._recheck_s = recheck_s
        self._versions: dict[str, int] = {}
        self._confirmed = -math.inf  # monotonic time before the last completed read began
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening

    async def start(self) -> None:
        if self._url is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._listening = False

    def known(self, fresh: bool = False) -> dict[str, int] | None:
        """The versions when :meth:`get` would answer them without a read, else None."""
        if not fresh and self._listening and time.monotonic() - self._confirmed < self._recheck_s:
            return self._versions
        return None

    async def get(self, fresh: bool = False) -> dict[str, int]:
        """The versions; ``fresh`` reads them past every commit made before the call (for a
        caller who has just written, whose NOTIFY may still be on its way)."""
        known = self.known(fresh)
        if known is not None:
            return known
        t0 = time.monotonic()
        self._merge(await self._reader.get())
        # The read began after t0 (VersionReader's guarantee): it saw every commit before t0.
        self._confirmed = max(self._confirmed, t0)
        return self._versions

    def _merge(self, fresh: Mapping[str, int]) -> None:
        # Never go back: a notification may be newer than a read that was already under way.
        merged = dict(self._versions)
        for layer, v in fresh.items():
            if v > merged.get(layer, 0):
                merged[layer] = v
        self._versions = merged

    async def _listen(self) -> None:
        assert self._url is not None
        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._listening = True
                    delay = 0.2
                    async for n in conn.notifies():
                        layer, _sep, v = n.payload.partition(" ")
                        if v.isdigit():
                            self._merge({layer: int(v)})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving (reads per request) and reconnect
                log.warning("tile version listener: %s; reconnecting in %.1f s", exc, delay)
            finally:
                self._listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _row(r: Any) -> tuple[Any, ...]:
    return tuple(r.values()) if isinstance(r, Mapping) else tuple(r)


@dataclass
class TileResult:
    status: int  # 200 or 304
    body: bytes
    etag: str
    cache_hit: bool
    encoding: str | None = None  # "gzip" when body is gzip-compressed


class TileService:
    """What a tile request needs: the version watch, the cache and the async pool.

    Call :meth:`start` (and :meth:`stop`) on the event loop that serves the requests to run
    the LISTEN connection of ``listen_url``; without it every request reads the versions.

    With ``replicas`` (:class:`parkgis.db.replica.ReplicaRouter`) an uncached tile is cut on a
    healthy replica that has the caller's last write (the router's read-your-writes). The
    versions still come from the primary (NOTIFY does not reach a standby), so the replica
    cuts the tile and reads its own version of the tile's tables in one statement: a replica
    whose version is behind the one the app knows has not replayed that edit yet, and the
    primary cuts the tile instead -- a cached tile is never older than its key says. A replica
    failing under the query (gone, recovery conflict) is handed to the primary as well.
    """

    def __init__(
        self,
        pool: Any,
        cache_size: int,
        max_features: int,
        listen_url: str | None = None,
        wait_s: float | None = None,
        replicas: ReplicaRouter | None = None,
    ) -> None:
        self.pool = pool
        self.replicas = replicas
        # One bound for the whole request's database waits (version read + connection): a
        # request that joins a version read already stuck on a dead database would otherwise
        # wait for that read and then for its own, twice the pool's timeout.
        self.wait_s = wait_s
        self.versions = VersionWatch(listen_url, VersionReader(pool))
        self.cache = TileCache(cache_size)
        self.max_features = max_features
        self._extents: dict[tuple[str, int], list[float] | None] = {}

    async def start(self) -> None:
        await self.versions.start()

    async def stop(self) -> None:
        await self.versions.stop()

    async def tile(
        self,
        cid: str,
        z: int,
        x: int,
        y: int,
        if_none_match: str | None = None,
        gzip: bool = False,
        as_of: dt.date | None = None,
        caller: str | None = None,
    ) -> TileResult:
        """One tile, or a 304 for a matching ``if_none_match``; ``caller`` (the signed-in
        account, if any) is for the replicas' read-your-writes."""
        collection(cid)
        check_tile(z, x, y)
        enc = "gzip" if gzip else None
        day = tile_date(cid, as_of)
        deadline = None if self.wait_s is None else time.monotonic() + self.wait_s
        # A caller whose write the router remembers gets versions read after it: their next
        # tile is never the cached one from before their own edit.
        wrote = caller is not None and self.replicas is not None and self.replicas.wrote(caller)
        version = tile_version(cid, await self._versions_by(deadline, wrote))
        tag = etag(cid, version, z, x, y, day, enc)
        if if_none_match and _etag_matches(if_none_match, tag):
            return TileResult(304, b"", tag, False, enc)
        # Each encoding is its own entry: a gzip client is served the bytes compressed the
        # first time, never recompressed per request; as_of=<today> and no as_of are the same
        # tile and share one entry.
        key = (cid, version, day, z, x, y, enc)
        if self.cache.enabled:
            data = self.cache.get(key)
            if data is not None:
                return TileResult(200, data, tag, True, enc)
        raw = (
            self.cache.get((cid, version, day, z, x, y, None))
            if gzip and self.cache.enabled
            else None
        )
        if raw is None and self.replicas is not None:
            raw = await self._from_replica(cid, z, x, y, day, version, caller)
        if raw is None:
            wait = None if deadline is None else max(0.05, deadline - time.monotonic())
            async with self.pool.connection(timeout=wait) as conn:
                raw = await render_tile_async(conn, cid, z, x, y, self.max_features, day)
        data = gzip_tile(raw) if gzip else raw
        self.cache.put(key, data)
        return TileResult(200, data, tag, False, enc)

    async def _from_replica(
        self,
        cid: str,
        z: int,
        x: int,
        y: int,
        day: dt.date | None,
        version: int,
        caller: str | None,
    ) -> bytes | None:
        """The tile cut on a replica at ``version`` or later, or None: the primary cuts it."""
        assert self.replicas is not None
        async with self.replicas.async_read(caller) as picked:
            if picked is None:
                return None
            replica, conn = picked
            try:
                raw, seen = await render_tile_versioned(conn, cid, z, x, y, self.max_features, day)
            except psycopg.Error as exc:
                retry, down = replica_fault(exc)
                if down:
                    self.replicas.mark_down(replica)
                if not retry:
                    raise
                return None
            # A later version than the one asked for is fine: the primary's own cut can be
            # newer than the version read before it, too.
            return raw if seen >= version else None

    async def _versions_by(self, deadline: float | None, fresh: bool = False) -> dict[str, int]:
        # Nearly always known (the watch is listening): no task for wait_for, no turn of the
        # event loop -- per tile, that was the cache hit's largest cost.
        known = self.versions.known(fresh)
        if known is not None:
            return known
        if deadline is None:
            return await self.versions.get(fresh)
        try:
            # The shared read is shielded: giving up here abandons only this request's wait.
            return await asyncio.wait_for(self.versions.get(fresh), deadline - time.monotonic())
        except TimeoutError:
            raise PoolTimeout("layer versions not read in time") from None

    async def bounds(self, cid: str) -> list[float] | None:
        """Lon/lat bounds of the collection's public rows (cached per data version)."""
        coll = collection(cid)
        version = (await self.versions.get()).get(coll.table, 0)
        key = (cid, version)
        if key not in self._extents:
            q = EXTENT_SQL_TEMPLATE.format(
                table=sql.Identifier(coll.table).as_string(None), where=coll.where
            )
            async with self.pool.connection() as conn:
                row = _row(await (await conn.execute(q)).fetchone())
            self._extents[key] = None if row[0] is None else [float(v) for v in row]
        return self._extents[key]


def _etag_matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = tag.strip('"')
    for part in header.split(","):
        p = part.strip()
        if p.startswith("W/"):
            p = p[2:]
        if p.strip('"') == bare:
            return True
    return False


def tilejson(coll: Collection, tiles_url: str, bounds: list[float] | None) -> dict[str, Any]:
    """TileJSON 3.0.0 of a collection's WebMercatorQuad tiles.

    ``tiles_url`` is the absolute URL template ending in ``{z}/{x}/{y}``.
    """
    b = bounds or [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
    fields = {}
    for name in coll.tile_props:
        p = coll.prop(name)
        assert p is not None
        fields[name] = {"number": "Number", "integer": "Number", "boolean": "Boolean"}.get(
            p.type, "String"
        )
    center_zoom = 14 if bounds else MIN_ZOOM
    return {
        "tilejson": "3.0.0",
        "name": coll.id,
        "description": f"{coll.title}. {coll.description}",
        "version": "1.0.0",
        "attribution": "ParkGIS 卫辉市产业集聚区",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "bounds": b,
        "center": [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, center_zoom],
        "vector_layers": [
            {
                "id": coll.id,
                "description": coll.title,
                "minzoom": MIN_ZOOM,
                "maxzoom": MAX_ZOOM,
                "fields": fields,
            }
        ],
    }
