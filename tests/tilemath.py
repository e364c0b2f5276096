"""Web Mercator tile maths for the tests, independent of :mod:`parkgis.publish.tiles`.

Projects with pyproj (EPSG:3857) and counts tiles from the projected extent, so a mistake in
the product's own formula (a sign, a log base, an off-by-one) is not repeated here.
CGCS2000 lon/lat is taken as WGS84, as the product does (a few centimetres apart).
"""

from __future__ import annotations

import math

from pyproj import Transformer

HALF_WORLD_M = math.pi * 6378137.0  # half the width of the EPSG:3857 world square
MVT_EXTENT = 4096  # the Mapbox Vector Tile default extent the API documents
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)


def _fraction(lon: float, lat: float, z: int) -> tuple[float, float]:
    x_m, y_m = _TO_3857.transform(lon, lat)
    n = 2**z
    width = 2 * HALF_WORLD_M
    return (x_m + HALF_WORLD_M) / width * n, (HALF_WORLD_M - y_m) / width * n


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the WebMercatorQuad tile holding the point at zoom ``z`` (y down)."""
    fx, fy = _fraction(lon, lat, z)
    return math.floor(fx), math.floor(fy)


def pixel_in(
    lon: float, lat: float, z: int, x: int, y: int, extent: int = MVT_EXTENT
) -> tuple[float, float]:
    """The point in tile (z, x, y)'s MVT coordinates (0..extent, y down)."""
    fx, fy = _fraction(lon, lat, z)
    return (fx - x) * extent, (fy - y) * extent
