"""Export the public layers to files: GeoPackage, GeoJSON, Shapefile (zipped), KML, CSV.

What leaves is what the public collections registry (:mod:`parkgis.db.collections`) allows, so
an export handed to a partner agency can never carry a confidential column. Geometry stays
in CGCS2000 (EPSG:4490) unless another CRS is asked for.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg.rows import tuple_row
from pyproj import CRS

from parkgis.cells import formula_safe
from parkgis.db.collections import COLLECTIONS, Collection
from parkgis.errors import InvalidInput

FORMATS = {
    "gpkg": ("GPKG", True),  # driver, holds several layers
    "geojson": ("GeoJSON", False),
    "shp": ("ESRI Shapefile", True),  # one .shp per layer, zipped together
    "kml": ("KML", False),
    "csv": ("CSV", False),
}


@dataclass
class ExportReport:
    path: Path
    counts: dict[str, int]

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return f"已导出 / exported {parts} → {self.path}"


def _select_sql(
    c: Collection, zone: str | None, status: Sequence[str] | None
) -> tuple[str, list[Any]]:
    cols = ", ".join(f"{c.expr(p.name)} AS {p.name}" for p in c.props)
    where: list[str] = [c.where]
    params: list[Any] = []
    if zone and c.prop("zone_code"):
        where.append("t.zone_code = %s")
        params.append(zone)
    if status and c.id == "parcels":
        where.append("t.status = ANY(%s)")
        params.append(list(status))
    sql = (
        f"SELECT {cols}, ST_AsBinary(t.geom) AS geometry FROM {c.table} t {c.joins} "
        f"WHERE {' AND '.join(where)} ORDER BY t.code"
    )
    return sql, params


def _dbf_names(columns: Sequence[str]) -> dict[str, str]:
    """Column → a unique dBase name of at most 10 characters."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for col in columns:
        cand = col[:10]
        n = 1
        while cand in used:
            suffix = f"_{n}"
            cand = col[: 10 - len(suffix)] + suffix
            n += 1
        used.add(cand)
        out[col] = cand
    return out


def read_layer(
    conn: psycopg.Connection,
    layer: str,
    zone: str | None = None,
    status: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """One public layer as a GeoDataFrame in EPSG:4490 (public properties only)."""
    c = COLLECTIONS.get(layer)
    if c is None:
        raise InvalidInput(f"未知图层 / unknown layer {layer!r}: one of {', '.join(COLLECTIONS)}")
    sql, params = _select_sql(c, zone, status)
    # tuple rows whatever the connection's default row factory (the CLI's is dict_row)
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, params)
        assert cur.description is not None  # a SELECT always describes its columns
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    records = [dict(zip(names, r, strict=True)) for r in rows]
    for rec in records:
        rec["geometry"] = bytes(rec["geometry"]) if rec["geometry"] is not None else None
    df = gpd.GeoDataFrame(records, columns=names)
    df["geometry"] = gpd.GeoSeries.from_wkb(df["geometry"], crs="EPSG:4490")
    return gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4490")


def export_layers(
    conn: psycopg.Connection,
    fmt: str,
    path: Path,
    layers: Sequence[str] | None = None,
    zone: str | None = None,
    status: Sequence[str] | None = None,
    crs: str | None = None,
    on_layer: Callable[[str, int], None] | None = None,
) -> ExportReport:
    """Write public layers to ``path`` in ``fmt`` (see ``FORMATS``).

    Single-layer formats (GeoJSON, KML, CSV) take exactly one layer (default ``parcels``);
    GeoPackage and zipped Shapefile default to every public layer. The file appears only when
    complete (written to a temporary name, then moved).
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"未知格式 / unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    driver, multi = FORMATS[fmt]
    chosen = list(layers or (COLLECTIONS if multi else ["parcels"]))
    if not multi and len(chosen) != 1:
        raise InvalidInput(f"{fmt} holds one layer: pick one with --layer")
    target = None
    if crs:
        try:
            target = CRS.from_user_input(crs)
        except Exception as exc:
            raise InvalidInput(f"未知坐标系 / unknown CRS {crs!r}") from exc
    path = Path(path)
    if fmt == "shp" and path.suffix.lower() != ".zip":
        raise InvalidInput("shp 导出为 .zip 压缩包 / a shapefile export is a .zip: name it *.zip")
    path.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        work = Path(tmp)
        out = work / path.name
        for name in chosen:
            gdf = read_layer(conn, name, zone, status)
            if target is not None:
                gdf = gdf.to_crs(target)
            counts[name] = len(gdf)
            if fmt == "csv":
                df = gdf.drop(columns="geometry")
                df["wkt"] = gdf.geometry.to_wkt()
                for col in df.columns:
                    if not pd.api.types.is_numeric_dtype(df[col]):
                        df[col] = df[col].map(formula_safe)
                # BOM: Excel reads Chinese. CRLF rows (RFC 4180) also make the writer quote a
                # bare CR inside a value, which otherwise splits the row.
                df.to_csv(out, index=False, encoding="utf-8-sig", lineterminator="\r\n")
            elif fmt == "shp":
                # dBase field names hold 10 characters: shorten them ourselves, uniquely, and
                # ship the mapping beside the layer rather than let GDAL launder them.
                short = _dbf_names([c for c in gdf.columns if c != "geometry"])
                gdf.rename(columns=short).to_file(
                    work / f"{name}.shp", driver=driver, engine="pyogrio", encoding="UTF-8"
                )
                (work / f"{name}_fields.csv").write_text(
                    "field,name\n" + "".join(f"{v},{k}\n" for k, v in short.items()),
                    encoding="utf-8",
                )
            else:
                gdf.to_file(out, layer=name, driver=driver, engine="pyogrio")
            if on_layer:
                on_layer(name, len(gdf))
        if fmt == "shp":
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(work.iterdir()):
                    if f != out:
                        z.write(f, f.name)
        shutil.move(out, path)
    return ExportReport(path, counts)
