"""Pre-review (预审) of a project on a site against the land-control indicator table.

The 重大招商项目预审机制 of the seed: before a project gets land, check what it promises on the
site it would get against the indicator set in force (:mod:`parkgis.promotion.indicators`):

=======================  ==========================================  ===========  =========
indicator                project figure                              unit         rule
=======================  ==========================================  ===========  =========
investment_intensity     ``investment_wan`` ÷ site area (公顷)        万元/公顷    ≥ min
floor_area_ratio         ``floor_area_ratio`` (or the buildings      ratio        ≥ min
                         given: storeys over 8 m count twice)
building_coverage        ``building_coverage``                       ratio        ≥ min
office_share             ``office_share``                            ratio        ≤ max
green_ratio              ``green_ratio``                             ratio        ≤ max
tax_per_mu               ``expected_tax_wan`` (per year) ÷ area (亩)  万元/亩      ≥ min
=======================  ==========================================  ===========  =========

The site is one parcel or several (an assembled match); its area is the sum of the parcels'
``area_m2`` (Gauss–Krüger, exact), converted with 1 亩 = 10000/15 m² in :class:`Decimal`.
Each indicator gets a verdict: ``pass``, ``fail``, ``missing`` (the project states no figure)
or ``not_applicable`` (the set has no row for it — e.g. the industry-specific indicators for a
project that is not an industrial one). The overall verdict is ``fail`` if any indicator fails,
else ``incomplete`` if any figure is missing, else ``pass``.

Figures are compared unrounded; they are rounded only in the sentences and the exports.
A report is exportable as JSON (:func:`Review.body`), CSV with a BOM for Excel
(:func:`to_csv`) and a printable, self-contained HTML page (:func:`to_html`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from jinja2 import Environment, select_autoescape
from psycopg.rows import dict_row

from parkgis.errors import Conflict, InvalidInput, NotFound
from parkgis.promotion import indicators as ind

M2_PER_HA = Decimal(10000)
M2_PER_MU = Decimal(10000) / Decimal(15)
STOREY_DOUBLE_M = Decimal(8)
VERDICTS = ("pass", "fail", "missing", "not_applicable")
VERDICT_ZH = {
    "pass": "通过",
    "fail": "不通过",
    "missing": "缺数据",
    "not_applicable": "不适用",
    "incomplete": "待补充",
}
PROJECT_FIGURES = (
    "investment_wan",
    "expected_tax_wan",
    "floor_area_ratio",
    "building_coverage",
    "green_ratio",
    "office_share",
)

SQL_PROJECT = "SELECT * FROM projects WHERE code = %s"
SQL_PARCELS = """
SELECT code, status, zone_code, area_m2, landuse_code, project_code
  FROM parcels WHERE code = ANY(%s)
"""


def _dec(v: Any) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(str(v))


def _fmt(d: Decimal | None, digits: int = 2) -> str:
    if d is None:
        return "—"
    q = d.quantize(Decimal(1).scaleb(-digits))
    return f"{q:,}"


def _pct(d: Decimal | None) -> str:
    return "—" if d is None else f"{_fmt(d * 100, 1)}%"


@dataclass
class Item:
    """One indicator of a review."""

    indicator: str
    value: Decimal | None
    min_value: Decimal | None
    max_value: Decimal | None
    unit: str
    verdict: str
    row: dict[str, Any] | None
    basis: str  # how the project figure was obtained

    @property
    def names(self) -> tuple[str, str, str]:
        return ind.INDICATOR_NAMES[self.indicator]

    def _show(self, d: Decimal | None) -> str:
        if self.unit == "ratio":
            if self.indicator == "floor_area_ratio":
                return _fmt(d, 2)
            return _pct(d)
        if d is None:
            return "—"
        if self.indicator == "tax_per_mu":
            return f"{_fmt(ind.per_mu(d))} 万元/亩"
        return f"{_fmt(d)} 万元/公顷（{_fmt(ind.per_mu(d))} 万元/亩）"

    def _show_en(self, d: Decimal | None) -> str:
        if self.unit == "ratio":
            return self._show(d)
        if d is None:
            return "—"
        if self.indicator == "tax_per_mu":
            return f"{_fmt(ind.per_mu(d))} wan yuan/mu"
        return f"{_fmt(d)} wan yuan/ha ({_fmt(ind.per_mu(d))} wan yuan/mu)"

    def sentences(self) -> tuple[str, str]:
        zh_name, en_name, _ = self.names
        if self.verdict == "not_applicable":
            return (
                f"{zh_name}：指标表中无适用于本项目的行，不作判定。",
                f"{en_name}: no row of the indicator table applies to this project; not assessed.",
            )
        if self.verdict == "missing":
            return (
                f"{zh_name}：项目未提供数据，无法判定。",
                f"{en_name}: the project states no figure; cannot be assessed.",
            )
        if self.min_value is not None and self.max_value is not None:
            rule_zh = f"应在 {self._show(self.min_value)} 至 {self._show(self.max_value)} 之间"
            rule_en = (
                f"must lie between {self._show_en(self.min_value)} and "
                f"{self._show_en(self.max_value)}"
            )
        elif self.min_value is not None:
            rule_zh = f"不低于 {self._show(self.min_value)}"
            rule_en = f"must be at least {self._show_en(self.min_value)}"
        else:
            rule_zh = f"不高于 {self._show(self.max_value)}"
            rule_en = f"must be at most {self._show_en(self.max_value)}"
        ok = self.verdict == "pass"
        verdict_zh = "通过" if ok else "不通过"
        return (
            f"{zh_name} {self._show(self.value)}，要求{rule_zh}：{verdict_zh}。",
            f"{en_name} {self._show_en(self.value)}; it {rule_en}: {'pass' if ok else 'fail'}.",
        )

    def body(self) -> dict[str, Any]:
        zh, en = self.sentences()
        zh_name, en_name, _ = self.names
        local = None
        if self.unit == "万元/公顷":
            local = {
                "unit": "万元/亩",
                "value": None if self.value is None else float(ind.per_mu(self.value)),
                "min_value": None if self.min_value is None else float(ind.per_mu(self.min_value)),
                "max_value": None if self.max_value is None else float(ind.per_mu(self.max_value)),
            }
        return {
            "indicator": self.indicator,
            "name_zh": zh_name,
            "name_en": en_name,
            "value": None if self.value is None else float(self.value),
            "min_value": None if self.min_value is None else float(self.min_value),
            "max_value": None if self.max_value is None else float(self.max_value),
            "unit": self.unit,
            "local": local,
            "verdict": self.verdict,
            "verdict_zh": VERDICT_ZH[self.verdict],
            "sentence_zh": zh,
            "sentence_en": en,
            "basis": self.basis,
            "is_assumption": bool(self.row and self.row["is_assumption"]),
            "row_id": self.row["id"] if self.row else None,
            "industry_code": self.row["industry_code"] if self.row else None,
            "region_tier": self.row["region_tier"] if self.row else None,
            "note": self.row["note"] if self.row else None,
        }


@dataclass
class Review:
    project: dict[str, Any]
    parcels: list[dict[str, Any]]
    area_m2: Decimal
    industry: dict[str, Any]
    indicator_set: dict[str, Any]
    items: list[Item]
    site_kind: str = "given"  # given | match | near_miss
    site_note: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def verdict(self) -> str:
        vs = {i.verdict for i in self.items}
        if "fail" in vs:
            return "fail"
        if "missing" in vs:
            return "incomplete"
        return "pass"

    @property
    def area_mu(self) -> Decimal:
        return self.area_m2 / M2_PER_MU

    @property
    def area_ha(self) -> Decimal:
        return self.area_m2 / M2_PER_HA

    def summary(self) -> tuple[str, str]:
        n = {v: sum(1 for i in self.items if i.verdict == v) for v in VERDICTS}
        zh = (
            f"预审结论：{VERDICT_ZH[self.verdict]}（通过 {n['pass']} 项，不通过 {n['fail']} 项，"
            f"缺数据 {n['missing']} 项，不适用 {n['not_applicable']} 项）。"
        )
        en = (
            f"Pre-review verdict: {self.verdict} ({n['pass']} passed, {n['fail']} failed, "
            f"{n['missing']} missing, {n['not_applicable']} not applicable)."
        )
        return zh, en

    def body(self) -> dict[str, Any]:
        s = self.indicator_set
        zh, en = self.summary()
        return {
            "project": {
                k: self.project.get(k)
                for k in ("code", "name_zh", "name_en", "industry", "chain_role", "stage")
            },
            "industry": self.industry,
            "parcels": [p["code"] for p in self.parcels],
            "site_kind": self.site_kind,
            "site_note": self.site_note,
            "area_m2": float(self.area_m2),
            "area_mu": float(self.area_mu),
            "area_ha": float(self.area_ha),
            "indicator_set": {
                k: s.get(k)
                for k in (
                    "version",
                    "name_zh",
                    "name_en",
                    "issued",
                    "source",
                    "park_region_tier",
                    "park_region_note",
                )
            },
            "items": [i.body() for i in self.items],
            "verdict": self.verdict,
            "verdict_zh": VERDICT_ZH[self.verdict],
            "summary_zh": zh,
            "summary_en": en,
            "assumptions": any(i.row and i.row["is_assumption"] for i in self.items),
            "created_at": self.created_at.isoformat(),
        }


def _check(value: Decimal | None, row: dict[str, Any] | None) -> str:
    if row is None:
        return "not_applicable"
    if value is None:
        return "missing"
    if row["min_value"] is not None and value < row["min_value"]:
        return "fail"
    if row["max_value"] is not None and value > row["max_value"]:
        return "fail"
    return "pass"


def floor_area_ratio(buildings: list[dict[str, Any]], area_m2: Decimal) -> Decimal:
    """FAR of a building schedule: Σ floor area (× 2 for a storey over 8 m) ÷ site area.

    ``buildings`` is a list of storeys or buildings ``{"floor_area_m2": ..,
    "storey_height_m": ..}``; a missing height counts once.
    """
    total = Decimal(0)
    for i, b in enumerate(buildings):
        try:
            a = _dec(b["floor_area_m2"])
            h = _dec(b.get("storey_height_m"))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            raise InvalidInput(
                f"buildings[{i}] 需要 floor_area_m2（及可选 storey_height_m） / "
                f"buildings[{i}] needs floor_area_m2 (and storey_height_m)"
            ) from None
        if (
            a is None
            or not a.is_finite()
            or a < 0
            or (h is not None and (not h.is_finite() or h <= 0))
        ):
            raise InvalidInput(f"buildings[{i}] 数值无效 / buildings[{i}] has invalid numbers")
        total += a * 2 if h is not None and h > STOREY_DOUBLE_M else a
    return total / area_m2


def review(
    conn: psycopg.Connection,
    project_code: str,
    parcel_codes: list[str],
    *,
    version: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Review:
    """Review a stored project on a site (one or more parcels).

    Parameters
    ----------
    conn : psycopg.Connection
    project_code : str
    parcel_codes : list of str
        The site; live parcels (not historic).
    version : str, optional
        Indicator set; the active one by default.
    overrides : dict, optional
        What-if figures replacing the project's (any of :data:`PROJECT_FIGURES`), and/or
        ``buildings`` (a storey schedule, see :func:`floor_area_ratio`).

    Returns
    -------
    Review
    """
    overrides = dict(overrides or {})
    codes = _site_codes(parcel_codes, overrides)
    ind.ensure_seeded(conn)
    project, parcels = _load_site(conn, project_code, codes)
    iset = ind.get_set(conn, version)
    industry = ind.industry_for(conn, project)
    # parcels.area_m2 is NOT NULL: the fallback only satisfies the type of _dec.
    area_m2 = sum((_dec(p["area_m2"]) or Decimal(0) for p in parcels), Decimal(0))
    if area_m2 <= 0:
        raise Conflict("地块面积为 0 / the site has no area")
    values = _indicator_values(*_figures(project, overrides, area_m2), area_m2)
    return Review(project, parcels, area_m2, industry, iset, _items(iset, industry, values))


def _site_codes(parcel_codes: list[str], overrides: dict[str, Any]) -> list[str]:
    """The site's parcel codes, deduplicated in the order given; the request refused
    (:class:`InvalidInput`) for no parcel, too many, or an unknown override."""
    codes = list(dict.fromkeys(c.strip() for c in parcel_codes if c and c.strip()))
    if not codes:
        raise InvalidInput("请至少指定一个地块 / name at least one parcel")
    if len(codes) > 20:
        raise InvalidInput("一次预审最多 20 个地块 / at most 20 parcels per review")
    unknown = set(overrides) - set(PROJECT_FIGURES) - {"buildings"}
    if unknown:
        raise InvalidInput(
            f"未知的覆盖字段 {sorted(unknown)} / unknown override fields {sorted(unknown)}"
        )
    return codes


def _load_site(
    conn: psycopg.Connection, project_code: str, codes: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The project and the site's live parcels in the order of ``codes``."""
    with conn.cursor(row_factory=dict_row) as cur:
        project = cur.execute(SQL_PROJECT, (project_code,)).fetchone()
        if project is None:
            raise NotFound(f"项目 {project_code} 不存在 / no project {project_code}")
        parcels = cur.execute(SQL_PARCELS, (codes,)).fetchall()
    missing = sorted(set(codes) - {p["code"] for p in parcels})
    if missing:
        raise NotFound(f"地块不存在：{', '.join(missing)} / no parcel {', '.join(missing)}")
    gone = sorted(p["code"] for p in parcels if p["status"] == "historic")
    if gone:
        raise Conflict(
            f"地块已注销（分割/合并）：{', '.join(gone)} / parcels retired by a "
            f"split or merge: {', '.join(gone)}"
        )
    parcels.sort(key=lambda p: codes.index(p["code"]))
    return project, parcels


def _figures(
    project: dict[str, Any], overrides: dict[str, Any], area_m2: Decimal
) -> tuple[dict[str, Decimal | None], dict[str, str]]:
    """The project's figures with the what-if overrides applied, and where each came from."""
    fig: dict[str, Decimal | None] = {}
    for k in PROJECT_FIGURES:
        v = overrides.get(k, project.get(k))
        try:
            d = _dec(v)
        except ArithmeticError:
            raise InvalidInput(f"{k} 不是数字 / {k} is not a number") from None
        if d is not None and (not d.is_finite() or d < 0):
            raise InvalidInput(f"{k} 须为非负数 / {k} must be a non-negative number")
        fig[k] = d
    basis = {k: ("override" if k in overrides else "project") for k in PROJECT_FIGURES}
    if overrides.get("buildings"):
        if not isinstance(overrides["buildings"], list):
            raise InvalidInput("buildings 须为列表 / buildings must be a list")
        fig["floor_area_ratio"] = floor_area_ratio(overrides["buildings"], area_m2)
        basis["floor_area_ratio"] = "buildings (storeys over 8 m count twice)"
    return fig, basis


def _indicator_values(
    fig: dict[str, Decimal | None], basis: dict[str, str], area_m2: Decimal
) -> dict[str, tuple[Decimal | None, str]]:
    """Each indicator's value on the site and how it was worked out."""
    area_ha = area_m2 / M2_PER_HA
    return {
        "investment_intensity": (
            None if fig["investment_wan"] is None else fig["investment_wan"] / area_ha,
            f"investment_wan ({basis['investment_wan']}) ÷ area_ha",
        ),
        "floor_area_ratio": (fig["floor_area_ratio"], basis["floor_area_ratio"]),
        "building_coverage": (fig["building_coverage"], basis["building_coverage"]),
        "office_share": (fig["office_share"], basis["office_share"]),
        "green_ratio": (fig["green_ratio"], basis["green_ratio"]),
        # stored in 万元/公顷 like the table row; shown in 万元/亩
        "tax_per_mu": (
            None if fig["expected_tax_wan"] is None else fig["expected_tax_wan"] / area_ha,
            f"expected_tax_wan ({basis['expected_tax_wan']}) per year ÷ area",
        ),
    }


def _items(
    iset: dict[str, Any],
    industry: dict[str, Any],
    values: dict[str, tuple[Decimal | None, str]],
) -> list[Item]:
    """Each indicator's verdict against the set's row for the park's tier and the industry."""
    tier = iset.get("park_region_tier")
    items: list[Item] = []
    for name in ind.INDICATORS:
        value, how = values[name]
        if industry["code"] is None and ind.rows_for_industry_specific(name):
            row = None  # not an industrial project: the per-industry tables do not apply
        else:
            row = ind.lookup(iset["rows"], name, tier, industry["code"])
        unit = ind.INDICATOR_NAMES[name][2]
        items.append(
            Item(
                name,
                value,
                row["min_value"] if row else None,
                row["max_value"] if row else None,
                unit,
                _check(value, row),
                row,
                how,
            )
        )
    return items


def best_site(conn: psycopg.Connection, project_code: str) -> tuple[list[str], str, str]:
    """The project's best site per :mod:`parkgis.siting.fit`: its top match, else its nearest miss.

    Returns (parcel codes, ``"match"`` or ``"near_miss"``, a bilingual note).
    """
    from parkgis.siting import fit

    result = fit.match_project(conn, project_code, top=1, near_miss_limit=1)
    if result.matches:
        m = result.matches[0]
        return (
            list(m.site.codes),
            "match",
            f"选址匹配第 1 名（得分 {m.score:.1f}） / best match (score {m.score:.1f})",
        )
    if result.near_misses:
        n = result.near_misses[0]
        return (
            list(n.site.codes),
            "near_miss",
            f"无完全匹配地块，取最接近者（未满足：{n.failure.reason_zh}） / no full match; "
            f"nearest miss ({n.failure.reason_en})",
        )
    raise NotFound(
        f"项目 {project_code} 在园区内没有匹配或接近的地块 / project {project_code} "
        f"has no match or near miss in the park"
    )


def review_best(conn: psycopg.Connection, project_code: str, **kw: Any) -> Review:
    """:func:`review` on the project's best site (:func:`best_site`)."""
    codes, kind, note = best_site(conn, project_code)
    r = review(conn, project_code, codes, **kw)
    r.site_kind, r.site_note = kind, note
    return r


def review_for(
    conn: psycopg.Connection, project_code: str, parcel_codes: list[str] | None, **kw: Any
) -> Review:
    """:func:`review` on ``parcel_codes``, or on the best site when none are given."""
    if parcel_codes:
        return review(conn, project_code, parcel_codes, **kw)
    return review_best(conn, project_code, **kw)


# ------------------------------------------------------------------------------ exports

CSV_COLUMNS = (
    "project",
    "parcels",
    "area_mu",
    "indicator_set",
    "indicator",
    "name_zh",
    "name_en",
    "value",
    "min_value",
    "max_value",
    "unit",
    "value_per_mu",
    "min_per_mu",
    "verdict",
    "verdict_zh",
    "is_assumption",
    "sentence_zh",
    "sentence_en",
)


def to_csv(r: Review) -> bytes:
    """The review as CSV, UTF-8 with a BOM (Excel opens it with the Chinese intact)."""
    from parkgis.cells import formula_safe

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    b = r.body()
    for it in b["items"]:
        local = it["local"] or {}
        # Text cells neutralised against formulas; the _num columns stay numbers.
        w.writerow(
            [
                formula_safe(b["project"]["code"]),
                " ".join(b["parcels"]),
                f"{r.area_mu:.4f}",
                formula_safe(b["indicator_set"]["version"]),
                it["indicator"],
                formula_safe(it["name_zh"]),
                formula_safe(it["name_en"]),
                _num(it["value"]),
                _num(it["min_value"]),
                _num(it["max_value"]),
                formula_safe(it["unit"]),
                _num(local.get("value")),
                _num(local.get("min_value")),
                it["verdict"],
                it["verdict_zh"],
                "true" if it["is_assumption"] else "false",
                formula_safe(it["sentence_zh"]),
                formula_safe(it["sentence_en"]),
            ]
        )
    zh, en = r.summary()
    w.writerow(
        [
            formula_safe(b["project"]["code"]),
            " ".join(b["parcels"]),
            f"{r.area_mu:.4f}",
            formula_safe(b["indicator_set"]["version"]),
            "overall",
            "结论",
            "verdict",
            "",
            "",
            "",
            "",
            "",
            "",
            r.verdict,
            VERDICT_ZH[r.verdict],
            "",
            formula_safe(zh),
            formula_safe(en),
        ]
    )
    return buf.getvalue().encode("utf-8-sig")


def _num(v: float | None) -> str:
    return "" if v is None else repr(v)


_HTML = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>预审报告 Pre-review — {{ b.project.code }}</title>
<style>
 body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
 h1{font-size:1.4em;margin:0 0 .2em} .en{color:#555;font-size:.9em}
 table{border-collapse:collapse;width:100%;margin:1em 0}
 th,td{border:1px solid #999;padding:.35em .5em;vertical-align:top;font-size:.9em}
 th{background:#eee;text-align:left} td.num{text-align:right;white-space:nowrap}
 .pass{color:#1b7a2f;font-weight:bold} .fail{color:#b00020;font-weight:bold}
 .missing,.not_applicable,.incomplete{color:#8a6d00;font-weight:bold}
 .verdict{font-size:1.2em;margin:.5em 0} .note{font-size:.8em;color:#555}
 @media print{body{margin:1cm} .noprint{display:none}}
</style></head><body>
<button class="noprint" onclick="window.print()">打印 / Print</button>
<h1>重大招商项目预审报告 <span class="en">Pre-review of a major project</span></h1>
<p>项目 Project：<b>{{ b.project.name_zh }}</b> <span class="en">{{ b.project.name_en }}</span>
 （{{ b.project.code }}）· 行业 Industry：{{ b.industry.code or '—' }}
 {{ b.industry.name_zh or '' }} <span class="en">{{ b.industry.name_en or '' }}</span></p>
<p>地块 Site：{{ b.parcels|join('、') }} · 面积 Area：{{ '%.2f'|format(b.area_mu) }} 亩 mu /
 {{ '%.4f'|format(b.area_ha) }} 公顷 ha / {{ '%.1f'|format(b.area_m2) }} m²
 {% if b.site_note %}<br><span class="note">{{ b.site_note }}</span>{% endif %}</p>
<p>指标依据 Indicator table：{{ b.indicator_set.name_zh }}（{{ b.indicator_set.source }}，版本
 {{ b.indicator_set.version }}）<span class="en">{{ b.indicator_set.name_en }}</span>；
 地区类别 Region tier：{{ b.indicator_set.park_region_tier or '—' }}</p>
<p class="verdict {{ b.verdict }}">{{ b.summary_zh }}<br>
 <span class="en">{{ b.summary_en }}</span></p>
<table><thead><tr><th>指标 Indicator</th><th>项目值 Project</th><th>要求 Threshold</th>
<th>单位 Unit</th><th>结果 Result</th><th>说明 Explanation</th></tr></thead><tbody>
{% for it in b["items"] %}<tr>
<td>{{ it.name_zh }}<br><span class="en">{{ it.name_en }}</span></td>
<td class="num">{{ fmt(it, it.value) }}</td>
<td class="num">{% if it.min_value is not none %}≥ {{ fmt(it, it.min_value) }}{% endif %}
{% if it.max_value is not none %}≤ {{ fmt(it, it.max_value) }}{% endif %}</td>
<td>{{ unit(it) }}</td>
<td class="{{ it.verdict }}">{{ it.verdict_zh }}<br><span class="en">{{ it.verdict }}</span></td>
<td>{{ it.sentence_zh }}<br><span class="en">{{ it.sentence_en }}</span>
{% if it.is_assumption %}<br><span class="note">※ 示例假设值 / sample assumption:
 {{ it.note or '' }}</span>{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% if b.assumptions %}<p class="note">※ 标注的阈值为示例假设，未经官方文本核对。
Thresholds marked ※ are sample assumptions, not checked against the official text.
{{ b.indicator_set.park_region_note or '' }}</p>{% endif %}
<p class="note">生成时间 Generated：{{ b.created_at }} · ParkGIS</p>
</body></html>
"""
_env = Environment(autoescape=select_autoescape(default=True))


def _html_value(it: dict[str, Any], v: float | None) -> str:
    if v is None:
        return "—"
    if it["indicator"] == "floor_area_ratio":
        return f"{v:.2f}"
    if it["unit"] == "ratio":
        return f"{v * 100:.1f}%"
    if it["indicator"] == "tax_per_mu":
        return f"{v / 15:,.2f}"
    return f"{v:,.2f}（{v / 15:,.2f}/亩）"


def _html_unit(it: dict[str, Any]) -> str:
    if it["unit"] == "ratio":
        return "比值 ratio" if it["indicator"] == "floor_area_ratio" else "% "
    return "万元/亩 wan/mu" if it["indicator"] == "tax_per_mu" else "万元/公顷 wan/ha"


def to_html(r: Review) -> str:
    """A printable, self-contained HTML report (no external assets)."""
    return _env.from_string(_HTML).render(b=r.body(), fmt=_html_value, unit=_html_unit)
