"""A map of where a project fits: matched parcels coloured by score, the footprint drawn.

Available parcels that do not match are drawn pale grey, near misses orange with the failed
requirement in the tooltip, matches on a red→green ramp by score, and each match's placed
footprint as a dark outline. No basemap by default (offline); assets are served by us
(:func:`parkgis.publish.maps.assets.localise`), never a CDN.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

import folium
import psycopg
from psycopg.rows import dict_row

from parkgis.publish.maps import assets, datamap, layers
from parkgis.settings import SitingSettings
from parkgis.siting import fit

PARCELS_SQL = """
SELECT code, status, area_mu, ST_AsGeoJSON(geom, 7) AS geometry
  FROM parcels
 WHERE status = 'available' OR code = ANY(%(codes)s)
"""


def score_colour(score: float) -> str:
    """Red (0) → amber (50) → green (100)."""
    s = max(0.0, min(100.0, score)) / 100
    if s < 0.5:
        r, g = 215, int(48 + (190 - 48) * s * 2)
    else:
        r, g = int(215 - (215 - 26) * (s - 0.5) * 2), int(190 - (190 - 150) * (s - 0.5) * 2)
    return f"#{r:02x}{g:02x}3c"


def build_fit_map(conn: psycopg.Connection, result: fit.MatchResult) -> folium.Map:
    """The Folium map of a :class:`parkgis.siting.fit.MatchResult`.

    Parameters
    ----------
    conn : psycopg.Connection
        Reads the parcel outlines (lon/lat).
    result : MatchResult

    Returns
    -------
    folium.Map
        Localised (assets under ``/static/vendor``).

    Long because the fit map's layers are declared in drawing order.
    """
    body = result.body()
    scores = fit.parcel_scores(result)
    near = {c: n for n in body["near_misses"] for c in n["parcels"]}
    codes = sorted(set(scores) | set(near))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(PARCELS_SQL, {"codes": codes}).fetchall()
    feats: list[dict[str, Any]] = []
    for r in rows:
        code = r["code"]
        if code in scores:
            colour, kind = score_colour(scores[code]), "match"
            tip = f"{code} · 得分 score {scores[code]:.1f}"
        elif code in near:
            colour, kind = "#f28e2b", "near"
            n = near[code]
            tip = f"{code} · 未满足 {n['failed']}: {n['reason_zh']} / {n['reason_en']}"
        else:
            colour, kind, tip = "#c8c8c8", "other", f"{code} · {float(r['area_mu']):.1f} 亩 mu"
        feats.append(
            {
                "type": "Feature",
                "geometry": json.loads(r["geometry"]),
                "properties": {
                    "code": code,
                    "colour": colour,
                    "kind": kind,
                    "_tip": tip,
                    "_style": {
                        "color": "#555555",
                        "weight": 0.6,
                        "fillColor": colour,
                        "fillOpacity": 0.7,
                    },
                },
            }
        )
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=False)
    layers.MetricScale().add_to(m)
    order = {"other": 0, "near": 1, "match": 2}
    feats.sort(key=lambda f: order[f["properties"]["kind"]])
    # Folium only makes the (constant-named) groups; features and tooltip texts travel in a
    # JSON data block that datamap.js draws with textContent (no stored value in a script).
    groups = {"parcels": folium.FeatureGroup(name="地块 parcels")}
    data = [datamap.layer("parcels", feats)]
    groups["parcels"].add_to(m)
    fps = [
        {
            "type": "Feature",
            "geometry": mt["footprint"],
            "properties": {
                "_tip": f"{' + '.join(mt['parcels'])}: "
                f"厂房 footprint, 得分 score {mt['score']:.1f}",
                "_style": {
                    "color": "#1f2d3d",
                    "weight": 2,
                    "fillOpacity": 0.15,
                    "dashArray": "4 3",
                },
            },
        }
        for mt in body["matches"]
        if mt["footprint"]
    ]
    if fps:
        groups["footprints"] = folium.FeatureGroup(name="厂房位置 footprint")
        groups["footprints"].add_to(m)
        data.append(datamap.layer("footprints", fps))
    if feats:
        xs, ys = [], []
        for f in feats if not scores else [f for f in feats if f["properties"]["kind"] != "other"]:
            _coords(f["geometry"]["coordinates"], xs, ys)
        if xs:
            m.fit_bounds([[min(ys), min(xs)], [max(ys), max(xs)]])
    p = body["project"]
    title = (
        f"<div style='position:absolute;top:8px;left:50px;z-index:1000;background:#fff;"
        f"padding:4px 8px;border-radius:4px;font:14px sans-serif'>"
        f"{escape(str(p['name_zh']))} / {escape(str(p['name_en']))}: "
        f"{len(body['matches'])} 处匹配 matches, {len(body['near_misses'])} 处接近 "
        f"near misses</div>"
    )
    m.get_root().html.add_child(folium.Element(title))
    folium.LayerControl().add_to(m)
    datamap.add_data_map(m, groups, data)
    return assets.localise(m)


def _coords(c: Any, xs: list[float], ys: list[float]) -> None:
    if c and isinstance(c[0], int | float):
        xs.append(float(c[0]))
        ys.append(float(c[1]))
        return
    for x in c:
        _coords(x, xs, ys)


def fit_map_html(
    conn: psycopg.Connection,
    code: str,
    top: int = 10,
    as_of: dt.date | None = None,
    siting: SitingSettings | None = None,
) -> str:
    """The fit map of a stored project as an HTML document (NotFound for unknown codes),
    judged as :func:`parkgis.siting.fit.match` judges it on ``as_of``."""
    result = fit.match_project(conn, code, top=top, as_of=as_of, siting=siting)
    return assets.render(build_fit_map(conn, result))
