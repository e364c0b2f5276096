"""The facility and servicing vocabulary shared by search, the parcel sheet and the briefs.

One owner, so that a new servicing kind or distance category appears everywhere at once.
Pure data: no imports from the rest of the core (it sits with settings at the bottom layer).
"""

from __future__ import annotations

# Distance categories: (query parameter, infrastructure kinds, result column, zh, en)
DISTANCES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "rail": ("max_rail_m", ("rail_siding",), "铁路专用线", "rail siding"),
    "road": ("max_road_m", ("trunk_road", "national_road", "expressway"), "干线公路",
             "trunk road"),
    "substation": ("max_substation_m", ("substation",), "变电站", "substation"),
    "water": ("max_water_m", ("water_main",), "供水干管", "water main"),
    "gas": ("max_gas_m", ("gas_main",), "燃气干管", "gas main"),
}
# Infrastructure that is built; planned lines do not serve a parcel yet.
SERVING_STATUS = "existing"
# Servicing a parcel may have (the "七通一平" checklist: roads, water, drainage, power, gas,
# heat, telecom, and a levelled site).
SERVICES = ("road", "water", "drainage", "power", "gas", "heat", "telecom", "levelled")
