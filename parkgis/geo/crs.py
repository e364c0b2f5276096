"""The coordinate reference systems the OGC API serves (OGC API – Features Part 2).

Storage is CGCS2000 lon/lat (EPSG:4490). CRS84 and EPSG:4490 share the datum to a few
centimetres, so CRS84 output is the stored coordinates as they are; EPSG:4490 is the same
numbers in its *authority* axis order, latitude first, as Part 2 requires (``crs=EPSG:4490``
asked by a client that means lon/lat is the classic mistake; we follow the standard).
EPSG:4547 (CGCS2000 / 3-degree GK CM 114E) is northing-first in the EPSG register too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from parkgis.errors import InvalidInput

STORE_SRID = 4490
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    # True when the CRS's first axis is northing/latitude (EPSG:4490, EPSG:4547).
    north_first: bool
    geographic: bool
    # Decimal places worth sending: ~1 cm either way.
    decimals: int


CRS_LIST: tuple[Crs, ...] = (
    Crs(CRS84, STORE_SRID, north_first=False, geographic=True, decimals=8),
    Crs(_EPSG + "4490", STORE_SRID, north_first=True, geographic=True, decimals=8),
    Crs(_EPSG + "4547", 4547, north_first=True, geographic=False, decimals=3),
    Crs(_EPSG + "3857", 3857, north_first=False, geographic=False, decimals=3),
)
BY_URI = {c.uri: c for c in CRS_LIST}
DEFAULT = BY_URI[CRS84]
STORAGE = BY_URI[_EPSG + "4490"]

# Short spellings clients use; each maps to exactly one URI above.
_ALIASES = {
    "CRS84": CRS84,
    "OGC:CRS84": CRS84,
    "[OGC:CRS84]": CRS84,
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84/": CRS84,
    **{f"EPSG:{n}": _EPSG + n for n in ("4490", "4547", "3857")},
    **{f"[EPSG:{n}]": _EPSG + n for n in ("4490", "4547", "3857")},
}


def resolve(value: str | None, param: str) -> Crs:
    """The CRS named by a ``crs``/``bbox-crs``/``filter-crs`` value.

    Parameters
    ----------
    value : str or None
        A CRS URI (or a short alias such as ``EPSG:4547``); None means CRS84.
    param : str
        The query parameter name, for the error message.

    Returns
    -------
    Crs

    Raises
    ------
    InvalidInput
        For a CRS this API does not serve.
    """
    if value is None:
        return DEFAULT
    v = value.strip()
    crs = BY_URI.get(_ALIASES.get(v, v))
    if crs is None:
        raise InvalidInput(
            f"{param}: 不支持的坐标参考系 / unsupported CRS {value!r}; "
            f"supported: {', '.join(c.uri for c in CRS_LIST)}"
        )
    return crs


@dataclass(frozen=True)
class BBox:
    """A validated bounding box: ``x`` east, ``y`` north, in ``crs`` units whatever the CRS's
    axis order. In a geographic CRS ``x1 > x2`` means it crosses the antimeridian."""

    x1: float
    y1: float
    x2: float
    y2: float
    crs: Crs = DEFAULT

    @property
    def crosses_antimeridian(self) -> bool:
        return self.crs.geographic and self.x1 > self.x2


def parse_bbox(value: str, bbox_crs: Crs = DEFAULT, param: str = "bbox") -> BBox:
    """The one bbox parser (OGC API, planner layer): 4 or 6 numbers in ``bbox_crs`` axis order.

    >>> parse_bbox("113.9,35.3,114.2,35.5")  # doctest: +ELLIPSIS
    BBox(x1=113.9, y1=35.3, x2=114.2, y2=35.5, crs=...)
    >>> b = parse_bbox("35.3,113.9,35.5,114.2", resolve("EPSG:4490", "bbox-crs"))
    >>> (b.x1, b.y1, b.x2, b.y2)
    (113.9, 35.3, 114.2, 35.5)
    >>> parse_bbox("170,-10,0,-170,10,5").crosses_antimeridian  # 6 numbers: with heights
    True
    >>> parse_bbox("1,2,3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    parkgis.errors.InvalidInput: bbox: 需要 4 个（或 6 个）数 / needs 4 (or 6) ...
    """
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise InvalidInput(
            f"{param}: 需要 4 个（或 6 个）数 / needs 4 (or 6) comma-separated numbers", param=param
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidInput(f"{param}: 不是数字 / not numbers: {value!r}", param=param) from exc
    if not all(math.isfinite(n) for n in nums):
        raise InvalidInput(f"{param}: 数值无效 / non-finite number", param=param)
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    a1, b1, a2, b2 = nums
    # (x = east, y = north) whatever order the CRS writes them in.
    x1, y1, x2, y2 = (b1, a1, b2, a2) if bbox_crs.north_first else (a1, b1, a2, b2)
    if y1 > y2:
        raise InvalidInput(
            f"{param}: 南边界大于北边界 / lower bound exceeds upper bound", param=param
        )
    if bbox_crs.geographic:
        if not (-90 <= y1 <= 90 and -90 <= y2 <= 90):
            raise InvalidInput(f"{param}: 纬度超出 ±90 / latitude out of range", param=param)
        if not (-180 <= x1 <= 180 and -180 <= x2 <= 180):
            raise InvalidInput(f"{param}: 经度超出 ±180 / longitude out of range", param=param)
    elif x1 > x2:
        raise InvalidInput(
            f"{param}: 西边界大于东边界 / lower bound exceeds upper bound", param=param
        )
    return BBox(x1, y1, x2, y2, bbox_crs)


def bbox_sql(box: BBox, geom: str = "t.geom") -> tuple[str, list[Any]]:
    """SQL that ``geom`` (a stored EPSG:4490 column, a fixed name) meets ``box``, and its
    parameters; two boxes across the antimeridian (OGC API Features 1, 7.15.3)."""
    x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
    if box.crs.geographic:
        if box.crosses_antimeridian:
            return (
                f"(ST_Intersects({geom}, ST_MakeEnvelope(%s, %s, 180, %s, {STORE_SRID})) OR "
                f"ST_Intersects({geom}, ST_MakeEnvelope(-180, %s, %s, %s, {STORE_SRID})))",
                [x1, y1, y2, y1, x2, y2],
            )
        return (
            f"ST_Intersects({geom}, ST_MakeEnvelope(%s, %s, %s, %s, {STORE_SRID}))",
            [x1, y1, x2, y2],
        )
    # A projected box is curved in lon/lat: densify before transforming so edges follow it.
    return (
        f"ST_Intersects({geom}, ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s,"
        f" {int(box.crs.srid)}), greatest(%s, %s) / 16), {STORE_SRID}))",
        [x1, y1, x2, y2, x2 - x1, y2 - y1],
    )
