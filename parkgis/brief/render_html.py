"""The brief as one self-contained HTML file: a Folium map of the parcel and its facts.

Every script, stylesheet, font and image is inlined (:func:`parkgis.maps.assets.localise` with
``inline=True``), and there is no basemap (our own layers only), so the file opens offline —
from an e-mail attachment, on a laptop in a meeting room without Wi-Fi.
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
import numpy as np
import shapely
from branca.element import Element
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from parkgis.brief.facts import BriefFacts, area_ha_text, area_mu_text
from parkgis.brief.static_maps import HIGHLIGHT, L
from parkgis.maps import assets, i18n, layers
from parkgis.search import SERVICES

CSS = """
<style>
  html, body { margin: 0; height: 100%; font-family: "Noto Sans CJK SC", "Noto Sans SC",
    "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif; color: #1b2733; }
  .pg-brief { display: flex; height: 100vh; }
  .pg-brief .pg-side { width: 380px; overflow-y: auto; padding: 18px 20px; box-sizing: border-box;
    border-right: 1px solid #d8dee4; background: #fff; font-size: 13px; }
  .pg-brief .pg-mapwrap { flex: 1; position: relative; }
  .pg-brief .pg-mapwrap > .folium-map { position: absolute !important; inset: 0; }
  .pg-side .kicker { color: #0b4f7c; font-weight: 700; font-size: 11px; letter-spacing: .06em; }
  .pg-side h1 { font-size: 21px; margin: 4px 0 0; }
  .pg-side h2 { font-size: 13px; color: #5f6b76; font-weight: 400; margin: 2px 0 10px; }
  .pg-side .code { font-size: 26px; font-weight: 700; color: #0b4f7c; margin: 6px 0 2px; }
  .pg-side .pill { display: inline-block; color: #fff; border-radius: 4px; padding: 1px 8px;
    font-size: 12px; font-weight: 700; }
  .pg-side h3 { font-size: 13px; color: #0b4f7c; border-left: 3px solid #0b4f7c;
    background: #f2f5f8; padding: 4px 8px; margin: 16px 0 6px; }
  .pg-side table { width: 100%; border-collapse: collapse; }
  .pg-side td { padding: 3px 2px; border-bottom: 1px solid #e6eaee; vertical-align: top; }
  .pg-side td.k { color: #5f6b76; width: 42%; }
  .pg-side .svc { display: grid; grid-template-columns: repeat(4, 1fr); gap: 2px 6px; }
  .pg-side .svc .on { color: #1a7f43; } .pg-side .svc .off { color: #a0a7ae; }
  .pg-side .muted { color: #5f6b76; font-size: 11px; }
  .pg-side .score { font-size: 28px; font-weight: 700; color: #0b4f7c; }
  .pg-label { background: #7a0052; color: #fff; border: 0; font-weight: 700; }
  @media print { .pg-brief { display: block; } .pg-side { width: auto; border: 0; } }
</style>
"""


def _to_lonlat(srid: int) -> Any:
    t = Transformer.from_crs(srid, 4490, always_xy=True)

    def conv(g: BaseGeometry) -> BaseGeometry:
        return shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0],
                                                                          xy[:, 1])))
    return conv


def _fc(rows: list[dict[str, Any]], conv: Any, props: tuple[str, ...]) -> dict[str, Any]:
    # Folium's GeoJsonTooltip puts property values into innerHTML: escaped here, they show
    # literally (the style functions only read vocabulary words, which escaping leaves alone).
    feats = []
    for r in rows:
        g = conv(r["geom"])
        feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(g),
                      "properties": {k: (i18n.esc(r[k]) if r.get(k) is not None else None)
                                     for k in props}})
    return {"type": "FeatureCollection", "features": feats}


def _tooltip(fc: dict[str, Any], fields: list[str]) -> folium.GeoJsonTooltip | None:
    """A tooltip on ``fields``, or none for an empty layer: Folium refuses a tooltip whose
    fields it cannot find in the data (a parcel far from everything has no neighbours)."""
    return folium.GeoJsonTooltip(fields, labels=False) if fc["features"] else None


def _e(s: Any) -> str:
    return html.escape("" if s is None else str(s))


def _m(v: float | None) -> str:
    return i18n.distance(v)


def _side(f: BriefFacts, lang: str) -> str:
    """The facts panel as HTML, every stored value through ``_e``.

    Long because it is the panel's whole template: the rows are built first, then one
    f-string lays them out in reading order, which is easier to check than scattered pieces.
    """
    p = f.parcel
    z = f.zone
    st = p["status"]
    lab = i18n.label(f"status.{st}")
    rows: list[str] = []

    def row(k: str, v: str) -> None:
        rows.append(f'<tr><td class="k">{_e(k)}</td><td>{v}</td></tr>')

    mu = area_mu_text(p["area_m2"])
    row(L("面积", "Area", lang), f"<b>{mu} {L('亩', 'mu', lang)}</b> · "
        f"{area_ha_text(p['area_m2'])} ha · {p['area_m2']:,.0f} m²")
    lu = i18n.label(i18n.landuse_key(p["landuse_code"]))
    row(L("用地分类", "Land use", lang), f"{_e(p['landuse_code'])} {_e(L(*lu, lang))}")
    row(L("旧分类（GB 50137）", "Old code (GB 50137)", lang), _e(p.get("landuse_alias") or "—"))
    price = p.get("land_price_wan_per_mu")
    row(L("基准地价", "Benchmark price", lang),
        f"{price:,.1f} 万元/亩" if price is not None else "—")
    svc = "".join(
        f'<span class="{"on" if p["services"].get(s) else "off"}">'
        f'{"✓" if p["services"].get(s) else "×"} {_e(L(*i18n.label(f"svc.{s}"), lang))}</span>'
        for s in SERVICES)
    dist = "".join(
        f'<tr><td class="k">{_e(L(v["label_zh"], v["label_en"], lang))}</td>'
        f'<td>{_m(v.get("m"))} · {_e(v.get("name_en") if lang == "en" else v.get("name_zh"))}'
        f"</td></tr>" for v in f.sheet["distances"].values())
    def up_row(u: dict[str, Any]) -> str:
        name = u["name_en"] if lang == "en" else u["name_zh"]
        st_ = L(*i18n.label("upgrade_status." + u["status"]), lang)
        when = f'{(u.get("start_date") or "")[:7]} → {(u.get("finish_date") or "")[:7]}'
        return (f'<tr><td class="k">{_e(u["code"])}</td><td>{_e(name)}<br>'
                f'<span class="muted">{_e(st_)} · {_e(when)} · {_m(u["distance_m"])}'
                "</span></td></tr>")

    none = L("周边无在建或计划中的提升工程", "no upgrade nearby", lang)
    ups = "".join(up_row(u) for u in f.sheet["upgrades"]) or \
        f'<tr><td class="muted">{_e(none)}</td></tr>'
    ents = "".join(
        f'<tr><td class="k">{"★ " if e.get("is_anchor") else ""}{_m(e["distance_m"])}</td>'
        f'<td>{_e(e["name_en"] if lang == "en" else e["name_zh"])}</td></tr>'
        for e in (f.sheet["anchors"][:3] + [n for n in f.neighbours
                                             if n["code"] not in {a["code"] for a in
                                                                  f.sheet["anchors"][:3]}])[:7])
    inds = "".join(
        f'<tr><td class="k">{_e(L(i["zh"], i["en"], lang))}</td>'
        f'<td>{_e(i["value_en"] if lang == "en" else i["value_zh"])}</td></tr>'
        for i in f.indicators)
    fit = ""
    if f.fit is not None and f.fit.candidate:
        s = f.fit
        reasons = "".join(f"<li>{_e(L(c['reason_zh'], c['reason_en'], lang, ' / '))}</li>"
                          for c in s.criteria if c.get("reason_zh"))
        fails = "".join(f"<li><b>× {_e(L(x['zh'], x['en'], lang, ' / '))}</b></li>"
                        for x in s.failures)
        fit = (f"<h3>{_e(L('项目匹配', 'Project fit', lang))} · "
               f"{_e(s.project['name_en'] if lang == 'en' else s.project['name_zh'])}</h3>"
               f'<div class="score">{s.score:.1f}<span class="muted"> / 100</span></div>'
               f"<ul>{fails}{reasons}</ul>")
    elif f.fit is not None:
        fit = f"<h3>{_e(L('项目匹配', 'Project fit', lang))}</h3><p class='muted'>" \
              f"{_e(L(f.fit.note_zh or '', f.fit.note_en or '', lang))}</p>"
    c = f.contact
    contact = "<br>".join(_e(x) for x in ((c["zh"] if lang != "en" else ()) +
                                           (c["en"] if lang != "zh" else ())))
    changed = f.data_changed.strftime("%Y-%m-%d %H:%M") if f.data_changed else "—"
    colour = layers.STATUS_COLOURS.get(st, "#888")
    placeholder = L("示例联系方式，仅供演示", "Contact details are illustrative placeholders", lang,
                    " / ")
    return f"""
<div class="pg-side">
  <div class="kicker">{_e(L("招商地块推介书", "SITE BRIEF", lang, " · "))}</div>
  <h1>{_e(z["name_zh"])}</h1><h2>{_e(z["name_en"])}</h2>
  <div class="code">{_e(f.code)}</div>
  <span class="pill" style="background:{colour}">{_e(L(*lab, lang, ' · '))}</span>
  <h3>{_e(L("地块概况", "Site facts", lang))}</h3><table>{"".join(rows)}</table>
  <div style="margin-top:6px" class="muted">{_e(L("七通一平", "Servicing", lang))}</div>
  <div class="svc">{svc}</div>
  <h3>{_e(L("基础设施距离", "Distances", lang))}</h3><table>{dist}</table>
  <h3>{_e(L("服务本地块的提升工程", "Upgrades serving it", lang))}</h3><table>{ups}</table>
  <h3>{_e(L("龙头企业与产业链", "Anchors & chain", lang))}</h3><table>{ents}</table>
  <h3>{_e(L("土地控制指标", "Land-control indicators", lang))}</h3><table>{inds}</table>
  <div class="muted">{_e(L(*f.indicators_source, lang, " / "))}</div>
  {fit}
  <h3>{_e(L("投资咨询", "Investment enquiries", lang))}</h3><div>{contact}</div>
  <p class="muted">{_e(L("生成日期", "Issued", lang))} {f.generated.isoformat()} ·
     {_e(L("数据版本", "Data version", lang))} v{f.data_version} ({changed})<br>
     {_e(placeholder)}</p>
</div>"""


def build_map(f: BriefFacts, lang: str) -> folium.Map:
    """The Folium map of the brief (no basemap; assets not yet localised)."""
    conv = _to_lonlat(f.srid)
    x0, y0, x1, y1 = f.window
    (lo0, la0), (lo1, la1) = (conv(shapely.Point(x0, y0)).coords[0],
                              conv(shapely.Point(x1, y1)).coords[0])
    fig = folium.Figure(title=_e(f"{f.code} · {f.zone['name_zh']} 地块推介 / Site brief"))
    m = folium.Map(location=[(la0 + la1) / 2, (lo0 + lo1) / 2], zoom_start=16, tiles=None,
                   control_scale=False, max_zoom=20, min_zoom=10)
    m.add_to(fig)
    layers.MetricScale().add_to(m)
    m.fit_bounds([[la0, lo0], [la1, lo1]])
    others = [r for r in f.parcels.rows if r["code"] != f.code]
    others_fc = _fc(others, conv, ("code", "status"))
    folium.GeoJson(
        others_fc, name=L("地块", "Parcels", lang),
        style_function=lambda ft: {
            "fillColor": layers.STATUS_COLOURS.get(ft["properties"]["status"], "#ccc"),
            "fillOpacity": layers.STATUS_OPACITY.get(ft["properties"]["status"], 0.5),
            "color": "#ffffff", "weight": 1},
        tooltip=_tooltip(others_fc, ["code"])).add_to(m)
    folium.GeoJson(
        _fc(f.zones.rows, conv, ("code", "status", "name_zh")), name=L("园区", "Zones", lang),
        style_function=lambda ft: {**layers.zone_style(ft["properties"]["status"]),
                                   "fillOpacity": 0, "interactive": False}).add_to(m)
    infra_fc = _fc(f.infrastructure.rows, conv, ("code", "kind", "status", "name_zh",
                                                 "name_en"))
    folium.GeoJson(
        infra_fc, name=L("基础设施", "Infrastructure", lang),
        style_function=lambda ft: layers.infra_style(ft["properties"]["kind"],
                                                     ft["properties"]["status"]),
        marker=folium.CircleMarker(radius=5, weight=2, fill_opacity=0.9),
        tooltip=_tooltip(infra_fc, ["name_en" if lang == "en" else "name_zh"])).add_to(m)
    if f.upgrades_map.rows:
        folium.GeoJson(
            _fc(f.upgrades_map.rows, conv, ("code", "kind", "status", "name_zh", "name_en")),
            name=L("提升工程", "Upgrades", lang),
            style_function=lambda ft: {"color": "#ffd43b", "weight": 9, "opacity": 0.7,
                                       "fillColor": "#ffd43b", "fillOpacity": 0.5},
            marker=folium.CircleMarker(radius=9, weight=3, fill_opacity=0.5),
            tooltip=folium.GeoJsonTooltip(["code", "name_en" if lang == "en" else "name_zh"],
                                          labels=False)).add_to(m)
    target = [r for r in f.parcels.rows if r["code"] == f.code]
    folium.GeoJson(
        _fc(target, conv, ("code",)), name=i18n.esc(f.code),
        style_function=lambda ft: {"fillColor": HIGHLIGHT, "fillOpacity": 0.85,
                                   "color": "#7a0052", "weight": 3},
        tooltip=folium.GeoJsonTooltip(["code"], labels=False)).add_to(m)
    if f.fit is not None and f.fit.footprint is not None:
        folium.GeoJson(
            {"type": "Feature", "properties": {},
             "geometry": shapely.geometry.mapping(conv(f.fit.footprint))},
            name=L("拟建厂房", "Project footprint", lang),
            style_function=lambda ft: {"color": "#111", "weight": 2, "dashArray": "6 4",
                                       "fillColor": "#fff", "fillOpacity": 0.4}).add_to(m)
    for e in f.enterprises.rows:
        pt = conv(e["geom"])
        colour = layers.MARKER_CSS.get(layers.role_icon(e["chain_role"])[0], "#888")
        folium.CircleMarker([pt.y, pt.x], radius=7 if e["is_anchor"] else 5, color="#fff",
                            weight=1.5, fill=True, fill_color=colour, fill_opacity=1,
                            # Folium puts tooltip text in a JavaScript template literal.
                            tooltip=i18n.esc(e["name_en"] if lang == "en" else e["name_zh"]),
                            ).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def render_html(f: BriefFacts, lang: str = "both") -> str:
    """The standalone HTML brief (every asset inlined; opens with no network)."""
    m = build_map(f, lang)
    fig = m.get_root()
    fig.header.add_child(Element(CSS), name="pg_brief_css")
    fig.header.add_child(Element('<meta name="viewport" content="width=device-width, '
                                 'initial-scale=1">'), name="pg_viewport")
    fig.html_lang = "zh-CN" if lang != "en" else "en"
    assets.localise(m, inline=True)
    page = assets.render(m)
    # The side panel goes before the map container; the map fills the rest of the window.
    side = _side(f, lang)
    marker = f'<div class="folium-map" id="{m.get_name()}"'
    if marker in page:
        page = page.replace(marker, f'<div class="pg-brief">{side}<div class="pg-mapwrap">'
                            + marker, 1)
        # Close the wrappers after the map's div.
        idx = page.find(marker)
        end = page.find("</div>", idx) + len("</div>")
        page = page[:end] + "</div></div>" + page[end:]
    else:  # pragma: no cover - folium changed its markup; keep the facts visible anyway
        page = page.replace("<body>", f"<body>{side}", 1)
    # "<" escaped: a code can never close the data block.
    meta = json.dumps({"code": f.code, "lang": lang, "data_version": f.data_version}
                      ).replace("<", "\\u003c")
    page = page.replace("</head>", f'<script type="application/json" id="pg-brief-meta">'
                                   f"{meta}</script></head>", 1)
    # No server sends this file's headers: the policy travels inside it.
    return assets.with_meta_csp(page)
