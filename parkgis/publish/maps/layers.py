"""Shared layer styling: status colours, infrastructure line styles, chain-role icons, legends.

The investor map, the planner workbench and the exported briefs all draw the same things; they
take their colours from here so a parcel that is green on the map is green in the PDF.
Colours are chosen to stay distinguishable for the common colour-vision deficiencies
(available/vacant in greens and blues, occupied in greys, blocked in a muted red).
"""

from __future__ import annotations

from dataclasses import dataclass

from branca.element import MacroElement
from jinja2 import Template

from parkgis.publish import i18n

#: Fill colour of a parcel by ``parcels.status``.
STATUS_COLOURS: dict[str, str] = {
    "available": "#1a9850",
    "reserved": "#fdae61",
    "listed": "#2b83ba",
    "allocated": "#9e7bb5",
    "under_construction": "#d9a441",
    "operational": "#8c8c8c",
    "not_for_supply": "#d7a4a4",
    "historic": "#dddddd",
}
#: Fill opacity by status: vacant land stands out, the rest recedes.
STATUS_OPACITY: dict[str, float] = {
    "available": 0.75,
    "reserved": 0.7,
    "listed": 0.75,
    "allocated": 0.55,
    "under_construction": 0.55,
    "operational": 0.45,
    "not_for_supply": 0.4,
    "historic": 0.2,
}
#: Legend order (vacant first: what an investor looks for).
STATUS_ORDER: tuple[str, ...] = (
    "available",
    "listed",
    "reserved",
    "allocated",
    "under_construction",
    "operational",
    "not_for_supply",
)

HIGHLIGHT_COLOUR = "#ff00aa"
SELECTED_COLOUR = "#00e5ff"
COUNTY_STYLE = {"color": "#555555", "weight": 2.5, "dashArray": "8 4 2 4", "fill": False}


def zone_style(status: str) -> dict[str, object]:
    """Leaflet path style of a park boundary: approved solid, proposed dashed.

    No fill: a filled boundary would sit over the parcels and take their clicks.
    """
    base: dict[str, object] = {"color": "#c0392b", "weight": 3, "fill": False}
    if status == "proposed":
        base.update(color="#e67e22", dashArray="10 6")
    return base


@dataclass(frozen=True)
class LineStyle:
    color: str
    weight: float
    dash: str | None = None
    group: str = "utilities"  # the layer this kind belongs to on the map

    def leaflet(self, status: str = "existing") -> dict[str, object]:
        """The Leaflet style; a planned or under-way line is dashed whatever its kind."""
        style: dict[str, object] = {
            "color": self.color,
            "weight": self.weight,
            "opacity": 0.9,
            "fillColor": self.color,
            "fillOpacity": 0.5,
        }
        if self.dash:
            style["dashArray"] = self.dash
        if status in ("planned", "under_construction", "under_way"):
            style["dashArray"] = "8 6" if status == "planned" else "3 5"
            style["weight"] = self.weight + 1
        return style


#: Style of an infrastructure kind; ``group`` picks the map layer.
INFRA_STYLES: dict[str, LineStyle] = {
    "expressway": LineStyle("#e8590c", 5, group="roads_rail"),
    "national_road": LineStyle("#f08c00", 4, group="roads_rail"),
    "trunk_road": LineStyle("#f59f00", 3, group="roads_rail"),
    "local_road": LineStyle("#adb5bd", 2, group="roads_rail"),
    "railway": LineStyle("#343a40", 3, "12 4", group="roads_rail"),
    "rail_siding": LineStyle("#495057", 2, "6 3", group="roads_rail"),
    "rail_station": LineStyle("#212529", 2, group="roads_rail"),
    "water_main": LineStyle("#1c7ed6", 2),
    "water_plant": LineStyle("#1c7ed6", 2),
    "sewer": LineStyle("#5f3dc4", 2),
    "wastewater_plant": LineStyle("#5f3dc4", 2),
    "power_line": LineStyle("#e03131", 2),
    "substation": LineStyle("#e03131", 2),
    "gas_main": LineStyle("#f2c200", 2),
    "gas_station": LineStyle("#f2c200", 2),
    "heat_main": LineStyle("#c2255c", 2),
    "telecom": LineStyle("#0ca678", 1.5),
    "river": LineStyle("#4dabf7", 4, group="river"),
}
DEFAULT_LINE = LineStyle("#868e96", 2)

#: Font Awesome icon (v6 names, ``fa`` prefix) for point infrastructure.
INFRA_ICONS: dict[str, str] = {
    "substation": "bolt",
    "water_plant": "droplet",
    "wastewater_plant": "recycle",
    "gas_station": "fire-flame-simple",
    "rail_station": "train",
    "telecom": "tower-cell",
}

#: Chain role -> (awesome-markers colour, Font Awesome icon).
ROLE_ICONS: dict[str, tuple[str, str]] = {
    "brewery": ("orange", "beer-mug-empty"),
    "beverage": ("orange", "bottle-water"),
    "bottling": ("orange", "bottle-water"),
    "filling": ("orange", "bottle-water"),
    "mineral_water": ("blue", "bottle-water"),
    "health_drinks": ("orange", "bottle-water"),
    "snack_food": ("orange", "cookie"),
    "can_making": ("cadetblue", "box"),
    "film": ("cadetblue", "film"),
    "printing": ("cadetblue", "print"),
    "packaging": ("cadetblue", "box-open"),
    "flexible_packaging": ("cadetblue", "box-open"),
    "building_materials": ("darkgreen", "cubes"),
    "plasterboard": ("darkgreen", "layer-group"),
    "doors_windows": ("darkgreen", "door-open"),
    "cement": ("gray", "industry"),
    "prefab": ("darkgreen", "building"),
    "profiles": ("darkgreen", "ruler-combined"),
    "logistics": ("purple", "truck"),
}
DEFAULT_ROLE_ICON = ("lightgray", "industry")

#: awesome-markers colour names -> CSS colour (for legends and the brief).
MARKER_CSS: dict[str, str] = {
    "orange": "#f69730",
    "blue": "#38aadd",
    "cadetblue": "#436978",
    "darkgreen": "#728224",
    "gray": "#575757",
    "purple": "#d252b9",
    "lightgray": "#a3a3a3",
    "red": "#d63e2a",
}


#: An upgrade past its finish date and not complete (issue 13) is outlined in this colour.
OVERDUE_COLOUR = "#d6336c"


def infra_style(kind: str, status: str = "existing", overdue: bool = False) -> dict[str, object]:
    """Leaflet style of an infrastructure feature or an upgrade; an overdue upgrade keeps its
    dash (still not built) in :data:`OVERDUE_COLOUR`."""
    style = INFRA_STYLES.get(kind, DEFAULT_LINE).leaflet(status)
    if overdue:
        style.update(color=OVERDUE_COLOUR, opacity=1.0)
    return style


def infra_group(kind: str) -> str:
    """The map layer a kind belongs to: ``roads_rail``, ``utilities`` or ``river``."""
    return INFRA_STYLES.get(kind, DEFAULT_LINE).group


def role_icon(role: str | None) -> tuple[str, str]:
    """(marker colour, icon name) of a chain role."""
    return ROLE_ICONS.get(role or "", DEFAULT_ROLE_ICON)


def status_style_js() -> str:
    """A JavaScript object literal ``{status: {fillColor, fillOpacity}}`` for VectorGrid."""
    import json

    return json.dumps(
        {
            s: {"fillColor": STATUS_COLOURS[s], "fillOpacity": STATUS_OPACITY[s]}
            for s in STATUS_COLOURS
        }
    )


#: Every line kind the maps draw from the infrastructure table, in legend order; local roads
#: are left out (thin grey context, named on hover).
LEGEND_LINES: tuple[str, ...] = (
    "expressway",
    "national_road",
    "trunk_road",
    "railway",
    "rail_siding",
    "power_line",
    "water_main",
    "sewer",
    "gas_main",
    "heat_main",
    "telecom",
    "river",
)
#: Point facilities drawn with an icon.
LEGEND_POINTS: tuple[str, ...] = tuple(INFRA_ICONS)


def legend_html(roles: list[str] | None = None) -> str:
    """The map legend (bilingual spans): parcel status, boundaries, infrastructure, roles."""
    sp = i18n.span
    rows = [
        f'<div class="lg-title">{sp("ui.legend")}</div>',
        f'<div class="lg-sub">{sp("layer.parcels")}</div>',
    ]
    for s in STATUS_ORDER:
        rows.append(
            f'<div class="lg-row"><i class="lg-box" style="background:'
            f'{STATUS_COLOURS[s]};opacity:{STATUS_OPACITY[s] + 0.2:.2f}"></i>'
            f"{sp(f'status.{s}')}</div>"
        )
    # The rest folds away (click the title): the status colours are what a reader needs first.
    rows.append('<div class="lg-more">')
    rows.append(f'<div class="lg-sub">{sp("layer.zones")}</div>')
    for st in ("approved", "proposed"):
        z = zone_style(st)
        dash = "dashed" if st == "proposed" else "solid"
        rows.append(
            f'<div class="lg-row"><i class="lg-line" style="border-top:3px {dash} '
            f'{z["color"]}"></i>{sp(f"zone.{st}")}</div>'
        )
    rows.append(
        f'<div class="lg-row"><i class="lg-line" style="border-top:2px dashed '
        f'{COUNTY_STYLE["color"]}"></i>{sp("layer.county")}</div>'
    )
    rows.append(f'<div class="lg-sub">{sp("layer.roads_rail")} · {sp("layer.utilities")}</div>')
    for kind in LEGEND_LINES:
        line = INFRA_STYLES[kind]
        dash = "dashed" if line.dash else "solid"
        rows.append(
            f'<div class="lg-row"><i class="lg-line" style="border-top:3px {dash} '
            f'{line.color}"></i>{sp(f"infra.{kind}")}</div>'
        )
    for kind in LEGEND_POINTS:
        rows.append(
            f'<div class="lg-row"><i class="lg-dot" style="background:'
            f'{INFRA_STYLES[kind].color}"><i class="fa fa-{INFRA_ICONS[kind]}"></i></i>'
            f"{sp(f'infra.{kind}')}</div>"
        )
    rows.append(
        f'<div class="lg-row"><i class="lg-line" style="border-top:3px dashed '
        f'#555"></i>{sp("ui.existing_vs_upgrade")}</div>'
    )
    if roles:
        rows.append(f'<div class="lg-sub">{sp("layer.enterprises")}</div>')
        for role in roles:
            colour, icon = role_icon(role)
            rows.append(
                f'<div class="lg-row"><i class="lg-dot" style="background:'
                f'{MARKER_CSS.get(colour, "#888")}"><i class="fa fa-{icon}"></i></i>'
                f"{sp(f'role.{role}')}</div>"
            )
    rows.append("</div>")
    return "\n".join(rows)


class MetricScale(MacroElement):
    """A metric-only scale bar: Folium's ``control_scale`` adds feet and miles as well, which
    nobody reading a Chinese land map wants."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)
