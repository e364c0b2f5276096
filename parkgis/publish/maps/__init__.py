"""Folium map builders (investor map; shared styling for the planner and the briefs).

Importing this package points Folium's class-level asset addresses at our vendored copies,
see :mod:`parkgis.publish.maps.assets`.
"""

from parkgis.publish.maps import assets

assets.patch_folium_classes()

__all__ = ["assets"]
