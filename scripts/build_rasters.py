"""Build the SYNTHETIC sample rasters data/rasters/weihui_dem.tif and weihui_flood.tif.

Deterministic (fixed seed, fixed formulas): running it twice gives the same cells. The DEM is
delivered like SRTM/ASTER data, in geographic coordinates (EPSG:4326, 1 arc-second cells), so
that loading it exercises the warp to the parks' Gauss-Krüger projection.

The surface, in metres above sea level:

* a plain at about 72–80 m that rises gently (0.4 m/km) toward the north-west;
* the Taihang foothills beyond about 18 km north-west of Weihui town, up to ~400 m, rougher;
* the Wei River (卫河) valley: 5 m lower within ~1.5 km of the river, 2.5 m more in the
  channel; the river comes from ``data/shapes/weihui.gpkg`` (infrastructure, kind='river')
  where present, otherwise (and beyond it) from an approximate line;
* smooth value noise (3 km and 800 m wavelengths, ±1–2 m on the plain).

The flood depth raster (m) is 0 except on the flood plain: depth = 2 × (1 − h / 2.5 m), h the
height above the river bed, clipped to 0–2 m, within 4 km of the river and off the foothills.

Usage: ``python scripts/build_rasters.py [--out data/rasters] [--arcsec 1]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent.parent
GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
DEFAULT_BBOX = (113.85, 35.25, 114.25, 35.60)
SEED = 20180708  # the date of the source article
# Weihui town, the reference for "north-west".
TOWN = (114.065, 35.398)
# Approximate course of the Wei River through the county, SW -> NE (lon, lat).
WEI_APPROX = [
    (113.78, 35.29),
    (113.93, 35.33),
    (114.00, 35.355),
    (114.09, 35.405),
    (114.17, 35.46),
    (114.40, 35.58),
]
GK = "EPSG:4547"


def area_bbox() -> tuple[float, float, float, float]:
    """The county's extent (with a 0.01° margin) from the sample GeoPackage, else a default."""
    if GPKG.is_file():
        import pyogrio

        for layer in ("county", "zones"):
            try:
                b = pyogrio.read_info(GPKG, layer=layer)["total_bounds"]
            except Exception:  # noqa: BLE001 - the layer may not be there yet
                continue
            m = 0.01
            return (round(b[0] - m, 2), round(b[1] - m, 2), round(b[2] + m, 2), round(b[3] + m, 2))
    return DEFAULT_BBOX


def river_geometry_gk() -> shapely.Geometry:
    """The Wei River in EPSG:4547: the GeoPackage's river where it runs, the approximate
    line beyond."""
    to_gk = Transformer.from_crs("EPSG:4490", GK, always_xy=True)
    approx = shapely.LineString([to_gk.transform(x, y) for x, y in WEI_APPROX])
    if not GPKG.is_file():
        return approx
    import geopandas as gpd

    try:
        infra = gpd.read_file(GPKG, layer="infrastructure")
    except Exception:  # noqa: BLE001
        return approx
    rivers = infra[infra["kind"] == "river"]
    if rivers.empty:
        return approx
    river = shapely.union_all(rivers.to_crs(GK).geometry.values)
    # Beyond the mapped stretch, continue along the approximate line from the mapped ends, so
    # the valley runs on without a gap: ends are the extreme points along the SW->NE axis.
    coords = np.asarray(approx.coords)
    axis = coords[-1] - coords[0]
    axis /= np.linalg.norm(axis)
    pts = shapely.get_coordinates(river)
    proj = pts @ axis
    sw_end, ne_end = pts[np.argmin(proj)], pts[np.argmax(proj)]
    along = coords @ axis
    sw = [*coords[along < sw_end @ axis], sw_end]
    ne = [ne_end, *coords[along > ne_end @ axis]]
    parts = [river] + [shapely.LineString(p) for p in (sw, ne) if len(p) >= 2]
    return shapely.union_all(parts)


def value_noise(shape: tuple[int, int], cell_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in about [-1, 1]: random values on a coarse lattice every ``cell_px``
    pixels, interpolated with smoothstep weights (no creases in the slope)."""
    ny, nx = shape
    gy, gx = int(ny / cell_px) + 3, int(nx / cell_px) + 3
    lattice = rng.uniform(-1.0, 1.0, size=(gy, gx))
    r = np.arange(ny) / cell_px
    c = np.arange(nx) / cell_px
    r0, c0 = r.astype(int), c.astype(int)
    fr, fc = r - r0, c - c0
    fr, fc = fr * fr * (3 - 2 * fr), fc * fc * (3 - 2 * fc)
    top = lattice[r0][:, c0] * (1 - fc) + lattice[r0][:, c0 + 1] * fc
    bot = lattice[r0 + 1][:, c0] * (1 - fc) + lattice[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr)[:, None] + bot * fr[:, None]


def build(arcsec: float = 1.0) -> tuple[np.ndarray, np.ndarray, rasterio.Affine]:
    west, south, east, north = area_bbox()
    res = arcsec / 3600.0
    nx = int(round((east - west) / res))
    ny = int(round((north - south) / res))
    transform = from_origin(west, north, res, res)
    rng = np.random.default_rng(SEED)

    lon = west + (np.arange(nx) + 0.5) * res
    lat = north - (np.arange(ny) + 0.5) * res
    lon2, lat2 = np.meshgrid(lon, lat)
    to_gk = Transformer.from_crs("EPSG:4326", GK, always_xy=True)
    e, n = to_gk.transform(lon2, lat2)
    e0, n0 = to_gk.transform(*TOWN)
    u = (-(e - e0) + (n - n0)) / np.sqrt(2.0)  # metres toward the north-west

    cell_m = res * 111_000
    plain = 74.0 + 4e-4 * u
    hills_w = 1.0 / (1.0 + np.exp(-(u - 22_000.0) / 3_000.0))
    hills = 330.0 * hills_w * (1.0 + 0.35 * value_noise((ny, nx), 1500 / cell_m, rng))
    river = river_geometry_gk()
    pts = shapely.points(e.ravel(), n.ravel())
    d = shapely.distance(river, pts).reshape(ny, nx)
    valley = 5.0 * np.exp(-((d / 1500.0) ** 2)) + 2.5 * np.exp(-((d / 80.0) ** 2))
    noise = 1.5 * value_noise((ny, nx), 3000 / cell_m, rng) + 0.4 * value_noise(
        (ny, nx), 800 / cell_m, rng
    )
    dem = plain + hills - valley + noise * (1.0 - hills_w)
    dem = np.round(dem, 1).astype(np.float32)

    bed = plain - 7.5
    hab = dem - bed
    depth = np.clip(2.0 * (1.0 - hab / 2.5), 0.0, 2.0)
    depth[(d > 4000) | (hills_w > 0.05)] = 0.0
    depth = np.round(depth, 2).astype(np.float32)
    return dem, depth, transform


def write(path: Path, arr: np.ndarray, transform: rasterio.Affine, description: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "COG",
        "dtype": "float32",
        "count": 1,
        "height": arr.shape[0],
        "width": arr.shape[1],
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": None,
        "compress": "DEFLATE",
        "level": 9,
        "predictor": 3,
        "blocksize": 512,
    }
    # The COG driver writes through a copy: build in memory, then copy out.
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            dtype="float32",
            count=1,
            height=arr.shape[0],
            width=arr.shape[1],
            crs="EPSG:4326",
            transform=transform,
        ) as ds:
            ds.write(arr, 1)
            ds.update_tags(
                SYNTHETIC="yes",
                DESCRIPTION=description,
                GENERATOR="scripts/build_rasters.py",
                SEED=str(SEED),
            )
            ds.set_band_unit(1, "metre")
        rio_copy(
            mem.name,
            path,
            driver=profile["driver"],
            COMPRESS="DEFLATE",
            LEVEL=9,
            PREDICTOR=3,
            BLOCKSIZE=512,
            OVERVIEWS="AUTO",
            RESAMPLING="AVERAGE",
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "rasters")
    ap.add_argument("--arcsec", type=float, default=1.0)
    args = ap.parse_args()
    dem, depth, transform = build(args.arcsec)
    write(
        args.out / "weihui_dem.tif",
        dem,
        transform,
        "SYNTHETIC DEM of the Weihui sample area (m above sea level)",
    )
    write(
        args.out / "weihui_flood.tif",
        depth,
        transform,
        "SYNTHETIC flood depth along the Wei River (m)",
    )
    for name in ("weihui_dem.tif", "weihui_flood.tif"):
        p = args.out / name
        print(f"{p}: {p.stat().st_size / 1e6:.2f} MB")
    print(
        f"DEM {dem.shape[1]}x{dem.shape[0]} cells, {float(dem.min()):.1f}–"
        f"{float(dem.max()):.1f} m; flooded cells {float((depth > 0).mean()):.1%}"
    )


if __name__ == "__main__":
    main()
