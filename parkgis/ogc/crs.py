"""The coordinate reference systems the OGC API serves (OGC API – Features Part 2).

Storage is CGCS2000 lon/lat (EPSG:4490). CRS84 and EPSG:4490 share the datum to a few
centimetres, so CRS84 output is the stored coordinates as they are; EPSG:4490 is the same
numbers in its *authority* axis order, latitude first, as Part 2 requires (``crs=EPSG:4490``
asked by a client that means lon/lat is the classic mistake; we follow the standard).
EPSG:4547 (CGCS2000 / 3-degree GK CM 114E) is northing-first in the EPSG register too.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "CRS84": CRS84, "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84,
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
            f"supported: {', '.join(c.uri for c in CRS_LIST)}")
    return crs
