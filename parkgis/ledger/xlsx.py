"""The ledger's tables as Excel workbooks (openpyxl): one header row in Chinese then English
with units, number formats per column, the header row frozen, and text that a spreadsheet
would run as a formula neutralised (a firm name from a statistics file could start with ``=``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from parkgis.cells import formula_safe

MU = "#,##0.00"
PCT = "0.0%"
WAN = "#,##0.00"
INT = "#,##0"
TEXT = "@"


@dataclass(frozen=True)
class Col:
    header_zh: str  # with the unit, e.g. 面积（亩）
    header_en: str
    get: Callable[[dict[str, Any]], Any]
    fmt: str | None = None
    width: int = 14


@dataclass(frozen=True)
class Sheet:
    title: str
    cols: Sequence[Col]
    rows: Sequence[dict[str, Any]]


def safe(v: Any) -> Any:
    """A cell value that cannot run as a formula: text starting with = + - @ (or a tab/CR)
    gets a leading apostrophe, which Excel shows as plain text."""
    if isinstance(v, str):
        v = v.replace("\x00", "")
        return formula_safe(v)
    if isinstance(v, list | tuple | set):
        return safe("、".join(str(x) for x in v))
    if isinstance(v, dict):
        return safe(str(v))
    return v


def workbook(sheets: Sequence[Sheet], note: str | None = None) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    head_font = Font(bold=True, color="FFFFFF")
    head_fill = PatternFill("solid", fgColor="0B4F7C")
    for sh in sheets:
        ws = wb.create_sheet(sh.title[:31])
        for j, c in enumerate(sh.cols, start=1):
            cell = ws.cell(row=1, column=j, value=f"{c.header_zh} / {c.header_en}")
            cell.font = head_font
            cell.fill = head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            ws.column_dimensions[get_column_letter(j)].width = c.width
        ws.row_dimensions[1].height = 32
        for i, r in enumerate(sh.rows, start=2):
            for j, c in enumerate(sh.cols, start=1):
                cell = ws.cell(row=i, column=j, value=safe(c.get(r)))
                if c.fmt:
                    cell.number_format = c.fmt
        ws.freeze_panes = "A2"
        if sh.rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(sh.cols))}{len(sh.rows) + 1}"
        if note:
            ws.cell(row=len(sh.rows) + 3, column=1, value=safe(note)).font = Font(
                italic=True, color="5F6B76"
            )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _g(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r.get(key)


def _sub(field: str, key: str, inner: str | None = None) -> Callable[[dict[str, Any]], Any]:
    """``r[field][key]`` (or ``[inner]`` of that), missing as None."""

    def get(r: dict[str, Any]) -> Any:
        v = (r.get(field) or {}).get(key)
        return (v or {}).get(inner, 0) if inner else v

    return get


STATUS_ZH = {
    "available": "可供",
    "reserved": "预留",
    "listed": "挂牌",
    "allocated": "已出让",
    "under_construction": "在建",
    "operational": "投产",
    "not_for_supply": "不供",
}


def stock_workbook(s: dict[str, Any]) -> bytes:
    """Long because it declares every sheet's columns (header, unit, number format) as data."""
    status_cols = [
        Col(f"{zh}（亩）", f"{st} (mu)", _sub("by_status", st, "area_mu"), MU)
        for st, zh in STATUS_ZH.items()
    ]
    zones = Sheet(
        "土地存量 Stock",
        [
            Col("园区编号", "Zone", _g("zone_code"), TEXT, 10),
            Col("园区", "Name", _g("name_zh"), TEXT, 18),
            Col("宗数（宗）", "Parcels", _g("parcels"), INT),
            Col("面积（亩）", "Area (mu)", _g("area_mu"), MU),
            Col("面积（公顷）", "Area (ha)", _g("area_ha"), MU),
            *status_cols,
            Col("已供地（亩）", "Supplied (mu)", _g("supplied_mu"), MU),
            Col("批准面积（亩）", "Approved (mu)", _g("approved_mu"), MU),
            Col("供地率（%）", "Supply rate", _g("supply_rate"), PCT),
            Col("建成率（%）", "Development rate", _g("development_rate"), PCT),
            Col("批而未供（亩）", "Approved not supplied (mu)", _g("unsupplied_mu"), MU),
            Col("其中超2年（亩）", "of which > 2 years (mu)", _g("unsupplied_over_2y_mu"), MU),
            Col("其中超5年（亩）", "of which > 5 years (mu)", _g("unsupplied_over_5y_mu"), MU),
            Col("供而未用（亩）", "Supplied, not started (mu)", _g("unused_mu"), MU),
            Col("闲置土地（亩）", "Idle land (mu)", _g("idle_mu"), MU),
        ],
        s["zones"],
    )
    idle = Sheet(
        "闲置 Idle",
        [
            Col("地块", "Parcel", _g("parcel_code"), TEXT, 12),
            Col("合同编号", "Contract", _g("contract_no"), TEXT, 16),
            Col("园区", "Zone", _g("zone_code"), TEXT, 10),
            Col("面积（亩）", "Area (mu)", _g("area_mu"), MU),
            Col("阶段", "Stage", _g("stage"), TEXT, 12),
            Col("闲置起算（日期）", "Idle since", _g("since"), TEXT, 12),
            Col("闲置费（万元）", "Idle fee (10k CNY)", _g("fee_wan"), WAN),
            Col("原因", "Reason", _g("reason_zh"), TEXT, 50),
        ],
        s.get("idle", []),
    )
    batches = Sheet(
        "批次 Batches",
        [
            Col("批次编号", "Batch", _g("code"), TEXT, 12),
            Col("批准文号", "Approval no.", _g("approval_no"), TEXT, 26),
            Col("批准日期", "Approved on", _g("approved_on"), TEXT, 12),
            Col("园区", "Zone", _g("zone_code"), TEXT, 10),
            Col("面积（亩）", "Area (mu)", _g("area_mu"), MU),
            Col("已供地（亩）", "Supplied (mu)", _g("supplied_mu"), MU),
            Col("批而未供（亩）", "Not supplied (mu)", _g("unsupplied_mu"), MU),
            Col("供地率（%）", "Supply rate", _g("supply_rate"), PCT),
            Col("批后年限（年）", "Age (years)", _g("age_years"), "0.00"),
        ],
        s["batches"],
    )
    absorption = Sheet(
        "季度供地 Absorption",
        [
            Col("季度", "Quarter", _g("quarter"), TEXT, 10),
            Col("园区", "Zone", _g("zone_code"), TEXT, 10),
            Col("宗数（宗）", "Parcels", _g("parcels"), INT),
            Col("供地面积（亩）", "Allocated (mu)", _g("area_mu"), MU),
            Col(
                "待供至出让中位天数（天）",
                "Median days available→allocated",
                _g("median_days"),
                "0.0",
                20,
            ),
        ],
        s["absorption"],
    )
    defs = Sheet(
        "口径 Definitions",
        [
            Col("指标", "Figure", _g("name_zh"), TEXT, 18),
            Col("数值", "Value", _g("value"), "#,##0.0000"),
            Col("单位", "Unit", _g("unit"), TEXT, 10),
            Col(
                "口径",
                "Definition",
                lambda r: f"{r['definition_zh']} / {r['definition_en']}",
                TEXT,
                60,
            ),
            Col("SQL", "SQL", _g("sql"), TEXT, 80),
        ],
        s["figures"],
    )
    return workbook([zones, batches, absorption, idle, defs], note=f"截至 / as of {s['as_of']}")


def performance_workbook(g: dict[str, Any]) -> bytes:
    inds = g["scheme"]["definition"]["indicators"]
    cols = [
        Col("企业编号", "Enterprise", _g("enterprise_code"), TEXT, 18),
        Col("企业名称", "Name", _g("name_zh"), TEXT, 22),
        Col("分组", "Group", _g("group"), TEXT, 8),
        Col("用地（亩）", "Land (mu)", _g("land_mu"), MU),
    ]
    for i in inds:
        k = i["key"]
        cols.append(
            Col(f"{i['name_zh']}（{i['unit']}）", i["name_en"], _sub("values", k), "#,##0.000")
        )
        cols.append(
            Col(f"{i['name_zh']}得分（分）", f"{i['name_en']} score", _sub("scores", k), "0.00", 10)
        )
        cols.append(
            Col(
                f"{i['name_zh']}排名（位）",
                f"{i['name_en']} rank",
                _sub("indicator_rank", k),
                INT,
                8,
            )
        )
    cols += [
        Col("综合得分（分）", "Score", _g("score"), "0.00", 10),
        Col("组内排名（位）", "Rank in group", _g("rank"), INT, 8),
        Col("等级", "Grade", _g("grade"), TEXT, 6),
        Col("上年等级", "Last year's grade", _g("previous_grade"), TEXT, 8),
        Col("得分变化（分）", "Score change", _g("score_change"), "+0.00;-0.00;0.00", 10),
    ]
    return workbook(
        [Sheet(f"亩均 {g['year']}", cols, g["firms"])],
        note=f"方案 / scheme {g['scheme']['version']}",
    )


def chains_workbook(c: dict[str, Any]) -> bytes:
    rows = [
        {
            **lk,
            "chain_zh": ch["name_zh"],
            "chain_code": ch["code"],
            "firm_names": [f["name_zh"] for f in lk["firms"]],
            "project_names": [p["name_zh"] for p in lk["projects"]],
        }
        for ch in c["chains"]
        for lk in ch["links"]
    ]
    return workbook(
        [
            Sheet(
                "产业链 Chains",
                [
                    Col("产业链", "Chain", _g("chain_zh"), TEXT, 16),
                    Col("环节序号", "Position", _g("position"), INT, 8),
                    Col("环节", "Link", _g("name_zh"), TEXT, 20),
                    Col("状态", "Status", _g("status_zh"), TEXT, 8),
                    Col("企业数（家）", "Firms", _g("n_firms"), INT, 8),
                    Col("营业收入（万元）", "Revenue (10k CNY)", _g("revenue_wan"), WAN),
                    Col("企业", "Enterprises", _g("firm_names"), TEXT, 40),
                    Col("在谈项目", "Pipeline projects", _g("project_names"), TEXT, 30),
                ],
                rows,
            )
        ]
    )


def townships_workbook(t: dict[str, Any]) -> bytes:
    return workbook(
        [
            Sheet(
                "乡镇 Townships",
                [
                    Col("排名（位）", "Rank", _g("rank"), INT, 6),
                    Col("乡镇", "Township", _g("name_zh"), TEXT, 12),
                    Col("线索数（个）", "Leads", _g("leads"), INT, 8),
                    Col("签约项目（个）", "Signed", _g("signed"), INT, 8),
                    Col(
                        "签约投资（万元）", "Investment signed (10k CNY)", _g("investment_wan"), WAN
                    ),
                    Col("供地（亩）", "Land supplied (mu)", _g("land_mu"), MU),
                    Col("寄养项目（个）", "Fostered projects", _g("fostered"), INT, 8),
                    Col(
                        "寄养税收分成（万元/年）",
                        "Fostered tax share (10k CNY/yr)",
                        _g("fostered_tax_wan"),
                        WAN,
                        18,
                    ),
                    Col("来源", "Source", _g("source"), TEXT, 20),
                ],
                t["townships"],
            )
        ]
    )
