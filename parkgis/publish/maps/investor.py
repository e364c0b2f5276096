"""The investor map at ``/``: a Folium map of the parks, their land, infrastructure and firms.

What the map carries, and why it scales:

* parcels come from the vector tiles (``/ogc/collections/parcels/tiles/WebMercatorQuad``)
  through Leaflet.VectorGrid, coloured by status in the browser, so the page does not grow
  with the number of parcels (10^6 parcels cost tiles, not page weight);
* the small layers (county boundary, park boundaries, infrastructure, upgrades, resident
  enterprises) are fetched by the page script as GeoJSON (``/api/map/layers/{name}``,
  :func:`map_layer`) into layer groups Folium created empty: no stored value is ever placed
  inside one of the page's scripts (issue 11), popups are built with DOM nodes;
* the default basemap is *none*: the county boundary, roads, rail and the river drawn from our
  own tables make the map readable offline. OpenStreetMap, Tianditu (only with a key) and AMap
  are offered; AMap is GCJ-02, and while it is shown the page shifts our overlays to GCJ-02
  (``web/static/js/investor.js``, ``PG.gcj``).

Every label is a ``data-zh``/``data-en`` span (:func:`parkgis.publish.i18n.span`) that the page's
language toggle switches; Chinese is the default.

The builder takes plain data (:class:`MapData`, read by :func:`load_map_data`) so the same map
can be rendered from a test fixture, the API, or a brief.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import folium
import folium.plugins as plugins
import psycopg
from branca.element import MacroElement
from folium.template import Template
from psycopg.rows import dict_row

from parkgis.errors import InvalidInput
from parkgis.jsonvalues import jsonable
from parkgis.land.lifecycle import park_today
from parkgis.publish import i18n
from parkgis.publish.i18n import quantity, span
from parkgis.publish.maps import assets, layers
from parkgis.publish.sheet import UPGRADE_STATUS_SQL
from parkgis.vocabulary import is_sample

PARCEL_TILES = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
# The map search box: parcel codes by prefix, enterprises by any part of a name.
SEARCH_PARCELS_SQL = """
SELECT code, zone_code, status, area_mu,
       ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
  FROM parcels
 WHERE status <> 'historic' AND (code = %(q)s OR code ILIKE %(like)s)
 ORDER BY code <> %(q)s, code
 LIMIT %(n)s
"""
SEARCH_ENTERPRISES_SQL = """
SELECT code, name_zh, name_en, chain_role, ST_X(geom) AS lon, ST_Y(geom) AS lat
  FROM enterprises
 WHERE name_zh ILIKE %(like_any)s OR name_en ILIKE %(like_any)s OR code ILIKE %(like)s
 ORDER BY is_anchor DESC, code
 LIMIT %(n)s
"""
COUNTY_GEOJSON_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
         json_build_object('type', 'Feature', 'id', code,
                           'properties', json_build_object('code', code, 'name_zh', name_zh,
                                                           'name_en', name_en, 'level', level),
                           'geometry', ST_AsGeoJSON(geom, 6)::json) ORDER BY code), '[]'))
  FROM boundaries WHERE level = 'county'
"""
# Simplification tolerance (degrees, ~10 m) for the county outline: it frames the map and is
# never measured, so the page does not carry every surveyed vertex.
COUNTY_SIMPLIFY_DEG = 0.0001
COORD_DIGITS = 6  # ~0.1 m: more is noise in a browser

COUNTY_SQL = """
SELECT code, name_zh, name_en,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(tol)s), %(digits)s) AS geometry
  FROM boundaries WHERE level = 'county' ORDER BY code
"""
ZONES_SQL = """
SELECT code, name_zh, name_en, kind, status, area_m2, leading_industries,
       ST_AsGeoJSON(geom, %(digits)s) AS geometry
  FROM zones ORDER BY status, code
"""
# The infrastructure on a date (issue #13 point 5), each thing drawn once:
# * in service on %(as_of)s (``infra_as_of``, migration 0011): register rows that exist or that a
#   completed upgrade built by then, and the completed upgrades' own works (an extension, a
#   new line), all 'existing' -- except works identical to the facility they upgrade (a
#   capacity upgrade in place), which would only draw that facility twice;
# * not in service: the register's own word (planned, under construction), unless an upgrade
#   not complete by then builds it -- then the upgrades layer shows it, with its dates.
INFRA_SQL = """
WITH live AS (SELECT * FROM infra_as_of(%(as_of)s::date))
SELECT f.code, f.kind, f.name_zh, f.name_en, 'existing' AS status, f.capacity,
       f.capacity_unit, f.voltage_kv, f.diameter_mm, f.upgrade_code, true AS in_service,
       ST_AsGeoJSON(f.geom, %(digits)s) AS geometry
  FROM live f
 WHERE f.upgrade_code IS NULL
    OR NOT EXISTS (SELECT 1 FROM upgrades u JOIN infrastructure i ON i.code = u.infra_code
                    WHERE u.code = f.upgrade_code AND ST_Equals(u.geom, i.geom))
UNION ALL
SELECT i.code, i.kind, i.name_zh, i.name_en, i.status, i.capacity, i.capacity_unit,
       i.voltage_kv, i.diameter_mm, NULL::text, false,
       ST_AsGeoJSON(i.geom, %(digits)s)
  FROM infrastructure i
 WHERE i.code NOT IN (SELECT l.code FROM live l WHERE l.upgrade_code IS NULL)
   AND NOT EXISTS (SELECT 1 FROM upgrades u
                    WHERE NOT upgrade_done(u.status, u.finish_date, %(as_of)s::date)
                      AND (u.infra_code = i.code
                           OR (u.infra_code IS NULL AND u.kind = i.kind
                               AND u.gk_srid = i.gk_srid
                               AND ST_DWithin(u.geom_gk, i.geom_gk,
                                              upgrade_builds_within_m()))))
 ORDER BY kind, code
"""
# The upgrades not complete on %(as_of)s, with their status then (the sheet's rule) and
# overdue as of that date.
UPGRADES_SQL = f"""
SELECT u.code, u.infra_code, u.kind, u.name_zh, u.name_en, {UPGRADE_STATUS_SQL} AS status,
       u.capacity_added, u.capacity_unit, u.cost_wan, u.start_date, u.finish_date, u.operator,
       upgrade_overdue(u.status, u.finish_date, %(as_of)s::date) AS overdue,
       ST_AsGeoJSON(u.geom, %(digits)s) AS geometry
  FROM upgrades u WHERE NOT upgrade_done(u.status, u.finish_date, %(as_of)s::date)
 ORDER BY u.finish_date NULLS LAST, u.code
"""
ENTERPRISES_SQL = """
SELECT code, name_zh, name_en, industry, chain_role, is_anchor, parcel_code, zone_code,
       employees, ST_X(geom) AS lon, ST_Y(geom) AS lat
  FROM enterprises ORDER BY is_anchor DESC, code
"""
# Vocabularies for the filters: what the data actually holds (cheap: indexed or small tables).
LANDUSE_SQL = """
SELECT DISTINCT left(landuse_code, 4) AS code FROM parcels
 WHERE status IN ('available', 'reserved', 'listed') ORDER BY 1
"""
EXTENT_SQL = """
SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax
  FROM (SELECT ST_Extent(geom) AS e FROM zones) s
"""
VERSIONS_SQL = "SELECT layer, version FROM data_versions ORDER BY layer"

# Fallback view (Weihui cluster zone) for an empty database.
DEFAULT_BOUNDS = (114.02, 35.35, 114.14, 35.44)


@dataclass
class MapData:
    """What the investor map embeds (everything except parcels, which come as tiles)."""

    county: dict[str, Any]
    zones: dict[str, Any]
    infrastructure: dict[str, Any]
    upgrades: dict[str, Any]
    enterprises: list[dict[str, Any]]
    landuse_codes: list[str] = field(default_factory=list)
    bounds: tuple[float, float, float, float] = DEFAULT_BOUNDS
    # Terrain overlays (hillshade, flood) once rasters are loaded: id, url, bounds.
    terrain: list[dict[str, Any]] = field(default_factory=list)


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``features`` (the shape every embedded layer has)."""
    return {"type": "FeatureCollection", "features": features}


def _features(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        geom = json.loads(r.pop("geometry"))
        out.append(
            {
                "type": "Feature",
                "geometry": geom,
                "properties": {k: jsonable(v) for k, v in r.items()},
            }
        )
    return out


def data_versions(conn: psycopg.Connection) -> tuple[tuple[str, int], ...]:
    """``(layer, version)`` pairs: a page cache keyed on them is invalidated by any edit."""
    cur = conn.cursor(row_factory=dict_row)
    return tuple((r["layer"], int(r["version"])) for r in cur.execute(VERSIONS_SQL))


def load_map_data(conn: psycopg.Connection, as_of: dt.date | None = None) -> MapData:
    """Read the small layers the investor map embeds.

    Parameters
    ----------
    conn : psycopg.Connection
    as_of : date, optional
        infrastructure and upgrades as of this date (default today in the park).

    Returns
    -------
    MapData
    """
    cur = conn.cursor(row_factory=dict_row)
    p = _params(as_of)
    county = _features(cur.execute(COUNTY_SQL, p).fetchall())
    zones = _features(cur.execute(ZONES_SQL, p).fetchall())
    infra = _features(cur.execute(INFRA_SQL, p).fetchall())
    upgrades = _features(cur.execute(UPGRADES_SQL, p).fetchall())
    ents = [{k: jsonable(v) for k, v in r.items()} for r in cur.execute(ENTERPRISES_SQL)]
    landuse = [r["code"] for r in cur.execute(LANDUSE_SQL)]
    ext = cur.execute(EXTENT_SQL).fetchone()
    bounds = DEFAULT_BOUNDS
    if ext and ext["xmin"] is not None:
        bounds = (ext["xmin"], ext["ymin"], ext["xmax"], ext["ymax"])
    fc = feature_collection
    return MapData(
        fc(county),
        fc(zones),
        fc(infra),
        fc(upgrades),
        ents,
        landuse,
        bounds,
        terrain_overlays(conn),
    )


def terrain_overlays(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The hillshade and flood overlays the loaded rasters offer (none before `terrain load`).

    The PNGs themselves are fetched by the browser from ``/api/terrain/{id}.png``; only the
    bounds are embedded, so the page weight does not depend on the raster.
    """
    from parkgis.geo import terrain

    rasters = terrain.active_rasters(conn)
    out = []
    for oid, kind in (("hillshade", "dem"), ("flood", "flood")):
        if kind in rasters:
            ov = terrain.overlay(conn, oid)  # type: ignore[arg-type]
            out.append({"id": oid, "url": f"/api/terrain/{oid}.png", "bounds": ov.bounds})
    return out


# --- the data layers, served as JSON ------------------------------------------------------

# The page's inline scripts (Folium's) carry no stored value: the layers below are fetched by
# ``investor.js`` / ``planner.js`` from ``GET /api/map/layers/{name}`` and their popups and
# tooltips are built there with DOM nodes and textContent. Properties pass through as stored
# (other columns added to a layer appear in the JSON without a change here); the keys
# starting with "_" are our own drawing hints, computed from vocabulary words only.

LAYERS = (
    "county",
    "zones",
    "infrastructure",
    "upgrades",
    "enterprises",
    "context",
    "terrain",
    "outline",
)
# The public context the planner shows: roads, rail and the river (no utilities).
CONTEXT_KINDS = ("expressway", "national_road", "trunk_road", "railway", "rail_siding", "river")


def map_search(conn: psycopg.Connection, q: str, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Parcel codes and enterprise names for the map's search box: ``{parcels, enterprises}``.

    ``q`` is matched literally (a typed ``%`` or ``_`` is not a wildcard); blank is a 400.
    """
    q = q.strip()
    if not q:
        raise InvalidInput("q 不能为空 / q must not be blank", param="q")
    literal = re.sub(r"([\\%_])", r"\\\1", q)
    with conn.cursor(row_factory=dict_row) as cur:
        parcels = cur.execute(
            SEARCH_PARCELS_SQL, {"q": q, "like": literal + "%", "n": limit}
        ).fetchall()
        ents = cur.execute(
            SEARCH_ENTERPRISES_SQL, {"like_any": f"%{literal}%", "like": literal + "%", "n": limit}
        ).fetchall()
    for r in parcels:
        r["area_mu"] = float(r["area_mu"])
    return {"parcels": parcels, "enterprises": ents}


def county_geojson(conn: psycopg.Connection) -> dict[str, Any]:
    """The county boundary at full precision as a GeoJSON FeatureCollection."""
    row = conn.execute(COUNTY_GEOJSON_SQL).fetchone()
    assert row is not None  # an aggregate always answers one row
    body = next(iter(row.values())) if isinstance(row, dict) else row[0]
    return dict(body)


def _styled(fc: dict[str, Any], style: Any) -> dict[str, Any]:
    for f in fc["features"]:
        f["properties"]["_style"] = style(f["properties"])
    return fc


def _params(as_of: dt.date | None) -> dict[str, Any]:
    return {"digits": COORD_DIGITS, "tol": COUNTY_SIMPLIFY_DEG, "as_of": as_of or park_today()}


#: Where the page's Open Graph tags go: the head of the cached page carries this comment and
#: each response puts the tags of the link asked for (``/`` or one parcel) in its place.
OG_MARKER = "<!--pg-og-->"
PARK_PREVIEW = "/api/map/preview.png"


def parcel_preview_path(code: str) -> str:
    return f"/api/parcels/{quote(code, safe='')}/preview.png"


def parcel_page_path(code: str) -> str:
    """The shareable address of one parcel: the map page with its Open Graph tags; the page
    script selects the parcel (chat apps drop or ignore the ``#sel=`` part of a link)."""
    return f"/parcel/{quote(code, safe='')}"


def og_meta(
    base_url: str,
    title: str,
    description: str,
    image_path: str,
    page_path: str,
    image_alt: str = "",
) -> str:
    """Open Graph and Twitter card tags; every value is escaped (names are hostile input).

    ``base_url`` (``PARKGIS_PUBLIC_BASE_URL`` or the request's own origin) makes the image and
    page URLs absolute, as Open Graph requires.
    """
    base = base_url.rstrip("/")
    tags = [
        ("property", "og:type", "website"),
        ("property", "og:site_name", "卫辉市产业集聚区 ParkGIS"),
        ("property", "og:locale", "zh_CN"),
        ("property", "og:locale:alternate", "en_US"),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", base + page_path),
        ("property", "og:image", base + image_path),
        ("property", "og:image:type", "image/png"),
        ("property", "og:image:width", "1200"),
        ("property", "og:image:height", "630"),
        ("property", "og:image:alt", image_alt or title),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
        ("name", "twitter:image", base + image_path),
        ("name", "description", description),
    ]
    return "\n".join(
        f'<meta {attr}="{name}" content="{html.escape(value, quote=True)}">'
        for attr, name, value in tags
    )


def home_og(base_url: str, totals: dict[str, Any]) -> str:
    """The tags of ``/``: the map's title and the vacant land's headline figure."""
    zh, en = i18n.label("ui.title")
    mu = float(totals["mu"])
    description = (
        f"可供地 {totals['n']} 宗，共 {mu:,.0f} 亩（{mu / 15:,.1f} 公顷）；"
        f"基础设施、产业链与在建提升工程。 {totals['n']} parcels available, "
        f"{mu:,.0f} mu ({mu / 15:,.1f} ha); infrastructure, industry chains and upgrades."
    )
    return og_meta(base_url, f"{zh} / {en}", description, PARK_PREVIEW, "/")


def shows_sample(data: MapData) -> bool:
    """Whether the map shows the bundled illustrative sample (the page then says so)."""
    return is_sample({f["properties"]["code"] for f in data.zones["features"]})


def map_layer(conn: psycopg.Connection, name: str, as_of: dt.date | None = None) -> dict[str, Any]:
    """One data layer of the maps as GeoJSON (``terrain``: the overlay list).

    Parameters
    ----------
    conn : psycopg.Connection
    name : str
        one of :data:`LAYERS`.
    as_of : date, optional
        the date the park is shown as of (default today in the park): ``infrastructure`` and
        ``context`` hold what is in service then (``in_service`` true, status ``existing``;
        a completed upgrade's works carry its ``upgrade_code``) plus register rows no pending
        upgrade builds, in their recorded status; ``upgrades`` the upgrades not complete
        then, with their ``status`` and ``overdue`` on that date. Other layers do not change.

    Returns
    -------
    dict
        a FeatureCollection whose features carry their stored properties plus drawing hints
        (``_style``; ``_group`` and ``_marker`` for infrastructure; ``_colour`` and ``_icon``
        for enterprises), or ``{"overlays": [...]}`` for ``terrain``.

    Raises
    ------
    NotFound
        for a name that is not a layer.

    Long because it is one branch per layer name, each a few lines.
    """
    from parkgis.errors import NotFound

    if name not in LAYERS:
        raise NotFound(f"没有图层 {name[:40]!r} / no layer {name[:40]!r}")
    cur = conn.cursor(row_factory=dict_row)
    p = _params(as_of)
    if name == "terrain":
        return {"overlays": terrain_overlays(conn)}
    if name == "county":
        return _styled(
            feature_collection(_features(cur.execute(COUNTY_SQL, p).fetchall())),
            lambda _: layers.COUNTY_STYLE,
        )
    if name in ("zones", "outline"):
        fc = feature_collection(_features(cur.execute(ZONES_SQL, p).fetchall()))
        if name == "outline":  # geometry only: the minimap draws shapes, never names
            county = _features(cur.execute(COUNTY_SQL, p).fetchall())
            feats = [
                {
                    "type": "Feature",
                    "geometry": f["geometry"],
                    "properties": {"_style": {"color": "#555", "weight": 1, "fill": False}},
                }
                for f in county
            ]
            feats += [
                {
                    "type": "Feature",
                    "geometry": f["geometry"],
                    "properties": {"_style": layers.zone_style(f["properties"]["status"])},
                }
                for f in fc["features"]
            ]
            return feature_collection(feats)
        return _styled(fc, lambda q: layers.zone_style(q["status"]))
    if name in ("infrastructure", "context"):
        feats = _features(cur.execute(INFRA_SQL, p).fetchall())
        if name == "context":
            feats = [f for f in feats if f["properties"]["kind"] in CONTEXT_KINDS]
        for f in feats:
            q = f["properties"]
            q["_style"] = layers.infra_style(q["kind"], q["status"])
            q["_group"] = layers.infra_group(q["kind"])
            q["_icon"] = layers.INFRA_ICONS.get(q["kind"])
            q["_marker"] = {"radius": 6, "weight": 2, "fillOpacity": 0.9}
        return feature_collection(feats)
    if name == "upgrades":
        feats = _features(cur.execute(UPGRADES_SQL, p).fetchall())
        for f in feats:
            q = f["properties"]
            q["_style"] = layers.infra_style(q["kind"], q["status"], bool(q.get("overdue")))
            q["_marker"] = {"radius": 7, "weight": 3, "fillOpacity": 0.3, "dashArray": "3 3"}
            if q.get("capacity_added") is not None:  # "+2.6 km", not "+3 km"
                q["capacity_text"] = quantity(
                    q["capacity_added"], q.get("capacity_unit"), sign=True
                )
        return feature_collection(feats)
    feats = []
    for r in cur.execute(ENTERPRISES_SQL):
        q = {k: jsonable(v) for k, v in r.items()}
        lon, lat = q.pop("lon"), q.pop("lat")
        q["_colour"], q["_icon"] = layers.role_icon(q["chain_role"])
        # the chain link in both languages, and the parcel it stands on (a link selects it)
        q["role_zh"], q["role_en"] = i18n.label(f"role.{q['chain_role']}")
        q["industry_zh"], q["industry_en"] = i18n.label(f"industry.{q['industry']}")
        if q.get("parcel_code"):
            q["parcel_href"] = "/#sel=" + quote(str(q["parcel_code"]), safe="")
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": q,
            }
        )
    return feature_collection(feats)


# --- Folium elements of ours -------------------------------------------------------------


class OverlayMiniMap(plugins.MiniMap):
    """A minimap drawn from our own outlines (county and parks), not from a tile server.

    Folium's MiniMap needs a tile layer, which offline means a blank square. The layer starts
    empty; ``investor.js`` fills it from ``/api/map/layers/outline``.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layer = L.geoJSON(null, {
                style: function (f) { return f.properties._style; }, interactive: false
            });
            var {{ this.get_name() }} = new L.Control.MiniMap(
                {{ this.get_name() }}_layer, {{ this.options|tojavascript }});
            {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class PageRegistry(MacroElement):
    """Hands the Folium-named Leaflet objects to the page script: ``PG.init({...})``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            PG.init({
                map: {{ this._parent.get_name() }},
                overlays: { {% for k, v in this.overlays.items() %}
                    {{ k|tojson }}: {{ v.get_name() }},{% endfor %} },
                bases: { {% for k, v in this.bases.items() %}
                    {{ k|tojson }}: {{ v.get_name() }},{% endfor %} },
                {% if this.minimap %}minimap: {{ this.minimap.get_name() }}_layer,{% endif %}
                config: {{ this.config|tojson }}
            });
        {% endmacro %}
    """)

    def __init__(
        self,
        overlays: dict[str, Any],
        bases: dict[str, Any],
        config: dict[str, Any],
        minimap: OverlayMiniMap | None = None,
    ) -> None:
        super().__init__()
        self._name = "PageRegistry"
        self.overlays = overlays
        self.bases = bases
        self.config = config
        self.minimap = minimap


def parcel_tile_options() -> str:
    """VectorGrid options (JavaScript): style by status, interactive, feature id = code, and
    ``pgq``, the tile URL's query (``?as_of=`` while the page shows a date), which Leaflet's
    URL template calls for every tile: the tiles asked for before ``PG.init`` carry it too."""
    return """{
        vectorTileLayerStyles: { parcels: function (p, z) { return PG.parcelStyle(p, z); } },
        interactive: true,
        getFeatureId: function (f) { return f.properties.code; },
        rendererFactory: L.canvas.tile,
        maxNativeZoom: 18, maxZoom: 20, minZoom: 10,
        pgq: function () { return PG.tileQuery(); },
        pane: 'pgParcels',
        attribution: '卫辉市产业集聚区 ParkGIS'
    }"""


def build_investor_map(
    data: MapData,
    tianditu_key: str | None = None,
    tiles_url: str = PARCEL_TILES,
    inline: bool = False,
) -> folium.Map:
    """The investor map (a Folium Map, assets localised).

    Parameters
    ----------
    data : MapData
        what shapes the page (bounds, which terrain overlays exist); the layers' features
        and names are not embedded but fetched by the page (:func:`map_layer`).
    tianditu_key : str, optional
        offer the Tianditu basemap (vec_w + cva_w, Web Mercator) with this key.
    tiles_url : str
        the parcel vector-tile template.
    inline : bool
        inline every asset (self-contained HTML, see :func:`parkgis.publish.maps.assets.localise`).

    Returns
    -------
    folium.Map
        render with :func:`parkgis.publish.maps.assets.render`; the page script
        ``/static/js/investor.js`` must be loaded (it defines ``PG``).
    """
    xmin, ymin, xmax, ymax = data.bounds
    fig = folium.Figure(title="卫辉市产业集聚区投资地图 · Weihui investor map")
    m = folium.Map(
        location=[(ymin + ymax) / 2, (xmin + xmax) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=False,
        max_zoom=20,
        min_zoom=8,
        prefer_canvas=False,
        zoom_control=True,
    )
    # Folium gives min_zoom to a basemap tile layer only (there is none): on the map itself it
    # keeps county zoom (8-9, the parks among the cities) reachable with no basemap, where the
    # parcel tiles' own minZoom (10) would otherwise bound the map.
    m.options["min_zoom"] = 8
    m.add_to(fig)
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])

    bases = _add_basemaps(m, tianditu_key)
    overlays: dict[str, Any] = {}
    _add_boundaries(m, data, overlays)
    _add_parcels(m, tiles_url, overlays)
    _add_infrastructure(m, data, overlays)
    _add_terrain(m, data, overlays)
    _add_enterprises(m, data, overlays)
    mini = _add_controls(m)
    PageRegistry(overlays, bases, page_config(data, tiles_url), mini).add_to(m)
    return assets.localise(m, inline=inline)


def _add_basemaps(m: folium.Map, tianditu_key: str | None) -> dict[str, Any]:
    """Basemaps (radio buttons). "None" first and shown: the offline default."""
    bases: dict[str, Any] = {}
    bases["none"] = folium.FeatureGroup(name=span("base.none"), overlay=False, show=True)
    bases["none"].add_to(m)
    bases["osm"] = folium.TileLayer(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        name=span("base.osm"),
        attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
        overlay=False,
        show=False,
        max_zoom=20,
        max_native_zoom=19,
    )
    bases["osm"].add_to(m)
    if tianditu_key:
        # CGCS2000 ≈ WGS84 to centimetres: the Web-Mercator "_w" services need no shift.
        tdt = folium.FeatureGroup(name=span("base.tianditu"), overlay=False, show=False)
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tianditu_key}",
                attr="&copy; 天地图 Tianditu",
                subdomains="01234567",
                max_native_zoom=18,
                max_zoom=20,
                overlay=False,
                control=False,
            ).add_to(tdt)
        tdt.add_to(m)
        bases["tianditu"] = tdt
    bases["amap"] = folium.TileLayer(
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        name=span("base.amap"),
        attr="&copy; 高德地图 AutoNavi (GCJ-02)",
        subdomains="1234",
        overlay=False,
        show=False,
        max_zoom=20,
        max_native_zoom=18,
    )
    bases["amap"].add_to(m)
    return bases


def _empty_group(m: folium.Map, key: str, overlays: dict[str, Any]) -> None:
    """An empty, named layer group the page script fills from ``/api/map/layers``."""
    overlays[key] = folium.FeatureGroup(name=span(f"layer.{key}"))
    overlays[key].add_to(m)


def _add_boundaries(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """The county outline and the park boundaries (filled by the page script)."""
    _empty_group(m, "county", overlays)
    _empty_group(m, "zones", overlays)


def _add_parcels(m: folium.Map, tiles_url: str, overlays: dict[str, Any]) -> None:
    # Parcels get a pane under the vector overlays (zIndex 400): roads, lines and boundaries are
    # drawn over the parcel fills, and clicks between those lines reach the parcel tiles.
    folium.map.CustomPane("pgParcels", z_index=350, pointer_events=True).add_to(m)
    overlays["parcels"] = plugins.VectorGridProtobuf(
        tiles_url + "{pgq}", span("layer.parcels"), parcel_tile_options()
    )
    overlays["parcels"].add_to(m)


def _add_infrastructure(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """Infrastructure in three toggles (river, roads and rail, utilities), then upgrades."""
    for group in ("river", "roads_rail", "utilities", "upgrades"):
        _empty_group(m, group, overlays)


def _add_terrain(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    xmin, ymin, xmax, ymax = data.bounds
    for ov in data.terrain:
        # Placeholder bounds: the page script sets the raster's own from the terrain layer.
        img = folium.raster_layers.ImageOverlay(
            image="data:,",
            bounds=[[ymin, xmin], [ymax, xmax]],
            name=span(f"layer.{ov['id']}"),
            opacity=0.55 if ov["id"] == "hillshade" else 0.7,
            show=False,
            pixelated=False,
        )
        # Folium embeds anything that is not an absolute URL; our overlay is served by us.
        img.url = ov["url"]
        img.add_to(m)
        overlays[ov["id"]] = img


def _add_enterprises(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """Resident enterprises, clustered; the markers are added by ``investor.js``."""
    cluster = plugins.MarkerCluster(
        name=span("layer.enterprises"),
        options={"maxClusterRadius": 40, "disableClusteringAtZoom": 16},
    )
    cluster.add_to(m)
    overlays["enterprises"] = cluster


def _add_controls(m: folium.Map) -> OverlayMiniMap:
    """Layer switcher, full screen and a minimap drawn from our own outlines. Measuring is
    ``investor.js``'s own control: leaflet-measure needs eval, which the page's CSP refuses."""
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    plugins.Fullscreen(
        position="topleft", title="全屏 / Full screen", title_cancel="退出全屏 / Exit full screen"
    ).add_to(m)
    mini = OverlayMiniMap(
        position="bottomright", width=160, height=130, zoom_level_offset=-4, toggle_display=True
    )
    mini.add_to(m)
    return mini


def known_roles(enterprises: list[dict[str, Any]]) -> list[str]:
    """The chain roles of ``enterprises`` that our dictionary names (the legend's rows): a role
    word we do not know is a stored value, and those stay out of the page's scripts."""
    return sorted(
        {e["chain_role"] for e in enterprises}
        & {k.split(".", 1)[1] for k in i18n.LABELS if k.startswith("role.")}
    )


def page_config(data: MapData, tiles_url: str = PARCEL_TILES) -> dict[str, Any]:
    """What ``PG.init`` receives besides the Leaflet objects: our constants and numbers only.

    Names, popups and features come from :func:`map_layer` through ``/api/map/layers``.
    """
    xmin, ymin, xmax, ymax = data.bounds
    return {
        "tiles": tiles_url,
        "layers": "/api/map/layers/",
        "bounds": [[ymin, xmin], [ymax, xmax]],
        "statusStyle": {
            s: {"fillColor": layers.STATUS_COLOURS[s], "fillOpacity": layers.STATUS_OPACITY[s]}
            for s in layers.STATUS_COLOURS
        },
        "highlight": layers.HIGHLIGHT_COLOUR,
        "selected": layers.SELECTED_COLOUR,
        "legend": layers.legend_html(known_roles(data.enterprises)),
        # Which terrain filters the search can honour: the rasters behind the overlays.
        "terrain": {
            "dem": any(o["id"] == "hillshade" for o in data.terrain),
            "flood": any(o["id"] == "flood" for o in data.terrain),
        },
        "i18n": i18n.as_json(),
    }
