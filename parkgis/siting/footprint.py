"""Does an L × W rectangle (a plant's footprint) fit inside a site, at some rotation, and where?

Pure shapely/numpy; no database. Coordinates must be projected, in metres (the zone's
Gauss-Krüger CRS, EPSG:4547 for Weihui).

Method
------
For a fixed orientation θ the question is exact: rotate the site by −θ so the rectangle is
axis-aligned; the centres ``c`` at which ``c + R`` lies inside the site ``P`` are

    C(θ) = P \\ ⋃_{edges e of P} (e ⊕ R)

because ``c + R`` (connected) stays inside ``P`` exactly when ``c`` is in ``P`` and ``c + R``
meets no boundary edge, and ``e ⊕ R`` (a segment swept by a rectangle) is the convex hull of
the segment's end points moved to the rectangle's four corners. This holds for concave sites
and sites with holes (their rings are edges like any other); no buffer approximation is used.

Over orientations the search is a branch and bound on the angle. Rotating a rectangle of
half-diagonal ``r`` by ``φ`` about its centre moves no point more than ``r·φ``; so if the full
rectangle fits at θ*, the rectangle shrunk by ``r·δ/2`` on every side fits at any sampled angle
within ``δ/2`` of θ*. Sampling at step δ with that shrink never loses a fitting orientation;
angles that pass are refined at δ/2 until the shrink falls to t/√2 (a rectangle shrunk by s
that fits puts the full one at most s·√2 outside the site, at its corners).

Guarantees (``tolerance`` t, default 0.1 m):

* complete: if an L × W rectangle fits inside the site anywhere at any angle, a placement is
  returned;
* sound within t: a returned rectangle is exactly L × W and lies inside the site grown by t
  (``site.buffer(t).contains(rect)``); ``Placement.exact`` says whether it lies inside the site
  itself. 0.1 m is below the precision of cadastral boundaries.

What is *drawn* is :func:`drawn` of the placement: inside the site itself, 5 mm clear of its
boundary (the verdict is unchanged).

Orientation tests. On a convex site the free centres at one angle are the site's half-planes,
each moved in by the rectangle's support, clipped in pure Python (microseconds, no overlay);
any other site is first tested the same way against its convex hull (a reject there is a
reject), and only then by the overlay below, sweeping only the edges not on the hull (those
on it bound the hull's free centres already).

Fast path: a site that is a rectangle A × B (its area equals its minimum rotated rectangle's)
holds an L × W footprint flush with its sides when L ≤ A and W ≤ B; that placement is returned
at once after an exact containment check. When L > A, Carver's closed-form condition decides
whether the footprint (shrunk by the tolerance) can fit tilted at all; if not, the answer is
"no" at once; if so, and for near-rectangles, the general search below runs.

Angles tried first: every edge direction of the site (the rectangle's long or short side along
the edge) and the minimum rotated rectangle, so rectangles flush with a site edge are found at
once. Quick accepts and rejects: area, width of the convex hull (the rectangle's width W must
not exceed the site's minimum width), and the maximum inscribed circle (a circle of radius
≥ r holds the rectangle at any angle; one smaller than W/2 holds it at none).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

#: Default tolerance in metres (see the module docstring).
TOLERANCE_M = 0.1
#: Clearance (m) a drawn footprint keeps from its site's boundary (:func:`drawn`): more than
#: the ~1 mm the lon/lat transform and the API's 1e-8° rounding may move a corner.
MARGIN_M = 0.005
#: First sweep step in degrees; refined by halving.
COARSE_STEP_DEG = 2.0
#: Sites with more edges than this are swept edge by edge without telling hull edges apart
#: (the test is an edges × vertices array).
MAX_POCKET_SCAN = 400
#: A ceiling on orientation tests for one site, so a pathological site cannot stall a ranking.
MAX_TESTS = 1500
#: A site whose area is its minimum rotated rectangle's to this relative tolerance is taken
#: for that rectangle by the fast path (which still checks its placement exactly).
RECTANGLE_RTOL = 1e-9


class FitTimeout(Exception):
    """The time budget (``deadline``) ran out before the footprint was decided either way."""


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise FitTimeout


@dataclass(frozen=True)
class Placement:
    """Where the footprint goes.

    Attributes
    ----------
    geometry : Polygon
        The placed L × W rectangle, in the site's CRS.
    angle_deg : float
        Direction of the long side, degrees anticlockwise from grid east, in [0, 180).
    centre : tuple of float
        The rectangle's centre, in the site's CRS.
    exact : bool
        True when the rectangle lies inside the site; False when it only lies inside the
        site grown by the tolerance.
    """

    geometry: Polygon
    angle_deg: float
    centre: tuple[float, float]
    exact: bool


def _rings(poly: Polygon) -> list[np.ndarray]:
    return [np.asarray(poly.exterior.coords)[:, :2]] + [
        np.asarray(r.coords)[:, :2] for r in poly.interiors
    ]


class _Site:
    """One connected site, translated to its centroid for numerical stability."""

    def __init__(self, poly: Polygon) -> None:
        c = poly.centroid
        self.origin = np.array([c.x, c.y])
        self.poly = _translate(poly, -self.origin)
        rings = _rings(self.poly)
        self.p = np.concatenate([r[:-1] for r in rings])
        self.q = np.concatenate([r[1:] for r in rings])
        keep = np.any(self.p != self.q, axis=1)
        self.p, self.q = self.p[keep], self.q[keep]
        self.area = self.poly.area
        self.tests = 0
        # A convex site is its own hull: the free centres are an intersection of half-planes,
        # clipped in microseconds. Any other site is first tested against its hull's, which
        # holds every rectangle the site holds (a sound reject, never an accept).
        self.convex = _half_planes(self.poly) if not self.poly.interiors else None
        self.hull = self.convex if self.convex is not None else _hull_half_planes(self.poly)
        # Edges on the hull's boundary bound the hull's free centres already; only the others
        # (pockets, holes) cut into them. A hole's edge never qualifies: its line crosses the
        # site, with vertices on both sides.
        self.pocket = np.ones(len(self.p), dtype=bool)
        if self.convex is None and self.hull is not None and len(self.p) <= MAX_POCKET_SCAN:
            d = self.q - self.p
            v = self.p
            cross = d[:, None, 0] * (v[None, :, 1] - self.p[:, None, 1]) - d[:, None, 1] * (
                v[None, :, 0] - self.p[:, None, 0]
            )
            on_hull = np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)
            self.pocket = ~on_hull

    def edge_angles(self) -> np.ndarray:
        d = self.q - self.p
        return np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180.0

    def centres(self, angle_deg: float, a: float, b: float) -> BaseGeometry | None:
        """Valid centres (rotated frame) for an axis-aligned rectangle of half-sides a, b
        after rotating the site by −angle; None when there are none."""
        self.tests += 1
        t = math.radians(angle_deg)
        cos, sin = math.cos(t), math.sin(t)
        region = None
        if self.hull is not None:
            region = _clip_half_planes(self.hull, cos, sin, a, b)
            if region is None or self.convex is not None:
                return region
        rot = np.array([[cos, -sin], [sin, cos]])  # row-vector form of a rotation by −t
        site = _rotate_coords(self.poly, rot)
        p, q = self.p[self.pocket] @ rot, self.q[self.pocket] @ rot
        corners = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
        pts = np.concatenate([p[:, None, :] + corners, q[:, None, :] + corners], axis=1)
        hulls = shapely.convex_hull(shapely.multipoints(pts))
        if region is not None:
            # C = (H(hull) minus the pocket edges' sweeps) ∩ P: the hull edges' sweeps only
            # touch H's boundary. H is small and convex: sweeps are taken off one by one,
            # largest first, and most rejects end before the last.
            free = region
            for k in np.argsort(-shapely.area(hulls)):
                free = free.difference(hulls[k])
                if free.is_empty or free.area <= 0.0:
                    return None
            free = free.intersection(site)
        else:
            free = site.difference(shapely.union_all(hulls))
        if free.is_empty or free.area <= 0.0:
            return None
        return free


#: Half-planes ``n·x ≤ h`` of a convex polygon: unit outward normals (m × 2), offsets (m),
#: and a radius about the origin that the polygon lies within.
_Planes = tuple[np.ndarray, np.ndarray, float]


def _half_planes(poly: Polygon) -> _Planes | None:
    """The half-planes of ``poly`` when it is convex (no hole, no reflex vertex), else None.

    A vertex counts as reflex when its turn is clockwise by more than 1e-12 of the product
    of its edges' lengths (a notch under a nanometre deep at parcel scale); the drawn
    footprint is checked against the site itself afterwards in any case.
    """
    ring = np.asarray(shapely.orient_polygons(poly).exterior.coords)[:, :2]  # CCW
    d = np.diff(ring, axis=0)
    n = np.hypot(d[:, 0], d[:, 1])
    keep = n > 0
    d, n, start = d[keep], n[keep], ring[:-1][keep]
    if len(d) < 3:
        return None
    nxt = np.roll(d, -1, axis=0)
    cross = d[:, 0] * nxt[:, 1] - d[:, 1] * nxt[:, 0]
    if np.any(cross < -1e-12 * n * np.roll(n, -1)):
        return None
    normals = np.column_stack([d[:, 1], -d[:, 0]]) / n[:, None]  # outward for a CCW ring
    radius = float(np.max(np.hypot(start[:, 0], start[:, 1]))) + 1.0
    return normals, np.einsum("ij,ij->i", normals, start), radius


def _hull_half_planes(poly: Polygon) -> _Planes | None:
    hull = shapely.convex_hull(poly)
    return _half_planes(hull) if isinstance(hull, Polygon) else None


def _clip_half_planes(
    planes: _Planes, cos: float, sin: float, a: float, b: float
) -> Polygon | None:
    """Centres (frame rotated by −t, as :meth:`_Site.centres`) of an axis-aligned a × b
    half-sided rectangle inside the convex polygon ``planes``: each half-plane ``n·x ≤ h``
    moved in by the rectangle's support ``a|n'x| + b|n'y|`` (n' the rotated normal), the
    intersection clipped from a box (Sutherland–Hodgman). None when empty or of no area,
    like the overlay it replaces."""
    normals, offsets, big = planes
    nx = normals[:, 0] * cos + normals[:, 1] * sin
    ny = -normals[:, 0] * sin + normals[:, 1] * cos
    hs = offsets - a * np.abs(nx) - b * np.abs(ny)
    pts = [(-big, -big), (big, -big), (big, big), (-big, big)]
    for ux, uy, h in zip(nx.tolist(), ny.tolist(), hs.tolist(), strict=True):
        out = []
        prev = pts[-1]
        fp = ux * prev[0] + uy * prev[1] - h
        for cur in pts:
            fc = ux * cur[0] + uy * cur[1] - h
            if fc <= 0:
                if fp > 0:
                    k = fp / (fp - fc)
                    out.append((prev[0] + k * (cur[0] - prev[0]), prev[1] + k * (cur[1] - prev[1])))
                out.append(cur)
            elif fp <= 0:
                k = fp / (fp - fc)
                out.append((prev[0] + k * (cur[0] - prev[0]), prev[1] + k * (cur[1] - prev[1])))
            prev, fp = cur, fc
        if len(out) < 3:
            return None
        pts = out
    region = Polygon(pts)
    if region.area <= 0.0:
        return None
    return region


def _translate(poly: Polygon, d: np.ndarray) -> Polygon:
    return shapely.transform(poly, lambda xy: xy + d)


def _rotate_coords(poly: Polygon, rot: np.ndarray) -> Polygon:
    return shapely.transform(poly, lambda xy: xy @ rot)


def _place(
    site: _Site, angle_deg: float, free: BaseGeometry, length: float, width: float
) -> Placement:
    """Put the full rectangle at a deep point of the free region and rotate back."""
    pt = free.centroid
    if not free.contains(pt):
        pt = free.point_on_surface()
    a, b = length / 2, width / 2
    rect = shapely.box(pt.x - a, pt.y - b, pt.x + a, pt.y + b)
    t = math.radians(angle_deg)
    back = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    rect_local = _rotate_coords(rect, back)
    exact = bool(site.poly.covers(rect_local))
    rect_world = _translate(rect_local, site.origin)
    cx, cy = rect_world.centroid.x, rect_world.centroid.y
    return Placement(rect_world, angle_deg % 180.0, (cx, cy), exact)


def _hull_min_width(poly: Polygon) -> float:
    """Minimum width of the convex hull, by rotating callipers: O(n log n) for the hull, O(h)
    after it.

    For every hull edge the farthest hull vertex (its antipode) is the one whose outward
    normal cone contains the edge's inward normal; the edges' normal angles increase round a
    counter-clockwise hull, so one ``searchsorted`` finds every antipode at once. Its two
    neighbours are measured too, so a tie lost to rounding in the angles cannot pick the
    wrong vertex. (Projecting every vertex on every edge normal was an h × h array: 2.3 GB
    for a 15,000-vertex parcel.)
    """
    hull = shapely.convex_hull(poly)
    if not isinstance(hull, Polygon):
        return 0.0  # a point or a segment: no area, no width
    ring = np.asarray(shapely.orient_polygons(hull).exterior.coords)[:, :2]  # CCW
    pts = ring[:-1]
    d = np.diff(ring, axis=0)
    n = np.hypot(d[:, 0], d[:, 1])
    keep = n > 0
    pts, d, n = pts[keep], d[keep], n[keep]
    h = len(pts)
    if h < 3:
        return 0.0
    # Counter-clockwise ring: the inward normal of edge i is its direction turned left.
    inward = np.stack([-d[:, 1], d[:, 0]], axis=1) / n[:, None]
    # Outward normal angle of edge i, unwrapped so it increases from edge 0.
    out_ang = np.unwrap(np.arctan2(-inward[:, 1], -inward[:, 0]))
    # Vertex i + 1 is extreme for outward directions between the normals of edges i and i+1;
    # the antipode of edge i is extreme in the direction of its inward normal (out_ang + π).
    query = (out_ang + np.pi - out_ang[0]) % (2 * np.pi) + out_ang[0]
    j = np.searchsorted(out_ang, query) % h
    best = np.zeros(h)
    for k in (-1, 0, 1):
        v = pts[(j + k) % h]
        best = np.maximum(best, np.einsum("ij,ij->i", v - pts, inward))
    return float(best.min())


def _diameter_bound(poly: Polygon) -> float:
    """An upper bound of the site's diameter: the diagonal of its minimum rotated rectangle
    (every chord of the site lies inside that rectangle). O(n log n).

    >>> round(_diameter_bound(Polygon([(0, 0), (30, 0), (30, 40), (0, 40)])), 6)
    50.0
    """
    mrr = shapely.oriented_envelope(poly)
    xs, ys = mrr.exterior.xy if isinstance(mrr, Polygon) else mrr.xy
    return max(
        math.hypot(x1 - x0, y1 - y0)
        for x0, y0 in zip(xs, ys, strict=True)
        for x1, y1 in zip(xs, ys, strict=True)
    )


def _fits_in_rectangle(p: float, q: float, a: float, b: float) -> bool:
    """Whether a p × q rectangle fits in an a × b one at some angle (p ≥ q, a ≥ b).

    Carver's condition (1956): p ≤ a and q ≤ b, or p > a, q ≤ b and
    ((a + b)/(p + q))² + ((a − b)/(p − q))² ≥ 2 (a long, thin rectangle laid diagonally).
    """
    if q > b:
        return False
    if p <= a:
        return True
    return ((a + b) / (p + q)) ** 2 + ((a - b) / (p - q)) ** 2 >= 2.0


#: The fast path's "no placement exists" (distinct from None: "undecided").
_NO_FIT = object()


def _rectangle_fit(
    poly: Polygon, length: float, width: float, tolerance: float
) -> Placement | object | None:
    """Fast path for a site that is a rectangle (its own minimum rotated rectangle A × B).

    An L × W footprint with L ≤ A and W ≤ B fits flush with the sides, centred: no sweep and
    no inscribed circle needed. The orientation mirrors the general search's (the long side
    along the site's long side, unless the footprint also fits across and that edge
    direction comes first). When even the footprint shrunk by the tolerance fits at no
    angle (Carver's condition), nothing can be placed: ``_NO_FIT`` — the general search,
    which only accepts rectangles shrunk by less, would find nothing either. Returns None —
    undecided, use the general search — for anything else: holes, a site that is not a
    rectangle to 1e-9 in area, a footprint fitting only tilted, or a flush placement not
    exactly inside the site (rounding).
    """
    if poly.interiors:
        return None
    # Measured about the centroid: far from the origin (GK eastings ~5e5 m) the envelope's
    # direction loses digits.
    c = poly.centroid
    origin = np.array([c.x, c.y])
    local = _translate(poly, -origin)
    mrr = shapely.oriented_envelope(local)
    if not isinstance(mrr, Polygon) or local.area < mrr.area * (1 - RECTANGLE_RTOL):
        return None
    xy = np.asarray(mrr.exterior.coords)[:4, :2] + origin
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    s1, s2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    along, side_a, side_b = (e1, s1, s2) if s1 >= s2 else (e2, s2, s1)
    if length > side_a or width > side_b:
        shrunk_l, shrunk_w = length - 2 * tolerance, width - 2 * tolerance
        if shrunk_w > 0 and not _fits_in_rectangle(shrunk_l, shrunk_w, side_a, side_b):
            return _NO_FIT
        return None
    theta = round(math.degrees(math.atan2(along[1], along[0])) % 180.0, 6) % 180.0
    angle = theta
    # The general search takes a roomy site's inscribed circle at the long-side angle,
    # otherwise the first edge direction (ascending) that holds the footprint.
    if side_b < math.hypot(length, width) and length <= side_b:
        angle = min(theta, (theta + 90.0) % 180.0)
    cx, cy = (float(v) for v in xy.mean(axis=0))
    a, b = length / 2, width / 2
    rect = _rotate_about(shapely.box(cx - a, cy - b, cx + a, cy + b), math.radians(angle), cx, cy)
    if not poly.covers(rect):
        return None  # rounding at an edge, or a sliver notch the area test cannot see
    return Placement(rect, angle, (cx, cy), True)


def _fit_part(
    poly: Polygon,
    length: float,
    width: float,
    tolerance: float,
    coarse_step: float,
    max_tests: int,
    fast_path: bool = True,
    deadline: float | None = None,
) -> Placement | None:
    """Long because the search's phases (quick accept, angle scan, refine) share their state."""
    r = math.hypot(length, width) / 2
    if poly.area + 2 * tolerance * (length + width) < length * width:
        return None
    if too_long_for(poly.bounds, length, width, tolerance):
        return None
    if _hull_min_width(poly) + 2 * tolerance < width:
        return None
    if 2 * r > _diameter_bound(poly) + 2 * tolerance:
        # A long thin footprint passes the area and width tests on most sites and then cost
        # the whole angular search on each (an anonymous 3000 x 10 m match ran out the 10 s
        # budget); its diagonal cannot exceed the site's diameter.
        return None
    if fast_path:
        found = _rectangle_fit(poly, length, width, tolerance)
        if found is _NO_FIT:
            return None
        if found is not None:
            return found
    site = _Site(poly)

    # Maximum inscribed circle: bounds both ways. shapely's tolerance is on the radius.
    mic_tol = max(tolerance, width * 0.01)
    mic = shapely.maximum_inscribed_circle(site.poly, mic_tol)
    radius = mic.length
    if radius + mic_tol + tolerance < width / 2:
        return None
    if radius >= r:
        cx, cy = mic.coords[0]
        mrr_angle = _mrr_angle(site.poly)
        a, b = length / 2, width / 2
        rect = _rotate_about(
            shapely.box(cx - a, cy - b, cx + a, cy + b), math.radians(mrr_angle), cx, cy
        )
        return Placement(
            _translate(rect, site.origin),
            mrr_angle,
            (cx + site.origin[0], cy + site.origin[1]),
            True,
        )

    # A rectangle shrunk by s on every side that fits puts the full one at most s·√2 (at the
    # corners) outside the site: accept at s = t/√2.
    accept = tolerance / math.sqrt(2)
    a0, b0 = length / 2 - accept, width / 2 - accept
    # 1. Orientations flush with the site's edges or its minimum rotated rectangle.
    seeds = np.concatenate([site.edge_angles(), [_mrr_angle(site.poly)]])
    seeds = np.unique(np.round(np.concatenate([seeds, seeds + 90.0]) % 180.0, 6))
    for ang in seeds:
        _check_deadline(deadline)
        free = site.centres(float(ang), a0, b0)
        if free is not None:
            return _place(site, float(ang), free, length, width)

    # 2. Branch and bound over the angle (see module docstring for why this loses nothing).
    step = coarse_step
    angles = np.arange(0.0, 180.0, step)
    while len(angles):
        shrink = r * math.radians(step) / 2
        final = shrink <= accept
        s = shrink
        promising = []
        for ang in angles:
            if site.tests >= max_tests:
                return None
            _check_deadline(deadline)
            free = site.centres(float(ang), max(length / 2 - s, 0.0), max(width / 2 - s, 0.0))
            if free is None:
                continue
            # Good enough already? (the full rectangle shrunk only by the tolerance)
            if final:
                return _place(site, float(ang), free, length, width)
            exact_free = site.centres(float(ang), a0, b0)
            if exact_free is not None:
                return _place(site, float(ang), exact_free, length, width)
            promising.append((free.area, ang))
        if final:
            return None
        step /= 2
        # Roomiest orientations first: a fitting rectangle is met sooner, nothing is skipped.
        promising.sort(key=lambda t: -t[0])
        angles = np.array([x + d for _, x in promising for d in (-step / 2, step / 2)]) % 180.0
    return None


def _rotate_about(geom: Polygon, t: float, cx: float, cy: float) -> Polygon:
    c, s = math.cos(t), math.sin(t)
    rot = np.array([[c, s], [-s, c]])
    return shapely.transform(geom, lambda xy: (xy - (cx, cy)) @ rot + (cx, cy))


def _mrr_angle(poly: Polygon) -> float:
    """Direction (deg, [0, 180)) of the long side of the minimum rotated rectangle."""
    mrr = poly.minimum_rotated_rectangle
    xy = np.asarray(mrr.exterior.coords)
    if len(xy) < 4:
        return 0.0
    d1, d2 = xy[1] - xy[0], xy[2] - xy[1]
    d = d1 if np.hypot(*d1) >= np.hypot(*d2) else d2
    return float(math.degrees(math.atan2(d[1], d[0])) % 180.0)


def fit_rectangle(
    site: BaseGeometry,
    length: float,
    width: float,
    *,
    tolerance: float = TOLERANCE_M,
    coarse_step_deg: float = COARSE_STEP_DEG,
    max_tests: int = MAX_TESTS,
    fast_path: bool = True,
    deadline: float | None = None,
) -> Placement | None:
    """Place a length × width rectangle inside a site at some rotation.

    Parameters
    ----------
    site : Polygon or MultiPolygon
        The site in a projected CRS (metres); may be concave and have holes. A rectangle
        cannot straddle two parts of a MultiPolygon; parts are tried largest first.
    length, width : float
        Rectangle sides in metres (order does not matter).
    tolerance : float, default 0.1
        Metres; see the module docstring for what it guarantees.
    coarse_step_deg : float, default 2.0
        First angular sweep step; only speed depends on it, not the result.
    max_tests : int, default 1500
        Orientation tests allowed per part. Only a site that the rectangle misses (or fits)
        by a hair at nearly every angle — a near-circle just smaller than the rectangle's
        diagonal — exhausts it; then None is returned (not proven to fit).
    fast_path : bool, default True
        Decide rectangular sites holding the footprint flush with their sides without the
        angular search (same answer; False forces the general search, for cross-checks).
    deadline : float, optional
        A ``time.monotonic()`` instant: past it, :class:`FitTimeout` is raised before the
        next orientation test (the quick accepts and rejects still answer). A test costs
        O(n) in the site's vertices, so the overrun is one test.

    Returns
    -------
    Placement or None
        None when the rectangle does not fit.
    """
    if length <= 0 or width <= 0:
        raise ValueError("footprint sides must be positive")
    length, width = max(length, width), min(length, width)
    if site is None or site.is_empty:
        return None
    if isinstance(site, Polygon):
        parts: Sequence[Polygon] = [site]
    elif isinstance(site, MultiPolygon):
        parts = sorted(site.geoms, key=lambda g: -g.area)
    else:
        polys = [g for g in getattr(site, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
        if not polys:
            return None
        return fit_rectangle(
            shapely.union_all(polys),
            length,
            width,
            tolerance=tolerance,
            coarse_step_deg=coarse_step_deg,
            max_tests=max_tests,
            fast_path=fast_path,
            deadline=deadline,
        )
    for part in parts:
        if part.area + 2 * tolerance * (length + width) < length * width:
            break  # parts are sorted by area: none of the rest can hold it either
        found = _fit_part(
            part, length, width, tolerance, coarse_step_deg, max_tests, fast_path, deadline
        )
        if found is not None:
            return found
    return None


def drawn(site: BaseGeometry, placement: Placement, margin: float = MARGIN_M) -> Placement:
    """The placement as drawn for a reader: inside the site, clear of its boundary by ``margin``.

    :func:`fit_rectangle` decides within its tolerance, so the rectangle it returns may touch
    the boundary or cross it by up to ``tolerance`` (a correct "fits" on a site that holds
    the footprint to the centimetre). A drawing must not show a building a few centimetres on
    a neighbour's land, and must stay inside after the transform to lon/lat and the 1e-8°
    (~1 mm) rounding served by the API. So, at the same angle:

    1. the rectangle as found, when it already clears the boundary by ``margin``;
    2. else the full L × W rectangle at a deep point of the centres that clear it by
       ``margin`` (the rectangle grown by the margin fits there), when there are any;
    3. else (the site holds it only within the tolerance, or with no slack at all) the same
       rectangle pulled in on every side by the least amount that clears the boundary (found
       by bisection to 1 µm): the drawing is then up to ``tolerance`` + ``margin`` short on
       each side, and ``exact`` is False.

    The verdict (fits or not) is not changed by the drawing.
    """
    rect = placement.geometry
    parts = list(site.geoms) if isinstance(site, MultiPolygon) else [site]
    part = max(parts, key=lambda g: g.intersection(rect).area)
    if _clear(part, rect, margin):
        return placement
    xy = np.asarray(rect.exterior.coords)[:4, :2]
    sides = sorted([float(np.hypot(*(xy[1] - xy[0]))), float(np.hypot(*(xy[2] - xy[1])))])
    width, length = sides
    if isinstance(part, Polygon):
        local = _Site(part)
        free = local.centres(placement.angle_deg, length / 2 + margin, width / 2 + margin)
        if free is not None:
            moved = _place(local, placement.angle_deg, free, length, width)
            if _clear(part, moved.geometry, margin):
                return Placement(moved.geometry, placement.angle_deg, moved.centre, True)
    cx, cy = placement.centre
    t = math.radians(placement.angle_deg)

    def pulled_in(d: float) -> Polygon:
        a, b = length / 2 - d, width / 2 - d
        return _rotate_about(shapely.box(cx - a, cy - b, cx + a, cy + b), t, cx, cy)

    cap = width / 2 * (1 - 1e-9)  # a sliver of the rectangle at most
    lo, hi = 0.0, min(2 * (TOLERANCE_M + margin), cap)
    while not _clear(part, pulled_in(hi), margin):
        if hi >= cap:
            return placement  # nothing of it clears the boundary: keep the verdict's witness
        hi = min(2 * hi, cap)
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _clear(part, pulled_in(mid), margin) else (mid, hi)
    return Placement(pulled_in(hi), placement.angle_deg, (cx, cy), False)


def _clear(part: BaseGeometry, rect: Polygon, margin: float) -> bool:
    return bool(part.contains(rect)) and rect.exterior.distance(part.boundary) >= margin


def fits(site: BaseGeometry, length: float, width: float, **kw: float) -> bool:
    """True when :func:`fit_rectangle` finds a placement."""
    return fit_rectangle(site, length, width, **kw) is not None


#: Survey slivers up to this wide (m) are closed between adjacent parcels (:func:`close_gaps`).
CLOSE_GAP_M = 0.25
#: The closing's mitre limit: a mitred corner reaches at most this many gaps from the parcels.
CLOSE_MITRE_LIMIT = 10.0


def close_gaps(geoms: Sequence[BaseGeometry], gap: float = CLOSE_GAP_M) -> BaseGeometry:
    """Union of adjacent parcels with survey slivers up to ``gap`` metres wide closed.

    Neighbouring parcels digitised separately rarely share coordinates exactly; a
    closing (grow then shrink, mitred so corners stay square) removes the hairline gaps that
    would otherwise cut a footprint in two, and moves no outer boundary.
    """
    u = shapely.union_all(list(geoms))
    return u.buffer(gap, join_style="mitre", mitre_limit=CLOSE_MITRE_LIMIT).buffer(
        -gap, join_style="mitre", mitre_limit=CLOSE_MITRE_LIMIT
    )


def closed_bounds(
    bounds: Sequence[tuple[float, float, float, float]], gap: float = CLOSE_GAP_M
) -> tuple[float, float, float, float]:
    """Bounds holding :func:`close_gaps` of parcels with these bounds, without the union:
    the grow step reaches at most the mitre limit times ``gap`` from the parcels, and the
    shrink step only takes away.

    >>> closed_bounds([(0, 0, 10, 10), (10, 0, 30, 5)])
    (-2.5, -2.5, 32.5, 12.5)
    """
    reach = CLOSE_MITRE_LIMIT * gap
    return (
        min(b[0] for b in bounds) - reach,
        min(b[1] for b in bounds) - reach,
        max(b[2] for b in bounds) + reach,
        max(b[3] for b in bounds) + reach,
    )


def too_long_for(
    bounds: tuple[float, float, float, float],
    length: float,
    width: float,
    tolerance: float = TOLERANCE_M,
) -> bool:
    """Whether a ``length`` × ``width`` rectangle fits in no site within ``bounds`` (minx,
    miny, maxx, maxy): its diagonal is longer than the bounds' diagonal, which no chord of
    the site exceeds. O(1) — what a 3000 × 10 m warehouse meets on nearly every site, before
    any hull or union is built. Same tolerance as :func:`fit_rectangle`.

    >>> too_long_for((0, 0, 30, 40), 60, 10)
    True
    >>> too_long_for((0, 0, 30, 40), 40, 10)
    False
    """
    diag = math.hypot(bounds[2] - bounds[0], bounds[3] - bounds[1])
    return math.hypot(length, width) > diag + 2 * tolerance
