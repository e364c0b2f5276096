"""The brief as one self-contained HTML file: a Folium map of the parcel and its facts.

Every script, stylesheet, font and image is inlined (:func:`parkgis.publish.maps.assets.localise`
with
``inline=True``), and there is no basemap (our own layers only), so the file opens offline —
from an e-mail attachment, on a laptop in a meeting room without Wi-Fi.
"""

from __future__ import annotations

import html
from typing import Any

import folium
import numpy as np
import shapely
from branca.element import Element
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from parkgis.publish import i18n
from parkgis.publish.brief.facts import BriefFacts, area_ha_text, area_mu_text, drive_text
from parkgis.publish.brief.static_maps import HIGHLIGHT, L
from parkgis.publish.maps import assets, datamap, layers
from parkgis.vocabulary import SERVICES

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
        return shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    return conv


def _features(
    rows: list[dict[str, Any]], conv: Any, style: Any, tip: Any = None
) -> list[dict[str, Any]]:
    """GeoJSON features for the data block: the style, and the tooltip as plain text (the page
    script sets it with textContent, so it shows literally and is never markup)."""
    feats = []
    for r in rows:
        props: dict[str, Any] = {"_style": style(r)}
        if tip is not None:
            props["_tip"] = tip(r)
        feats.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(conv(r["geom"])),
                "properties": props,
            }
        )
    return feats


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
    row(
        L("面积", "Area", lang),
        f"<b>{mu} {L('亩', 'mu', lang)}</b> · "
        f"{area_ha_text(p['area_m2'])} ha · {p['area_m2']:,.0f} m²",
    )
    lu = i18n.label(i18n.landuse_key(p["landuse_code"]))
    row(L("用地分类", "Land use", lang), f"{_e(p['landuse_code'])} {_e(L(*lu, lang))}")
    row(L("旧分类（GB 50137）", "Old code (GB 50137)", lang), _e(p.get("landuse_alias") or "—"))
    price = p.get("land_price_wan_per_mu")
    row(
        L("基准地价", "Benchmark price", lang),
        f"{price:,.1f} 万元/亩" if price is not None else "—",
    )
    svc = "".join(
        f'<span class="{"on" if p["services"].get(s) else "off"}">'
        f"{'✓' if p['services'].get(s) else '×'} {_e(L(*i18n.label(f'svc.{s}'), lang))}</span>"
        for s in SERVICES
    )
    dist = "".join(
        f'<tr><td class="k">{_e(L(v["label_zh"], v["label_en"], lang))}</td>'
        f"<td>{_m(v.get('m'))} · {_e(v.get('name_en') if lang == 'en' else v.get('name_zh'))}"
        f"{_e(drive_text(v, lang))}</td></tr>"
        for v in f.sheet["distances"].values()
    )

    def up_row(u: dict[str, Any]) -> str:
        name = u["name_en"] if lang == "en" else u["name_zh"]
        st_ = L(*i18n.label("upgrade_status." + u["status"]), lang)
        when = f"{(u.get('start_date') or '')[:7]} → {(u.get('finish_date') or '')[:7]}"
        return (
            f'<tr><td class="k">{_e(u["code"])}</td><td>{_e(name)}<br>'
            f'<span class="muted">{_e(st_)} · {_e(when)} · {_m(u["distance_m"])}'
            "</span></td></tr>"
        )

    none = L("周边无在建或计划中的提升工程", "no upgrade nearby", lang)
    ups = (
        "".join(up_row(u) for u in f.sheet["upgrades"])
        or f'<tr><td class="muted">{_e(none)}</td></tr>'
    )
    ents = "".join(
        f'<tr><td class="k">{"★ " if e.get("is_anchor") else ""}{_m(e["distance_m"])}</td>'
        f"<td>{_e(e['name_en'] if lang == 'en' else e['name_zh'])}</td></tr>"
        for e in (
            f.sheet["anchors"][:3]
            + [
                n
                for n in f.neighbours
                if n["code"] not in {a["code"] for a in f.sheet["anchors"][:3]}
            ]
        )[:7]
    )
    inds = "".join(
        f'<tr><td class="k">{_e(L(i["zh"], i["en"], lang))}</td>'
        f"<td>{_e(i['value_en'] if lang == 'en' else i['value_zh'])}</td></tr>"
        for i in f.indicators
    )
    fit = ""
    if f.fit is not None and f.fit.candidate:
        s = f.fit
        reasons = "".join(
            f"<li>{_e(L(c['reason_zh'], c['reason_en'], lang, ' / '))}</li>"
            for c in s.criteria
            if c.get("reason_zh")
        )
        fails = "".join(
            f"<li><b>× {_e(L(x['zh'], x['en'], lang, ' / '))}</b></li>" for x in s.failures
        )
        fit = (
            f"<h3>{_e(L('项目匹配', 'Project fit', lang))} · "
            f"{_e(s.project['name_en'] if lang == 'en' else s.project['name_zh'])}</h3>"
            f'<div class="score">{s.score:.1f}<span class="muted"> / 100</span></div>'
            f"<ul>{fails}{reasons}</ul>"
        )
    elif f.fit is not None:
        fit = (
            f"<h3>{_e(L('项目匹配', 'Project fit', lang))}</h3><p class='muted'>"
            f"{_e(L(f.fit.note_zh or '', f.fit.note_en or '', lang))}</p>"
        )
    c = f.contact
    contact = "<br>".join(
        _e(x) for x in ((c["zh"] if lang != "en" else ()) + (c["en"] if lang != "zh" else ()))
    )
    changed = f.data_changed.strftime("%Y-%m-%d %H:%M") if f.data_changed else "—"
    colour = layers.STATUS_COLOURS.get(st, "#888")
    placeholder = L(
        "示例联系方式，仅供演示", "Contact details are illustrative placeholders", lang, " / "
    )
    return f"""
<div class="pg-side">
  <div class="kicker">{_e(L("招商地块推介书", "SITE BRIEF", lang, " · "))}</div>
  <h1>{_e(z["name_zh"])}</h1><h2>{_e(z["name_en"])}</h2>
  <div class="code">{_e(f.code)}</div>
  <span class="pill" style="background:{colour}">{_e(L(*lab, lang, " · "))}</span>
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
    """The Folium map of the brief (no basemap; assets not yet localised).

    Folium only creates the (empty, constant-named) layer groups; the features and their
    tooltips travel in a JSON data block that ``datamap.js`` draws
    (:mod:`parkgis.publish.maps.datamap`).

    Long because each map layer is declared with its style and data block in drawing order.
    """
    conv = _to_lonlat(f.srid)
    x0, y0, x1, y1 = f.window
    (lo0, la0), (lo1, la1) = (
        conv(shapely.Point(x0, y0)).coords[0],
        conv(shapely.Point(x1, y1)).coords[0],
    )
    fig = folium.Figure(title=_e(f"{f.code} · {f.zone['name_zh']} 地块推介 / Site brief"))
    m = folium.Map(
        location=[(la0 + la1) / 2, (lo0 + lo1) / 2],
        zoom_start=16,
        tiles=None,
        control_scale=False,
        max_zoom=20,
        min_zoom=10,
    )
    m.add_to(fig)
    layers.MetricScale().add_to(m)
    m.fit_bounds([[la0, lo0], [la1, lo1]])

    def name(r: dict[str, Any]) -> str:
        return str((r.get("name_en") if lang == "en" else r.get("name_zh")) or "")

    groups: dict[str, Any] = {}
    data: list[dict[str, Any]] = []

    def add(
        key: str, label: str, feats: list[dict[str, Any]], control: bool = True, **opts: Any
    ) -> None:
        groups[key] = folium.FeatureGroup(name=label, control=control)
        groups[key].add_to(m)
        data.append(datamap.layer(key, feats, **opts))

    others = [r for r in f.parcels.rows if r["code"] != f.code]
    add(
        "parcels",
        L("地块", "Parcels", lang),
        _features(
            others,
            conv,
            lambda r: {
                "fillColor": layers.STATUS_COLOURS.get(r["status"], "#ccc"),
                "fillOpacity": layers.STATUS_OPACITY.get(r["status"], 0.5),
                "color": "#ffffff",
                "weight": 1,
            },
            lambda r: r["code"],
        ),
    )
    add(
        "zones",
        L("园区", "Zones", lang),
        _features(
            f.zones.rows,
            conv,
            lambda r: {**layers.zone_style(r["status"]), "fillOpacity": 0, "interactive": False},
        ),
    )
    add(
        "infrastructure",
        L("基础设施", "Infrastructure", lang),
        _features(
            f.infrastructure.rows, conv, lambda r: layers.infra_style(r["kind"], r["status"]), name
        ),
        marker={"radius": 5, "weight": 2, "fillOpacity": 0.9},
    )
    if f.upgrades_map.rows:
        add(
            "upgrades",
            L("提升工程", "Upgrades", lang),
            _features(
                f.upgrades_map.rows,
                conv,
                lambda r: {
                    "color": "#ffd43b",
                    "weight": 9,
                    "opacity": 0.7,
                    "fillColor": "#ffd43b",
                    "fillOpacity": 0.5,
                },
                lambda r: f"{r['code']} {name(r)}",
            ),
            marker={"radius": 9, "weight": 3, "fillOpacity": 0.5},
        )
    target = [r for r in f.parcels.rows if r["code"] == f.code]
    add(
        "target",
        L("本地块", "This parcel", lang),
        _features(
            target,
            conv,
            lambda r: {
                "fillColor": HIGHLIGHT,
                "fillOpacity": 0.85,
                "color": "#7a0052",
                "weight": 3,
            },
            lambda r: r["code"],
        ),
    )
    if f.fit is not None and f.fit.footprint is not None:
        add(
            "footprint",
            L("拟建厂房", "Project footprint", lang),
            [
                {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(conv(f.fit.footprint)),
                    "properties": {
                        "_style": {
                            "color": "#111",
                            "weight": 2,
                            "dashArray": "6 4",
                            "fillColor": "#fff",
                            "fillOpacity": 0.4,
                        }
                    },
                }
            ],
        )
    ents = _features(f.enterprises.rows, conv, lambda r: {}, name)
    for ft, r in zip(ents, f.enterprises.rows, strict=True):
        colour = layers.MARKER_CSS.get(layers.role_icon(r["chain_role"])[0], "#888")
        ft["properties"]["_marker"] = {
            "radius": 7 if r["is_anchor"] else 5,
            "color": "#fff",
            "weight": 1.5,
            "fill": True,
            "fillColor": colour,
            "fillOpacity": 1,
        }
    add("enterprises", L("企业", "Enterprises", lang), ents, control=False)
    folium.LayerControl(collapsed=True).add_to(m)
    datamap.add_data_map(m, groups, data)
    return m


def render_html(f: BriefFacts, lang: str = "both") -> str:
    """The standalone HTML brief (every asset inlined; opens with no network)."""
    m = build_map(f, lang)
    fig = m.get_root()
    fig.header.add_child(Element(CSS), name="pg_brief_css")
    fig.header.add_child(
        Element('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        name="pg_viewport",
    )
    fig.html_lang = "zh-CN" if lang != "en" else "en"
    assets.localise(m, inline=True)
    page = assets.render(m)
    # The side panel goes before the map container; the map fills the rest of the window.
    side = _side(f, lang)
    marker = f'<div class="folium-map" id="{m.get_name()}"'
    if marker in page:
        page = page.replace(
            marker, f'<div class="pg-brief">{side}<div class="pg-mapwrap">' + marker, 1
        )
        # Close the wrappers after the map's div.
        idx = page.find(marker)
        end = page.find("</div>", idx) + len("</div>")
        page = page[:end] + "</div></div>" + page[end:]
    else:  # pragma: no cover - folium changed its markup; keep the facts visible anyway
        page = page.replace("<body>", f"<body>{side}", 1)
    # A non-executable data block, escaped so that a code can never close it.
    meta = datamap.json_data_block(
        {"code": f.code, "lang": lang, "data_version": f.data_version}, "pg-brief-meta"
    )
    page = page.replace("</head>", f"{meta}</head>", 1)
    # No server sends this file's headers: the policy travels inside it.
    return assets.with_meta_csp(page)
