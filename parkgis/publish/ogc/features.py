"""Item queries of OGC API – Features over the public collections.

Everything a client sends is validated here into an :class:`ItemsQuery`; SQL is assembled only
from the registry (``parkgis.db.collections``) and fixed fragments, and every client value is a
bound parameter. The feature JSON is built by PostgreSQL (``json_build_object``/``json_agg``)
so the server passes one string through instead of decoding and re-encoding rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

from parkgis.db.collections import COLLECTIONS, Collection
from parkgis.errors import InvalidInput, NotFound
from parkgis.geo.crs import DEFAULT, STORE_SRID, Crs, bbox_sql, parse_bbox, resolve
from parkgis.publish.ogc import cql2

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000_000

# Query parameters of /items besides property equality (``?status=available``).
ITEM_PARAMS = frozenset(
    {
        "f",
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "crs",
        "properties",
        "sortby",
        "filter",
        "filter-lang",
        "filter-crs",
        "datetime",
        "resultType",
    }
)
FILTER_LANGS = ("cql2-text", "cql-text")  # cql-text: the draft name older GDAL sends


def get_collection(collection_id: str) -> Collection:
    """The public collection ``collection_id`` or 404."""
    c = COLLECTIONS.get(collection_id)
    if c is None:
        raise NotFound(f"没有该图层 / no collection {collection_id!r}")
    return c


@dataclass
class ItemsQuery:
    """A validated ``/items`` request."""

    collection: Collection
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    crs: Crs = DEFAULT
    properties: tuple[str, ...] | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (name, descending)
    where_sql: list[str] = field(default_factory=list)
    where_params: list[Any] = field(default_factory=list)
    hits_only: bool = False


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(f"{name}: 参数重复 / parameter given more than once")
    return values[0]


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    v = value.strip()
    if not v.isdigit() and not (v.startswith("-") and v[1:].isdigit()):
        raise InvalidInput(f"{name}: 需要整数 / must be an integer, got {value!r}")
    n = int(v)
    if not lo <= n <= hi:
        raise InvalidInput(f"{name}: 取值须在 {lo}–{hi} 之间 / must be between {lo} and {hi}")
    return n


def _typed(collection: Collection, name: str, raw: str) -> tuple[str, Any]:
    """Cast and value for ``?name=raw`` property equality."""
    kind = cql2.prop_kind(collection, name)
    if kind == "number":
        try:
            value: Any = Decimal(raw)
        except InvalidOperation as exc:
            raise InvalidInput(f"{name}: 需要数字 / must be a number, got {raw!r}") from exc
        if not value.is_finite():
            raise InvalidInput(f"{name}: 需要数字 / must be a number, got {raw!r}")
        return "numeric", value
    if kind == "boolean":
        low = raw.strip().lower()
        if low not in ("true", "false", "1", "0"):
            raise InvalidInput(f"{name}: 需要 true/false / must be true or false, got {raw!r}")
        return "boolean", low in ("true", "1")
    if kind == "date":
        return "date", cql2.parse_date(raw, 0)
    return "text", raw


def parse_items_query(collection: Collection, params: Mapping[str, Sequence[str]]) -> ItemsQuery:
    """Validate the query parameters of ``/collections/{id}/items``.

    Parameters
    ----------
    collection : Collection
    params : mapping of str to list of str
        The query string, every value of every key (repeats are refused).

    Returns
    -------
    ItemsQuery

    Raises
    ------
    InvalidInput
        For any parameter that is unknown, malformed, out of range or names a property that
        is not public.

    Long because it is a flat list of parameters, each validated in a few lines.
    """
    for name in params:
        if name not in ITEM_PARAMS and collection.prop(name) is None:
            raise InvalidInput(f"{name}: 未知参数 / unknown query parameter {name!r}")
    q = ItemsQuery(collection)
    f = _one(params, "f")
    if f is not None and f not in ("json", "geojson"):
        raise InvalidInput(f"f: 只支持 json / only json is served, got {f!r}")
    q.limit = _int(_one(params, "limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    q.offset = _int(_one(params, "offset"), "offset", 0, 0, MAX_OFFSET)
    q.crs = resolve(_one(params, "crs"), "crs")
    if _one(params, "datetime") is not None:
        raise InvalidInput(
            "datetime: 本图层没有时间维度 / this collection has no temporal "
            "extent; filter dates with CQL2"
        )
    rt = _one(params, "resultType")
    if rt is not None and rt not in ("results", "hits"):
        raise InvalidInput("resultType: 须为 results 或 hits / must be results or hits")
    q.hits_only = rt == "hits"

    props = _one(params, "properties")
    if props is not None:
        names = tuple(n.strip() for n in props.split(",") if n.strip())
        for n in names:
            if collection.prop(n) is None:
                raise InvalidInput(f"properties: 未知属性 / unknown property {n!r}")
        q.properties = tuple(dict.fromkeys(names))

    sortby = _one(params, "sortby")
    if sortby is not None:
        keys = []
        for item in sortby.split(","):
            item = item.strip()
            desc = item.startswith("-")
            name = item.lstrip("+-").strip()
            if not name or collection.prop(name) is None:
                raise InvalidInput(f"sortby: 未知属性 / unknown property {name or item!r}")
            keys.append((name, desc))
        q.sortby = tuple(keys)

    q.where_sql.append(f"({collection.where})")
    bbox = _one(params, "bbox")
    bbox_crs_raw = _one(params, "bbox-crs")
    if bbox is not None:
        sql, args = bbox_sql(parse_bbox(bbox, resolve(bbox_crs_raw, "bbox-crs")))
        q.where_sql.append(sql)
        q.where_params.extend(args)
    elif bbox_crs_raw is not None:
        resolve(bbox_crs_raw, "bbox-crs")  # still refuse nonsense, even unused

    for name, values in params.items():
        if name in ITEM_PARAMS:
            continue
        raw = _one(params, name)
        assert raw is not None and values
        cast, value = _typed(collection, name, raw)
        q.where_sql.append(f"(({collection.expr(name)}) = %s::{cast})")
        q.where_params.append(value)

    text = _one(params, "filter")
    lang = _one(params, "filter-lang")
    filter_crs_raw = _one(params, "filter-crs")
    if lang is not None and lang not in FILTER_LANGS:
        raise InvalidInput(f"filter-lang: 只支持 cql2-text / only cql2-text, got {lang!r}")
    filter_crs = resolve(filter_crs_raw, "filter-crs")
    if text is not None:
        sql, args = cql2.compile_filter(text, collection, filter_crs)
        q.where_sql.append(sql)
        q.where_params.extend(args)
    return q


def _geom_out(crs: Crs) -> str:
    """The geometry in the output CRS, axis order as that CRS defines it."""
    g = "t.geom" if crs.srid == STORE_SRID else f"ST_Transform(t.geom, {int(crs.srid)})"
    return f"ST_FlipCoordinates({g})" if crs.north_first else g


def _json_value(collection: Collection, name: str) -> str:
    """SQL of a property value as it goes into the JSON.

    A ``number`` always carries a decimal point (``40.0``, not ``40``): clients such as GDAL
    type a field from the first page they read, and a whole price there would make the field
    an integer and truncate ``12.5`` on the next page. ``+ 0.0`` sets the scale to at least 1
    without rounding anything.
    """
    p = collection.prop(name)
    assert p is not None
    expr = collection.expr(name)
    return f"(({expr})::numeric + 0.0)" if p.type == "number" else f"({expr})"


def feature_sql(collection: Collection, crs: Crs, properties: tuple[str, ...] | None) -> str:
    """SELECT expression of one GeoJSON feature (a json value) for a row of ``t``."""
    names = properties if properties is not None else tuple(p.name for p in collection.props)
    if names:
        props = (
            "json_build_object("
            + ", ".join(f"'{n}', {_json_value(collection, n)}" for n in names)
            + ")"
        )
    else:
        props = "'{}'::json"
    return (
        f"json_build_object('type', 'Feature', 'id', t.code, 'geometry', "
        f"ST_AsGeoJSON({_geom_out(crs)}, {int(crs.decimals)}, 0)::json, 'properties', {props})"
    )


def _from(collection: Collection) -> str:
    return f"{collection.table} t {collection.joins}"


def items_sql(q: ItemsQuery) -> tuple[str, list[Any]]:
    """SQL returning (numberReturned, features JSON text) for one page."""
    c = q.collection
    order = [f"({c.expr(n)}) {'DESC' if d else 'ASC'} NULLS LAST" for n, d in q.sortby]
    order.append("t.id")
    sql = (
        f"SELECT count(*) AS n, coalesce(json_agg(f.feature), '[]'::json)::text AS features "
        f"FROM (SELECT {feature_sql(c, q.crs, q.properties)} AS feature "
        f"FROM {_from(c)} WHERE {' AND '.join(q.where_sql)} "
        f"ORDER BY {', '.join(order)} LIMIT %s OFFSET %s) f"
    )
    return sql, [*q.where_params, q.limit, q.offset]


def count_sql(q: ItemsQuery) -> tuple[str, list[Any]]:
    c = q.collection
    return (
        f"SELECT count(*) AS n FROM {_from(c)} WHERE {' AND '.join(q.where_sql)}",
        list(q.where_params),
    )


async def number_matched(
    conn: psycopg.AsyncConnection, q: ItemsQuery, exact_max: int
) -> tuple[int, bool]:
    """(numberMatched, exact?): counted when the table or the planner's estimate is small.

    Past ``exact_max`` rows an exact count costs a scan per page (QGIS asks ``limit=1`` just
    to count), so the planner's row estimate is returned instead.
    """
    sql, params = count_sql(q)
    cur = await conn.execute(
        "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = %s::regclass", [q.collection.table]
    )
    row = await cur.fetchone()
    reltuples = int(_col(row, "n")) if row else -1
    if reltuples > exact_max:
        cur = await conn.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = _col(await cur.fetchone(), "QUERY PLAN")
        estimate = _plan_rows(plan)
        if estimate > exact_max:
            return estimate, False
    cur = await conn.execute(sql, params)
    return int(_col(await cur.fetchone(), "n")), True


def _col(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[0]


def _plan_rows(plan: Any) -> int:
    """Rows the planner expects from the top node of ``EXPLAIN (FORMAT JSON) SELECT count(*)``:
    the aggregate says 1, so read the node beneath it."""
    node = plan[0]["Plan"]
    while node.get("Node Type") == "Aggregate" and node.get("Plans"):
        node = node["Plans"][0]
    return int(node.get("Plan Rows", 0))


async def fetch_page(conn: psycopg.AsyncConnection, q: ItemsQuery) -> tuple[int, str]:
    """(numberReturned, JSON text of the features array) for the page ``q`` asks for."""
    sql, params = items_sql(q)
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    assert row is not None  # the page query aggregates: always one row
    return int(_col(row, "n")), (row["features"] if isinstance(row, dict) else row[1])


async def read_page(
    conn: psycopg.AsyncConnection, q: ItemsQuery, exact_max: int
) -> tuple[int, bool, int, str]:
    """(numberMatched, exact?, numberReturned, features JSON) of one items request.

    The count and the page are read in one transaction (the async pool lends connections in
    autocommit): date-dependent properties are as of the transaction's ``now()``, so a count
    and its page never straddle midnight in the park. A ``resulttype=hits`` query reads no
    page.
    """
    async with conn.transaction():
        matched, exact = await number_matched(conn, q, exact_max)
        if q.hits_only:
            return matched, exact, 0, "[]"
        returned, features = await fetch_page(conn, q)
    return matched, exact, returned, features


async def fetch_feature(
    conn: psycopg.AsyncConnection, collection: Collection, fid: str, crs: Crs
) -> str:
    """JSON text of the feature whose code is ``fid``, or 404."""
    sql = (
        f"SELECT ({feature_sql(collection, crs, None)})::text AS feature FROM "
        f"{_from(collection)} WHERE t.code = %s AND ({collection.where})"
    )
    cur = await conn.execute(sql, [fid])
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"没有该要素 / no feature {fid!r} in {collection.id}")
    return str(_col(row, "feature"))


# Extents change only with the data: cache per database and layer version.
_EXTENTS: dict[tuple[str, str, int], list[float] | None] = {}


async def extent(conn: psycopg.AsyncConnection, collection: Collection) -> list[float] | None:
    """[minx, miny, maxx, maxy] of the public rows in CRS84 (None when empty)."""
    cur = await conn.execute(
        "SELECT version FROM data_versions WHERE layer = %s", [collection.table]
    )
    row = await cur.fetchone()
    version = int(_col(row, "version")) if row else -1
    key = (f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}", collection.id, version)
    if key in _EXTENTS:
        return _EXTENTS[key]
    cur = await conn.execute(
        f"SELECT ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2 "
        f"FROM (SELECT ST_Extent(t.geom) AS e FROM {collection.table} t "
        f"WHERE {collection.where}) s"
    )
    row = await cur.fetchone()
    assert row is not None  # an aggregate: always one row
    vals = [row[k] for k in ("x1", "y1", "x2", "y2")] if isinstance(row, dict) else list(row)
    result = None if vals[0] is None else [float(v) for v in vals]
    if len(_EXTENTS) > 1000:
        _EXTENTS.clear()
    _EXTENTS[key] = result
    return result
