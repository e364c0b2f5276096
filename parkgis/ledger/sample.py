"""The ledger's ILLUSTRATIVE sample (data/ledger/, see its README): approval batches drawn
around groups of sample parcels, annual figures for the resident firms, the projects' source
townships, and a status history for the sample parcels so that stock on past dates and the
absorption per quarter have something to show.

None of it is real. The history rows are written as ``actor = 'sample'`` with a note saying
so, and only for parcels that have no history of their own yet (a second run adds nothing).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from parkgis.errors import InvalidData
from parkgis.ledger import performance
from parkgis.ledger.common import bump_ledger_version, rows

SAMPLE_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "ledger"
NOTE = "ILLUSTRATIVE sample history / 示例历史（非真实）"

SQL_APPROVAL = """
INSERT INTO approvals (code, approval_no, kind, approved_on, zone_code, area_declared_mu, note,
                       geom)
SELECT %(code)s, %(approval_no)s, %(kind)s, %(approved_on)s, %(zone_code)s,
       %(area_declared_mu)s, %(note)s, ST_Multi(ST_Union(p.geom))
  FROM parcels p
 WHERE p.status <> 'historic' AND p.code LIKE ANY(%(patterns)s)
HAVING count(*) > 0
ON CONFLICT (code) DO UPDATE SET approval_no = EXCLUDED.approval_no, kind = EXCLUDED.kind,
    approved_on = EXCLUDED.approved_on, zone_code = EXCLUDED.zone_code,
    area_declared_mu = EXCLUDED.area_declared_mu, note = EXCLUDED.note, geom = EXCLUDED.geom"""


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def load_approvals_csv(conn: psycopg.Connection, path: Path) -> int:
    """Batches whose outline is the union of the parcels matching ``parcel_patterns``
    (SQL LIKE patterns separated by ';') — how the sample draws its batches."""
    n = 0
    for line, r in enumerate(_csv(path), start=2):
        try:
            params: dict[str, Any] = {
                "code": r["code"],
                "approval_no": r["approval_no"],
                "kind": r["kind"],
                "approved_on": date.fromisoformat(r["approved_on"]),
                "zone_code": r["zone_code"] or None,
                "area_declared_mu": r["area_declared_mu"] or None,
                "note": r["note"] or None,
                "patterns": [p for p in r["parcel_patterns"].split(";") if p],
            }
        except (KeyError, ValueError) as e:
            raise InvalidData(
                f"{path.name} 第 {line} 行无效 / {path.name} line {line}: {type(e).__name__}"
            ) from None
        with conn.cursor() as cur:
            cur.execute(SQL_APPROVAL, params)
            n += cur.rowcount
    return n


def load_history_csv(conn: psycopg.Connection, path: Path) -> int:
    have = {
        r["parcel_code"]
        for r in rows(conn, "SELECT DISTINCT parcel_code FROM parcel_events WHERE actor = 'sample'")
    }
    live = {r["code"] for r in rows(conn, "SELECT code FROM parcels")}
    today = date.today()
    batch = [
        r
        for r in _csv(path)
        if r["parcel_code"] in live
        and r["parcel_code"] not in have
        and date.fromisoformat(r["on"]) <= today
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO parcel_events (parcel_code, at, actor, action, from_status, to_status, "
            "note) VALUES (%(parcel_code)s, (%(on)s::date + time '10:00') AT TIME ZONE "
            "'Asia/Shanghai', 'sample', 'sample_history', nullif(%(from_status)s, ''), "
            "%(to_status)s, %(note)s)",
            [{**r, "note": NOTE} for r in batch],
        )
    return len(batch)


SQL_CONTRACT = """
INSERT INTO land_contracts (contract_no, parcel_code, project_code, landuse_code, price_wan,
                            lease_years, signed_on, agreed_start, agreed_completion,
                            actual_start, actual_completion, status, created_by)
SELECT %(contract_no)s, p.code, p.project_code, p.landuse_code,
       round(p.area_mu * %(price_wan_per_mu)s::numeric, 2), 50, %(signed_on)s, %(agreed_start)s,
       %(agreed_completion)s, nullif(%(actual_start)s, '')::date,
       nullif(%(actual_completion)s, '')::date,
       CASE WHEN %(actual_completion)s = '' THEN 'active' ELSE 'completed' END, 'sample'
  FROM parcels p WHERE p.code = %(parcel_code)s
   -- the GeoPackage sample lays its own contracts (parkgis.land.sample_dates): one per parcel
   AND NOT EXISTS (SELECT 1 FROM land_contracts c WHERE c.parcel_code = p.code)
ON CONFLICT (contract_no) DO NOTHING"""


def load_contracts_csv(conn: psycopg.Connection, path: Path) -> int:
    """Land contracts for the sample's supplied parcels (needs migration 0008)."""
    if not rows(conn, "SELECT to_regclass('public.land_contracts') IS NOT NULL AS ok")[0]["ok"]:
        return 0
    n = 0
    with conn.cursor() as cur:
        for r in _csv(path):
            cur.execute(SQL_CONTRACT, r)
            n += cur.rowcount
    return n


def load_townships_csv(conn: psycopg.Connection, path: Path) -> int:
    n = 0
    for r in _csv(path):
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE projects SET source_township = %s, fostered = %s, "
                "township_tax_share = %s, updated_at = now() WHERE code = %s",
                (
                    r["source_township"],
                    r["fostered"] == "true",
                    r["township_tax_share"] or None,
                    r["project_code"],
                ),
            )
            n += cur.rowcount
    return n


def load_sample(conn: psycopg.Connection, directory: Path = SAMPLE_DIR) -> dict[str, int]:
    """Everything in ``directory`` that exists, in the caller's transaction."""
    out: dict[str, int] = {}
    if (directory / "history.csv").is_file():
        out["history"] = load_history_csv(conn, directory / "history.csv")
    if (directory / "approvals.csv").is_file():
        out["approvals"] = load_approvals_csv(conn, directory / "approvals.csv")
    if (directory / "contracts.csv").is_file():
        out["contracts"] = load_contracts_csv(conn, directory / "contracts.csv")
    if (directory / "township_sources.csv").is_file():
        out["townships"] = load_townships_csv(conn, directory / "township_sources.csv")
    for f in sorted(directory.glob("performance_*.csv")):
        out[f.stem] = performance.load(conn, f.read_bytes(), f.name, actor="sample").rows
    bump_ledger_version(conn)
    return out
