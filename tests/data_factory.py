"""Small, deterministic test files for the loader and schema tests.

Geometry is built in CGCS2000 / 3-degree Gauss-Krüger CM 114E (EPSG:4547) around a point in
the south of Weihui, so squares are exact squares in metres and areas are easy to predict,
then written in whatever CRS and format a test needs.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box

GK = 4547
BASE_LON, BASE_LAT = 114.07, 35.39
X0, Y0 = Transformer.from_crs(4490, GK, always_xy=True).transform(BASE_LON, BASE_LAT)
X0, Y0 = round(X0, -2), round(Y0, -2)  # a round origin keeps the squares' corners exact
ZONE_CODE = "WH-CZ"


def square(ix: float, iy: float, size: float = 100.0) -> Polygon:
    """A ``size`` m square, ``ix``/``iy`` squares east/north of the origin (EPSG:4547)."""
    x, y = X0 + ix * size, Y0 + iy * size
    return box(x, y, x + size, y + size)


def bowtie(ix: float, iy: float, size: float = 100.0) -> Polygon:
    """A self-intersecting 'bow-tie' over the square at (ix, iy): invalid, two triangles."""
    x, y = X0 + ix * size, Y0 + iy * size
    return Polygon([(x, y), (x + size, y + size), (x + size, y), (x, y + size), (x, y)])


def zone_gdf(code: str = ZONE_CODE, name_zh: str = "卫辉市产业集聚区") -> gpd.GeoDataFrame:
    """One approved cluster zone, 2 km × 2 km, covering the test parcels."""
    return gpd.GeoDataFrame(
        {
            "code": [code],
            "name_zh": [name_zh],
            "name_en": ["Weihui Industrial Cluster Zone"],
            "kind": ["cluster_zone"],
            "status": ["approved"],
            "gk_srid": [GK],
            "leading_industries": ['["food_beverage_packaging","green_building_materials"]'],
        },
        geometry=[box(X0 - 500, Y0 - 500, X0 + 1500, Y0 + 1500)],
        crs=GK,
    )


def parcels_gdf(
    n: int = 4,
    prefix: str = "WH-T",
    status: str = "available",
    geoms: Iterable[Any] | None = None,
    **extra: list[Any],
) -> gpd.GeoDataFrame:
    """``n`` edge-touching 100 m parcels in a row (codes ``WH-T-001``...)."""
    geoms = list(geoms) if geoms is not None else [square(i, 0) for i in range(n)]
    n = len(geoms)
    data: dict[str, list[Any]] = {
        "code": [f"{prefix}-{i + 1:03d}" for i in range(n)],
        "zone_code": [ZONE_CODE] * n,
        "status": [status] * n,
        "landuse_code": ["100101"] * n,
        "landuse_alias": ["M1"] * n,
        "svc_road": ["是"] * n,
        "svc_power": [1] * n,
        "svc_water": ["false"] * n,
        "land_price_wan_per_mu": [18.5] * n,
    }
    data.update(extra)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=GK)


def projects_df() -> pd.DataFrame:
    """Two projects with list-, JSON-, date- and yes/no-typed attributes as files carry them."""
    return pd.DataFrame(
        {
            "code": ["PRJ-001", "PRJ-002"],
            "name_zh": ["易拉罐项目", "啤酒扩产"],
            "name_en": ["Can making", "Brewery expansion"],
            "industry": ["food_beverage_packaging"] * 2,
            "stage": ["lead", "negotiating"],
            "min_area_mu": [50, 80],
            "max_area_mu": [80.5, 120],
            "landuse_codes": ['["1001","1101"]', '["100102"]'],
            "preferred_neighbours": ['["brewery"]', "[]"],
            "weights": ['{"area": 2, "rail": 1}', None],
            "start_date": ["2025-03-01", "2025-09-15"],
            "rail_required": ["否", "是"],
            "fostered": [0, 1],
            "township_tax_share": [None, 0.4],
        }
    )


# --- writers ---------------------------------------------------------------------------------


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame | pd.DataFrame]) -> Path:
    """A GeoPackage with the given layers (plain DataFrames become attribute tables)."""
    import pyogrio

    for name, frame in layers.items():
        if isinstance(frame, gpd.GeoDataFrame):
            frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        else:
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
    return path


def write_geojson(path: Path, gdf: gpd.GeoDataFrame) -> Path:
    gdf.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def write_shapefile(
    path: Path,
    gdf: gpd.GeoDataFrame,
    encoding: str | None = None,
    prj: bool = True,
    cpg: bool = True,
) -> Path:
    """A shapefile; ``prj=False``/``cpg=False`` delete those side files as broken exports do."""
    kw = {"encoding": encoding} if encoding else {}
    gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio", **kw)
    if not prj:
        path.with_suffix(".prj").unlink()
    if not cpg and path.with_suffix(".cpg").exists():
        path.with_suffix(".cpg").unlink()
    return path


def zip_shapefile(shp: Path, out: Path, folder: str = "") -> Path:
    """Zip a shapefile's side files, optionally inside a folder (as exports often do)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(shp.parent.glob(shp.stem + ".*")):
            if f.resolve() == out.resolve():
                continue  # the archive being written, when it sits next to the shapefile
            zf.write(f, f"{folder}{f.name}")
    return out


def write_kml(path: Path, gdf: gpd.GeoDataFrame) -> Path:
    gdf.to_crs(4326).to_file(path, driver="KML", engine="pyogrio")
    return path


def write_dxf(path: Path, gdf: gpd.GeoDataFrame, layer_field: str = "code") -> Path:
    """A DXF with each polygon on a CAD layer named by ``layer_field`` (DXF has no attributes
    and no CRS: only geometry and the entity's layer survive)."""
    out = gpd.GeoDataFrame(
        {"Layer": gdf[layer_field].astype(str)}, geometry=gdf.geometry.values, crs=None
    )
    out.to_file(path, driver="DXF", engine="pyogrio")
    return path


def truncate(path: Path, out: Path, fraction: float = 0.5) -> Path:
    """A copy of ``path`` cut to ``fraction`` of its bytes, as an interrupted download."""
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- database helpers ------------------------------------------------------------------------


def insert_zone(url: str, code: str = ZONE_CODE) -> None:
    """The test zone, written with plain SQL so loader tests do not depend on each other."""
    g = zone_gdf(code).to_crs(4490).geometry.iloc[0]
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom) "
            "VALUES (%s, '卫辉市产业集聚区', 'Weihui Cluster Zone', 'cluster_zone', 'approved',"
            " %s, ST_Multi(ST_GeomFromEWKB(%s)))",
            (code, GK, shapely.to_wkb(shapely.set_srid(g, 4490), include_srid=True)),
        )


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def env_for(url: str) -> dict[str, str]:
    """Environment for a ``parkgis`` subprocess that should use ``url``."""
    env = dict(os.environ)
    env["PARKGIS_DATABASE_URL"] = url
    return env
