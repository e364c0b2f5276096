"""Terrain: elevation, slope, flood exposure and levelling earthwork per parcel.

A DEM (and optionally a flood-depth raster) in any CRS GDAL reads is checked, copied as a
Cloud-Optimized GeoTIFF under ``settings.data_dir / "rasters"`` and recorded in ``rasters``.
Everything measured is measured on an *analysis grid*: the DEM in the parcels' CGCS2000
Gauss-Krüger projection (EPSG:4547 for Weihui), warped there at its native resolution when it
comes in another CRS, so that cell sizes are metres on the ground and slopes, areas and volumes
agree with the parcel areas the rest of the product uses.

Per-parcel figures use exact cell coverage (exactextract): a cell half inside a parcel weighs
half. They go to ``parcel_terrain``; :func:`refresh_parcels` recomputes them for parcels created
by a split or merge, :func:`terrain_for` reads them for search, fit and briefs.

Earthwork levels a parcel three ways (``level``):

``flat`` (default, "一平")
    a horizontal platform at the coverage-weighted mean elevation: cut equals fill.
``plane``
    the weighted least-squares plane through the cells: a tilted platform that keeps the
    site's general fall (drainage) and moves the least earth; cut equals fill too.
``<number>``
    a horizontal platform at that elevation (m): the difference is imported or exported.

Stored figures (``earthwork_cut_m3`` / ``earthwork_fill_m3``) are for ``flat``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psycopg
import rasterio
from affine import Affine
from psycopg.rows import dict_row
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from parkgis.errors import InvalidData, InvalidInput, NotFound
from parkgis.settings import EarthworkSettings, SitingSettings

log = logging.getLogger("parkgis.geo.terrain")

STEEP_DEG_DEFAULT = 6.0
# Leaflet's ImageOverlay stretches a picture linearly in Web Mercator: overlays are warped there.
WEB_MERCATOR = CRS.from_epsg(3857)
OVERLAY_MAX_PX = 4096

Progress = Callable[[str, float], None]
# The shipped defaults; an entry point passes the configured ones (``settings.earthwork``,
# ``settings.siting``) -- the core reads no global settings.
DEFAULT_YUAN_PER_M3 = EarthworkSettings().yuan_per_m3
DEFAULT_GK_SRID = SitingSettings().default_gk_srid
Level = Literal["flat", "plane"] | float

# -- SQL ----------------------------------------------------------------------------------------

SQL_LIVE_PARCELS = """
SELECT code, gk_srid, ST_AsBinary(geom_gk) AS wkb
  FROM parcels
 WHERE status <> 'historic'
 ORDER BY code
"""

SQL_PARCELS_BY_CODE = """
SELECT code, gk_srid, ST_AsBinary(geom_gk) AS wkb
  FROM parcels
 WHERE code = ANY(%s)
 ORDER BY code
"""

SQL_ACTIVE_RASTERS = "SELECT * FROM rasters WHERE active ORDER BY kind"

SQL_DEACTIVATE = "UPDATE rasters SET active = false WHERE kind = %s AND active"

SQL_UPSERT_RASTER = """
INSERT INTO rasters (name, kind, path, source_path, crs, epsg, width, height, res_x, res_y,
                     bounds, bounds_lonlat, dtype, nodata, checksum, options, active, loaded_at)
VALUES (%(name)s, %(kind)s, %(path)s, %(source_path)s, %(crs)s, %(epsg)s, %(width)s, %(height)s,
        %(res_x)s, %(res_y)s, %(bounds)s,
        ST_SetSRID(ST_MakeEnvelope(%(lon_min)s, %(lat_min)s, %(lon_max)s, %(lat_max)s), 4490),
        %(dtype)s, %(nodata)s, %(checksum)s, %(options)s, true, now())
ON CONFLICT (name) DO UPDATE SET
    path = EXCLUDED.path, source_path = EXCLUDED.source_path, options = EXCLUDED.options,
    active = true, loaded_at = now()
"""

SQL_UPSERT_TERRAIN = """
INSERT INTO parcel_terrain (parcel_code, elev_min_m, elev_max_m, elev_mean_m, slope_mean_deg,
                            slope_max_deg, steep_share, flood_share, flood_max_depth_m,
                            earthwork_cut_m3, earthwork_fill_m3, earthwork_level_m,
                            covered_share, computed_at)
VALUES (%(code)s, %(elev_min_m)s, %(elev_max_m)s, %(elev_mean_m)s, %(slope_mean_deg)s,
        %(slope_max_deg)s, %(steep_share)s, %(flood_share)s, %(flood_max_depth_m)s,
        %(earthwork_cut_m3)s, %(earthwork_fill_m3)s, %(earthwork_level_m)s,
        %(covered_share)s, now())
ON CONFLICT (parcel_code) DO UPDATE SET
    elev_min_m = EXCLUDED.elev_min_m, elev_max_m = EXCLUDED.elev_max_m,
    elev_mean_m = EXCLUDED.elev_mean_m, slope_mean_deg = EXCLUDED.slope_mean_deg,
    slope_max_deg = EXCLUDED.slope_max_deg, steep_share = EXCLUDED.steep_share,
    flood_share = EXCLUDED.flood_share, flood_max_depth_m = EXCLUDED.flood_max_depth_m,
    earthwork_cut_m3 = EXCLUDED.earthwork_cut_m3, earthwork_fill_m3 = EXCLUDED.earthwork_fill_m3,
    earthwork_level_m = EXCLUDED.earthwork_level_m, covered_share = EXCLUDED.covered_share,
    computed_at = now()
"""

SQL_TERRAIN_FOR = """
SELECT parcel_code AS code, elev_min_m, elev_max_m, elev_mean_m, slope_mean_deg, slope_max_deg,
       steep_share, flood_share, flood_max_depth_m, earthwork_cut_m3, earthwork_fill_m3,
       earthwork_level_m, covered_share, computed_at
  FROM parcel_terrain
 WHERE parcel_code = ANY(%s)
"""

SQL_BUMP_VERSION = """
UPDATE data_versions SET version = version + 1, changed = now() WHERE layer = 'terrain'
"""


# -- Data shapes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file is, once it has been checked readable and georeferenced."""

    path: Path
    crs: CRS
    width: int
    height: int
    transform: Affine
    bounds: tuple[float, float, float, float]
    bounds_lonlat: tuple[float, float, float, float]
    dtype: str
    nodata: float | None

    @property
    def res(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)


@dataclass
class Grid:
    """Co-registered arrays on one north-up metric grid (the analysis grid).

    ``elev`` and ``slope_deg`` are always there; ``flood`` (depth in m) when a flood raster is
    loaded. Missing data is NaN.
    """

    crs: CRS
    transform: Affine
    elev: np.ndarray
    slope_deg: np.ndarray
    flood: np.ndarray | None = None

    @property
    def dx(self) -> float:
        return abs(self.transform.a)

    @property
    def dy(self) -> float:
        return abs(self.transform.e)

    @property
    def cell_area(self) -> float:
        return self.dx * self.dy

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """xmin, ymin, xmax, ymax."""
        h, w = self.elev.shape
        xmin, ymax = self.transform.c, self.transform.f
        return xmin, ymax - h * self.dy, xmin + w * self.dx, ymax


@dataclass
class Earthwork:
    """Cut and fill to level one parcel (volumes in m³ on the analysis grid)."""

    level: str  # "flat", "plane" or "fixed"
    cut_m3: float
    fill_m3: float
    area_m2: float  # area with elevation data (coverage-weighted)
    level_m: float | None = None  # platform elevation (flat, fixed); plane: at its centroid
    plane_slope_deg: float | None = None
    plane_aspect_deg: float | None = None  # direction the plane faces (downhill), from north
    yuan_per_m3: float | None = None

    @property
    def net_m3(self) -> float:
        """Cut minus fill: > 0 is surplus to haul away, < 0 is earth to bring in."""
        return self.cut_m3 - self.fill_m3

    @property
    def cost_yuan(self) -> float | None:
        # Every cubic metre dug and every cubic metre placed is paid for once.
        if self.yuan_per_m3 is None:
            return None
        return (self.cut_m3 + self.fill_m3) * self.yuan_per_m3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["net_m3"] = self.net_m3
        d["cost_yuan"] = self.cost_yuan
        return d


@dataclass
class TerrainStats:
    """Terrain figures of one parcel, as stored in ``parcel_terrain``."""

    code: str
    elev_min_m: float | None = None
    elev_max_m: float | None = None
    elev_mean_m: float | None = None
    slope_mean_deg: float | None = None
    slope_max_deg: float | None = None
    steep_share: float | None = None
    flood_share: float | None = None
    flood_max_depth_m: float | None = None
    earthwork_cut_m3: float | None = None
    earthwork_fill_m3: float | None = None
    earthwork_level_m: float | None = None
    covered_share: float | None = None
    computed_at: Any = None

    @property
    def slope_max_pct(self) -> float | None:
        """Maximum slope in percent (rise/run × 100); exact since tan is monotonic."""
        return (
            None if self.slope_max_deg is None else 100 * math.tan(math.radians(self.slope_max_deg))
        )

    def earthwork_cost_yuan(self, yuan_per_m3: float = DEFAULT_YUAN_PER_M3) -> float | None:
        """Cost of the stored (flat) levelling at ``yuan_per_m3`` (callers pass the configured
        ``settings.earthwork.yuan_per_m3``; the default is the shipped rate).

        >>> s = TerrainStats(code="A", earthwork_cut_m3=10.0, earthwork_fill_m3=30.0)
        >>> s.earthwork_cost_yuan(2.5)  # (10 + 30) m3 at 2.5 yuan
        100.0
        """
        if self.earthwork_cut_m3 is None or self.earthwork_fill_m3 is None:
            return None
        return (self.earthwork_cut_m3 + self.earthwork_fill_m3) * yuan_per_m3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slope_max_pct"] = self.slope_max_pct
        if d["computed_at"] is not None and hasattr(d["computed_at"], "isoformat"):
            d["computed_at"] = d["computed_at"].isoformat()
        return d


@dataclass
class LoadReport:
    dem: dict[str, Any]
    flood: dict[str, Any] | None
    parcels: int
    with_data: int
    srids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        fl = f", 洪水 / flood {self.flood['name']}" if self.flood else ""
        return (
            f"高程 / DEM {self.dem['name']}{fl}: {self.with_data}/{self.parcels} "
            f"宗地块有地形数据 / parcels with terrain figures"
        )


# -- Reading and checking rasters ---------------------------------------------------------------


def inspect_raster(path: str | Path, what: str = "raster") -> RasterInfo:
    """Open ``path``, read every cell once and check it is georeferenced.

    Raises
    ------
    InvalidData
        the file is missing, unreadable or truncated, has no CRS, or no geotransform.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidData(f"栅格文件不存在 / {what} file not found: {p}")
    try:
        with rasterio.open(p) as ds:
            if ds.count < 1:
                raise InvalidData(f"栅格没有波段 / {what} {p.name} has no band")
            if ds.crs is None or not ds.crs.to_wkt():
                raise InvalidData(
                    f"栅格没有坐标参考系 / {what} {p.name} has no CRS: assign one "
                    f"(e.g. gdal_edit.py -a_srs EPSG:4547) and load it again"
                )
            if ds.transform == Affine.identity():
                raise InvalidData(f"栅格没有地理变换 / {what} {p.name} has no geotransform")
            # A truncated file often opens fine and fails only when its blocks are read:
            # read them all now, before anything is stored.
            for _, window in ds.block_windows(1):
                ds.read(1, window=window)
            lonlat = transform_bounds(ds.crs, CRS.from_epsg(4490), *ds.bounds, densify_pts=21)
            return RasterInfo(
                path=p,
                crs=ds.crs,
                width=ds.width,
                height=ds.height,
                transform=ds.transform,
                bounds=tuple(ds.bounds),
                bounds_lonlat=tuple(lonlat),
                dtype=ds.dtypes[0],
                nodata=ds.nodata,
            )
    except InvalidData:
        raise
    except (RasterioError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidData(
            f"栅格文件无法读取（损坏或格式不支持）/ cannot read {what} {p.name}: {reason}"
        ) from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cog_driver_available() -> bool:
    with rasterio.Env() as env:
        return "COG" in env.drivers()


def write_cog(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` as a Cloud-Optimized GeoTIFF (DEFLATE, 512 px tiles, overviews).

    Uses GDAL's COG driver; with a GDAL too old for it, a tiled GeoTIFF with internal overviews
    copied in front. The result is reopened and checked before it replaces ``dst``.
    """
    from rasterio.shutil import copy as rio_copy

    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".tif", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with rasterio.open(src) as ds:
            floating = ds.dtypes[0].startswith("float")
        if _cog_driver_available():
            rio_copy(
                src,
                tmp,
                driver="COG",
                COMPRESS="DEFLATE",
                LEVEL=9,
                BLOCKSIZE=512,
                PREDICTOR="YES" if floating else "NO",
                OVERVIEWS="AUTO",
                RESAMPLING="AVERAGE",
                BIGTIFF="IF_SAFER",
            )
        else:  # pragma: no cover - GDAL < 3.1
            _write_tiled_with_overviews(src, tmp)
        _check_cog(tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _write_tiled_with_overviews(src: Path, dst: Path) -> None:  # pragma: no cover
    from rasterio.shutil import copy as rio_copy

    mem = dst.with_suffix(".tmp.tif")
    rio_copy(
        src, mem, driver="GTiff", TILED="YES", BLOCKXSIZE=512, BLOCKYSIZE=512, COMPRESS="DEFLATE"
    )
    with rasterio.open(mem, "r+") as ds:
        factors = [f for f in (2, 4, 8, 16, 32) if max(ds.width, ds.height) / f >= 256]
        if factors:
            ds.build_overviews(factors, Resampling.average)
    rio_copy(
        mem,
        dst,
        driver="GTiff",
        TILED="YES",
        BLOCKXSIZE=512,
        BLOCKYSIZE=512,
        COMPRESS="DEFLATE",
        COPY_SRC_OVERVIEWS="YES",
    )
    mem.unlink(missing_ok=True)


def _check_cog(path: Path) -> None:
    """Refuse a copy that is not tiled or (when GDAL says) not laid out as a COG."""
    with rasterio.open(path) as ds:
        layout = ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
        tiled = ds.profile.get("tiled", False) or (ds.width <= 512 and ds.height <= 512)
        if layout not in (None, "COG") or not tiled:
            raise InvalidData(f"无法生成 COG / could not write a valid COG: {path.name}")
        if max(ds.width, ds.height) > 1024 and not ds.overviews(1):
            raise InvalidData(f"COG 缺少金字塔 / COG has no overviews: {path.name}")


# -- The analysis grid --------------------------------------------------------------------------


def read_band(ds: rasterio.io.DatasetReader) -> np.ndarray:
    """Band 1 as float32 with nodata as NaN and scale/offset applied."""
    arr = ds.read(1, masked=True).astype(np.float32)
    scale, offset = ds.scales[0], ds.offsets[0]
    if scale != 1.0 or offset != 0.0:
        arr = arr * scale + offset
    return np.ma.filled(arr, np.nan).astype(np.float32, copy=False)


def _north_up(t: Affine) -> bool:
    return t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0


def metric_grid_of(ds: rasterio.io.DatasetReader, dst_crs: CRS) -> tuple[Affine, int, int]:
    """Transform and size of ``ds`` warped to ``dst_crs`` at its native resolution.

    Square cells whose side is the *shorter* ground side of a source cell (at the raster's
    centre): a 1-arc-second DEM (about 25 × 31 m at 35°N) becomes 25 m cells. Never coarser
    than the source, so bilinear warping only interpolates: GDAL widens the kernel when it
    downsamples, which bends even a perfect plane (a 5° plane came out 1.9 % too gentle).
    """
    from rasterio.warp import transform as warp_points

    cx, cy = ds.width / 2.0, ds.height / 2.0
    corners = [ds.transform @ (cx, cy), ds.transform @ (cx + 1, cy), ds.transform @ (cx, cy + 1)]
    xs, ys = warp_points(ds.crs, dst_crs, [p[0] for p in corners], [p[1] for p in corners])
    side_x = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    side_y = math.hypot(xs[2] - xs[0], ys[2] - ys[0])
    res = min(side_x, side_y)
    t, w, h = calculate_default_transform(
        ds.crs, dst_crs, ds.width, ds.height, *ds.bounds, resolution=res
    )
    return t, w, h


def warp_array(
    src: np.ndarray,
    src_transform: Affine,
    src_crs: CRS,
    dst_transform: Affine,
    dst_crs: CRS,
    shape: tuple[int, int],
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Warp a float array (NaN = no data) onto a target grid."""
    out = np.full(shape, np.nan, dtype=np.float32)
    reproject(
        src.astype(np.float32, copy=False),
        out,
        src_transform=src_transform,
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return out


def horn_gradient(z: np.ndarray, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """dz/dx and dz/dy by Horn's (1981) 3×3 weighted differences.

    Edges are padded by linear extrapolation (odd reflection), so a plane keeps its exact
    gradient up to the border. ``dy`` is the row spacing; the sign of dz/dy follows rows
    (downward), which does not matter for slope.
    """
    p = np.pad(z.astype(np.float64, copy=False), 1, mode="reflect", reflect_type="odd")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * dx)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * dy)
    return dzdx, dzdy


def slope(z: np.ndarray, dx: float, dy: float, units: Literal["deg", "pct"] = "deg") -> np.ndarray:
    """Slope of a DEM on a metric grid, in degrees or percent (rise/run × 100)."""
    gx, gy = horn_gradient(z, dx, dy)
    rise = np.hypot(gx, gy)
    out = rise * 100.0 if units == "pct" else np.degrees(np.arctan(rise))
    return out.astype(np.float32)


def hillshade(
    z: np.ndarray,
    dx: float,
    dy: float,
    azimuth: float = 315.0,
    altitude: float = 45.0,
    z_factor: float = 1.0,
) -> np.ndarray:
    """Hillshade 0..1 (ESRI/GDAL convention: light from ``azimuth`` degrees, north-west)."""
    gx, gy = horn_gradient(z * z_factor, dx, dy)
    # Rows run south; flip so that +y is north.
    gy = -gy
    slope_r = np.arctan(np.hypot(gx, gy))
    aspect_r = np.arctan2(-gx, -gy)  # direction of steepest descent, from north, clockwise
    zen = math.radians(90.0 - altitude)
    az = math.radians(azimuth)
    shade = math.cos(zen) * np.cos(slope_r) + math.sin(zen) * np.sin(slope_r) * np.cos(
        az - aspect_r
    )
    return np.clip(shade, 0.0, 1.0).astype(np.float32)


def build_grid(dem_path: str | Path, srid: int, flood_path: str | Path | None = None) -> Grid:
    """The analysis grid: the DEM in EPSG:``srid`` (warped if needed), its slope, the flood
    depths warped onto the same cells."""
    dst_crs = CRS.from_epsg(srid)
    with rasterio.open(dem_path) as ds:
        if ds.crs == dst_crs and _north_up(ds.transform):
            elev, transform = read_band(ds), ds.transform
        else:
            transform, w, h = metric_grid_of(ds, dst_crs)
            elev = warp_array(read_band(ds), ds.transform, ds.crs, transform, dst_crs, (h, w))
    slope_deg = slope(elev, abs(transform.a), abs(transform.e))
    flood = None
    if flood_path is not None:
        with rasterio.open(flood_path) as fs:
            if fs.crs == dst_crs and fs.transform == transform and fs.shape == elev.shape:
                flood = read_band(fs)
            else:
                flood = warp_array(
                    read_band(fs), fs.transform, fs.crs, transform, dst_crs, elev.shape
                )
    return Grid(crs=dst_crs, transform=transform, elev=elev, slope_deg=slope_deg, flood=flood)


# -- Zonal statistics (exactextract) ------------------------------------------------------------


def _ee_feature_source(items: Sequence[tuple[str, bytes]]):
    """An exactextract feature source over (code, WKB) pairs: no GeoJSON round trip."""
    from exactextract._exactextract import Feature
    from exactextract.feature import FeatureSource

    class _WKBFeature(Feature):
        def __init__(self, code: str, wkb: bytes) -> None:
            Feature.__init__(self)
            self.code, self.wkb, self.props = code, wkb, {}

        def set(self, name, value):  # noqa: ANN001
            self.props[name] = value

        def get(self, name):  # noqa: ANN001
            return self.code if name == "code" else self.props[name]

        def geometry(self):
            return self.wkb

        def set_geometry(self, wkb):  # noqa: ANN001
            self.wkb = wkb

        def set_geometry_format(self):
            return "wkb"

        def fields(self):
            return ["code"]

    class _WKBSource(FeatureSource):
        def __init__(self) -> None:
            super().__init__()

        def count(self):
            return len(items)

        def __iter__(self):
            for code, wkb in items:
                yield _WKBFeature(code, bytes(wkb))

        def srs_wkt(self):
            return None

    return _WKBSource()


def zonal_stats(
    grid: Grid,
    parcels: Sequence[tuple[str, bytes]],
    steep_deg: float = STEEP_DEG_DEFAULT,
    earthwork: bool = True,
    progress: Progress | None = None,
) -> dict[str, TerrainStats]:
    """Figures for each (code, WKB polygon in the grid's CRS), with exact cell coverage.

    Means and shares are weighted by the fraction of each cell inside the polygon; minimum and
    maximum take every cell the polygon touches with non-zero coverage. ``steep_share`` is the
    share of the parcel's area (with data) whose slope exceeds ``steep_deg``; ``flood_share``
    the share where flood depth is > 0.
    """
    from exactextract import exact_extract

    if not parcels:
        return {}
    rasters, ops = _zonal_ops(grid, steep_deg, earthwork)

    def cb(frac: float, message: str) -> None:
        if progress is not None:
            progress("zonal", frac)

    rows = exact_extract(
        rasters,
        _ee_feature_source(parcels),
        ops,
        include_cols=["code"],
        output="geojson",
        progress=cb if progress else False,
    )
    areas = _polygon_areas(parcels)
    out: dict[str, TerrainStats] = {}
    for row in rows:
        st = _stats_of(row["properties"], areas, grid.cell_area, earthwork)
        out[st.code] = st
    return out


def _zonal_ops(grid: Grid, steep_deg: float, earthwork: bool) -> tuple[list[Any], list[Any]]:
    """exactextract's rasters and the operations the per-parcel figures come from."""
    from exactextract.operation import Operation
    from exactextract.raster import NumPyRasterSource

    xmin, ymin, xmax, ymax = grid.extent
    wkt = grid.crs.to_wkt()

    def src(arr: np.ndarray, name: str) -> NumPyRasterSource:
        return NumPyRasterSource(arr, xmin, ymin, xmax, ymax, name=name, srs_wkt=wkt)

    elev = src(grid.elev, "elev")
    slope_r = src(grid.slope_deg, "slope")
    steep_arr = np.where(
        np.isfinite(grid.slope_deg), (grid.slope_deg > steep_deg).astype(np.float32), np.nan
    )
    rasters = [elev, slope_r, src(steep_arr, "steep")]
    ops = [
        Operation("min", "elev_min_m", elev),
        Operation("max", "elev_max_m", elev),
        Operation("mean", "elev_mean_m", elev),
        Operation("mean", "slope_mean_deg", slope_r),
        Operation("max", "slope_max_deg", slope_r),
        Operation("mean", "steep_share", rasters[2]),
        # count = coverage-weighted number of cells with data: the area the DEM covers.
        Operation("count", "covered_cells", elev),
    ]
    if grid.flood is not None:
        fl = src(grid.flood, "flood")
        flooded = src(
            np.where(np.isfinite(grid.flood), (grid.flood > 0).astype(np.float32), np.nan).astype(
                np.float32
            ),
            "flooded",
        )
        rasters += [fl, flooded]
        ops += [
            Operation("mean", "flood_share", flooded),
            Operation("max", "flood_max_depth_m", fl),
        ]
    if earthwork:
        ops += [
            Operation("values", "v", elev),
            Operation("coverage", "w", elev),
            Operation("center_x", "x", elev),
            Operation("center_y", "y", elev),
        ]
    return rasters, ops


def _stats_of(
    p: dict[str, Any], areas: dict[str, float], cell_area: float, earthwork: bool
) -> TerrainStats:
    """One parcel's figures from its row of exactextract's output."""
    st = TerrainStats(code=p["code"])
    for name in (
        "elev_min_m",
        "elev_max_m",
        "elev_mean_m",
        "slope_mean_deg",
        "slope_max_deg",
        "steep_share",
        "flood_share",
        "flood_max_depth_m",
    ):
        setattr(st, name, _num(p.get(name)))
    covered = float(p.get("covered_cells") or 0.0) * cell_area
    area = areas.get(st.code)
    st.covered_share = min(1.0, covered / area) if area else None
    if earthwork and len(p["v"]):
        ew = earthwork_of_cells(p["v"], p["w"], p["x"], p["y"], cell_area, "flat")
        st.earthwork_cut_m3, st.earthwork_fill_m3 = ew.cut_m3, ew.fill_m3
        st.earthwork_level_m = ew.level_m
    return st


def _polygon_areas(parcels: Sequence[tuple[str, bytes]]) -> dict[str, float]:
    import shapely

    geoms = shapely.from_wkb([bytes(w) for _, w in parcels])
    return dict(zip([c for c, _ in parcels], shapely.area(geoms).tolist(), strict=True))


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


# -- Earthwork ----------------------------------------------------------------------------------


def parse_level(level: str | float | None) -> Level:
    """``"flat"`` (default), ``"plane"`` or an elevation in metres."""
    if level is None or level == "":
        return "flat"
    if isinstance(level, (int, float)):
        val = float(level)
    else:
        s = str(level).strip().lower()
        if s in ("flat", "plane"):
            return s  # type: ignore[return-value]
        if s == "best_fit":  # earlier name of the tilted best-fit platform
            return "plane"
        try:
            val = float(s)
        except ValueError:
            raise InvalidInput(
                f"level 应为 flat、plane 或高程数值 / level must be flat, plane or an elevation "
                f"in metres, got {level!r}"
            ) from None
    if not math.isfinite(val) or not -500.0 <= val <= 9000.0:
        raise InvalidInput(f"高程超出范围 / level out of range: {val}")
    return val


def earthwork_of_cells(
    z: np.ndarray,
    w: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cell_area: float,
    level: Level = "flat",
    yuan_per_m3: float | None = None,
) -> Earthwork:
    """Cut and fill over cells with values ``z`` and coverage fractions ``w`` (cell centres
    ``x``, ``y`` in metres, each cell ``cell_area`` m²).

    Each cell is taken as a flat prism at its value: the volume between it and the platform
    is (z − platform) × w × cell_area, cut where positive, fill where negative.
    """
    z = np.asarray(z, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    keep = np.isfinite(z) & (w > 0)
    z, w = z[keep], w[keep]
    x = np.asarray(x, dtype=np.float64)[keep]
    y = np.asarray(y, dtype=np.float64)[keep]
    area_w = w * cell_area
    total = float(area_w.sum())
    if total <= 0:
        return Earthwork(
            level=str(level) if isinstance(level, str) else "fixed",
            cut_m3=0.0,
            fill_m3=0.0,
            area_m2=0.0,
            yuan_per_m3=yuan_per_m3,
        )
    kw: dict[str, Any] = {}
    if level == "flat":
        h = float(np.dot(area_w, z) / total)
        r = z - h
        kind, kw["level_m"] = "flat", h
    elif level == "plane":
        xm = float(np.dot(area_w, x) / total)
        ym = float(np.dot(area_w, y) / total)
        A = np.column_stack([np.ones_like(x), x - xm, y - ym])
        sw = np.sqrt(area_w)
        coef, *_ = np.linalg.lstsq(A * sw[:, None], z * sw, rcond=None)
        r = z - A @ coef
        c0, bx, by = (float(v) for v in coef)
        kind = "plane"
        kw["level_m"] = c0
        kw["plane_slope_deg"] = math.degrees(math.atan(math.hypot(bx, by)))
        kw["plane_aspect_deg"] = math.degrees(math.atan2(-bx, -by)) % 360.0 if (bx or by) else None
    else:
        h = float(level)
        r = z - h
        kind, kw["level_m"] = "fixed", h
    cut = float(np.dot(area_w, np.clip(r, 0, None)))
    fill = float(np.dot(area_w, np.clip(-r, 0, None)))
    return Earthwork(
        level=kind, cut_m3=cut, fill_m3=fill, area_m2=total, yuan_per_m3=yuan_per_m3, **kw
    )


def earthwork_for_polygon(
    grid: Grid, wkb: bytes, level: Level = "flat", yuan_per_m3: float | None = None
) -> Earthwork:
    """Earthwork to level one polygon (WKB in the grid's CRS)."""
    from exactextract import exact_extract
    from exactextract.operation import Operation
    from exactextract.raster import NumPyRasterSource

    xmin, ymin, xmax, ymax = grid.extent
    elev = NumPyRasterSource(
        grid.elev, xmin, ymin, xmax, ymax, name="elev", srs_wkt=grid.crs.to_wkt()
    )
    ops = [
        Operation("values", "v", elev),
        Operation("coverage", "w", elev),
        Operation("center_x", "x", elev),
        Operation("center_y", "y", elev),
    ]
    rows = exact_extract([elev], _ee_feature_source([("p", wkb)]), ops, output="geojson")
    p = rows[0]["properties"]
    return earthwork_of_cells(p["v"], p["w"], p["x"], p["y"], grid.cell_area, level, yuan_per_m3)


# -- Database: loading, refreshing, reading -----------------------------------------------------


def _store_raster(info: RasterInfo, kind: str, out_dir: Path) -> dict[str, Any]:
    """Write the COG copy and return the ``rasters`` row for it (not yet inserted)."""
    src_sum = sha256_file(info.path)
    name = f"{info.path.stem}-{src_sum[:12]}"
    dst = write_cog(info.path, out_dir / f"{name}.tif")
    epsg = info.crs.to_epsg()
    lon_min, lat_min, lon_max, lat_max = info.bounds_lonlat
    return {
        "name": name,
        "kind": kind,
        "path": str(dst.resolve()),
        "source_path": str(info.path),
        "crs": info.crs.to_wkt(),
        "epsg": epsg,
        "width": info.width,
        "height": info.height,
        "res_x": info.res[0],
        "res_y": info.res[1],
        "bounds": list(info.bounds),
        "lon_min": lon_min,
        "lat_min": lat_min,
        "lon_max": lon_max,
        "lat_max": lat_max,
        "dtype": info.dtype,
        "nodata": info.nodata if info.nodata is not None and math.isfinite(info.nodata) else None,
        "checksum": sha256_file(dst),
        "options": "{}",
    }


def _parcels_by_srid(rows: Iterable[dict[str, Any]]) -> dict[int, list[tuple[str, bytes]]]:
    out: dict[int, list[tuple[str, bytes]]] = {}
    for r in rows:
        out.setdefault(int(r["gk_srid"]), []).append((r["code"], bytes(r["wkb"])))
    return out


def _upsert(conn: psycopg.Connection, stats: Iterable[TerrainStats]) -> int:
    rows = [asdict(s) for s in stats]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(SQL_UPSERT_TERRAIN, rows)
        cur.execute(SQL_BUMP_VERSION)
    return len(rows)


def load_terrain(
    conn: psycopg.Connection,
    dem_path: str | Path,
    flood_path: str | Path | None = None,
    steep_deg: float = STEEP_DEG_DEFAULT,
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> LoadReport:
    """Load a DEM (and a flood-depth raster) and compute every live parcel's figures.

    ``out_dir`` receives the COG copies (``settings.storage.rasters_dir``).
    Both rasters are checked before anything is written; the COG copies, the ``rasters`` rows
    and the ``parcel_terrain`` upserts then happen in the caller's transaction (the copies are
    content-addressed files, harmless if the transaction rolls back). Without ``flood_path``
    the flood raster loaded before, if any, stays in use.
    """
    if not (0 < steep_deg < 90):
        raise InvalidInput(f"坡度阈值应在 0–90° / steep_deg must be within 0–90°: {steep_deg}")
    step = progress or (lambda _s, _f: None)
    step("check", 0.0)
    dem_info = inspect_raster(dem_path, "DEM")
    flood_info = inspect_raster(flood_path, "flood raster") if flood_path else None
    step("cog", 0.0)
    dem_row = _store_raster(dem_info, "dem", out_dir)
    dem_row["options"] = json.dumps({"steep_deg": steep_deg})
    flood_row = _store_raster(flood_info, "flood", out_dir) if flood_info else None
    step("cog", 1.0)

    conn.execute(SQL_DEACTIVATE, ("dem",))
    conn.execute(SQL_UPSERT_RASTER, dem_row)
    if flood_row is not None:
        conn.execute(SQL_DEACTIVATE, ("flood",))
        conn.execute(SQL_UPSERT_RASTER, flood_row)
        flood_file: str | None = flood_row["path"]
    else:
        flood_file = _active_path(conn, "flood")

    with conn.cursor(row_factory=dict_row) as cur:
        groups = _parcels_by_srid(cur.execute(SQL_LIVE_PARCELS).fetchall())
    n = with_data = 0
    for srid, items in groups.items():
        step("grid", 0.0)
        grid = _cached_grid(dem_row["path"], srid, flood_file)
        stats = zonal_stats(grid, items, steep_deg, progress=progress)
        n += _upsert(conn, stats.values())
        with_data += sum(1 for s in stats.values() if s.elev_mean_m is not None)
    step("done", 1.0)
    return LoadReport(
        dem={k: dem_row[k] for k in ("name", "path", "checksum")},
        flood={k: flood_row[k] for k in ("name", "path", "checksum")} if flood_row else None,
        parcels=n,
        with_data=with_data,
        srids=sorted(groups),
    )


def active_rasters(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """The active rasters by kind (``dem``, ``flood``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["kind"]: r for r in cur.execute(SQL_ACTIVE_RASTERS).fetchall()}


def _active_path(conn: psycopg.Connection, kind: str) -> str | None:
    row = active_rasters(conn).get(kind)
    if row is None:
        return None
    if not Path(row["path"]).is_file():
        log.warning("%s raster %s is missing on disk", kind, row["path"])
        return None
    return row["path"]


_GRID_CACHE: dict[tuple[str, int, str | None], Grid] = {}


def _cached_grid(dem_path: str, srid: int, flood_path: str | None) -> Grid:
    """One analysis grid kept in memory: refreshes after each split/merge reuse it."""
    key = (dem_path, srid, flood_path)
    grid = _GRID_CACHE.get(key)
    if grid is None:
        grid = build_grid(dem_path, srid, flood_path)
        _GRID_CACHE.clear()  # a DEM grid can be hundreds of MB: keep only the latest
        _GRID_CACHE[key] = grid
    return grid


def _grid_for(conn: psycopg.Connection, srid: int) -> tuple[Grid, float] | None:
    rasters = active_rasters(conn)
    dem = rasters.get("dem")
    if dem is None or not Path(dem["path"]).is_file():
        return None
    flood = rasters.get("flood")
    flood_path = flood["path"] if flood and Path(flood["path"]).is_file() else None
    steep = float((dem.get("options") or {}).get("steep_deg", STEEP_DEG_DEFAULT))
    return _cached_grid(dem["path"], srid, flood_path), steep


def refresh_parcels(conn: psycopg.Connection, codes: Sequence[str]) -> int:
    """Recompute and upsert the terrain figures of ``codes`` (e.g. parcels a split or merge
    just created), in the caller's transaction. Returns how many rows were written.

    Uses the active DEM/flood rasters and the steepness threshold of the last ``terrain
    load``. With no DEM loaded (or its file gone) it writes nothing and returns 0: a split must
    not fail for want of terrain. Unknown codes are ignored.
    """
    if not codes:
        return 0
    with conn.cursor(row_factory=dict_row) as cur:
        groups = _parcels_by_srid(cur.execute(SQL_PARCELS_BY_CODE, (list(codes),)).fetchall())
    n = 0
    for srid, items in groups.items():
        got = _grid_for(conn, srid)
        if got is None:
            return 0
        grid, steep = got
        n += _upsert(conn, zonal_stats(grid, items, steep).values())
    return n


def terrain_for(conn: psycopg.Connection, codes: Sequence[str]) -> dict[str, TerrainStats]:
    """Stored terrain figures for ``codes``; parcels without figures are absent."""
    if not codes:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SQL_TERRAIN_FOR, (list(codes),)).fetchall()
    return {r["code"]: TerrainStats(**r) for r in rows}


def parcel_earthwork(
    conn: psycopg.Connection,
    code: str,
    level: str | float | None = "flat",
    yuan_per_m3: float = DEFAULT_YUAN_PER_M3,
) -> Earthwork:
    """Earthwork to level parcel ``code`` (see the module docstring for ``level``).

    Raises
    ------
    NotFound
        no such parcel, or no DEM loaded.
    """
    lvl = parse_level(level)
    rate = float(yuan_per_m3)
    if not math.isfinite(rate) or rate < 0:
        raise InvalidInput(f"单价应为非负数 / yuan_per_m3 must be ≥ 0: {rate}")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SQL_PARCELS_BY_CODE, ([code],)).fetchall()
    if not rows:
        raise NotFound(f"地块不存在 / no parcel {code}")
    got = _grid_for(conn, int(rows[0]["gk_srid"]))
    if got is None:
        raise NotFound("尚未加载高程数据 / no DEM loaded: run `parkgis terrain load DEM.tif`")
    return earthwork_for_polygon(got[0], bytes(rows[0]["wkb"]), lvl, rate)


# -- Map overlays -------------------------------------------------------------------------------


@dataclass
class Overlay:
    """A PNG warped to Web Mercator and the lat/lon box Leaflet's ImageOverlay needs."""

    png: bytes
    bounds: list[list[float]]  # [[south, west], [north, east]]
    checksum: str


def _mercator_grid(crs: CRS, transform: Affine, shape: tuple[int, int]) -> tuple[Affine, int, int]:
    h, w = shape
    left, top = transform.c, transform.f
    right, bottom = left + w * transform.a, top + h * transform.e
    t, dw, dh = calculate_default_transform(crs, WEB_MERCATOR, w, h, left, bottom, right, top)
    scale = max(dw, dh) / OVERLAY_MAX_PX
    if scale > 1:  # keep the picture within what browsers draw comfortably
        dw, dh = math.ceil(dw / scale), math.ceil(dh / scale)
        t = t * Affine.scale(scale)
    return t, dw, dh


def _to_mercator(
    arr: np.ndarray, crs: CRS, transform: Affine, resampling: Resampling
) -> tuple[np.ndarray, list[list[float]]]:
    t, w, h = _mercator_grid(crs, transform, arr.shape)
    out = warp_array(arr, transform, crs, t, WEB_MERCATOR, (h, w), resampling)
    west, south, east, north = transform_bounds(
        WEB_MERCATOR, CRS.from_epsg(4326), t.c, t.f + h * t.e, t.c + w * t.a, t.f
    )
    return out, [[south, west], [north, east]]


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def hillshade_overlay(dem_path: str | Path, srid: int) -> tuple[bytes, list[list[float]]]:
    """Grey hillshade of the DEM with transparency where there is no data.

    Shading is computed on the metric grid (true slopes), then warped to Web Mercator.
    """
    grid = build_grid(dem_path, srid)
    # Threefold vertical exaggeration: on a plain the real relief would not show at all.
    shade = hillshade(grid.elev, grid.dx, grid.dy, z_factor=3.0)
    shade[~np.isfinite(grid.elev)] = np.nan
    merc, bounds = _to_mercator(shade, grid.crs, grid.transform, Resampling.bilinear)
    ok = np.isfinite(merc)
    # Shadows dark, lit slopes white, level ground transparent: the overlay does not grey out
    # the basemap and parcels over the plain.
    flat = math.cos(math.radians(90.0 - 45.0))
    dev = np.where(ok, merc - flat, 0.0)
    tone = np.where(dev < 0, 0, 255).astype(np.uint8)
    alpha = np.clip(np.abs(dev) * 2.5 * 255, 0, 200).astype(np.uint8)
    rgba = np.dstack([tone, tone, tone, alpha])
    return _png(rgba), bounds


def flood_overlay(
    flood_path: str | Path, max_depth: float = 2.0
) -> tuple[bytes, list[list[float]]]:
    """Blue flood depths (light = shallow, dark = deep), transparent where dry or unknown."""
    with rasterio.open(flood_path) as ds:
        depth, crs, transform = read_band(ds), ds.crs, ds.transform
    merc, bounds = _to_mercator(depth, crs, transform, Resampling.bilinear)
    wet = np.isfinite(merc) & (merc > 0)
    t = np.clip(np.where(wet, merc, 0) / max_depth, 0, 1)
    r = (198 - t * 190).astype(np.uint8)
    g = (219 - t * 171).astype(np.uint8)
    b = (239 - t * 132).astype(np.uint8)
    alpha = np.where(wet, 90 + t * 130, 0).astype(np.uint8)
    return _png(np.dstack([r, g, b, alpha])), bounds


def overlay(
    conn: psycopg.Connection,
    kind: Literal["hillshade", "flood"],
    default_srid: int = DEFAULT_GK_SRID,
) -> Overlay:
    """The overlay PNG of the active raster, cached on disk next to its COG by checksum.

    ``default_srid`` (``settings.siting.default_gk_srid``) shades a DEM not stored in a
    Gauss-Krueger zone.
    """
    rasters = active_rasters(conn)
    src = rasters.get("flood" if kind == "flood" else "dem")
    if src is None or not Path(src["path"]).is_file():
        what = "洪水栅格 / flood raster" if kind == "flood" else "高程 / DEM"
        raise NotFound(f"尚未加载{what.split(' / ')[0]} / no {what.split(' / ')[1]} loaded")
    cache_png = Path(src["path"]).with_suffix(f".{kind}.png")
    cache_meta = cache_png.with_suffix(".json")
    if cache_png.is_file() and cache_meta.is_file():
        meta = json.loads(cache_meta.read_text())
        if meta.get("checksum") == src["checksum"]:
            return Overlay(cache_png.read_bytes(), meta["bounds"], src["checksum"])
    if kind == "flood":
        png, bounds = flood_overlay(src["path"])
    else:
        srid = src.get("epsg") if src.get("epsg") and 4534 <= src["epsg"] <= 4554 else default_srid
        png, bounds = hillshade_overlay(src["path"], srid)
    _atomic_write(cache_png, png)
    _atomic_write(cache_meta, json.dumps({"checksum": src["checksum"], "bounds": bounds}).encode())
    return Overlay(png, bounds, src["checksum"])


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:  # a read-only data dir still serves, uncached
        log.warning("cannot cache overlay %s: %s", path, e)
