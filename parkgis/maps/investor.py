"""The investor map at ``/``: a Folium map of the parks, their land, infrastructure and firms.

What the map carries, and why it scales:

* parcels come from the vector tiles (``/ogc/collections/parcels/tiles/WebMercatorQuad``)
  through Leaflet.VectorGrid, coloured by status in the browser, so the page does not grow
  with the number of parcels (10^6 parcels cost tiles, not page weight);
* the small layers (county boundary, park boundaries, infrastructure, upgrades, resident
  enterprises) are embedded as GeoJSON, so the default view needs no request but tiles;
* the default basemap is *none*: the county boundary, roads, rail and the river drawn from our
  own tables make the map readable offline. OpenStreetMap, Tianditu (only with a key) and AMap
  are offered; AMap is GCJ-02, and while it is shown the page shifts our overlays to GCJ-02
  (``web/static/js/investor.js``, ``PG.gcj``).

Every label is a ``data-zh``/``data-en`` span (:func:`parkgis.maps.i18n.span`) that the page's
language toggle switches; Chinese is the default.

The builder takes plain data (:class:`MapData`, read by :func:`load_map_data`) so the same map
can be rendered from a test fixture, the API, or a brief.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import folium
import folium.plugins as plugins
import psycopg
from branca.element import MacroElement
from folium.template import Template
from folium.utilities import JsCode
from psycopg.rows import dict_row

from parkgis.jsonvalues import jsonable
from parkgis.maps import assets, i18n, layers
from parkgis.maps.i18n import esc, quantity, span

PARCEL_TILES = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
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
INFRA_SQL = """
SELECT code, kind, name_zh, name_en, status, capacity, capacity_unit, voltage_kv, diameter_mm,
       ST_AsGeoJSON(geom, %(digits)s) AS geometry
  FROM infrastructure ORDER BY kind, code
"""
UPGRADES_SQL = """
SELECT code, infra_code, kind, name_zh, name_en, status, capacity_added, capacity_unit,
       cost_wan, start_date, finish_date, operator,
       upgrade_overdue(status, finish_date, (now() AT TIME ZONE 'Asia/Shanghai')::date)
           AS overdue,
       ST_AsGeoJSON(geom, %(digits)s) AS geometry
  FROM upgrades WHERE status <> 'completed' ORDER BY finish_date NULLS LAST, code
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
        out.append({"type": "Feature", "geometry": geom,
                    "properties": {k: jsonable(v) for k, v in r.items()}})
    return out


def data_versions(conn: psycopg.Connection) -> tuple[tuple[str, int], ...]:
    """``(layer, version)`` pairs: a page cache keyed on them is invalidated by any edit."""
    cur = conn.cursor(row_factory=dict_row)
    return tuple((r["layer"], int(r["version"])) for r in cur.execute(VERSIONS_SQL))


def load_map_data(conn: psycopg.Connection) -> MapData:
    """Read the small layers the investor map embeds.

    Parameters
    ----------
    conn : psycopg.Connection

    Returns
    -------
    MapData
    """
    cur = conn.cursor(row_factory=dict_row)
    p = {"digits": COORD_DIGITS, "tol": COUNTY_SIMPLIFY_DEG}
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
    return MapData(fc(county), fc(zones), fc(infra), fc(upgrades), ents, landuse, bounds,
                   terrain_overlays(conn))


def terrain_overlays(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The hillshade and flood overlays the loaded rasters offer (none before `terrain load`).

    The PNGs themselves are fetched by the browser from ``/api/terrain/{id}.png``; only the
    bounds are embedded, so the page weight does not depend on the raster.
    """
    from parkgis import terrain

    rasters = terrain.active_rasters(conn)
    out = []
    for oid, kind in (("hillshade", "dem"), ("flood", "flood")):
        if kind in rasters:
            ov = terrain.overlay(conn, oid)  # type: ignore[arg-type]
            out.append({"id": oid, "url": f"/api/terrain/{oid}.png", "bounds": ov.bounds})
    return out


# --- popups ------------------------------------------------------------------------------

# Popup HTML travels as GeoJSON properties (JSON) or inside Folium's template literals and is
# inserted as HTML: every stored value goes through esc(), which is inert in both places.

def _fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "—"
    if isinstance(v, float | int):
        return f"{v:,.{digits}f}"
    return esc(v)


def _tr(key: str, value: str) -> str:
    return f"<tr><th>{span(key)}</th><td>{value}</td></tr>"


def zone_popup(p: dict[str, Any]) -> str:
    rows = [_tr("ui.kind", span(f"zone.{p['kind']}")),
            _tr("ui.status", span(f"zone.{p['status']}")),
            _tr("ui.area", f"{_fmt(p['area_m2'] / 10000, 1)} {span('ui.ha')} · "
                           f"{_fmt(p['area_m2'] * 15 / 10000, 0)} {span('ui.mu')}")]
    return (f'<div class="pg-pop"><h6>{span(zh=p["name_zh"], en=p["name_en"])}</h6>'
            f'<table>{"".join(rows)}</table></div>')


def infra_popup(p: dict[str, Any]) -> str:
    rows = [_tr("ui.kind", span(f"infra.{p['kind']}")),
            _tr("ui.status", span(f"infra_status.{p['status']}"))]
    if p.get("capacity") is not None:
        rows.append(_tr("ui.capacity", f"{_fmt(p['capacity'], 0)} {esc(p.get('capacity_unit'))}"))
    if p.get("voltage_kv") is not None:
        rows.append(_tr("ui.voltage", _fmt(p["voltage_kv"], 0)))
    if p.get("diameter_mm") is not None:
        rows.append(_tr("ui.diameter", _fmt(p["diameter_mm"], 0)))
    return (f'<div class="pg-pop"><h6>{span(zh=p["name_zh"], en=p["name_en"])}</h6>'
            f'<table>{"".join(rows)}</table></div>')


def upgrade_popup(p: dict[str, Any]) -> str:
    rows = [_tr("ui.kind", span(f"infra.{p['kind']}")),
            _tr("ui.status", span(f"upgrade_status.{p['status']}"))]
    if p.get("capacity_added") is not None:
        rows.append(_tr("ui.capacity",
                        esc(quantity(p["capacity_added"], p.get("capacity_unit"),
                                     sign=True))))
    rows.append(_tr("ui.start", _fmt(p.get("start_date"))))
    rows.append(_tr("ui.finish", _fmt(p.get("finish_date"))
                    + (f' <b class="pg-overdue">{span(zh="逾期未完工", en="overdue")}</b>'
                       if p.get("overdue") else "")))
    if p.get("cost_wan") is not None:
        rows.append(_tr("ui.cost", _fmt(p["cost_wan"], 0)))
    return (f'<div class="pg-pop pg-upgrade"><h6><i class="fa fa-person-digging"></i> '
            f'{span(zh=p["name_zh"], en=p["name_en"])}</h6>'
            f'<table>{"".join(rows)}</table></div>')


def enterprise_properties(e: dict[str, Any]) -> dict[str, Any]:
    """What the page script needs to build an enterprise popup: the names, its place in the
    chain (role and industry, both languages) and the parcel it stands on with a link that
    selects that parcel on this map."""
    role_zh, role_en = i18n.label(f"role.{e['chain_role']}")
    ind_zh, ind_en = i18n.label(f"industry.{e['industry']}")
    parcel = e.get("parcel_code")
    return {"code": e["code"], "zh": e["name_zh"], "en": e["name_en"],
            "lat": e["lat"], "lon": e["lon"], "role": e["chain_role"],
            "role_zh": role_zh, "role_en": role_en,
            "industry": e["industry"], "industry_zh": ind_zh, "industry_en": ind_en,
            "anchor": bool(e.get("is_anchor")), "parcel_code": parcel,
            "parcel_href": f"/#sel={quote(parcel, safe='')}" if parcel else None}


def enterprise_popup(e: dict[str, Any]) -> str:
    rows = [_tr("ui.role", span(f"role.{e['chain_role']}")),
            _tr("ui.kind", span(f"industry.{e['industry']}"))]
    if e.get("is_anchor"):
        rows.append(_tr("ui.anchor", span("ui.yes")))
    if e.get("employees") is not None:
        rows.append(_tr("ui.employees", _fmt(e["employees"])))
    if e.get("parcel_code"):
        href = esc(f"/#sel={quote(e['parcel_code'], safe='')}")
        rows.append(_tr("ui.on_parcel", f'<a href="{href}">{esc(e["parcel_code"])}</a>'))
    return (f'<div class="pg-pop"><h6>{span(zh=e["name_zh"], en=e["name_en"])}</h6>'
            f'<table>{"".join(rows)}</table></div>')


# --- Folium elements of ours -------------------------------------------------------------

BIND_FEATURE = JsCode("function (feature, layer) { PG.bindFeature(feature, layer); }")


class OverlayMiniMap(plugins.MiniMap):
    """A minimap drawn from our own GeoJSON (county and parks), not from a tile server.

    Folium's MiniMap needs a tile layer, which offline means a blank square.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layer = L.geoJSON({{ this.geojson|tojson }}, {
                style: function (f) { return f.properties._style; }, interactive: false
            });
            var {{ this.get_name() }} = new L.Control.MiniMap(
                {{ this.get_name() }}_layer, {{ this.options|tojavascript }});
            {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, geojson: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.geojson = geojson


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
                config: {{ this.config|tojson }}
            });
        {% endmacro %}
    """)

    def __init__(self, overlays: dict[str, Any], bases: dict[str, Any],
                 config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "PageRegistry"
        self.overlays = overlays
        self.bases = bases
        self.config = config


def parcel_tile_options() -> str:
    """VectorGrid options (JavaScript): style by status, interactive, feature id = code."""
    return """{
        vectorTileLayerStyles: { parcels: function (p, z) { return PG.parcelStyle(p, z); } },
        interactive: true,
        getFeatureId: function (f) { return f.properties.code; },
        rendererFactory: L.canvas.tile,
        maxNativeZoom: 18, maxZoom: 20, minZoom: 10,
        pane: 'pgParcels',
        attribution: '卫辉市产业集聚区 ParkGIS'
    }"""


def build_investor_map(data: MapData, tianditu_key: str | None = None,
                       tiles_url: str = PARCEL_TILES, inline: bool = False) -> folium.Map:
    """The investor map (a Folium Map, assets localised).

    Parameters
    ----------
    data : MapData
        the embedded layers (see :func:`load_map_data`).
    tianditu_key : str, optional
        offer the Tianditu basemap (vec_w + cva_w, Web Mercator) with this key.
    tiles_url : str
        the parcel vector-tile template.
    inline : bool
        inline every asset (self-contained HTML, see :func:`parkgis.maps.assets.localise`).

    Returns
    -------
    folium.Map
        render with :func:`parkgis.maps.assets.render`; the page script
        ``/static/js/investor.js`` must be loaded (it defines ``PG``).
    """
    xmin, ymin, xmax, ymax = data.bounds
    fig = folium.Figure(title="卫辉市产业集聚区投资地图 · Weihui investor map")
    m = folium.Map(location=[(ymin + ymax) / 2, (xmin + xmax) / 2], zoom_start=13, tiles=None,
                   control_scale=False, max_zoom=20, min_zoom=8, prefer_canvas=False,
                   zoom_control=True)
    m.add_to(fig)
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])

    bases = _add_basemaps(m, tianditu_key)
    overlays: dict[str, Any] = {}
    _add_boundaries(m, data, overlays)
    _add_parcels(m, tiles_url, overlays)
    _add_infrastructure(m, data, overlays)
    _add_terrain(m, data, overlays)
    _add_enterprises(m, data, overlays)
    _add_controls(m, data)
    PageRegistry(overlays, bases, page_config(data, tiles_url)).add_to(m)
    return assets.localise(m, inline=inline)


def _add_basemaps(m: folium.Map, tianditu_key: str | None) -> dict[str, Any]:
    """Basemaps (radio buttons). "None" first and shown: the offline default."""
    bases: dict[str, Any] = {}
    bases["none"] = folium.FeatureGroup(name=span("base.none"), overlay=False, show=True)
    bases["none"].add_to(m)
    bases["osm"] = folium.TileLayer(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png", name=span("base.osm"),
        attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
        overlay=False, show=False, max_zoom=20, max_native_zoom=19)
    bases["osm"].add_to(m)
    if tianditu_key:
        # CGCS2000 ≈ WGS84 to centimetres: the Web-Mercator "_w" services need no shift.
        tdt = folium.FeatureGroup(name=span("base.tianditu"), overlay=False, show=False)
        for layer in ("vec", "cva"):
            folium.TileLayer(
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tianditu_key}",
                attr="&copy; 天地图 Tianditu", subdomains="01234567", max_native_zoom=18,
                max_zoom=20, overlay=False, control=False).add_to(tdt)
        tdt.add_to(m)
        bases["tianditu"] = tdt
    bases["amap"] = folium.TileLayer(
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}", name=span("base.amap"), attr="&copy; 高德地图 AutoNavi (GCJ-02)",
        subdomains="1234", overlay=False, show=False, max_zoom=20, max_native_zoom=18)
    bases["amap"].add_to(m)
    return bases


def _add_boundaries(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """The county outline and the park boundaries, with their (escaped) popups."""
    for f in data.county["features"]:
        names = span(zh=f["properties"]["name_zh"], en=f["properties"]["name_en"])
        f["properties"]["_html"] = f'<div class="pg-pop"><h6>{names}</h6></div>'
    overlays["county"] = folium.GeoJson(
        data.county, name=span("layer.county"), style_function=lambda f: layers.COUNTY_STYLE,
        on_each_feature=BIND_FEATURE)
    overlays["county"].add_to(m)

    for f in data.zones["features"]:
        f["properties"]["_html"] = zone_popup(f["properties"])
        f["properties"]["_label"] = "zone"
    overlays["zones"] = folium.GeoJson(
        data.zones, name=span("layer.zones"),
        style_function=lambda f: layers.zone_style(f["properties"]["status"]),
        on_each_feature=BIND_FEATURE)
    overlays["zones"].add_to(m)


def _add_parcels(m: folium.Map, tiles_url: str, overlays: dict[str, Any]) -> None:
    # Parcels get a pane under the vector overlays (zIndex 400): roads, lines and boundaries are
    # drawn over the parcel fills, and clicks between those lines reach the parcel tiles.
    folium.map.CustomPane("pgParcels", z_index=350, pointer_events=True).add_to(m)
    overlays["parcels"] = plugins.VectorGridProtobuf(tiles_url, span("layer.parcels"),
                                                     parcel_tile_options())
    overlays["parcels"].add_to(m)


def _add_infrastructure(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """Infrastructure in three toggles (river, roads and rail, utilities), then upgrades."""
    groups: dict[str, list[dict[str, Any]]] = {"roads_rail": [], "utilities": [], "river": []}
    for f in data.infrastructure["features"]:
        p = f["properties"]
        p["_html"] = infra_popup(p)
        p["_icon"] = layers.INFRA_ICONS.get(p["kind"])
        groups[layers.infra_group(p["kind"])].append(f)
    for group, feats in (("river", groups["river"]), ("roads_rail", groups["roads_rail"]),
                         ("utilities", groups["utilities"])):
        overlays[group] = folium.GeoJson(
            feature_collection(feats), name=span(f"layer.{group}"),
            style_function=lambda f: layers.infra_style(f["properties"]["kind"],
                                                        f["properties"]["status"]),
            on_each_feature=BIND_FEATURE,
            marker=folium.CircleMarker(radius=6, weight=2, fill_opacity=0.9))
        overlays[group].add_to(m)

    for f in data.upgrades["features"]:
        f["properties"]["_html"] = upgrade_popup(f["properties"])
    overlays["upgrades"] = folium.GeoJson(
        data.upgrades, name=span("layer.upgrades"),
        style_function=lambda f: layers.infra_style(f["properties"]["kind"],
                                                    f["properties"]["status"],
                                                    bool(f["properties"].get("overdue"))),
        on_each_feature=BIND_FEATURE,
        marker=folium.CircleMarker(radius=7, weight=3, fill_opacity=0.3, dash_array="3 3"))
    overlays["upgrades"].add_to(m)


def _add_terrain(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    for ov in data.terrain:
        img = folium.raster_layers.ImageOverlay(
            image="data:,", bounds=ov["bounds"], name=span(f"layer.{ov['id']}"),
            opacity=0.55 if ov["id"] == "hillshade" else 0.7, show=False, pixelated=False)
        # Folium embeds anything that is not an absolute URL; our overlay is served by us.
        img.url = ov["url"]
        img.add_to(m)
        overlays[ov["id"]] = img


def _add_enterprises(m: folium.Map, data: MapData, overlays: dict[str, Any]) -> None:
    """Resident enterprises, clustered. Folium writes popup and tooltip HTML into JavaScript
    template literals: both are built from :func:`span` / :func:`esc` output, which is inert
    there (no backtick, ``$`` or backslash survives)."""
    cluster = plugins.MarkerCluster(name=span("layer.enterprises"),
                                    options={"maxClusterRadius": 40,
                                             "disableClusteringAtZoom": 16})
    for e in data.enterprises:
        colour, icon = layers.role_icon(e["chain_role"])
        folium.Marker(
            [e["lat"], e["lon"]],
            icon=folium.Icon(color=colour, icon=icon, prefix="fa"),
            popup=folium.Popup(enterprise_popup(e), max_width=320),
            tooltip=span(zh=e["name_zh"], en=e["name_en"]),
            pg_code=e["code"],
        ).add_to(cluster)
    cluster.add_to(m)
    overlays["enterprises"] = cluster


def _add_controls(m: folium.Map, data: MapData) -> None:
    """Layer switcher, full screen and a minimap drawn from our own outlines. Measuring is
    ``investor.js``'s own control: leaflet-measure needs eval, which the page's CSP refuses."""
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    plugins.Fullscreen(position="topleft", title="全屏 / Full screen",
                       title_cancel="退出全屏 / Exit full screen").add_to(m)
    mini = feature_collection([
        *({**f, "properties": {"_style": {"color": "#555", "weight": 1, "fill": False}}}
          for f in data.county["features"]),
        *({**f, "properties": {"_style": layers.zone_style(f["properties"]["status"])}}
          for f in data.zones["features"]),
    ])
    OverlayMiniMap(mini, position="bottomright", width=160, height=130, zoom_level_offset=-4,
                   toggle_display=True).add_to(m)


def page_config(data: MapData, tiles_url: str = PARCEL_TILES) -> dict[str, Any]:
    """What ``PG.init`` receives besides the Leaflet objects (embedded as escaped JSON)."""
    xmin, ymin, xmax, ymax = data.bounds
    roles = sorted({e["chain_role"] for e in data.enterprises})
    return {
        "tiles": tiles_url,
        "bounds": [[ymin, xmin], [ymax, xmax]],
        "statusStyle": {s: {"fillColor": layers.STATUS_COLOURS[s],
                            "fillOpacity": layers.STATUS_OPACITY[s]}
                        for s in layers.STATUS_COLOURS},
        "highlight": layers.HIGHLIGHT_COLOUR,
        "selected": layers.SELECTED_COLOUR,
        "legend": layers.legend_html(roles),
        "enterprises": [enterprise_properties(e) for e in data.enterprises],
        "zones": [{"code": f["properties"]["code"], "zh": f["properties"]["name_zh"],
                   "en": f["properties"]["name_en"]} for f in data.zones["features"]],
        "roles": roles,
        "landuse": data.landuse_codes,
        # Which terrain filters the search can honour: the rasters behind the overlays.
        "terrain": {"dem": any(o["id"] == "hillshade" for o in data.terrain),
                    "flood": any(o["id"] == "flood" for o in data.terrain)},
        "i18n": i18n.as_json(),
    }
