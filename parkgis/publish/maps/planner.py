"""The planner workbench map at ``/planner``: a Folium map the page script edits on.

The map shows only public context (county and park boundaries, roads and rail), fetched by the
page script from ``/api/map/layers`` into groups Folium created empty, so the page itself is
public HTML with no stored value in any script. Parcels — with their confidential fields —
are fetched by the page script with the planner's bearer token (``GET /api/planner/parcels``)
and drawn as editable GeoJSON: exact polygons are needed to draw a split line across one and
to pick neighbours to merge, which vector tiles (clipped, simplified) cannot give.

Leaflet.draw is loaded from our vendored copy (``/static/vendor/leaflet-draw``), never a CDN.
The page script ``/static/js/planner.js`` defines ``PGP``; :class:`PlannerRegistry` hands it
the Folium-named map (``PGP.init({map, overlays, config})``).
"""

from __future__ import annotations

from typing import Any

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from parkgis.publish.i18n import both
from parkgis.publish.maps import assets, layers
from parkgis.publish.maps.investor import MapData

DRAW_JS = f"{assets.VENDOR_URL}/leaflet-draw/leaflet.draw.js"
DRAW_CSS = f"{assets.VENDOR_URL}/leaflet-draw/leaflet.draw.css"


class DrawAssets(JSCSSMixin, MacroElement):
    """Leaflet.draw's script and stylesheet, emitted after Leaflet's own (Folium orders a
    child's assets after its map's), from the vendored copy."""

    _template = Template("{% macro script(this, kwargs) %}{% endmacro %}")
    default_js = [("leaflet_draw_js", DRAW_JS)]
    default_css = [("leaflet_draw_css", DRAW_CSS)]

    def __init__(self) -> None:
        super().__init__()
        self._name = "DrawAssets"


class PlannerRegistry(MacroElement):
    """``PGP.init({...})`` with the Folium-named Leaflet objects and the page config."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            PGP.init({
                map: {{ this._parent.get_name() }},
                overlays: { {% for k, v in this.overlays.items() %}
                    {{ k|tojson }}: {{ v.get_name() }},{% endfor %} },
                config: {{ this.config|tojson }}
            });
        {% endmacro %}
    """)

    def __init__(self, overlays: dict[str, Any], config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "PlannerRegistry"
        self.overlays = overlays
        self.config = config


def build_planner_map(data: MapData) -> folium.Map:
    """The planner map (assets localised; render with :func:`parkgis.publish.maps.assets.render`).

    Parameters
    ----------
    data : MapData
        the page's frame (bounds); the context layers are fetched by ``planner.js``.

    Returns
    -------
    folium.Map
        the page must load ``/static/js/planner.js`` (it defines ``PGP``) in its head.
    """
    xmin, ymin, xmax, ymax = data.bounds
    fig = folium.Figure(title="卫辉市产业集聚区规划工作台 · Weihui planner workbench")
    m = folium.Map(
        location=[(ymin + ymax) / 2, (xmin + xmax) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=False,
        max_zoom=21,
        min_zoom=8,
        zoom_control=True,
    )
    m.add_to(fig)
    layers.MetricScale().add_to(m)
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])
    DrawAssets().add_to(m)

    # Offline by default: our own layers make the map readable with no basemap at all.
    folium.FeatureGroup(name=both("base.none"), overlay=False, show=True).add_to(m)
    folium.TileLayer(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        name=both("base.osm"),
        attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
        overlay=False,
        show=False,
        max_zoom=21,
        max_native_zoom=19,
    ).add_to(m)

    # Empty groups: planner.js fills them from /api/map/layers (no stored value in a script).
    overlays: dict[str, Any] = {}
    for key in ("county", "zones", "roads_rail"):
        overlays[key] = folium.FeatureGroup(name=both(f"layer.{key}"))
        overlays[key].add_to(m)
    # Parcels are added by the page script (they need the planner's token).
    folium.map.CustomPane("pgpParcels", z_index=420, pointer_events=True).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)

    config = {
        "layers": "/api/map/layers/",
        "bounds": [[ymin, xmin], [ymax, xmax]],
        "statusStyle": {
            s: {"fillColor": layers.STATUS_COLOURS[s], "fillOpacity": layers.STATUS_OPACITY[s]}
            for s in layers.STATUS_COLOURS
        },
        "selected": layers.SELECTED_COLOUR,
        "highlight": layers.HIGHLIGHT_COLOUR,
    }
    PlannerRegistry(overlays, config).add_to(m)
    return assets.localise(m)
