"""GCJ-02 conversion against known points, round trips over Henan, and out-of-China passthrough."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Point, Polygon

from parkgis.geo.gcj02 import (
    gcj02_to_wgs84,
    geodataframe_gcj02_to_wgs84,
    geometry_gcj02_to_wgs84,
    geometry_wgs84_to_gcj02,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


def _dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_known_point_tiananmen() -> None:
    # The widely quoted pair: WGS84 (116.397428, 39.90923) -> GCJ-02 ~(116.403674, 39.910641).
    # The forward formula evaluated independently gives (116.4036716, 39.9106335).
    glon, glat = wgs84_to_gcj02(116.397428, 39.90923)
    assert _dist_m(glon, glat, 116.403674, 39.910641) < 1.0
    assert abs(glon - 116.4036716) < 1e-6 and abs(glat - 39.9106335) < 1e-6


def test_offset_near_weihui_is_hundreds_of_metres() -> None:
    glon, glat = wgs84_to_gcj02(114.065, 35.398)
    d = _dist_m(114.065, 35.398, glon, glat)
    assert 300 < d < 800


def test_round_trip_over_henan_grid() -> None:
    lon, lat = np.meshgrid(np.linspace(110.4, 116.6, 40), np.linspace(31.4, 36.3, 40))
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    err = _dist_m(lon.ravel(), lat.ravel(), wlon.ravel(), wlat.ravel())
    assert err.max() < 0.5
    assert err.max() < 0.001  # in practice the iteration converges to well under a millimetre


def test_inverse_then_forward_reproduces_gcj() -> None:
    glon, glat = np.array([114.07, 113.9]), np.array([35.40, 35.3])
    flon, flat = wgs84_to_gcj02(*gcj02_to_wgs84(glon, glat))
    assert _dist_m(glon, glat, flon, flat).max() < 0.001


@pytest.mark.parametrize("lon,lat", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (139.0, 60.0)])
def test_out_of_china_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_geometry_helpers_keep_structure() -> None:
    shell = [(114.0, 35.3), (114.1, 35.3), (114.1, 35.4), (114.0, 35.4)]
    hole = [(114.04, 35.34), (114.06, 35.34), (114.06, 35.36), (114.04, 35.36)]
    poly = Polygon(shell, [hole])
    g = geometry_wgs84_to_gcj02(poly)
    assert len(g.interiors) == 1 and g.is_valid
    back = geometry_gcj02_to_wgs84(g)
    assert back.symmetric_difference(poly).area < 1e-14


def test_geodataframe_helper() -> None:
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(114.07, 35.40)], crs="EPSG:4326")
    out = geodataframe_gcj02_to_wgs84(gdf)
    assert out.crs.to_epsg() == 4490
    p = out.geometry.iloc[0]
    assert 300 < _dist_m(114.07, 35.40, p.x, p.y) < 800
    assert gdf.geometry.iloc[0].x == 114.07  # input untouched
