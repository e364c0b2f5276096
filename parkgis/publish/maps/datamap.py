"""Maps whose data travels in a JSON data block, not in a script: the offline brief and the
fit map.

Folium writes a map as inline scripts; anything passed to it as GeoJSON, a tooltip or a layer
name ends up inside one of them. Here Folium only creates empty layer groups; the features
(with their tooltip texts) go into ``<script type="application/json" id="pg-map-data">``,
which a browser never runs, and ``/static/js/datamap.js`` (inlined in the offline brief,
where the page's CSP hash-allows it) reads it with ``JSON.parse`` and builds every tooltip
and popup with ``textContent``. So no stored value is ever part of an executable script.
"""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import Element, JavascriptLink, MacroElement
from folium.template import Template

DATA_ID = "pg-map-data"
SCRIPT_URL = "/static/js/datamap.js"

# Characters that could end the data block or confuse an HTML parser, as JSON escapes: the
# block's text stays valid JSON and JSON.parse gives back the exact stored characters.
_BLOCK_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def json_data_block(value: Any, element_id: str = DATA_ID) -> str:
    """``value`` as a non-executable ``<script type="application/json">`` element.

    Examples
    --------
    >>> json_data_block({"n": "</b>"}, "x")
    '<script type="application/json" id="x">{"n": "\\\\u003c/b\\\\u003e"}</script>'
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False).translate(_BLOCK_ESCAPES)
    return f'<script type="application/json" id="{element_id}">{text}</script>'


class DataMapRegistry(MacroElement):
    """``PGD.init({...})`` with the Folium-named (empty) groups and the data block's id."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            PGD.init({
                map: {{ this._parent.get_name() }},
                groups: { {% for k, v in this.groups.items() %}
                    {{ k|tojson }}: {{ v.get_name() }},{% endfor %} },
                data: {{ this.data_id|tojson }}
            });
        {% endmacro %}
    """)

    def __init__(self, groups: dict[str, Any], data_id: str = DATA_ID) -> None:
        super().__init__()
        self._name = "DataMapRegistry"
        self.groups = groups
        self.data_id = data_id


def layer(
    group: str,
    features: list[dict[str, Any]],
    *,
    tooltip: dict[str, Any] | None = None,
    marker: dict[str, Any] | None = None,
    popup: bool = False,
) -> dict[str, Any]:
    """One layer of the data block: features whose properties carry ``_style``, and optionally
    ``_tip`` (tooltip text), ``_popup`` (list of text lines), ``_marker`` (circle options)."""
    return {
        "group": group,
        "features": {"type": "FeatureCollection", "features": features},
        "tooltip": tooltip or {"sticky": True},
        "marker": marker or {},
        "popup": popup,
    }


def add_data_map(m: folium.Map, groups: dict[str, Any], layers: list[dict[str, Any]]) -> None:
    """Attach the data block, the page script and its ``PGD.init`` call to ``m``.

    ``groups`` are Folium layer groups already added to ``m`` (named with our own constants:
    Folium writes layer names into its script); ``layers`` come from :func:`layer`.
    """
    fig = m.get_root()
    fig.header.add_child(JavascriptLink(SCRIPT_URL), name="pg_datamap_js")
    fig.html.add_child(Element(json_data_block({"layers": layers})), name="pg_map_data")
    DataMapRegistry(groups).add_to(m)
