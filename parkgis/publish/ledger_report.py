"""The monthly ledger report (``parkgis ledger report --month YYYY-MM``): stock accounts at
the month's end, 批而未供 by batch, absorption per quarter, the latest 亩均 grading, chain gaps
and the townships — as a multi-page A4 PDF drawn with the briefs' machinery (the same CJK
font subset embedded as text, so ``pdftotext`` reads it back), carrying the report date and
the data version it was made from.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from parkgis.errors import InvalidInput
from parkgis.ledger import chains, performance, stock, townships
from parkgis.ledger.common import data_version
from parkgis.publish.brief.layout import (
    ACCENT,
    BAND,
    MARGIN,
    MUTED,
    PAGE_W,
    Box,
    Page,
    new_page,
    wrap,
)
from parkgis.publish.brief.render_pdf import PDF_META, RENDER_LOCK

BODY = 7.0
SMALL = 6.0
ROW = 4.2
TOP = 270.0
BOTTOM = 18.0


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _n(v: Any, digits: int = 1) -> str:
    return "—" if v is None else f"{float(v):,.{digits}f}"


class Doc:
    """Pages filled top-down; a table row never splits and headers repeat on a new page."""

    def __init__(self, title: str, subtitle: str) -> None:
        self.pages: list[Figure] = []
        self.title = title
        self.subtitle = subtitle
        self.y = 0.0
        self._new()

    def _new(self) -> None:
        fig = new_page()
        self.pages.append(fig)
        self.page = Page(fig)
        self.page.rect(Box(MARGIN, 279.0, PAGE_W - 2 * MARGIN, 10.0), BAND)
        self.page.text(MARGIN + 2, 282.5, self.title, 9.5, color=ACCENT, weight="bold")
        self.page.text(
            PAGE_W - MARGIN - 2,
            282.5,
            f"第 {len(self.pages)} 页 / page {len(self.pages)}",
            SMALL,
            color=MUTED,
            ha="right",
        )
        self.page.text(MARGIN, 10.0, self.subtitle, SMALL - 0.5, color=MUTED)
        self.y = TOP

    def need(self, mm: float) -> None:
        if self.y - mm < BOTTOM:
            self._new()

    def heading(self, zh: str, en: str) -> None:
        self.need(14)
        self.y -= 3
        self.page.text(MARGIN, self.y, f"{zh}  {en}", 8.6, color=ACCENT, weight="bold")
        self.page.rule(MARGIN, PAGE_W - MARGIN, self.y - 1.4)
        self.y -= ROW + 1.5

    def para(self, s: str, size: float = BODY, color: str = "#1b2733") -> None:
        for line in wrap(s, PAGE_W - 2 * MARGIN, size, max_lines=6):
            self.need(ROW)
            self.page.text(MARGIN, self.y, line, size, color=color)
            self.y -= ROW

    def table(
        self,
        headers: Sequence[str],
        widths: Sequence[float],
        data: Sequence[Sequence[str]],
        right: Sequence[int] = (),
    ) -> None:
        def head() -> None:
            self.page.rect(Box(MARGIN, self.y - 1.5, sum(widths), ROW + 0.6), BAND)
            x = MARGIN
            for j, (h, w) in enumerate(zip(headers, widths, strict=True)):
                self.page.text(
                    x + w - 1 if j in right else x + 1,
                    self.y,
                    h,
                    SMALL,
                    color=ACCENT,
                    weight="bold",
                    ha="right" if j in right else "left",
                )
                x += w
            self.y -= ROW + 0.6

        self.need(ROW * 3)
        head()
        for r in data:
            if self.y - ROW < BOTTOM:
                self._new()
                head()
            x = MARGIN
            for j, (cell, w) in enumerate(zip(r, widths, strict=True)):
                text = wrap(str(cell), w - 1.5, SMALL, max_lines=1)[0] if cell else ""
                self.page.text(
                    x + w - 1 if j in right else x + 1,
                    self.y,
                    text,
                    SMALL,
                    ha="right" if j in right else "left",
                )
                x += w
            self.y -= ROW
        self.y -= 2

    def pdf(self, title: str) -> bytes:
        buf = io.BytesIO()
        with PdfPages(buf, metadata={**PDF_META, "Title": title}) as pp:
            for fig in self.pages:
                pp.savefig(fig)
        return buf.getvalue()


def _month(month: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1990 <= int(m.group(1)) <= 2100:
        raise InvalidInput("month 须为 YYYY-MM / month must be YYYY-MM", param="month")
    return int(m.group(1)), int(m.group(2))


def render_month_pdf(
    conn: psycopg.Connection, month: str, generated: datetime | None = None
) -> bytes:
    """The report for calendar month ``month`` (YYYY-MM) as PDF bytes; its sections are
    drawn in order, each by its own function."""
    y, mth = _month(month)
    as_of = stock.month_end(y, mth)
    generated = generated or datetime.now(ZoneInfo("Asia/Shanghai"))
    version = data_version(conn)
    s = stock.stock(conn, as_of, date(y - 2, 1, 1), as_of)
    years = [yr for yr in performance.years(conn) if yr <= y]
    g = performance.grade(conn, years[-1]) if years else None
    c = chains.chains(conn)
    t = townships.leaderboard(conn)

    title = f"卫辉市产业集聚区土地账月报 {month} / Land ledger, {month}"
    doc = Doc(
        title,
        f"截至 / as of {as_of.isoformat()} · 生成 / generated "
        f"{generated:%Y-%m-%d %H:%M} · 数据版本 / data version: {version}",
    )
    doc.para(
        f"报告月份 / month: {month}；截至 / as of: {as_of.isoformat()}；"
        f"生成日期 / generated: {generated:%Y-%m-%d}",
        BODY,
    )
    doc.para(f"数据版本 / data version: {version}", SMALL, MUTED)
    _key_figures(doc, s)
    _stock_tables(doc, s)
    _grading(doc, g)
    _chains_and_townships(doc, c, t)
    doc.para(
        "样例数据为示意（ILLUSTRATIVE），不代表真实情况。/ Sample data is illustrative.",
        SMALL,
        MUTED,
    )
    with RENDER_LOCK:
        return doc.pdf(title)


def _key_figures(doc: Doc, s: dict[str, Any]) -> None:
    """The stock's headline figures, each with its definition."""
    doc.heading("主要指标", "Key figures")
    for f in s["figures"]:
        v = f["value"]
        val = (
            (_pct(v) if f["unit"] == "%" else f"{_n(v)} 亩 / mu")
            if v is not None
            else (f["note"] or "—")
        )
        doc.para(f"{f['name_zh']} / {f['name_en']}: {val}")
        doc.para(f"口径：{f['definition_zh']}", SMALL, MUTED)


def _stock_tables(doc: Doc, s: dict[str, Any]) -> None:
    """Land stock by zone, approved-not-supplied by batch, absorption per quarter."""
    doc.heading("土地存量（按园区）", "Land stock by zone")
    doc.table(
        [
            "园区 Zone",
            "宗数",
            "面积(亩)",
            "已供(亩)",
            "供地率",
            "建成率",
            "批而未供(亩)",
            ">2年(亩)",
            ">5年(亩)",
        ],
        [34, 14, 20, 20, 16, 16, 22, 20, 20],
        [
            [
                z["name_zh"],
                str(z["parcels"]),
                _n(z["area_mu"]),
                _n(z["supplied_mu"]),
                _pct(z["supply_rate"]),
                _pct(z["development_rate"]),
                _n(z["unsupplied_mu"]),
                _n(z["unsupplied_over_2y_mu"]),
                _n(z["unsupplied_over_5y_mu"]),
            ]
            for z in s["zones"]
        ],
        right=range(1, 9),
    )
    doc.heading("批而未供（按批次）", "Approved, not supplied — by batch")
    doc.table(
        [
            "批准文号 Approval no.",
            "批准日期",
            "园区",
            "面积(亩)",
            "已供(亩)",
            "未供(亩)",
            "供地率",
            "年限",
        ],
        [50, 20, 14, 20, 20, 20, 16, 16],
        [
            [
                b["approval_no"],
                b["approved_on"],
                b["zone_code"] or "",
                _n(b["area_mu"]),
                _n(b["supplied_mu"]),
                _n(b["unsupplied_mu"]),
                _pct(b["supply_rate"]),
                _n(b["age_years"]),
            ]
            for b in s["batches"]
        ],
        right=range(3, 8),
    )
    doc.heading("季度供地（全区）", "Absorption per quarter (whole cluster)")
    doc.table(
        ["季度 Quarter", "宗数 Parcels", "面积(亩) mu", "中位天数 Median days"],
        [30, 30, 30, 40],
        [
            [q["quarter"], str(q["parcels"]), _n(q["area_mu"]), _n(q["median_days"])]
            for q in s["absorption"]
            if q["zone_code"] == stock.ALL
        ],
        right=(1, 2, 3),
    )


def _grading(doc: Doc, g: dict[str, Any] | None) -> None:
    """The per-mu grading of the latest year with figures, or a note that none are loaded."""
    if g:
        doc.heading(
            f"亩均效益评价 {g['year']}",
            f"Per-mu grading {g['year']} (scheme {g['scheme']['version']})",
        )
        doc.table(
            ["企业 Enterprise", "分组", "用地(亩)", "亩均税收", "得分", "排名", "等级", "上年"],
            [60, 16, 20, 20, 16, 14, 12, 12],
            [
                [
                    m["name_zh"],
                    m["group"],
                    _n(m["land_mu"]),
                    _n(m["values"].get("tax_per_mu"), 2),
                    _n(m["score"], 2),
                    str(m["rank"] or "—"),
                    m["grade"] or "不评",
                    m.get("previous_grade") or "—",
                ]
                for m in g["firms"]
            ],
            right=range(2, 8),
        )
    else:
        doc.heading("亩均效益评价", "Per-mu grading")
        doc.para("尚无亩均数据 / no per-mu figures loaded")


def _chains_and_townships(doc: Doc, c: dict[str, Any], t: dict[str, Any]) -> None:
    """The chain links' status and the township leaderboard."""
    doc.heading("产业链环节", "Chain links")
    doc.table(
        ["产业链 Chain", "环节 Link", "状态", "企业数", "在谈项目 Projects"],
        [34, 50, 16, 16, 70],
        [
            [
                ch["name_zh"],
                lk["name_zh"],
                lk["status_zh"],
                str(lk["n_firms"]),
                "、".join(p["name_zh"] for p in lk["projects"]),
            ]
            for ch in c["chains"]
            for lk in ch["links"]
        ],
        right=(3,),
    )
    doc.heading("乡镇招商排名", "Township leaderboard")
    doc.table(
        ["排名", "乡镇", "线索", "签约", "签约投资(万元)", "供地(亩)", "寄养分成(万元/年)"],
        [12, 26, 14, 14, 32, 24, 34],
        [
            [
                str(x["rank"]),
                x["name_zh"],
                str(x["leads"]),
                str(x["signed"]),
                _n(x["investment_wan"]),
                _n(x["land_mu"]),
                _n(x["fostered_tax_wan"]),
            ]
            for x in t["townships"]
        ],
        right=(0, 2, 3, 4, 5, 6),
    )
