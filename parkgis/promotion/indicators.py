"""Industrial land-use control indicator tables, kept as versioned data.

The national table (工业项目建设用地控制指标, 国土资发〔2008〕24号; a 2023 revision exists) is
stored as an *indicator set* (``indicator_sets``: version, name, issue date, source, which set
is active, the region tier the park falls in) and its *rows* (``indicators``: indicator, region
tier, GB/T 4754 industry code, min/max, unit, note, ``is_assumption``). Admins edit both through
the API; ``parkgis indicators load FILE`` imports a CSV; the committed seed is
``data/indicators/*.csv``, loaded the first time a database has no set at all.

Units
-----
Money per area is stored in one unit, 万元/公顷 (the national tables' unit). Local "standard
land" (标准地) terms quote 万元/亩; 1 公顷 = 15 亩 exactly, so a figure in 万元/亩 is stored × 15
and shown ÷ 15 — in :class:`decimal.Decimal`, never through a float. Ratios are stored as
fractions (a CSV may write ``30`` with unit ``%``; it is stored as 0.30).

Row lookup
----------
For a project of industry code ``c`` in region tier ``t``, the row of an indicator is the most
specific one: the longest industry code that is a prefix of ``c`` beats a row for every industry
(NULL), and a row for tier ``t`` beats one for every tier.

Examples
--------
>>> to_storage(Decimal("10"), "万元/亩")
(Decimal('150'), '万元/公顷')
>>> per_mu(Decimal("150")) == 10   # 1 ha = 15 mu
True
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.errors import Conflict, InvalidData, NotFound
from parkgis.settings import PROJECT_ROOT

SEED_DIR = PROJECT_ROOT / "data" / "indicators"  # not this file's depth (restructure)
MU_PER_HA = Decimal(15)
SEED_LOCK = 7_413_066

INDICATORS: tuple[str, ...] = (
    "investment_intensity",
    "floor_area_ratio",
    "building_coverage",
    "office_share",
    "green_ratio",
    "tax_per_mu",
)
#: indicator -> (Chinese name, English name, storage unit)
INDICATOR_NAMES: dict[str, tuple[str, str, str]] = {
    "investment_intensity": ("投资强度", "Investment intensity", "万元/公顷"),
    "floor_area_ratio": ("容积率", "Floor-area ratio", "ratio"),
    "building_coverage": ("建筑系数", "Building coverage", "ratio"),
    "office_share": (
        "行政办公及生活服务设施用地比重",
        "Office and living-service land share",
        "ratio",
    ),
    "green_ratio": ("绿地率", "Green ratio", "ratio"),
    "tax_per_mu": ("亩均税收", "Tax per mu", "万元/公顷"),
}
#: Units a CSV or API row may use -> (storage unit, factor to storage)
UNITS: dict[str, tuple[str, Decimal]] = {
    "万元/公顷": ("万元/公顷", Decimal(1)),
    "wan/ha": ("万元/公顷", Decimal(1)),
    "万元/亩": ("万元/公顷", MU_PER_HA),
    "wan/mu": ("万元/公顷", MU_PER_HA),
    "ratio": ("ratio", Decimal(1)),
    "%": ("ratio", Decimal("0.01")),
}
ROW_FIELDS = (
    "indicator",
    "region_tier",
    "industry_code",
    "industry_name",
    "min_value",
    "max_value",
    "unit",
    "note",
    "is_assumption",
)
SET_FIELDS = (
    "version",
    "name_zh",
    "name_en",
    "issued",
    "source",
    "is_active",
    "park_region_tier",
    "park_region_note",
    "note",
)

SQL_COUNT_SETS = "SELECT count(*) AS n FROM indicator_sets"
SQL_SETS = """
SELECT s.*, (SELECT count(*) FROM indicators i WHERE i.set_version = s.version) AS rows
  FROM indicator_sets s ORDER BY s.is_active DESC, s.issued DESC NULLS LAST, s.version
"""
SQL_SET = "SELECT * FROM indicator_sets WHERE version = %s"
SQL_ACTIVE_SET = "SELECT * FROM indicator_sets WHERE is_active"
SQL_ROWS = """
SELECT * FROM indicators WHERE set_version = %s
 ORDER BY indicator, region_tier NULLS FIRST, industry_code NULLS FIRST, id
"""
SQL_INSERT_SET = """
INSERT INTO indicator_sets (version, name_zh, name_en, issued, source, is_active,
                            park_region_tier, park_region_note, note, updated_by)
VALUES (%(version)s, %(name_zh)s, %(name_en)s, %(issued)s, %(source)s, false,
        %(park_region_tier)s, %(park_region_note)s, %(note)s, %(actor)s)
ON CONFLICT (version) DO NOTHING
RETURNING version
"""
SQL_UPDATE_SET = """
UPDATE indicator_sets
   SET name_zh = coalesce(%(name_zh)s, name_zh), name_en = coalesce(%(name_en)s, name_en),
       issued = coalesce(%(issued)s, issued), source = coalesce(%(source)s, source),
       park_region_tier = coalesce(%(park_region_tier)s, park_region_tier),
       park_region_note = coalesce(%(park_region_note)s, park_region_note),
       note = coalesce(%(note)s, note), updated_by = %(actor)s, updated_at = now()
 WHERE version = %(version)s
RETURNING version
"""
SQL_DEACTIVATE = "UPDATE indicator_sets SET is_active = false WHERE is_active AND version <> %s"
SQL_ACTIVATE = """
UPDATE indicator_sets SET is_active = true, updated_by = %s, updated_at = now()
 WHERE version = %s RETURNING version
"""
SQL_DELETE_SET = "DELETE FROM indicator_sets WHERE version = %s RETURNING is_active"
SQL_INSERT_ROW = """
INSERT INTO indicators (set_version, indicator, region_tier, industry_code, industry_name,
                        min_value, max_value, unit, note, is_assumption)
VALUES (%(set_version)s, %(indicator)s, %(region_tier)s, %(industry_code)s, %(industry_name)s,
        %(min_value)s, %(max_value)s, %(unit)s, %(note)s, %(is_assumption)s)
ON CONFLICT (set_version, indicator, coalesce(region_tier, ''), coalesce(industry_code, ''))
DO UPDATE SET industry_name = EXCLUDED.industry_name, min_value = EXCLUDED.min_value,
              max_value = EXCLUDED.max_value, unit = EXCLUDED.unit, note = EXCLUDED.note,
              is_assumption = EXCLUDED.is_assumption
RETURNING *
"""
SQL_ROW = "SELECT * FROM indicators WHERE id = %s AND set_version = %s"
SQL_UPDATE_ROW = """
UPDATE indicators
   SET industry_name = %(industry_name)s, min_value = %(min_value)s, max_value = %(max_value)s,
       unit = %(unit)s, note = %(note)s, is_assumption = %(is_assumption)s,
       region_tier = %(region_tier)s, industry_code = %(industry_code)s
 WHERE id = %(id)s AND set_version = %(set_version)s
RETURNING *
"""
SQL_DELETE_ROW = "DELETE FROM indicators WHERE id = %s AND set_version = %s RETURNING id"
SQL_TOUCH_SET = "UPDATE indicator_sets SET updated_by = %s, updated_at = now() WHERE version = %s"
SQL_INDUSTRY_MAP = "SELECT * FROM industry_map ORDER BY chain_role"
SQL_INDUSTRY_FOR_ROLE = "SELECT * FROM industry_map WHERE chain_role = %s"
SQL_UPSERT_INDUSTRY = """
INSERT INTO industry_map (chain_role, industry_code, name_zh, name_en, note)
VALUES (%(chain_role)s, %(industry_code)s, %(name_zh)s, %(name_en)s, %(note)s)
ON CONFLICT (chain_role) DO UPDATE SET industry_code = EXCLUDED.industry_code,
    name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, note = EXCLUDED.note
"""


# -- units ----------------------------------------------------------------------------------


def _dec(value: Any, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        value = repr(value)  # the shortest decimal that round-trips, not the binary expansion
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidData(
            f"{field} 不是数字：{value!r} / {field} is not a number: {value!r}"
        ) from None
    if not d.is_finite():
        raise InvalidData(f"{field} 必须是有限数 / {field} must be finite")
    return d


def to_storage(value: Decimal | None, unit: str) -> tuple[Decimal | None, str]:
    """``value`` in ``unit`` → (value in the storage unit, storage unit), exactly."""
    if unit not in UNITS:
        raise InvalidData(
            f"未知单位 {unit!r}，可用：{', '.join(UNITS)} / unknown unit {unit!r}; "
            f"one of {', '.join(UNITS)}"
        )
    store_unit, factor = UNITS[unit]
    return (None if value is None else value * factor), store_unit


def per_mu(wan_per_ha: Decimal) -> Decimal:
    """万元/公顷 → 万元/亩 (÷ 15, exact)."""
    return (wan_per_ha / MU_PER_HA).normalize()


def per_ha(wan_per_mu: Decimal) -> Decimal:
    """万元/亩 → 万元/公顷 (× 15, exact)."""
    return wan_per_mu * MU_PER_HA


# -- parsing ----------------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value or "").strip().lower()
    if s in ("true", "t", "1", "yes", "y", "是"):
        return True
    if s in ("", "false", "f", "0", "no", "n", "否"):
        return False
    raise InvalidData(f"无法识别的布尔值 {value!r} / not a boolean: {value!r}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def normalise_row(raw: dict[str, Any]) -> dict[str, Any]:
    """A row from a CSV or a JSON body, checked and converted to storage units.

    Raises :class:`InvalidData` (422) naming the field at fault.
    """
    indicator = _text(raw.get("indicator"))
    if indicator not in INDICATORS:
        raise InvalidData(
            f"未知指标 {indicator!r}，可用：{', '.join(INDICATORS)} / unknown "
            f"indicator {indicator!r}; one of {', '.join(INDICATORS)}"
        )
    unit = _text(raw.get("unit")) or INDICATOR_NAMES[indicator][2]
    lo, store_unit = to_storage(_dec(raw.get("min_value"), "min_value"), unit)
    hi, _ = to_storage(_dec(raw.get("max_value"), "max_value"), unit)
    if store_unit != INDICATOR_NAMES[indicator][2]:
        want = INDICATOR_NAMES[indicator][2]
        raise InvalidData(
            f"指标 {indicator} 的单位须为 {want} 或可换算单位，而非 {unit} / "
            f"{indicator} takes unit {want} (or a convertible one), not {unit}"
        )
    if lo is None and hi is None:
        raise InvalidData("min_value 与 max_value 至少填一个 / give min_value or max_value")
    if lo is not None and hi is not None and hi < lo:
        raise InvalidData("max_value 小于 min_value / max_value is below min_value")
    if (lo is not None and lo < 0) or (hi is not None and hi < 0):
        raise InvalidData("指标值不能为负 / indicator values cannot be negative")
    # shares are fractions of the site; a floor-area ratio may well exceed 1
    if (
        store_unit == "ratio"
        and indicator != "floor_area_ratio"
        and any(v is not None and v > 1 for v in (lo, hi))
    ):
        raise InvalidData(
            f"{indicator} 是比例（0–1），{lo or hi} 超出；百分数请用单位 % / "
            f"{indicator} is a ratio (0–1); for percentages use unit %"
        )
    code = _text(raw.get("industry_code"))
    if code is not None and not (code.isdigit() and 2 <= len(code) <= 4):
        raise InvalidData(
            f"行业代码须为 2–4 位数字（GB/T 4754）：{code!r} / industry_code must be "
            f"2–4 digits (GB/T 4754): {code!r}"
        )
    for f in ("region_tier", "industry_name"):
        v = _text(raw.get(f))
        if v is not None and len(v) > 100:
            raise InvalidData(f"{f} 过长 / {f} is too long")
    note = _text(raw.get("note"))
    if note is not None and len(note) > 1000:
        raise InvalidData("note 过长（≤1000） / note is too long (≤ 1000)")
    return {
        "indicator": indicator,
        "region_tier": _text(raw.get("region_tier")),
        "industry_code": code,
        "industry_name": _text(raw.get("industry_name")),
        "min_value": lo,
        "max_value": hi,
        "unit": store_unit,
        "note": note,
        "is_assumption": _bool(raw.get("is_assumption", False)),
    }


def normalise_set(raw: dict[str, Any]) -> dict[str, Any]:
    """Set metadata from a CSV row or JSON body (version, names, issued, source, ...)."""
    out: dict[str, Any] = {
        f: _text(raw.get(f)) for f in SET_FIELDS if f not in ("issued", "is_active")
    }
    for f in ("version", "name_zh", "name_en", "source"):
        if not out.get(f):
            raise InvalidData(f"指标集缺少 {f} / indicator set needs {f}")
    issued = raw.get("issued")
    if isinstance(issued, str) and issued.strip():
        try:
            issued = date.fromisoformat(issued.strip())
        except ValueError:
            raise InvalidData(
                f"issued 须为 YYYY-MM-DD：{issued!r} / issued must be YYYY-MM-DD"
            ) from None
    out["issued"] = issued or None
    out["is_active"] = _bool(raw.get("is_active", False))
    return out


def read_csv(text: str) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, with or without BOM)."""
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


# -- the store --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    sets: list[str]
    rows: int
    industries: int


def load_rows(
    conn: psycopg.Connection, rows: list[dict[str, str]], actor: str = "system"
) -> LoadResult:
    """Upsert indicator rows (CSV dicts with a ``set_version`` column) into existing sets."""
    versions: set[str] = set()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for i, raw in enumerate(rows, start=1):
            version = _text(raw.get("set_version"))
            if not version:
                raise InvalidData(f"第 {i} 行缺少 set_version / row {i} has no set_version")
            if cur.execute(SQL_SET, (version,)).fetchone() is None:
                raise NotFound(
                    f"第 {i} 行：指标集 {version} 不存在 / row {i}: no indicator set {version}"
                )
            try:
                row = normalise_row(raw)
            except InvalidData as e:
                raise InvalidData(f"第 {i} 行 / row {i}: {e.message}") from None
            cur.execute(SQL_INSERT_ROW, {**row, "set_version": version})
            versions.add(version)
        for v in versions:
            cur.execute(SQL_TOUCH_SET, (actor, v))
    return LoadResult(sorted(versions), len(rows), 0)


def load_file(conn: psycopg.Connection, path: Path, actor: str = "system") -> LoadResult:
    """Import a CSV by its header: indicator sets, indicator rows or the industry map."""
    text = path.read_text(encoding="utf-8")
    return load_text(conn, text, actor)


def load_text(conn: psycopg.Connection, text: str, actor: str = "system") -> LoadResult:
    """Import CSV text; the kind is told by its columns (see :func:`load_file`)."""
    rows = read_csv(text)
    if not rows:
        raise InvalidData("CSV 没有数据行 / the CSV has no rows")
    cols = set(rows[0])
    if {"set_version", "indicator"} <= cols:
        return load_rows(conn, rows, actor)
    if {"version", "name_zh", "source"} <= cols:
        done = []
        with conn.transaction():
            for raw in rows:
                s = normalise_set(raw)
                with conn.cursor(row_factory=dict_row) as cur:
                    if cur.execute(SQL_SET, (s["version"],)).fetchone() is None:
                        cur.execute(SQL_INSERT_SET, {**s, "actor": actor})
                    else:
                        cur.execute(SQL_UPDATE_SET, {**s, "actor": actor})
                if s["is_active"]:
                    activate(conn, s["version"], actor)
                done.append(s["version"])
        return LoadResult(done, 0, 0)
    if {"chain_role", "industry_code"} <= cols:
        with conn.transaction(), conn.cursor() as cur:
            for i, raw in enumerate(rows, start=1):
                code = _text(raw.get("industry_code"))
                if code is not None and not (code.isdigit() and 2 <= len(code) <= 4):
                    raise InvalidData(f"第 {i} 行行业代码无效 / row {i}: bad industry_code")
                role = _text(raw.get("chain_role"))
                if not role:
                    raise InvalidData(f"第 {i} 行缺少 chain_role / row {i}: no chain_role")
                cur.execute(
                    SQL_UPSERT_INDUSTRY,
                    {
                        "chain_role": role,
                        "industry_code": code,
                        "name_zh": _text(raw.get("name_zh")) or role,
                        "name_en": _text(raw.get("name_en")) or role,
                        "note": _text(raw.get("note")),
                    },
                )
        return LoadResult([], 0, len(rows))
    raise InvalidData(
        "无法识别的 CSV 列：需要指标集、指标行或行业对照表的列 / unrecognised CSV "
        "columns: expected an indicator-set, indicator-row or industry-map file"
    )


def _count_sets(conn: psycopg.Connection) -> int:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_COUNT_SETS).fetchone()
    assert row is not None  # a count always has its row
    return int(row["n"])


def ensure_seeded(conn: psycopg.Connection) -> bool:
    """Load the committed seed (``data/indicators``) into a database that has no set yet.

    Returns True when it loaded. Serialised by an advisory lock so concurrent first requests
    load it once. Seeding happens only while there is no set at all: a database where an admin
    has removed every set is re-seeded, so there is always a table to review against.
    """
    if _count_sets(conn):
        return False
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEED_LOCK,))
        if _count_sets(conn):
            return False
        # sets first (rows reference them), then rows, then the industry map
        files = sorted(
            SEED_DIR.glob("*.csv"),
            key=lambda p: (0 if "sets" in p.name else 2 if "map" in p.name else 1, p.name),
        )
        for f in files:
            load_file(conn, f)
    return True


def catalogue(conn: psycopg.Connection) -> dict[str, Any]:
    """Every set, the industry map and the indicator and unit vocabularies (seeding first)."""
    ensure_seeded(conn)
    return {
        "sets": list_sets(conn),
        "industry_map": industry_map(conn),
        "indicators": {
            k: {"name_zh": v[0], "name_en": v[1], "unit": v[2]} for k, v in INDICATOR_NAMES.items()
        },
        "units": sorted(UNITS),
    }


def seeded_set(conn: psycopg.Connection, version: str | None) -> dict[str, Any]:
    """:func:`get_set` after seeding an empty database (``None``: the set in force)."""
    ensure_seeded(conn)
    return get_set(conn, version)


def list_sets(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_SETS).fetchall()


def get_set(conn: psycopg.Connection, version: str | None = None) -> dict[str, Any]:
    """A set with its rows; the active one when ``version`` is None."""
    with conn.cursor(row_factory=dict_row) as cur:
        if version is None:
            s = cur.execute(SQL_ACTIVE_SET).fetchone()
            if s is None:
                raise NotFound("没有生效的指标集 / no indicator set is active")
        else:
            s = cur.execute(SQL_SET, (version,)).fetchone()
            if s is None:
                raise NotFound(f"指标集 {version} 不存在 / no indicator set {version}")
        s["rows"] = [with_local_units(r) for r in cur.execute(SQL_ROWS, (s["version"],))]
    return s


def with_local_units(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row plus its 万元/亩 figures where the unit is 万元/公顷."""
    r = dict(row)
    if r["unit"] == "万元/公顷":
        r["min_value_per_mu"] = None if r["min_value"] is None else per_mu(r["min_value"])
        r["max_value_per_mu"] = None if r["max_value"] is None else per_mu(r["max_value"])
    return r


def create_set(conn: psycopg.Connection, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """A new (inactive) set, optionally with rows and copied from another set's rows.

    An empty database is seeded first, so the seed's sets are never shadowed by the new one.
    """
    ensure_seeded(conn)
    s = normalise_set(body)
    rows = [normalise_row(r) for r in body.get("rows") or []]
    copy_from = _text(body.get("copy_from"))
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(SQL_INSERT_SET, {**s, "actor": actor}).fetchone() is None:
            raise Conflict(f"指标集 {s['version']} 已存在 / indicator set {s['version']} exists")
        if copy_from:
            if cur.execute(SQL_SET, (copy_from,)).fetchone() is None:
                raise NotFound(f"指标集 {copy_from} 不存在 / no indicator set {copy_from}")
            for r in cur.execute(SQL_ROWS, (copy_from,)).fetchall():
                cur.execute(
                    SQL_INSERT_ROW, {**{k: r[k] for k in ROW_FIELDS}, "set_version": s["version"]}
                )
        for r in rows:
            cur.execute(SQL_INSERT_ROW, {**r, "set_version": s["version"]})
    if s["is_active"]:
        activate(conn, s["version"], actor)
    return get_set(conn, s["version"])


def update_set(
    conn: psycopg.Connection, version: str, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    fields = {f: _text(body.get(f)) for f in SET_FIELDS if f not in ("version", "is_active")}
    if isinstance(body.get("issued"), date):
        fields["issued"] = body["issued"]
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if (
            cur.execute(SQL_UPDATE_SET, {**fields, "version": version, "actor": actor}).fetchone()
            is None
        ):
            raise NotFound(f"指标集 {version} 不存在 / no indicator set {version}")
    if body.get("is_active") is True:
        activate(conn, version, actor)
    return get_set(conn, version)


def activate(conn: psycopg.Connection, version: str, actor: str) -> dict[str, Any]:
    """Make ``version`` the set in force (the previous one is deactivated in one transaction)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # Lock the sets so two admins activating different versions cannot both win.
        cur.execute("SELECT version FROM indicator_sets ORDER BY version FOR UPDATE")
        if cur.execute(SQL_SET, (version,)).fetchone() is None:
            raise NotFound(f"指标集 {version} 不存在 / no indicator set {version}")
        cur.execute(SQL_DEACTIVATE, (version,))
        cur.execute(SQL_ACTIVATE, (actor, version))
    return get_set(conn, version)


def delete_set(conn: psycopg.Connection, version: str) -> None:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        s = cur.execute(SQL_SET + " FOR UPDATE", (version,)).fetchone()
        if s is None:
            raise NotFound(f"指标集 {version} 不存在 / no indicator set {version}")
        if s["is_active"]:
            raise Conflict(
                "不能删除生效中的指标集，请先启用其他版本 / the active set cannot be "
                "deleted; activate another version first"
            )
        cur.execute(SQL_DELETE_SET, (version,))


def add_row(
    conn: psycopg.Connection, version: str, raw: dict[str, Any], actor: str
) -> dict[str, Any]:
    row = normalise_row(raw)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(SQL_SET, (version,)).fetchone() is None:
            raise NotFound(f"指标集 {version} 不存在 / no indicator set {version}")
        out = cur.execute(SQL_INSERT_ROW, {**row, "set_version": version}).fetchone()
        assert out is not None  # INSERT ... RETURNING one row
        cur.execute(SQL_TOUCH_SET, (actor, version))
    return with_local_units(out)


def update_row(
    conn: psycopg.Connection, version: str, row_id: int, raw: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Replace the values of one row (fields not given keep their current value)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur_row = cur.execute(SQL_ROW + " FOR UPDATE", (row_id, version)).fetchone()
        if cur_row is None:
            raise NotFound(
                f"指标集 {version} 中没有第 {row_id} 行 / no row {row_id} in set {version}"
            )
        merged = {k: cur_row[k] for k in ROW_FIELDS}
        if "unit" not in raw and ("min_value" in raw or "max_value" in raw):
            merged["unit"] = INDICATOR_NAMES[cur_row["indicator"]][2]
        merged.update({k: v for k, v in raw.items() if k in ROW_FIELDS and k != "indicator"})
        row = normalise_row(merged)
        out = cur.execute(SQL_UPDATE_ROW, {**row, "id": row_id, "set_version": version}).fetchone()
        assert out is not None  # the row is locked above: it is still there
        cur.execute(SQL_TOUCH_SET, (actor, version))
    return with_local_units(out)


def delete_row(conn: psycopg.Connection, version: str, row_id: int, actor: str) -> None:
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute(SQL_DELETE_ROW, (row_id, version)).fetchone() is None:
            raise NotFound(
                f"指标集 {version} 中没有第 {row_id} 行 / no row {row_id} in set {version}"
            )
        cur.execute(SQL_TOUCH_SET, (actor, version))


def industry_map(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_INDUSTRY_MAP).fetchall()


def industry_for(conn: psycopg.Connection, project: dict[str, Any]) -> dict[str, Any]:
    """The GB/T 4754 industry of a project: its own ``industry_code``, else its chain role's.

    Returns ``{"code": str | None, "name_zh", "name_en", "source"}``; code None means the
    project is not an industrial one (e.g. logistics) or its role is unmapped.
    """
    if project.get("industry_code"):
        return {
            "code": project["industry_code"],
            "name_zh": None,
            "name_en": None,
            "source": "project",
        }
    role = project.get("chain_role")
    with conn.cursor(row_factory=dict_row) as cur:
        m = cur.execute(SQL_INDUSTRY_FOR_ROLE, (role,)).fetchone() if role else None
    if m is None:
        return {
            "code": None,
            "name_zh": "未对应行业",
            "name_en": "unmapped chain role",
            "source": "none",
        }
    return {
        "code": m["industry_code"],
        "name_zh": m["name_zh"],
        "name_en": m["name_en"],
        "source": "industry_map",
    }


def lookup(
    rows: list[dict[str, Any]], indicator: str, tier: str | None, industry_code: str | None
) -> dict[str, Any] | None:
    """The most specific row for an indicator (see the module notes), or None."""
    best: tuple[int, int] | None = None
    found = None
    for r in rows:
        if r["indicator"] != indicator:
            continue
        if r["region_tier"] is not None and r["region_tier"] != tier:
            continue
        rc = r["industry_code"]
        if rc is not None and (industry_code is None or not industry_code.startswith(rc)):
            continue
        key = (len(rc) if rc else 0, 1 if r["region_tier"] is not None else 0)
        if best is None or key > best:
            best, found = key, r
    return found


def rows_for_industry_specific(indicator: str) -> bool:
    """Indicators whose official rows are per industry (they do not apply without one)."""
    return indicator in ("investment_intensity", "floor_area_ratio")
