"""Road-network access: drive-time areas from any point (issue #15, parkgis.geo.network)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import SyncConn
from parkgis.geo import network

router = APIRouter(tags=["access"])


@router.get(
    "/api/access/isochrones",
    summary="车程等时圈 / Drive-time areas from a point",
    description="GeoJSON polygons (largest first) of the roads a truck reaches within "
    "each number of minutes, from the point's nearest road.",
)
def isochrones(
    conn: SyncConn,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    minutes: Annotated[str, Query(max_length=40)] = "5,10,15",
) -> dict[str, Any]:
    return network.isochrones(conn, lon, lat, network.parse_minutes(minutes))
