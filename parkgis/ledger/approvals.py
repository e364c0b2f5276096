"""Loading land approval batches (农用地转用/土地征收批次, the ``approvals`` layer) from a vector
file: GeoPackage, GeoJSON, Shapefile … read with pyogrio, reprojected to CGCS2000, every
feature checked; one bad feature refuses the file (with its number and reason) and nothing is
stored. Rows are upserted by ``code``.

Fields: ``code`` (required), ``approval_no`` (批准文号, required), ``approved_on`` (date,
required), ``kind`` (conversion / expropriation / conversion_expropriation; default the
last), ``zone_code``, ``area_declared_mu`` (the area the document states), ``note``.
Chinese headers 批次编号, 批准文号, 批准日期, 类型, 园区, 批准面积 are accepted too.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from parkgis.errors import InvalidData
from parkgis.ledger.common import bump_ledger_version, rows

KINDS = ("conversion", "expropriation", "conversion_expropriation")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ALIASES = {
    "批次编号": "code",
    "编号": "code",
    "批准文号": "approval_no",
    "文号": "approval_no",
    "批准日期": "approved_on",
    "日期": "approved_on",
    "类型": "kind",
    "园区": "zone_code",
    "批准面积": "area_declared_mu",
    "批准面积（亩）": "area_declared_mu",
    "备注": "note",
}

SQL_UPSERT = """
INSERT INTO approvals (code, approval_no, kind, approved_on, zone_code, area_declared_mu, note,
                       geom)
VALUES (%(code)s, %(approval_no)s, %(kind)s, %(approved_on)s, %(zone_code)s,
        %(area_declared_mu)s, %(note)s,
        ST_Multi(ST_SetSRID(ST_GeomFromWKB(%(wkb)s), 4490)))
ON CONFLICT (code) DO UPDATE SET approval_no = EXCLUDED.approval_no, kind = EXCLUDED.kind,
    approved_on = EXCLUDED.approved_on, zone_code = EXCLUDED.zone_code,
    area_declared_mu = EXCLUDED.area_declared_mu, note = EXCLUDED.note, geom = EXCLUDED.geom"""


def _date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v).strip()[:10])


def load_file(
    conn: psycopg.Connection, path: Path, layer: str | None = None, crs: str | None = None
) -> int:
    """Validate every feature of ``path`` and upsert them in the caller's transaction; one
    bad feature and nothing is loaded (every problem is listed, up to 200)."""
    df = _read(path, layer, crs)
    zones = {r["code"] for r in rows(conn, "SELECT code FROM zones")}
    errors: list[dict[str, Any]] = []
    recs = []
    for i, (_, r) in enumerate(df.iterrows(), start=1):
        rec, problems = _record(r, zones)
        if rec is None:
            errors.extend({"feature": i, "reason": p} for p in problems)
            continue
        recs.append(rec)
    if errors:
        e = errors[0]
        raise InvalidData(
            f"第 {e['feature']} 个要素：{e['reason']}（共 {len(errors)} 处，未导入）"
            f" / feature {e['feature']}: {e['reason']} ({len(errors)} problems; "
            f"nothing was loaded)",
            errors=errors[:200],
        )
    if not recs:
        raise InvalidData("文件没有要素 / the file has no features")
    with conn.cursor() as cur:
        cur.executemany(SQL_UPSERT, recs)
    bump_ledger_version(conn)
    return len(recs)


def _read(path: Path, layer: str | None, crs: str | None) -> Any:
    """The file's features in EPSG:4490 with their columns under the canonical names."""
    import pyogrio

    try:
        df = pyogrio.read_dataframe(path, layer=layer)
    except Exception as e:  # GDAL raises many kinds; the message names no server path
        raise InvalidData(
            f"无法读取该文件 / the file cannot be read ({type(e).__name__})"
        ) from None
    if df.crs is None:
        if not crs:
            raise InvalidData("文件没有坐标系，请指定 / the file has no CRS: give one")
        df = df.set_crs(crs)
    df = df.to_crs(4490)
    return df.rename(columns={c: ALIASES.get(str(c).strip(), str(c).strip()) for c in df.columns})


def _record(r: Any, zones: set[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """One feature's row to upsert, or None and its problems (each field's check beside its
    bilingual message, in file order)."""
    import shapely

    problems = []
    code = str(r.get("code") or "").strip()
    if not CODE_RE.match(code):
        problems.append("code 缺失或含非法字符 / code missing or invalid")
    no = str(r.get("approval_no") or "").strip()
    if not 1 <= len(no) <= 200:
        problems.append("缺少批准文号 / approval_no is missing")
    try:
        approved = _date(r.get("approved_on"))
    except (TypeError, ValueError):
        approved = None
        problems.append("批准日期须为 YYYY-MM-DD / approved_on must be YYYY-MM-DD")
    kind = str(r.get("kind") or "conversion_expropriation").strip()
    if kind not in KINDS:
        problems.append(f"类型须为 {'/'.join(KINDS)} / kind must be one of {', '.join(KINDS)}")
    zone = str(r.get("zone_code") or "").strip() or None
    if zone and zone not in zones:
        problems.append(f"未知园区 / unknown zone {zone[:64]}")
    declared = r.get("area_declared_mu")
    try:
        declared = (
            None if declared is None or str(declared).strip() in ("", "nan") else float(declared)
        )
        if declared is not None and declared <= 0:
            raise ValueError
    except (TypeError, ValueError):
        problems.append("批准面积须为正数 / area_declared_mu must be positive")
    g = r.geometry
    if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
        problems.append("须为面 / the geometry must be a polygon")
    elif not g.is_valid:
        problems.append(f"几何无效 / invalid geometry: {shapely.is_valid_reason(g)[:80]}")
    if problems:
        return None, problems
    note = r.get("note")
    return {
        "code": code,
        "approval_no": no,
        "kind": kind,
        "approved_on": approved,
        "zone_code": zone,
        "area_declared_mu": declared,
        "note": None if note is None or str(note) == "nan" else str(note)[:500],
        "wkb": shapely.to_wkb(g),
    }, []
