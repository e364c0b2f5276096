"""The facility and servicing vocabulary shared by search, the parcel sheet and the briefs, and
the public fields of a project (the rule is :mod:`parkgis.promotion.projects`; fit reads it too).

One owner, so that a new servicing kind or distance category appears everywhere at once.
Pure data: no imports from the rest of the core (it sits with settings at the bottom layer).
"""

from __future__ import annotations

#: The one definition of rail access (issue #13): a siding (专用线) or a freight station in
#: service on the date asked — never a main line, where no train stops for a parcel. The same
#: kinds as the SQL function ``rail_access_kinds()`` (migration 0011); search, fit, the sheet
#: and the brief all measure rail access through these kinds from ``infra_as_of``.
RAIL_ACCESS_KINDS: tuple[str, ...] = ("rail_siding", "rail_station")

# Distance categories: (query parameter, infrastructure kinds, result column, zh, en)
DISTANCES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "rail": (
        "max_rail_m",
        RAIL_ACCESS_KINDS,
        "铁路专用线/货运站",
        "rail siding or freight station",
    ),
    "road": ("max_road_m", ("trunk_road", "national_road", "expressway"), "干线公路", "trunk road"),
    "substation": ("max_substation_m", ("substation",), "变电站", "substation"),
    "water": ("max_water_m", ("water_main",), "供水干管", "water main"),
    "gas": ("max_gas_m", ("gas_main",), "燃气干管", "gas main"),
}
# What serves a parcel is what is in service on the date asked (``infra_as_of``, migration
# 0011): register rows that exist or that a completed upgrade built by then, plus the completed
# upgrades' own works. Planned and under-way works never serve.
# Servicing a parcel may have (the "七通一平" checklist: roads, water, drainage, power, gas,
# heat, telecom, and a levelled site).
SERVICES = ("road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled")


#: A project's fields that may be shown to anyone; everything else (contact, negotiation
#: notes, budget, investment, tax, the township deal, weights) is staff-only. An allow-list,
#: so a column added later stays staff-only until someone decides otherwise here.
PUBLIC_PROJECT_FIELDS: tuple[str, ...] = (
    "code",
    "name_zh",
    "name_en",
    "industry",
    "chain_role",
    "stage",
    "min_area_mu",
    "max_area_mu",
    "footprint_length_m",
    "footprint_width_m",
    "landuse_codes",
    "power_kva",
    "water_tpd",
    "wastewater_tpd",
    "gas_m3pd",
    "rail_required",
    "max_rail_m",
    "max_trunk_road_m",
    "hazard_class",
    "min_sensitive_m",
    "preferred_neighbours",
    "start_date",
    "floor_area_ratio",
    "building_coverage",
    "green_ratio",
    "office_share",
    "max_slope_deg",
    "max_flood_share",
    "source_township",
    "fostered",
    "target_quarter",
    "updated_at",
)


#: The zone codes of the bundled illustrative sample (data/shapes/weihui.gpkg): a store holding
#: only these says "示例数据 / sample data" on every page that shows it.
SAMPLE_ZONE_CODES = frozenset({"WH-CZ", "WH-HH", "WH-LP"})


def is_sample(zone_codes: set[str] | frozenset[str]) -> bool:
    """Whether the zones are the bundled sample's.

    >>> is_sample({"WH-CZ", "WH-LP"}), is_sample({"WH-CZ", "XX-1"}), is_sample(set())
    (True, False, False)
    """
    return bool(zone_codes) and set(zone_codes) <= SAMPLE_ZONE_CODES
