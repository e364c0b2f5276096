"""Benchmark: terrain figures for 10^5 parcels on a 10 m DEM of the Weihui area.

Synthetic, in memory: a 42 × 42 km DEM at 10 m in EPSG:4547 (17.6 M cells, a plain with
smooth relief) plus a flood-depth raster, and 100 000 parcels of 100 × 100 m on a 120 m grid.
Timed: slope (Horn) over the whole DEM, then ``parkgis.geo.terrain.zonal_stats`` (exactextract,
exact coverage, all figures including flat-levelling earthwork). Compared with the naive way:
a ``rasterio.mask`` call per parcel (cell centres only, no partial cells), timed on 1 000
parcels and extrapolated. Target: ≤ 30 s for the 10^5 parcels.

Usage: ``.venv/bin/python bench/terrain.py [--parcels 100000] [--naive 1000]``
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.mask import mask
from rasterio.transform import from_origin

from parkgis.geo import terrain as T

E0, N0 = 480_000.0, 3_900_000.0  # south-west corner, EPSG:4547
SIZE_M, CELL = 42_000.0, 10.0


def synthetic_dem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = int(SIZE_M / CELL)
    x = np.linspace(0, 1, n, dtype=np.float32)
    xx, yy = np.meshgrid(x, x)
    z = 74 + 8 * (1 - xx) * yy  # rising to the north-west
    for k, amp in ((3, 2.0), (11, 0.8), (37, 0.3)):
        ph = rng.uniform(0, 2 * math.pi, 2)
        z = z + amp * np.sin(2 * math.pi * k * xx + ph[0]) * np.cos(2 * math.pi * k * yy + ph[1])
    river = np.abs(yy - 0.4 - 0.2 * xx)
    z = z - 5 * np.exp(-((river / 0.03) ** 2))
    flood = np.clip(2 * (1 - river / 0.02), 0, 2).astype(np.float32)
    return z.astype(np.float32), flood


def parcels(n: int) -> list[tuple[str, bytes]]:
    k = math.ceil(math.sqrt(n))
    step = (SIZE_M - 1000) / k
    side = 0.8 * step
    i, j = np.divmod(np.arange(n), k)
    x0 = E0 + 500 + j * step
    y0 = N0 + 500 + i * step
    boxes = shapely.box(x0, y0, x0 + side, y0 + side)
    return [(f"B-{m:06d}", w) for m, w in enumerate(shapely.to_wkb(boxes))]


def naive(grid: T.Grid, items: list[tuple[str, bytes]], steep_deg: float) -> float:
    """rasterio.mask per parcel over a 3-band in-memory dataset (elev, slope, flood)."""
    h, w = grid.elev.shape
    with MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=w,
            height=h,
            count=3,
            dtype="float32",
            crs=grid.crs,
            transform=grid.transform,
            nodata=np.nan,
            tiled=True,
        ) as ds:
            ds.write(np.stack([grid.elev, grid.slope_deg, grid.flood]))
        with mem.open() as ds:
            t = time.perf_counter()
            for _, wkb in items:
                arr, _ = mask(ds, [shapely.from_wkb(wkb)], crop=True, filled=False)
                e, s, f = arr
                _ = (
                    e.min(),
                    e.max(),
                    e.mean(),
                    s.mean(),
                    s.max(),
                    (s > steep_deg).mean(),
                    (f > 0).mean(),
                    f.max(),
                )
            return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--naive", type=int, default=1_000)
    args = ap.parse_args()
    rng = np.random.default_rng(8)

    t = time.perf_counter()
    elev, flood = synthetic_dem(rng)
    transform = from_origin(E0, N0 + SIZE_M, CELL, CELL)
    t_gen = time.perf_counter() - t

    t = time.perf_counter()
    grid = T.Grid(
        crs=CRS.from_epsg(4547),
        transform=transform,
        elev=elev,
        slope_deg=T.slope(elev, CELL, CELL),
        flood=flood,
    )
    t_slope = time.perf_counter() - t

    items = parcels(args.parcels)
    t = time.perf_counter()
    stats = T.zonal_stats(grid, items, steep_deg=2.0, earthwork=True)
    t_zonal = time.perf_counter() - t
    t = time.perf_counter()
    T.zonal_stats(grid, items, steep_deg=2.0, earthwork=False)
    t_zonal_noew = time.perf_counter() - t
    assert len(stats) == len(items)

    sample = [items[i] for i in rng.choice(len(items), size=args.naive, replace=False)]
    t_naive = naive(grid, sample, 2.0) * len(items) / len(sample)

    total = t_slope + t_zonal
    cells = elev.size
    print(
        f"DEM: {elev.shape[1]}x{elev.shape[0]} cells of {CELL:g} m = {cells / 1e6:.1f} M "
        f"(generated in {t_gen:.1f} s)"
    )
    print(f"parcels: {len(items):,} of {shapely.area(shapely.from_wkb(items[0][1])):,.0f} m²")
    print(f"slope (Horn) over the DEM:            {t_slope:7.2f} s")
    print(
        f"zonal stats, all figures + earthwork: {t_zonal:7.2f} s "
        f"({len(items) / t_zonal:,.0f} parcels/s)"
    )
    print(f"zonal stats without earthwork:        {t_zonal_noew:7.2f} s")
    print(
        f"total (slope + stats):                {total:7.2f} s  target <= 30 s: "
        f"{'OK' if total <= 30 else 'MISSED'}"
    )
    print(
        f"naive rasterio.mask loop, {len(sample)} parcels extrapolated to {len(items):,}: "
        f"{t_naive:7.1f} s"
    )
    print(f"ratio naive / exactextract: {t_naive / t_zonal:.1f}x")
    some = stats[items[len(items) // 2][0]]
    print(
        f"e.g. {some.code}: elev {some.elev_mean_m:.2f} m, slope {some.slope_mean_deg:.2f}°, "
        f"flood {some.flood_share:.0%}, cut {some.earthwork_cut_m3:,.0f} m³"
    )
    _ = rasterio  # imported for the MemoryFile driver registration


if __name__ == "__main__":
    main()
