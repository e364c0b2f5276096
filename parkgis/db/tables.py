"""A registry of the tables a vector file can be loaded into.

The loader, the validators and (later) the exporters read the shape of each table from here
rather than from scattered constants: which columns a file may supply, their types, which are
required for a new row, the vocabularies the database enforces, and the geometry rule.

The registry mirrors ``parkgis/db/migrations/*.sql``; ``tests/test_schema.py`` checks that every
column named here exists in the database with a compatible type, so the two cannot drift apart
silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

ColType = Literal["text", "text[]", "int", "float", "numeric", "bool", "date", "jsonb"]

#: SQL type of each column type, as used for the loader's temporary table.
SQL_TYPES: dict[str, str] = {
    "text": "text",
    "text[]": "text[]",
    "int": "integer",
    "float": "double precision",
    "numeric": "numeric",
    "bool": "boolean",
    "date": "date",
    "jsonb": "jsonb",
}

#: Geometry rules: ``polygon`` tables store MultiPolygon (a Polygon is promoted);
#: ``point`` tables store Point; ``infra`` stores the types the infrastructure CHECK admits;
#: ``any`` takes any non-empty valid geometry; ``none`` is a non-spatial table.
GeomRule = Literal["polygon", "point", "infra", "any", "none"]

#: GeometryType() names each rule admits after promotion (see ``0001_core.sql``).
GEOM_TYPES: dict[str, frozenset[str]] = {
    "polygon": frozenset({"MultiPolygon"}),
    "point": frozenset({"Point"}),
    "infra": frozenset({"Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}),
    "any": frozenset(
        {
            "Point",
            "MultiPoint",
            "LineString",
            "MultiLineString",
            "Polygon",
            "MultiPolygon",
            "GeometryCollection",
        }
    ),
    "none": frozenset(),
}

STORE_SRID = 4490

PARCEL_STATUSES = (
    "available",
    "reserved",
    "listed",
    "allocated",
    "under_construction",
    "operational",
    "not_for_supply",
    "historic",
)
INFRA_KINDS = (
    "expressway",
    "national_road",
    "trunk_road",
    "local_road",
    "railway",
    "rail_siding",
    "rail_station",
    "water_main",
    "water_plant",
    "sewer",
    "wastewater_plant",
    "power_line",
    "substation",
    "gas_main",
    "gas_station",
    "heat_main",
    "telecom",
    "river",
)


@dataclass(frozen=True)
class Column:
    """One loadable column.

    Parameters
    ----------
    name : str
        Column name in the table (and the expected field name in a file).
    type : ColType
        Loader type; decides how file values are converted.
    required : bool
        A new row cannot be stored without it (NOT NULL without a default).
    default : Any
        Value used when a file supplies the column but leaves a feature's value empty and the
        column is NOT NULL with a default (e.g. the 七通一平 flags are ``false``).
    vocab : tuple of str, optional
        The only values the database accepts.
    pattern : str, optional
        A regular expression the database enforces (checked early for a better message).
    """

    name: str
    type: ColType = "text"
    required: bool = False
    default: Any = None
    vocab: tuple[str, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Table:
    """A loadable table: its columns, geometry rule and key.

    Parameters
    ----------
    name : str
        Table name in the database.
    columns : tuple of Column
        Columns a file may supply; the key ``code`` first.
    geom : GeomRule
        Geometry rule, see ``GEOM_TYPES``.
    has_gk_srid : bool
        Whether the table has a ``gk_srid`` the loader may fill from the geometry's longitude
        when the file leaves it out (the triggers measure in that projection).
    gk_srid_from_trigger : bool
        ``gk_srid`` is derived by a trigger (parcels take their zone's) and must not be sent.
    aliases : tuple of str
        Layer names that load into this table (the sample's ``county`` -> ``boundaries``).
    """

    name: str
    columns: tuple[Column, ...]
    geom: GeomRule
    has_gk_srid: bool = False
    gk_srid_from_trigger: bool = False
    aliases: tuple[str, ...] = ()
    key: str = "code"

    def column(self, name: str) -> Column | None:
        """The column called ``name`` or None."""
        return self._by_name.get(name)

    @property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the columns a new row needs."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def spatial(self) -> bool:
        return self.geom != "none"


def _c(name: str, type: ColType = "text", **kw: Any) -> Column:
    return Column(name, type, **kw)


_CODE = _c("code", required=True)
_PARCEL_CODE = _c("code", required=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NAMES = (_c("name_zh", required=True), _c("name_en", required=True))

BOUNDARIES = Table(
    "boundaries",
    (
        _CODE,
        *_NAMES,
        _c("level", required=True, vocab=("province", "prefecture", "county", "township")),
        _c("source"),
    ),
    geom="polygon",
    aliases=("county", "counties", "boundary"),
)

ZONES = Table(
    "zones",
    (
        _CODE,
        *_NAMES,
        _c("kind", required=True, vocab=("cluster_zone", "specialised_park", "logistics_park")),
        _c("status", required=True, vocab=("approved", "proposed")),
        _c("gk_srid", "int"),
        _c("leading_industries", "text[]", default=[]),
        _c("description_zh"),
        _c("description_en"),
    ),
    geom="polygon",
    has_gk_srid=True,
    aliases=("zone", "parks"),
)

PARCELS = Table(
    "parcels",
    (
        _PARCEL_CODE,
        _c("zone_code", required=True),
        _c("status", required=True, vocab=PARCEL_STATUSES),
        _c("landuse_code", required=True, pattern=r"^[0-9]{2}([0-9]{2}){0,2}$"),
        _c("landuse_alias"),
        *(
            _c(f"svc_{s}", "bool", default=False)
            for s in ("road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled")
        ),
        _c("land_price_wan_per_mu", "numeric"),
        _c("enterprise_code"),
        _c("project_code"),
        _c("reserved_until", "date"),
        _c("parent_codes", "text[]", default=[]),
        _c("note_internal"),
    ),
    geom="polygon",
    gk_srid_from_trigger=True,
    aliases=("parcel", "plots"),
)

INFRASTRUCTURE = Table(
    "infrastructure",
    (
        _CODE,
        _c("kind", required=True, vocab=INFRA_KINDS),
        *_NAMES,
        _c("status", default="existing", vocab=("existing", "planned", "under_construction")),
        _c("capacity", "float"),
        _c("capacity_unit"),
        _c("voltage_kv", "float"),
        _c("diameter_mm", "float"),
        _c("gk_srid", "int"),
    ),
    geom="infra",
    has_gk_srid=True,
    aliases=("infra",),
)

UPGRADES = Table(
    "upgrades",
    (
        _CODE,
        _c("infra_code"),
        # The database leaves kind free text ("same vocabulary as infrastructure.kind"); checking
        # it here catches typos that would otherwise silently drop an item off the kind filters.
        _c("kind", required=True, vocab=INFRA_KINDS),
        *_NAMES,
        _c("capacity_added", "float"),
        _c("capacity_unit"),
        _c("cost_wan", "numeric"),
        _c("start_date", "date"),
        _c("finish_date", "date"),
        _c("status", required=True, vocab=("planned", "under_way", "completed")),
        _c("operator"),
        _c("gk_srid", "int"),
    ),
    geom="any",
    has_gk_srid=True,
    aliases=("upgrade",),
)

ENTERPRISES = Table(
    "enterprises",
    (
        _CODE,
        *_NAMES,
        _c("industry", required=True),
        _c("chain_role", required=True),
        _c("is_anchor", "bool", default=False),
        _c("parcel_code"),
        _c("zone_code"),
        _c("employees", "int"),
        _c("contact"),
        _c("gk_srid", "int"),
    ),
    geom="point",
    has_gk_srid=True,
    aliases=("enterprise", "firms"),
)

PROJECTS = Table(
    "projects",
    (
        _CODE,
        *_NAMES,
        _c("industry", required=True),
        _c("chain_role"),
        _c(
            "stage",
            default="lead",
            vocab=(
                "lead",
                "negotiating",
                "signed",
                "land_supplied",
                "under_construction",
                "operational",
                "lost",
            ),
        ),
        _c("min_area_mu", "numeric"),
        _c("max_area_mu", "numeric"),
        _c("footprint_length_m", "float"),
        _c("footprint_width_m", "float"),
        _c("landuse_codes", "text[]", default=[]),
        _c("power_kva", "float"),
        _c("water_tpd", "float"),
        _c("wastewater_tpd", "float"),
        _c("gas_m3pd", "float"),
        _c("rail_required", "bool", default=False),
        _c("max_rail_m", "float"),
        _c("max_trunk_road_m", "float"),
        _c("hazard_class"),
        _c("min_sensitive_m", "float"),
        _c("preferred_neighbours", "text[]", default=[]),
        _c("start_date", "date"),
        _c("land_budget_wan", "numeric"),
        _c("investment_wan", "numeric"),
        _c("expected_tax_wan", "numeric"),
        _c("floor_area_ratio", "float"),
        _c("building_coverage", "float"),
        _c("green_ratio", "float"),
        _c("office_share", "float"),
        _c("max_slope_deg", "float"),
        _c("max_flood_share", "float"),
        _c("weights", "jsonb", default={}),
        _c("source_township"),
        _c("township_tax_share", "numeric"),
        _c("fostered", "bool", default=False),
        _c("target_quarter"),
        _c("contact"),
        _c("negotiation_notes"),
    ),
    geom="none",
    aliases=("project", "pipeline"),
)

PLACES = Table(
    "places",
    (
        _CODE,
        *_NAMES,
        _c(
            "kind",
            required=True,
            vocab=("county_seat", "township_seat", "city", "provincial_capital", "airport"),
        ),
        _c("source_url", required=True, pattern=r"^https?://\S+$"),
        _c("licence", required=True),
        _c("note"),
    ),
    geom="point",
    aliases=("place",),
)

#: Every loadable table by name.
TABLES: MappingProxyType[str, Table] = MappingProxyType(
    {
        t.name: t
        for t in (
            BOUNDARIES,
            ZONES,
            INFRASTRUCTURE,
            UPGRADES,
            PARCELS,
            ENTERPRISES,
            PROJECTS,
            PLACES,
        )
    }
)

#: The sample package's layers in the order foreign keys need (zones before parcels,
#: infrastructure before upgrades), paired with their target tables.
SAMPLE_LAYERS: tuple[tuple[str, str], ...] = (
    ("county", "boundaries"),
    ("zones", "zones"),
    ("infrastructure", "infrastructure"),
    ("upgrades", "upgrades"),
    ("parcels", "parcels"),
    ("enterprises", "enterprises"),
    ("projects", "projects"),
    ("places", "places"),
)


def resolve(name: str) -> Table | None:
    """The table a layer or table name loads into, or None.

    Parameters
    ----------
    name : str
        A table name (``parcels``) or an alias (``county``); case-insensitive.

    Returns
    -------
    Table or None
    """
    key = name.strip().lower()
    if key in TABLES:
        return TABLES[key]
    for t in TABLES.values():
        if key in t.aliases:
            return t
    return None


def gk_srid_for_lon(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM form, 4534-4554) at ``lon``.

    Same formula as the SQL function ``gk_srid_for_lon`` in ``0001_core.sql``.
    """
    # SQL round() goes half away from zero; Python's round() would go half to even.
    return 4534 + (math.floor(lon / 3.0 + 0.5) - 25)


__all__ = [
    "Column",
    "Table",
    "TABLES",
    "SAMPLE_LAYERS",
    "STORE_SRID",
    "PARCEL_STATUSES",
    "INFRA_KINDS",
    "SQL_TYPES",
    "GEOM_TYPES",
    "resolve",
    "gk_srid_for_lon",
]
