"""Per-mu performance grading (亩均效益评价): annual figures per enterprise, loaded from the
statistics office's XLSX/CSV, and graded by the active scheme (``perf_schemes``, versioned data).

Grading, for one year and one scheme:

- Indicators per firm (land = the firm's live parcels, in mu): tax per mu, revenue per mu,
  value added per tce, R&D intensity (R&D ÷ revenue, %), labour productivity (value added ÷
  employees) — whatever the scheme lists, each with a weight.
- Score per indicator: ``weight × (floor + span × (x − min) / (max − min)) / 100`` with min and
  max over the graded 规模以上 firms (revenue ≥ the threshold, not exempt); values outside that
  range are clamped; max = min gives full marks; a missing value scores 0.
- Graded groups: 规模以上 firms by total score; smaller firms by tax per mu alone; exempt kinds
  (utilities, firms in their construction period) are scored but get no rank and no grade.
- Grade by position in the group: rank r of n gets the first grade whose cut-off c has
  r / n ≤ c (A 25 %, B 70 %, C 95 %, D the rest). Ties (equal to 6 decimals) keep the order
  of the enterprise code.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from parkgis.errors import InvalidData, InvalidInput, NotFound
from parkgis.ledger.common import bump_ledger_version, mu, rows

DEFINITION_ZH = (
    "亩均效益评价：各指标得分 = 权重 × (20 + 80 × (x − 最小值)/(最大值 − 最小值))"
    " / 100，"
    "最小、最大值取参评规模以上企业；规模以上企业按总分排名，规模以下企业仅按亩均税收排名，"
    "不参评类型（公用事业、建设期）只计分不定级；按名次百分比定级（A 前25%，B 至70%，"
    "C 至95%，D 其余）。用地面积取企业名下现状地块。"
)
DEFINITION_EN = (
    "Score per indicator = weight × (20 + 80 × (x − min)/(max − min)) / 100, min "
    "and max over the graded firms above the size threshold; those are ranked by "
    "total score, smaller firms by tax per mu alone, exempt kinds scored but not "
    "graded; grade by rank share (A top 25 %, B to 70 %, C to 95 %, D the rest). "
    "Land: the firm's live parcels."
)

MAX_BYTES = 5_000_000
MAX_ROWS = 20_000

FIELDS: dict[str, tuple[str, str, str]] = {
    # key: (Chinese header with unit, English, kind)
    "enterprise_code": ("企业编号", "Enterprise code", "text"),
    "year": ("年度", "Year", "year"),
    "tax_wan": ("税收（万元）", "Tax paid (10k CNY)", "num"),
    "revenue_wan": ("营业收入（万元）", "Revenue (10k CNY)", "num"),
    "value_added_wan": ("工业增加值（万元）", "Industrial value added (10k CNY)", "num"),
    "energy_tce": ("综合能耗（吨标准煤）", "Energy use (tce)", "pos"),
    "rd_wan": ("研发经费（万元）", "R&D spending (10k CNY)", "num"),
    "employees": ("从业人员（人）", "Employees", "int"),
    "exempt_kind": ("不参评类型", "Exempt kind", "opt"),
}
REQUIRED = tuple(k for k, v in FIELDS.items() if v[2] != "opt")

# Header spellings statistics offices use, normalised (no brackets/units, spaces, case).
ALIASES: dict[str, str] = {
    "企业编号": "enterprise_code",
    "企业代码": "enterprise_code",
    "code": "enterprise_code",
    "年度": "year",
    "年份": "year",
    "税收": "tax_wan",
    "实缴税金": "tax_wan",
    "税收实缴": "tax_wan",
    "tax": "tax_wan",
    "营业收入": "revenue_wan",
    "主营业务收入": "revenue_wan",
    "revenue": "revenue_wan",
    "工业增加值": "value_added_wan",
    "增加值": "value_added_wan",
    "综合能耗": "energy_tce",
    "能耗": "energy_tce",
    "energy": "energy_tce",
    "研发经费": "rd_wan",
    "研发投入": "rd_wan",
    "r&d": "rd_wan",
    "从业人员": "employees",
    "从业人员数": "employees",
    "员工人数": "employees",
    "不参评类型": "exempt_kind",
    "豁免类型": "exempt_kind",
    "exempt": "exempt_kind",
}
ALIASES.update({k: k for k in FIELDS})


def _norm_header(h: Any) -> str:
    s = str(h or "").strip().lower()
    s = re.sub(r"[（(][^）)]*[）)]", "", s)
    return re.sub(r"\s+", "", s)


@dataclass
class LoadResult:
    rows: int
    years: list[int]
    enterprises: int


# ---------------------------------------------------------------------------- loading


def _read_table(data: bytes, filename: str) -> list[tuple[int, list[Any]]]:
    """(line number, cells) of every row, the header first; CSV or XLSX by content."""
    if data[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds for a broken archive
            raise InvalidData("无法读取该 XLSX 文件 / the XLSX file cannot be read") from None
        ws = wb.worksheets[0]
        out = []
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            if i > MAX_ROWS + 1:
                raise InvalidData(f"行数超过 {MAX_ROWS} / more than {MAX_ROWS} rows")
            if row and any(c not in (None, "") for c in row):
                out.append((i, list(row)))
        wb.close()
        return out
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidData(
            "文件既不是 XLSX 也不是 UTF-8/GBK 文本 / the file is neither XLSX nor UTF-8/GBK text"
        )
    reader = csv.reader(io.StringIO(text))
    out = []
    for row in reader:
        if reader.line_num > MAX_ROWS + 1:
            raise InvalidData(f"行数超过 {MAX_ROWS} / more than {MAX_ROWS} rows")
        if any(c.strip() for c in row):
            out.append((reader.line_num, row))
    return out


def _number(v: Any) -> Decimal:
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, int | float):
        d = Decimal(str(v))
    else:
        d = Decimal(str(v).strip().replace(",", ""))
    if not d.is_finite():
        raise ValueError
    return d


def parse_rows(
    conn: psycopg.Connection, data: bytes, filename: str, exempt_kinds: list[str]
) -> list[dict[str, Any]]:
    """Every row validated; any bad row refuses the whole file with each line and reason."""
    if len(data) > MAX_BYTES:
        raise InvalidData(
            f"文件超过 {MAX_BYTES // 1_000_000} MB / the file is larger than "
            f"{MAX_BYTES // 1_000_000} MB"
        )
    table = _read_table(data, filename)
    if not table:
        raise InvalidData("文件为空 / the file is empty")
    cols = _header_columns(*table[0])
    known = {r["code"] for r in rows(conn, "SELECT code FROM enterprises")}
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, int], int] = {}
    out = []
    for line, cells in table[1:]:
        rec, problems = _parse_fields(cells, cols)
        code = rec.get("enterprise_code")
        if code and code not in known:
            problems.append(f"未知企业 / unknown enterprise {code[:64]}")
        if rec.get("exempt_kind") and rec["exempt_kind"] not in exempt_kinds:
            problems.append(
                f"不参评类型须为 {'/'.join(exempt_kinds)} / exempt kind must be one "
                f"of {', '.join(exempt_kinds)}"
            )
        if code and isinstance(rec.get("year"), int):
            k = (code, rec["year"])
            if k in seen:
                problems.append(f"与第 {seen[k]} 行重复 / duplicates line {seen[k]}")
            seen.setdefault(k, line)
        if problems:
            errors.extend({"line": line, "reason": p} for p in problems)
        else:
            out.append(rec)
    if errors:
        first = errors[0]
        raise InvalidData(
            f"第 {first['line']} 行：{first['reason']}（共 {len(errors)} 处错误，"
            f"未导入任何数据）/ line {first['line']}: {first['reason']} "
            f"({len(errors)} errors; nothing was loaded)",
            errors=errors[:200],
        )
    if not out:
        raise InvalidData("文件没有数据行 / the file has no data rows")
    return out


def _header_columns(header_line: int, header: list[Any]) -> dict[str, int]:
    """Each known field's column index (the first column whose header names it); refused
    when a required field has no column."""
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        key = ALIASES.get(_norm_header(h))
        if key and key not in cols:
            cols[key] = i
    missing = [k for k in REQUIRED if k not in cols]
    if missing:
        names = "、".join(FIELDS[k][0] for k in missing)
        raise InvalidData(
            f"第 {header_line} 行表头缺少列：{names} / line {header_line}: the "
            f"header lacks {', '.join(missing)}",
            errors=[{"line": header_line, "reason": f"missing column {k}"} for k in missing],
        )
    return cols


def _parse_fields(cells: list[Any], cols: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    """One row's fields by kind, and its problems (each column's check beside its bilingual
    message, in file order)."""
    rec: dict[str, Any] = {}
    problems: list[str] = []
    for key, (zh, _en, kind) in FIELDS.items():
        i = cols.get(key)
        raw = cells[i] if i is not None and i < len(cells) else None
        blank = raw is None or str(raw).strip() == ""
        if kind == "opt":
            rec[key] = None if blank else str(raw).strip()
            continue
        if blank:
            problems.append(f"{zh}为空 / {key} is empty")
            continue
        if kind == "text":
            rec[key] = str(raw).strip()
            continue
        try:
            d = _number(raw)
        except (ValueError, InvalidOperation):
            problems.append(f"{zh}不是数字 / {key} is not a number")
            continue
        if kind in ("year", "int"):
            if d != d.to_integral_value():
                problems.append(f"{zh}须为整数 / {key} must be a whole number")
                continue
            rec[key] = int(d)
            if kind == "year" and not 1990 <= rec[key] <= 2100:
                problems.append(f"{zh}超出范围 / {key} out of range")
            elif kind == "int" and rec[key] <= 0:
                problems.append(f"{zh}须大于 0 / {key} must be positive")
        else:
            if d < 0:
                problems.append(f"{zh}不能为负 / {key} cannot be negative")
            elif kind == "pos" and d == 0:
                problems.append(f"{zh}须大于 0 / {key} must be positive")
            rec[key] = d
    return rec, problems


SQL_UPSERT = """
INSERT INTO perf_figures (enterprise_code, year, tax_wan, revenue_wan, value_added_wan,
                          energy_tce, rd_wan, employees, exempt_kind, source, loaded_by)
VALUES (%(enterprise_code)s, %(year)s, %(tax_wan)s, %(revenue_wan)s, %(value_added_wan)s,
        %(energy_tce)s, %(rd_wan)s, %(employees)s, %(exempt_kind)s, %(source)s, %(actor)s)
ON CONFLICT (enterprise_code, year) DO UPDATE SET
    tax_wan = EXCLUDED.tax_wan, revenue_wan = EXCLUDED.revenue_wan,
    value_added_wan = EXCLUDED.value_added_wan, energy_tce = EXCLUDED.energy_tce,
    rd_wan = EXCLUDED.rd_wan, employees = EXCLUDED.employees,
    exempt_kind = EXCLUDED.exempt_kind, source = EXCLUDED.source,
    loaded_at = now(), loaded_by = EXCLUDED.loaded_by"""


def load(conn: psycopg.Connection, data: bytes, filename: str, actor: str = "system") -> LoadResult:
    """Validate every row, then upsert them all in the caller's transaction (the caller
    commits; a refused file writes nothing)."""
    scheme = active_scheme(conn)
    recs = parse_rows(conn, data, filename, scheme["definition"].get("exempt_kinds", []))
    source = re.sub(r"[^\w.\-]+", "_", filename)[-100:] or "upload"
    with conn.cursor() as cur:
        cur.executemany(SQL_UPSERT, [{**r, "source": source, "actor": actor} for r in recs])
    bump_ledger_version(conn)
    return LoadResult(
        len(recs), sorted({r["year"] for r in recs}), len({r["enterprise_code"] for r in recs})
    )


# ---------------------------------------------------------------------------- schemes


def active_scheme(conn: psycopg.Connection, version: str | None = None) -> dict[str, Any]:
    if version:
        found = rows(conn, "SELECT * FROM perf_schemes WHERE version = %(v)s", {"v": version})
    else:
        found = rows(conn, "SELECT * FROM perf_schemes WHERE active")
    if not found:
        raise NotFound(f"没有评价方案 {version or ''} / no grading scheme {version or ''}")
    return found[0]


def add_scheme(
    conn: psycopg.Connection,
    version: str,
    name_zh: str,
    name_en: str,
    definition: dict[str, Any],
    activate: bool = True,
    source: str | None = None,
) -> None:
    """A new scheme version (e.g. a city's own weights); the old ones stay for old gradings."""
    inds = definition.get("indicators") or []
    if not inds or any(
        i.get("key") not in INDICATORS
        or not isinstance(i.get("weight"), int | float)
        or i["weight"] < 0
        for i in inds
    ):
        raise InvalidInput(
            f"指标须为 {', '.join(INDICATORS)} 之一且权重非负 / indicators must "
            f"be among {', '.join(INDICATORS)} with non-negative weights"
        )
    if activate:
        conn.execute("UPDATE perf_schemes SET active = false WHERE active")
    conn.execute(
        "INSERT INTO perf_schemes (version, name_zh, name_en, source, active, "
        "definition) VALUES (%s, %s, %s, %s, %s, %s)",
        (version, name_zh, name_en, source, activate, Jsonb(definition)),
    )
    bump_ledger_version(conn)


# ---------------------------------------------------------------------------- grading

SQL_FIGURES = """
SELECT f.enterprise_code, f.year, f.tax_wan, f.revenue_wan, f.value_added_wan, f.energy_tce,
       f.rd_wan, f.employees, f.exempt_kind, e.name_zh, e.name_en, e.zone_code,
       (SELECT sum(p.area_m2) FROM parcels p
         WHERE p.status <> 'historic'
           AND (p.enterprise_code = e.code OR p.code = e.parcel_code)) AS land_m2
  FROM perf_figures f JOIN enterprises e ON e.code = f.enterprise_code
 WHERE f.year = %(year)s
 ORDER BY f.enterprise_code"""


def _div(a: Decimal | None, b: Decimal | float | None) -> float | None:
    if a is None or not b:
        return None
    return float(a) / float(b)


INDICATORS: dict[str, Any] = {
    "tax_per_mu": lambda f, land: _div(f["tax_wan"], land),
    "revenue_per_mu": lambda f, land: _div(f["revenue_wan"], land),
    "va_per_tce": lambda f, land: _div(f["value_added_wan"], f["energy_tce"]),
    "rd_intensity": lambda f, land: (
        None if not f["revenue_wan"] else 100 * float(f["rd_wan"]) / float(f["revenue_wan"])
    ),
    "labour_productivity": lambda f, land: _div(f["value_added_wan"], f["employees"]),
}


def _cmp(x: float | None) -> float:
    """A value as ranks compare it: to 6 decimals, so that land measured from a reprojected
    outline (20.0000001 mu) does not break a tie that the figures make."""
    return -1e300 if x is None else round(x, 6)


def _grade_group(members: list[dict[str, Any]], key: str, cuts: list[tuple[str, float]]) -> None:
    ordered = sorted(members, key=lambda m: (-_cmp(m[key]), m["enterprise_code"]))
    n = len(ordered)
    for r, m in enumerate(ordered, start=1):
        m["rank"] = r
        m["group_size"] = n
        m["grade"] = next((g for g, c in cuts if r / n <= c + 1e-12), cuts[-1][0])


def grade(
    conn: psycopg.Connection, year: int, version: str | None = None, with_previous: bool = True
) -> dict[str, Any]:
    """Every firm with figures for ``year``: values, scores, ranks, grade, change.

    The scheme's steps follow the published rule in order.
    """
    scheme = active_scheme(conn, version)
    d = scheme["definition"]
    small_key = d.get("small_firm_indicator", "tax_per_mu")
    cuts = [(g, float(c)) for g, c in d["grades"]]
    firms = _firms(rows(conn, SQL_FIGURES, {"year": year}), d, year)
    population = [m for m in firms if m["group"] == "scale"]
    _score(firms, population, d)
    for m in firms:
        m["score"] = sum(m["scores"].values())
        m["small_value"] = m["values"][small_key]
    _grade_group(population, "score", cuts)
    _grade_group([m for m in firms if m["group"] == "small"], "small_value", cuts)
    if with_previous:
        _add_previous(conn, firms, year, scheme["version"])
    firms.sort(
        key=lambda m: (
            {"scale": 0, "small": 1, "exempt": 2}[m["group"]],
            m["rank"] or 0,
            m["enterprise_code"],
        )
    )
    counts: dict[str, int] = {}
    for m in firms:
        if m["grade"]:
            counts[m["grade"]] = counts.get(m["grade"], 0) + 1
    return {
        "year": year,
        "scheme": {
            "version": scheme["version"],
            "name_zh": scheme["name_zh"],
            "name_en": scheme["name_en"],
            "definition": d,
        },
        "firms": firms,
        "grade_counts": counts,
        "definition_zh": DEFINITION_ZH,
        "definition_en": DEFINITION_EN,
        "sql": SQL_FIGURES.strip(),
    }


def _firms(figs: list[dict[str, Any]], d: dict[str, Any], year: int) -> list[dict[str, Any]]:
    """One entry per firm: its indicator values and its group (scale, small or exempt)."""
    inds = d["indicators"]
    threshold = float(d.get("scale_threshold_revenue_wan", 2000))
    small_key = d.get("small_firm_indicator", "tax_per_mu")
    exempt = set(d.get("exempt_kinds", []))
    firms = []
    for f in figs:
        land_mu = mu(f["land_m2"]) if f["land_m2"] else None
        vals = {i["key"]: INDICATORS[i["key"]](f, land_mu) for i in inds}
        if small_key not in vals:
            vals[small_key] = INDICATORS[small_key](f, land_mu)
        group = (
            "exempt"
            if f["exempt_kind"] in exempt and f["exempt_kind"]
            else "scale"
            if float(f["revenue_wan"]) >= threshold
            else "small"
        )
        firms.append(
            {
                "enterprise_code": f["enterprise_code"],
                "name_zh": f["name_zh"],
                "name_en": f["name_en"],
                "zone_code": f["zone_code"],
                "year": year,
                "land_mu": land_mu,
                "revenue_wan": float(f["revenue_wan"]),
                "tax_wan": float(f["tax_wan"]),
                "exempt_kind": f["exempt_kind"],
                "group": group,
                "values": vals,
                "scores": {},
                "indicator_rank": {},
                "score": None,
                "rank": None,
                "group_size": None,
                "grade": None,
            }
        )
    return firms


def _score(
    firms: list[dict[str, Any]], population: list[dict[str, Any]], d: dict[str, Any]
) -> None:
    """Each firm's weighted score per indicator, scaled between the population's (the scale
    firms') lowest and highest value, and its rank on each indicator."""
    floor, span = float(d.get("score_floor", 20)), float(d.get("score_span", 80))
    for ind in d["indicators"]:
        k, w = ind["key"], float(ind["weight"])
        xs = [m["values"][k] for m in population if m["values"][k] is not None]
        lo, hi = (min(xs), max(xs)) if xs else (None, None)
        for m in firms:
            x = m["values"][k]
            if x is None or lo is None:
                m["scores"][k] = 0.0
                continue
            norm = 1.0 if hi == lo else min(max((x - lo) / (hi - lo), 0.0), 1.0)
            m["scores"][k] = w * (floor + span * norm) / 100
        ranked = sorted(
            (m for m in firms if m["values"][k] is not None),
            key=lambda m: (-_cmp(m["values"][k]), m["enterprise_code"]),
        )
        for r, m in enumerate(ranked, start=1):
            m["indicator_rank"][k] = r


def _add_previous(
    conn: psycopg.Connection, firms: list[dict[str, Any]], year: int, version: str
) -> None:
    """The previous year's grade and score (same scheme) and the change, per firm."""
    prev = {
        p["enterprise_code"]: p
        for p in grade(conn, year - 1, version, with_previous=False)["firms"]
    }
    for m in firms:
        p = prev.get(m["enterprise_code"])
        m["previous_grade"] = p["grade"] if p else None
        m["previous_score"] = p["score"] if p else None
        m["score_change"] = (m["score"] - p["score"]) if p else None


def years(conn: psycopg.Connection) -> list[int]:
    return [r["year"] for r in rows(conn, "SELECT DISTINCT year FROM perf_figures ORDER BY 1")]


SQL_GRADE_MAP = """
SELECT p.code, p.zone_code, p.status, p.area_m2, e.code AS enterprise_code, e.name_zh,
       e.name_en, ST_AsGeoJSON(p.geom, 6)::json AS geometry
  FROM parcels p
  JOIN enterprises e ON (p.enterprise_code = e.code OR p.code = e.parcel_code)
 WHERE p.status IN ('operational', 'under_construction')
 ORDER BY p.code"""


def grade_map(conn: psycopg.Connection, year: int) -> dict[str, Any]:
    """Occupied parcels as GeoJSON with their occupant's grade for ``year`` (null: ungraded)."""
    g = {m["enterprise_code"]: m for m in grade(conn, year, with_previous=False)["firms"]}
    feats = []
    seen = set()
    for r in rows(conn, SQL_GRADE_MAP):
        if r["code"] in seen:
            continue
        seen.add(r["code"])
        m = g.get(r["enterprise_code"])
        feats.append(
            {
                "type": "Feature",
                "id": r["code"],
                "geometry": r["geometry"],
                "properties": {
                    "code": r["code"],
                    "zone_code": r["zone_code"],
                    "enterprise_code": r["enterprise_code"],
                    "name_zh": r["name_zh"],
                    "name_en": r["name_en"],
                    "area_mu": round(mu(r["area_m2"]), 2),
                    "grade": m["grade"] if m else None,
                    "group": m["group"] if m else None,
                    "score": round(m["score"], 2) if m else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats}
