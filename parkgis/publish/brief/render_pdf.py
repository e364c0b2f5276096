"""The printed brief: one A4 page per parcel, as PDF (and, from the same figure, PNG).

:func:`draw_brief` lays out the page on the grid of :mod:`parkgis.publish.brief.layout`;
:func:`render_pdf` writes it with the CJK font embedded as real text (selectable, searchable,
``pdftotext`` reads it back). Every figure is exact in the store and rounded here only for
display; the area in mu is printed by :func:`parkgis.publish.brief.facts.area_mu_text`.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from parkgis.publish import i18n
from parkgis.publish.brief import static_maps
from parkgis.publish.brief.facts import BriefFacts, area_ha_text, area_mu_text, drive_text
from parkgis.publish.brief.layout import (
    ACCENT,
    BAND,
    COL_GAP,
    COL_W,
    FOOTER,
    HEADER,
    INK,
    MARGIN,
    MUTED,
    PAGE_W,
    Box,
    Page,
    grid,
    new_page,
    text_width_mm,
    wrap,
)
from parkgis.publish.brief.static_maps import L
from parkgis.publish.i18n import quantity
from parkgis.vocabulary import SERVICES

ROW = 3.55  # table row pitch (mm) at BODY size
BODY = 6.6  # body text (pt)
SMALL = 5.6
HEAD = 7.6  # section headings (pt)
TICK, CROSS = "✓", "×"  # both in Noto Sans CJK (U+2717 is not: no tofu)


@dataclass
class RenderInfo:
    """Where things landed on the page (figure fractions, origin bottom-left): for tests."""

    parcel_bbox: tuple[float, float, float, float]
    map_bbox: tuple[float, float, float, float]
    area_mu_text: str


# Enough lines for any sentence the brief prints, so wrap() never has to cut one short.
WHOLE_LINES = 12


def _m(v: float | None) -> str:
    return i18n.distance(v)


def _fmt_money(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    return f"{float(v):,.{digits}f}"


class Columns:
    """Three columns of labelled rows filled top-down; a section never splits."""

    def __init__(self, page: Page, lang: str, top: float, bottom: float) -> None:
        self.page = page
        self.lang = lang
        self.top = top
        self.bottom = bottom
        self.x = [MARGIN + i * (COL_W + COL_GAP) for i in range(3)]
        self.y = [top] * 3

    def heading(self, col: int, zh: str, en: str) -> None:
        x, y = self.x[col], self.y[col]
        self.page.rect(Box(x, y - 4.6, COL_W, 4.6), fc=BAND)
        self.page.rect(Box(x, y - 4.6, 0.9, 4.6), fc=ACCENT)
        label = L(zh, en, self.lang, "  ")
        self.page.text(x + 2.2, y - 3.3, label, HEAD, color=ACCENT, weight="bold")
        self.y[col] = y - 4.6 - 2.9

    def row(
        self,
        col: int,
        label: str,
        value: str,
        *,
        value_color: str = INK,
        bold: bool = False,
        label_w: float | None = None,
    ) -> None:
        x, y = self.x[col], self.y[col]
        lw = label_w if label_w is not None else COL_W * 0.46
        lines = wrap(value, COL_W - lw - 1.0, BODY, max_lines=WHOLE_LINES)
        llines = wrap(label, lw - 1.0, BODY, max_lines=WHOLE_LINES)
        self.page.text(x + 1.0, y, "\n".join(llines), BODY, color=MUTED, va="top", linespacing=1.25)
        self.page.text(
            x + lw,
            y,
            "\n".join(lines),
            BODY,
            color=value_color,
            va="top",
            weight="bold" if bold else "normal",
            linespacing=1.25,
        )
        n = max(len(lines), len(llines))
        self.y[col] = y - ROW * n - 0.5
        self.page.rule(x, x + COL_W, self.y[col] + 0.9, lw=0.3)

    def para(
        self,
        col: int,
        text: str,
        size: float = BODY,
        color: str = INK,
        max_lines: int = WHOLE_LINES,
        indent: float = 1.0,
    ) -> None:
        x, y = self.x[col], self.y[col]
        lines = wrap(text, COL_W - indent - 0.5, size, max_lines=max_lines)
        self.page.text(
            x + indent, y, "\n".join(lines), size, color=color, va="top", linespacing=1.25
        )
        self.y[col] = y - size * 0.3528 * 1.25 * len(lines) - 1.0

    def gap(self, col: int, mm: float = 3.0) -> None:
        self.y[col] -= mm


def _header(page: Page, f: BriefFacts, lang: str) -> None:
    z = f.zone
    cz = next((r for r in f.zones.rows if r.get("kind") == "cluster_zone"), None)
    page.rect(Box(0, HEADER.y - 1.5, PAGE_W, 297 - HEADER.y + 1.5), fc=ACCENT)
    page.text(
        MARGIN,
        HEADER.top - 4.5,
        L("招商地块推介书", "SITE BRIEF", lang, "  ·  "),
        7.2,
        color="#b9d3e6",
        weight="bold",
    )
    # The park, Chinese and English, whatever the language of the rest.
    page.text(MARGIN, HEADER.top - 12.5, z["name_zh"], 15.5, color="white", weight="bold")
    page.text(MARGIN, HEADER.top - 17.8, z["name_en"], 8.6, color="#dce9f3")
    if cz is not None and cz["code"] != z["code"]:
        sub = f"{cz['name_zh']} · 一区两园  {cz['name_en']} (one zone, two parks)"
    else:
        kind = i18n.label(f"zone.{z['kind']}")
        status = i18n.label(f"zone.{z['status']}")
        sub = f"{kind[0]} · {status[0]}   {kind[1]} · {status[1]}"
    page.text(MARGIN, HEADER.top - 22.0, sub, 6.0, color="#b9d3e6")
    right = PAGE_W - MARGIN
    page.text(
        right,
        HEADER.top - 5.0,
        L("地块编号", "Parcel", lang, " / "),
        6.5,
        color="#b9d3e6",
        ha="right",
    )
    page.text(right, HEADER.top - 14.0, f.code, 21, color="white", weight="bold", ha="right")
    st = f.parcel["status"]
    zh, en = i18n.label(f"status.{st}")
    label = L(zh, en, lang, " · ")
    w = text_width_mm(label, 7.0) + 5.0
    from parkgis.publish.maps import layers

    page.rect(
        Box(right - w, HEADER.top - 21.6, w, 4.8),
        fc=layers.STATUS_COLOURS.get(st, "#888"),
        radius=1.2,
    )
    page.text(
        right - w / 2, HEADER.top - 20.3, label, 7.0, color="white", weight="bold", ha="center"
    )


def _site_facts(cols: Columns, f: BriefFacts, lang: str) -> None:
    """Long because it is the facts table, one row per fact, in print order."""
    p = f.parcel
    cols.heading(0, "地块概况", "Site facts")
    mu = area_mu_text(p["area_m2"])
    cols.row(
        0,
        L("面积", "Area", lang),
        f"{mu} 亩" if lang == "zh" else (f"{mu} mu" if lang == "en" else f"{mu} 亩 (mu)"),
        bold=True,
    )
    cols.row(
        0,
        L("公顷 · 平方米", "ha · m²", lang),
        f"{area_ha_text(p['area_m2'])} ha · {p['area_m2']:,.0f} m²",
    )
    lu = i18n.label(i18n.landuse_key(p["landuse_code"]))
    cols.row(
        0, L("用地分类", "Land use", lang), f"{p['landuse_code']} {L(lu[0], lu[1], lang, ' ')}"
    )
    cols.row(0, L("旧分类（GB 50137）", "Old code (GB 50137)", lang), p.get("landuse_alias") or "—")
    price = p.get("land_price_wan_per_mu")
    if price is not None:
        total = Decimal(repr(float(price))) * f.area_mu
        cols.row(
            0,
            L("基准地价", "Benchmark price", lang),
            f"{_fmt_money(price)} 万元/亩" if lang != "en" else f"{_fmt_money(price)} × 10k CNY/mu",
        )
        cols.row(
            0,
            L("估算地价", "Land cost (est.)", lang),
            f"≈ {float(total):,.0f} 万元" if lang != "en" else f"≈ {float(total) / 100:,.1f} M CNY",
        )
    else:
        cols.row(0, L("基准地价", "Benchmark price", lang), "—")
    if p.get("reserved_until"):
        cols.row(0, L("预留至", "Reserved until", lang), str(p["reserved_until"]))
    if f.terrain:
        t = f.terrain
        parts = []
        if t.get("elev_mean_m") is not None:
            parts.append(f"{t['elev_mean_m']:.1f} m")
        if t.get("slope_mean_deg") is not None:
            parts.append(f"{t['slope_mean_deg']:.1f}°")
        if t.get("flood_share") is not None:
            parts.append(L(f"易涝 {t['flood_share']:.0%}", f"flood {t['flood_share']:.0%}", lang))
        cols.row(0, L("高程 · 坡度", "Elevation · slope", lang), " · ".join(parts))
        if t.get("earthwork_cut_m3") is not None:
            vol = t["earthwork_cut_m3"] + t["earthwork_fill_m3"]
            cost = t.get("earthwork_cost_yuan") or 0.0
            cols.row(
                0,
                L("场地平整土方", "Levelling earthwork", lang),
                f"{vol:,.0f} m³ · ≈ {cost / 1e6:,.2f} M CNY"
                if lang == "en"
                else f"{vol:,.0f} m³ · ≈ {cost / 1e4:,.1f} 万元",
            )
    # 七通一平 as ticks, two rows of four.
    cols.gap(0, 1.0)
    svc = p["services"]
    n = sum(bool(v) for v in svc.values())
    title = L("七通一平", "Servicing", lang, " · ") + f"  {n}/8"
    cols.page.text(cols.x[0] + 1.0, cols.y[0], title, BODY, color=MUTED, va="top")
    cols.y[0] -= ROW + 0.6
    cell = COL_W / 4
    for i, s in enumerate(SERVICES):
        r, c = divmod(i, 4)
        x = cols.x[0] + c * cell + 1.0
        y = cols.y[0] - r * (ROW + 0.4)
        ok = bool(svc.get(s))
        zh, en = i18n.label(f"svc.{s}")
        name = en if lang == "en" else zh
        cols.page.text(
            x,
            y,
            TICK if ok else CROSS,
            BODY + 0.6,
            va="top",
            weight="bold",
            color="#1a7f43" if ok else "#b8babc",
        )
        cols.page.text(
            x + 2.6,
            y,
            name,
            BODY - 0.4 if lang != "zh" else BODY,
            va="top",
            color=INK if ok else "#9aa3ab",
        )
    cols.y[0] -= 2 * (ROW + 0.4) + 1.0


def _distances(cols: Columns, f: BriefFacts, lang: str) -> None:
    cols.heading(1, "基础设施距离", "Distances")
    d = f.sheet["distances"]
    for v in d.values():
        label = L(v["label_zh"], v["label_en"].capitalize(), lang)
        if v.get("m") is None:
            cols.row(1, label, "—", label_w=COL_W * 0.34)
            continue
        name = v["name_en"] if lang == "en" else v["name_zh"]
        cols.row(1, label, f"{_m(v['m'])} · {name}{drive_text(v, lang)}", label_w=COL_W * 0.34)
    cols.gap(1, 2.0)
    cols.heading(1, "服务本地块的提升工程", "Upgrades serving it")
    ups = f.sheet["upgrades"]
    if not ups:
        cols.para(
            1,
            L(
                "周边 1.5 km 内无在建或计划中的提升工程",
                "no planned or ongoing upgrade within 1.5 km",
                lang,
            ),
            color=MUTED,
        )
    for u in ups[:4]:
        zh, en = i18n.label(f"upgrade_status.{u['status']}")
        when = f"{(u.get('start_date') or '')[:7]} → {(u.get('finish_date') or '')[:7]}"
        name = u["name_en"] if lang == "en" else u["name_zh"]
        cap = ""
        if u.get("capacity_added"):
            cap = " · " + quantity(u["capacity_added"], u.get("capacity_unit"), sign=True)
        cols.para(1, f"{u['code']}  {name}{cap}", max_lines=WHOLE_LINES)
        cols.y[1] += 0.9
        cols.para(
            1,
            f"{L(zh, en, lang, ' ')} · {when} · {_m(u['distance_m'])}",
            size=SMALL,
            color=MUTED,
            max_lines=WHOLE_LINES,
        )
        cols.page.rule(cols.x[1], cols.x[1] + COL_W, cols.y[1] + 0.6, lw=0.3)
        cols.y[1] -= 0.8


def _chain(cols: Columns, f: BriefFacts, lang: str) -> None:
    cols.heading(2, "龙头企业与产业链", "Anchors & chain")
    anchors = f.sheet["anchors"][:3]
    seen = set()
    for a in anchors:
        seen.add(a["code"])
        role = i18n.label(f"role.{a['chain_role']}")
        name = a["name_en"] if lang == "en" else a["name_zh"]
        cols.row(
            2,
            f"★ {_m(a['distance_m'])}",
            f"{name} · {L(*role, lang, ' ')}" if lang != "both" else f"{name} · {role[0]}",
            label_w=COL_W * 0.28,
        )
    for e in f.neighbours:
        if e["code"] in seen or len(seen) >= 6:
            continue
        seen.add(e["code"])
        role = i18n.label(f"role.{e['chain_role']}")
        name = e["name_en"] if lang == "en" else e["name_zh"]
        cols.row(
            2,
            f"· {_m(e['distance_m'])}",
            f"{name} · {role[1] if lang == 'en' else role[0]}",
            label_w=COL_W * 0.28,
        )
    if not seen:
        cols.para(2, L("3 km 内暂无入驻企业", "no enterprise within 3 km", lang), color=MUTED)
    cols.gap(2, 2.0)
    cols.heading(2, "土地控制指标", "Land-control indicators")
    for ind in f.indicators:
        cols.row(
            2,
            L(ind["zh"], ind["en"], lang),
            ind["value_en"] if lang == "en" else ind["value_zh"],
            label_w=COL_W * 0.42,
        )
    src = f.indicators_source
    # Bilingual pages quote the source once (in Chinese: the document's own title).
    cols.para(
        2, src[1] if lang == "en" else src[0], size=SMALL - 0.4, color=MUTED, max_lines=WHOLE_LINES
    )


def _fit_band(page: Page, f: BriefFacts, lang: str, top: float) -> float:
    """The project fit, full width; returns the y below it.

    Long because the fit band's columns are laid out left to right on the page grid.
    """
    s = f.fit
    assert s is not None
    x0, w = MARGIN, PAGE_W - 2 * MARGIN
    page.rect(Box(x0, top - 4.6, w, 4.6), fc=BAND)
    page.rect(Box(x0, top - 4.6, 0.9, 4.6), fc=static_maps.MARK)
    pr = s.project
    title = (
        L("项目匹配", "Project fit", lang, "  ")
        + "  ·  "
        + (pr["name_en"] if lang == "en" else pr["name_zh"])
        + f" ({pr['code']})"
    )
    page.text(x0 + 2.2, top - 3.3, title, HEAD, color=ACCENT, weight="bold")
    y = top - 4.6 - 3.0
    if not s.candidate:
        page.text(
            x0 + 1, y, L(s.note_zh or "", s.note_en or "", lang, " / "), BODY, color=MUTED, va="top"
        )
        return y - ROW - 1
    verdict = (
        L("满足全部硬性条件", "meets every hard requirement", lang, " / ")
        if s.passed
        else L("未满足：", "fails: ", lang, " / ")
        + "; ".join(L(x["name_zh"], x["name"], lang, " ") for x in s.failures)
    )
    score = f"{s.score:.1f}" if s.score is not None else "—"
    left_w = 56.0
    page.text(x0 + 1, y, score, 17, color=ACCENT, weight="bold", va="top")
    page.text(x0 + 19, y - 1.2, "/ 100", BODY, color=MUTED, va="top")
    page.text(x0 + 19, y - 4.2, L("综合得分", "score", lang, " "), SMALL, color=MUTED, va="top")
    vlines = wrap(verdict, left_w, BODY, max_lines=WHOLE_LINES)
    page.text(
        x0 + 1,
        y - 8.6,
        "\n".join(vlines),
        BODY,
        va="top",
        linespacing=1.2,
        color="#1a7f43" if s.passed else "#b03a2e",
        weight="bold",
    )
    note_y = y - 8.6 - 2.9 * len(vlines) - 1.0
    if s.footprint is not None and note_y - 7.5 > FOOTER.top + 2.0:
        L_, W_ = pr.get("footprint_length_m"), pr.get("footprint_width_m")
        page.text(
            x0 + 1,
            note_y,
            "\n".join(
                wrap(
                    L(
                        f"厂房 {L_:g}×{W_:g} m 的布置见地图（虚线框）",
                        f"the {L_:g} × {W_:g} m building is drawn dashed on the map",
                        lang,
                        " / ",
                    ),
                    left_w,
                    SMALL,
                    3,
                )
            ),
            SMALL,
            color=MUTED,
            va="top",
            linespacing=1.2,
        )
    # Reasons in two columns: a score bar (or a cross for a failed requirement), the reason.
    items = [(None, x["zh"], x["en"]) for x in s.failures]
    items += [
        (c.get("score"), c["reason_zh"], c["reason_en"]) for c in s.criteria if c.get("reason_zh")
    ]
    colw = (w - left_w - 6) / 2
    xs = [x0 + left_w + 4, x0 + left_w + 4 + colw + 2]
    yy = [y, y]
    floor = FOOTER.top + 3.5
    left_out = 0
    for sc, zh, en in items:
        col = 0 if yy[0] >= yy[1] else 1
        # A reason is a sentence: wrapped whole, never cut short; one that no longer fits
        # is left to the HTML brief and counted below.
        lines = wrap(L(zh, en, lang, " / "), colw - 13, SMALL, max_lines=WHOLE_LINES)
        if yy[col] - 2.6 * len(lines) < floor:
            left_out += 1
            continue
        bx = xs[col]
        if sc is not None:
            page.rect(Box(bx, yy[col] - 2.2, 10, 1.6), fc="#e4e9ee")
            page.rect(Box(bx, yy[col] - 2.2, 10 * max(0.0, min(1.0, sc / 100)), 1.6), fc=ACCENT)
        else:
            page.text(
                bx + 5,
                yy[col],
                CROSS,
                SMALL + 1,
                color="#b03a2e",
                ha="center",
                va="top",
                weight="bold",
            )
        page.text(bx + 12, yy[col], "\n".join(lines), SMALL, va="top", linespacing=1.2, color=INK)
        yy[col] -= 2.6 * len(lines) + 0.9
    if left_out:
        col = 0 if yy[0] >= yy[1] else 1
        page.text(
            xs[col] + 12,
            max(yy[col], floor),
            L(
                f"另有 {left_out} 条理由见网页版简介",
                f"{left_out} more reasons in the HTML brief",
                lang,
                " / ",
            ),
            SMALL,
            va="top",
            color=MUTED,
        )
        yy[col] -= 3.5
    return min(yy[0], yy[1], note_y - 8) - 1.0


def _footer(page: Page, f: BriefFacts, lang: str) -> None:
    top = FOOTER.top
    page.rule(MARGIN, PAGE_W - MARGIN, top + 1.0, color=ACCENT, lw=0.8)
    zh = f.contact["zh"]
    en = f.contact["en"]
    page.text(
        MARGIN,
        top - 2.5,
        L("投资咨询", "Investment enquiries", lang, " · "),
        HEAD - 0.6,
        color=ACCENT,
        weight="bold",
        va="top",
    )
    lines = []
    if lang in ("zh", "both"):
        lines += [zh[0], f"{zh[1]}  {zh[2]}"]
    if lang in ("en", "both"):
        lines += [en[0], f"{en[1]} · {en[2]}"]
    page.text(MARGIN, top - 6.3, "\n".join(lines), SMALL, va="top", linespacing=1.3, color=INK)
    changed = f.data_changed.strftime("%Y-%m-%d %H:%M") if f.data_changed else "—"
    right = PAGE_W - MARGIN
    meta = [
        L(f"生成日期 {f.generated.isoformat()}", f"Issued {f.generated.isoformat()}", lang, " · "),
        L(
            f"数据版本 v{f.data_version} · 更新于 {changed}",
            f"Data version v{f.data_version} · updated {changed}",
            lang,
            " / ",
        ),
        L("示例联系方式，仅供演示", "Contact details are illustrative placeholders", lang, " / "),
    ]
    page.text(
        right, top - 2.5, "\n".join(meta), SMALL, va="top", ha="right", linespacing=1.3, color=MUTED
    )
    note = L(
        f"面积与距离按 CGCS2000 高斯-克吕格投影（EPSG:{f.srid}）计算，1 亩 = 10000/15 m²；"
        "以不动产登记与出让文件为准。",
        f"Areas and distances in CGCS2000 Gauss-Krüger (EPSG:{f.srid}); "
        "1 mu = 10000/15 m². Registry and transfer documents prevail.",
        lang,
        "  ",
    )
    page.text(
        PAGE_W / 2,
        FOOTER.y - 3.2,
        "\n".join(wrap(note, PAGE_W - 2 * MARGIN, 4.8, 2)),
        4.8,
        color=MUTED,
        ha="center",
        va="top",
        linespacing=1.2,
    )


def _map_caption(page: Page, box: Box, zh: str, en: str, lang: str) -> None:
    page.text(box.x, box.top + 1.2, L(zh, en, lang, " · "), 6.2, color=ACCENT, weight="bold")


def draw_brief(f: BriefFacts, lang: str = "both") -> tuple[Figure, RenderInfo]:
    """Lay out the brief of ``f`` on an A4 figure.

    Returns
    -------
    (Figure, RenderInfo)
    """
    fig = new_page()
    page = Page(fig)
    _header(page, f, lang)

    g = grid(f.fit is not None)
    ax = fig.add_axes(g.main.frac())
    seen = static_maps.draw_main(ax, f, lang)
    static_maps.legend(ax, seen, lang)
    _map_caption(page, g.main, "地块及周边", "The site and its surroundings", lang)
    loc = fig.add_axes(g.locator.frac())
    static_maps.draw_locator(loc, f, lang)
    _map_caption(page, g.locator, "区位：新乡市", "Location: Xinxiang", lang)
    ov = fig.add_axes(g.overview.frac())
    static_maps.draw_overview(ov, f, lang)
    _map_caption(page, g.overview, "在园区中的位置", "Within the park", lang)

    bottom = FOOTER.top + 4.0
    cols = Columns(page, lang, g.columns_top, bottom)
    _site_facts(cols, f, lang)
    _distances(cols, f, lang)
    _chain(cols, f, lang)
    if f.fit is not None:
        top = min(cols.y) - 1.5
        _fit_band(page, f, lang, top)

    _footer(page, f, lang)

    # Where the parcel is on the page (after the equal-aspect axes settled its box).
    ax.apply_aspect()
    x0, y0, x1, y1 = f.parcel_geom.bounds
    to_fig = ax.transData + fig.transFigure.inverted()
    (a, b), (c, d) = to_fig.transform([(x0, y0), (x1, y1)])
    pos = ax.get_position()
    info = RenderInfo(
        (a, b, c, d), (pos.x0, pos.y0, pos.x1, pos.y1), area_mu_text(f.parcel["area_m2"])
    )
    fig.set_label(f.code)
    return fig, info


PDF_META = {"Creator": "ParkGIS", "Producer": "ParkGIS (matplotlib)"}


def figure_pdf(fig: Figure, title: str) -> bytes:
    """The figure as a one-page PDF with its fonts embedded (subset, Type 42 / CID)."""
    buf = io.BytesIO()
    FigureCanvasPdf(fig)
    fig.savefig(buf, format="pdf", metadata={**PDF_META, "Title": title})
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = 300) -> bytes:
    """The figure as a PNG at ``dpi`` (300 for print)."""
    from parkgis.publish.brief.layout import MM, PAGE_H, PAGE_W

    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    # A4 at 300 dpi is 2480 × 3508 px by convention (3507.9 rounded, not truncated); the
    # 0.01 mm this adds to the page is invisible, and every artist is placed in fractions.
    fig.set_size_inches(round(PAGE_W * MM * dpi) / dpi, round(PAGE_H * MM * dpi) / dpi)
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": "ParkGIS"})
    return buf.getvalue()


def title_of(f: BriefFacts) -> str:
    return f"{f.zone['name_zh']} {f.code} 地块推介书 / Site brief"


#: matplotlib shares FreeType font objects between figures and is not thread-safe: API worker
#: threads draw one brief at a time (gathering the facts still runs concurrently; a deck uses
#: processes, one lock each).
RENDER_LOCK = threading.Lock()


def render_pdf(f: BriefFacts, lang: str = "both") -> bytes:
    """The brief of ``f`` as PDF bytes."""
    with RENDER_LOCK:
        fig, _ = draw_brief(f, lang)
        return figure_pdf(fig, title_of(f))
