"""Routers in the order they are matched (specific paths before parameterised ones)."""

from api.routers import (
    access,
    auth,
    briefs,
    health,
    inquiries,
    listing,
    ogc,
    pages,
    parcel_actions,
    planner,
    projects,
    search,
    terrain,
    tiles,
    uploads,
    workbench,
)

ROUTERS = [
    health.router,
    auth.router,
    search.router,        # /api/parcels/available before /api/parcels/{code}/...
    briefs.router,
    listing.router,       # /api/parcels/{code}/list before the generic action route
    parcel_actions.router,
    projects.router,
    workbench.router,
    uploads.router,
    inquiries.router,
    terrain.router,
    access.router,
    tiles.router,         # /ogc/collections/{id}/tiles/... before the items routes
    ogc.router,
    planner.router,
    pages.router,
]
