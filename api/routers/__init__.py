"""The app's routers. Their order does not matter: paths that could shadow each other are told
apart by path converters (``api.dependencies``: ``/api/parcels/available`` is never a parcel
code), which ``tests/test_architecture.py`` checks by matching every route in both orders."""

from api.routers import (
    access,
    auth,
    briefs,
    complaints,
    health,
    indicators,
    inquiries,
    ledger,
    listing,
    ogc,
    pages,
    parcel_actions,
    pipeline,
    planner,
    projects,
    review,
    search,
    terrain,
    tiles,
    uploads,
)

ROUTERS = [
    health.router,
    auth.router,
    search.router,
    briefs.router,
    listing.router,
    parcel_actions.router,
    projects.router,
    review.router,
    indicators.router,
    pipeline.router,
    complaints.router,
    uploads.router,
    inquiries.router,
    terrain.router,
    ledger.router,
    access.router,
    tiles.router,
    ogc.router,
    planner.router,
    pages.router,
]
