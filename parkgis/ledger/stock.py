"""Land-stock accounts (土地账): area and count by status, 供地率, 建成率, absorption per
quarter, 批而未供 by batch and age — by zone (each park) and for the whole cluster, for any date.

Status on a date is read from the audit trail, not from today's parcels: the status of a
parcel on day D is the ``to_status`` of its last ``parcel_events`` row before the end of D
(Beijing time). A parcel with no event by then did not exist yet. Areas are the parcels' areas
in the zone's Gauss-Krüger projection (the store's ``area_m2``).

Each query below is the one the figure's definition points to; the dashboard shows it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg

from parkgis.errors import InvalidInput
from parkgis.ledger.common import DAY_END, SUPPLIED, Figure, ha, mu, ratio, rows

ALL = "ALL"  # the whole cluster in per-zone tables

#: Status of every parcel at the end of day ``as_of``; the CTE every stock query starts from.
STATUS_AT = f"""
WITH status_at AS (
  SELECT DISTINCT ON (e.parcel_code) e.parcel_code, e.to_status AS status
    FROM parcel_events e
   WHERE e.to_status IS NOT NULL AND e.at < {DAY_END}
   ORDER BY e.parcel_code, e.at DESC, e.id DESC)"""

SQL_BY_STATUS = (
    STATUS_AT
    + """
SELECT p.zone_code, s.status, count(*) AS parcels, sum(p.area_m2) AS area_m2
  FROM status_at s JOIN parcels p ON p.code = s.parcel_code
 WHERE s.status <> 'historic'
 GROUP BY p.zone_code, s.status
 ORDER BY p.zone_code, s.status"""
)

#: Per approval batch approved by ``as_of``: its area and the part of it covered by land
#: supplied (allocated, under construction or operational) on that date.
SQL_BATCHES = (
    STATUS_AT
    + """,
supplied AS (
  SELECT p.geom_gk FROM status_at s JOIN parcels p ON p.code = s.parcel_code
   WHERE s.status = ANY(%(supplied)s))
SELECT a.code, a.approval_no, a.kind, a.approved_on, a.zone_code, a.area_m2,
       a.area_declared_mu,
       coalesce((SELECT ST_Area(ST_Intersection(a.geom_gk, ST_Union(u.geom_gk)))
                   FROM supplied u WHERE u.geom_gk && a.geom_gk), 0) AS supplied_m2
  FROM approvals a
 WHERE a.approved_on <= %(as_of)s
 ORDER BY a.approved_on, a.code"""
)

#: Allocations (vacant → allocated) in [from, to], with the days since the parcel last became
#: available (or was created available), per quarter and zone, and per quarter.
SQL_ABSORPTION = """
WITH alloc AS (
  SELECT e.parcel_code, e.at,
         (SELECT max(e2.at) FROM parcel_events e2
           WHERE e2.parcel_code = e.parcel_code AND e2.to_status = 'available'
             AND e2.at < e.at) AS available_at
    FROM parcel_events e
   WHERE e.to_status = 'allocated' AND e.from_status IN ('available', 'reserved', 'listed')
     AND e.at >= (%(from)s::timestamp AT TIME ZONE 'Asia/Shanghai')
     AND e.at < ((%(to)s::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'))
SELECT to_char(a.at AT TIME ZONE 'Asia/Shanghai', 'YYYY-"Q"Q') AS quarter,
       coalesce(p.zone_code, 'ALL') AS zone_code,
       count(*) AS parcels, sum(p.area_m2) AS area_m2,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM a.at - a.available_at) / 86400) AS median_days
  FROM alloc a JOIN parcels p ON p.code = a.parcel_code
 GROUP BY GROUPING SETS ((1, p.zone_code), (1))
 ORDER BY 1, 2"""

DEFS: dict[str, tuple[str, str, str, str, str]] = {
    # key: name_zh, name_en, unit, definition_zh, definition_en
    "stock": (
        "土地存量（按状态）",
        "Land stock by status",
        "亩 / mu",
        "截至该日各地块的状态（审计记录中该日结束前最后一次状态变更），按园区、状态汇总面积与宗数；"
        "已注销（historic）地块不计。",
        "Each parcel's status at the end of the day (its last status change in the audit "
        "trail by then), summed by zone and status; retired (historic) parcels excluded.",
    ),
    "supplied": (
        "已供地面积",
        "Land supplied",
        "亩 / mu",
        "截至该日状态为已出让、在建或投产的地块面积之和。",
        "Area of parcels allocated, under construction or operational on the date.",
    ),
    "supply_rate": (
        "供地率",
        "Supply rate (供地率)",
        "%",
        "已批准建设用地（农用地转用/征收批次，批准日不晚于该日）中已供地的面积 ÷ 批次总面积。",
        "Area of the approval batches (approved by the date) covered by supplied "
        "parcels ÷ the batches' total area.",
    ),
    "approved_unsupplied": (
        "批而未供",
        "Approved, not supplied (批而未供)",
        "亩 / mu",
        "批次面积减去其中已供地部分；并按批准时间超过 2 年、5 年分列。",
        "Batch area minus its supplied part; also for batches older than 2 and 5 years.",
    ),
    "development_rate": (
        "建成率",
        "Development rate (建成率)",
        "%",
        "已投产地块面积 ÷ 已供地面积（截至该日）。",
        "Operational area ÷ supplied area on the date.",
    ),
    "absorption": (
        "季度供地（去化）",
        "Absorption per quarter",
        "亩 / mu",
        "期间内由待供（可供、预留、挂牌）转为已出让的地块面积，按季度；中位天数为该地块上次变为"
        "可供至出让的天数中位数。",
        "Area of parcels going from vacant (available, reserved, listed) to allocated "
        "in the period, per quarter; median days from the parcel last becoming "
        "available "
        "to its allocation.",
    ),
    "unused": (
        "供而未用",
        "Supplied, not started (供而未用)",
        "亩 / mu",
        "截至该日已签出让合同（未收回）但尚未动工的地块面积（出让合同数据）。",
        "Area of parcels under a signed land contract (not taken back) whose "
        "construction had not started on the date (from the land contracts).",
    ),
    "idle": (
        "闲置土地",
        "Idle land (闲置土地)",
        "亩 / mu",
        "依出让合同约定动工日判定（国土资源部令第53号）：满一年未动工，或开发不足且停工满一年；"
        "扣除政府原因延误（parkgis.land.idle）。",
        "From the land contracts (MLR Order 53): not started a year after the agreed "
        "start, or under-developed and stopped for a year; government delays excluded "
        "(parkgis.land.idle).",
    ),
}


def _fig(
    key: str, value: float | None, sql: str, params: dict[str, Any], note: str | None = None
) -> Figure:
    n_zh, n_en, unit, d_zh, d_en = DEFS[key]
    return Figure(key, n_zh, n_en, unit, value, d_zh, d_en, sql.strip(), params, note)


def _age_years(approved: date, as_of: date) -> float:
    return (as_of - approved).days / 365.25


def _older_than(approved: date, as_of: date, years: int) -> bool:
    """Strictly more than ``years`` whole years before ``as_of`` (anniversary-exact)."""
    try:
        cutoff = as_of.replace(year=as_of.year - years)
    except ValueError:  # 29 February
        cutoff = as_of.replace(year=as_of.year - years, day=28)
    return approved < cutoff


def stock(
    conn: psycopg.Connection,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
) -> dict[str, Any]:
    """The land-stock accounts on ``as_of`` and the absorption over the period (default: the
    three calendar years to ``as_of``).

    Each figure is listed with its definition and reproducing SQL beside it (``figures``).
    """
    period_to = period_to or as_of
    period_from = period_from or date(period_to.year - 2, 1, 1)
    if period_from > period_to:
        raise InvalidInput("期间起点晚于终点 / the period starts after it ends", param="from")
    p = {"as_of": as_of, "supplied": list(SUPPLIED)}
    zones = rows(conn, "SELECT code, name_zh, name_en, kind FROM zones ORDER BY code")
    by_status = rows(conn, SQL_BY_STATUS, p)
    batches = rows(conn, SQL_BATCHES, p)
    pa = {"from": period_from, "to": period_to}
    absorption = rows(conn, SQL_ABSORPTION, pa)

    zone_codes = [z["code"] for z in zones] + [ALL]
    acc = {z: _empty_account(z) for z in zone_codes}
    _add_by_status(acc, by_status)
    batch_out = _add_batches(acc, batches, as_of)
    table = _zone_table(zones, zone_codes, acc)
    total = table[-1]
    quarters = [
        {
            "quarter": r["quarter"],
            "zone_code": r["zone_code"],
            "parcels": r["parcels"],
            "area_mu": mu(r["area_m2"]),
            "median_days": (
                round(float(r["median_days"]), 1) if r["median_days"] is not None else None
            ),
        }
        for r in absorption
    ]
    figures = [
        _fig("stock", total["area_mu"], SQL_BY_STATUS, p),
        _fig("supplied", total["supplied_mu"], SQL_BY_STATUS, p),
        _fig("supply_rate", total["supply_rate"], SQL_BATCHES, p),
        _fig("approved_unsupplied", total["unsupplied_mu"], SQL_BATCHES, p),
        _fig("development_rate", total["development_rate"], SQL_BY_STATUS, p),
        _fig(
            "absorption",
            sum(q["area_mu"] for q in quarters if q["zone_code"] == ALL),
            SQL_ABSORPTION,
            pa,
        ),
    ]
    idle_figs, idle_zone, idle_rows = idle_accounts(conn, as_of)
    figures.extend(idle_figs)
    has_contracts = idle_figs[0].value is not None
    for t in table:
        z = idle_zone.get(t["zone_code"], {"unused_m2": 0.0, "idle_m2": 0.0})
        t["unused_mu"] = mu(z["unused_m2"]) if has_contracts else None
        t["idle_mu"] = mu(z["idle_m2"]) if has_contracts else None
    return {
        "as_of": as_of.isoformat(),
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "zones": table,
        "batches": batch_out,
        "absorption": quarters,
        "idle": idle_rows,
        "figures": [f.body() for f in figures],
    }


def _empty_account(zone_code: str) -> dict[str, Any]:
    """A zone's running totals (square metres), before any row is added."""
    return {
        "zone_code": zone_code,
        "by_status": {},
        "parcels": 0,
        "area_m2": 0.0,
        "supplied_m2": 0.0,
        "operational_m2": 0.0,
        "approved_m2": 0.0,
        "approved_supplied_m2": 0.0,
        "unsupplied_m2": 0.0,
        "unsupplied_2y_m2": 0.0,
        "unsupplied_5y_m2": 0.0,
    }


def _add_by_status(acc: dict[str, dict[str, Any]], by_status: list[dict[str, Any]]) -> None:
    """Parcels and area per status into their zone's account and the whole cluster's."""
    for r in by_status:
        for z in (r["zone_code"], ALL):
            a = acc[z]
            s = a["by_status"].setdefault(r["status"], {"parcels": 0, "area_m2": 0.0})
            s["parcels"] += r["parcels"]
            s["area_m2"] += r["area_m2"]
            a["parcels"] += r["parcels"]
            a["area_m2"] += r["area_m2"]
            if r["status"] in SUPPLIED:
                a["supplied_m2"] += r["area_m2"]
            if r["status"] == "operational":
                a["operational_m2"] += r["area_m2"]


def _add_batches(
    acc: dict[str, dict[str, Any]], batches: list[dict[str, Any]], as_of: date
) -> list[dict[str, Any]]:
    """Each approval batch's row (supplied, unsupplied, age on ``as_of``), its figures added
    to its zone's account (the whole cluster's for a batch without a zone) and the total."""
    batch_out = []
    for b in batches:
        unsup = max(b["area_m2"] - b["supplied_m2"], 0.0)
        older2 = _older_than(b["approved_on"], as_of, 2)
        older5 = _older_than(b["approved_on"], as_of, 5)
        batch_out.append(
            {
                "code": b["code"],
                "approval_no": b["approval_no"],
                "kind": b["kind"],
                "approved_on": b["approved_on"].isoformat(),
                "zone_code": b["zone_code"],
                "area_mu": mu(b["area_m2"]),
                "area_ha": ha(b["area_m2"]),
                "area_declared_mu": float(b["area_declared_mu"]) if b["area_declared_mu"] else None,
                "supplied_mu": mu(b["supplied_m2"]),
                "unsupplied_mu": mu(unsup),
                "supply_rate": ratio(b["supplied_m2"], b["area_m2"]),
                "age_years": round(_age_years(b["approved_on"], as_of), 2),
                "over_2y": older2,
                "over_5y": older5,
            }
        )
        for z in {b["zone_code"] or ALL, ALL}:
            a = acc[z]
            a["approved_m2"] += b["area_m2"]
            a["approved_supplied_m2"] += b["supplied_m2"]
            a["unsupplied_m2"] += unsup
            if older2:
                a["unsupplied_2y_m2"] += unsup
            if older5:
                a["unsupplied_5y_m2"] += unsup
    return batch_out


def _zone_table(
    zones: list[dict[str, Any]], zone_codes: list[str], acc: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per zone in mu and ha, with its rates; the whole cluster last."""
    names = {z["code"]: z for z in zones}
    table = []
    for code in zone_codes:
        a = acc[code]
        z = names.get(code, {"name_zh": "全区合计", "name_en": "Whole cluster", "kind": None})
        table.append(
            {
                "zone_code": code,
                "name_zh": z["name_zh"],
                "name_en": z["name_en"],
                "parcels": a["parcels"],
                "area_mu": mu(a["area_m2"]),
                "area_ha": ha(a["area_m2"]),
                "by_status": {
                    s: {
                        "parcels": v["parcels"],
                        "area_mu": mu(v["area_m2"]),
                        "area_ha": ha(v["area_m2"]),
                    }
                    for s, v in sorted(a["by_status"].items())
                },
                "supplied_mu": mu(a["supplied_m2"]),
                "operational_mu": mu(a["operational_m2"]),
                "approved_mu": mu(a["approved_m2"]),
                "approved_supplied_mu": mu(a["approved_supplied_m2"]),
                "supply_rate": ratio(a["approved_supplied_m2"], a["approved_m2"]),
                "development_rate": ratio(a["operational_m2"], a["supplied_m2"]),
                "unsupplied_mu": mu(a["unsupplied_m2"]),
                "unsupplied_over_2y_mu": mu(a["unsupplied_2y_m2"]),
                "unsupplied_over_5y_mu": mu(a["unsupplied_5y_m2"]),
            }
        )
    return table


#: 供而未用: land under a signed contract, not taken back, not started by the date (a parcel
#: counts once, whatever the number of its contracts).
SQL_UNUSED = """
SELECT DISTINCT ON (c.parcel_code) p.zone_code, c.contract_no, c.parcel_code, c.signed_on,
       c.agreed_start, p.area_m2
  FROM land_contracts c JOIN parcels p ON p.code = c.parcel_code
 WHERE c.signed_on <= %(as_of)s AND c.status <> 'reclaimed'
   AND (c.actual_start IS NULL OR c.actual_start > %(as_of)s)
 ORDER BY c.parcel_code, c.signed_on DESC"""


def _has_contracts(conn: psycopg.Connection) -> bool:
    return bool(
        rows(conn, "SELECT to_regclass('public.land_contracts') IS NOT NULL AS ok")[0]["ok"]
    )


def idle_accounts(
    conn: psycopg.Connection, as_of: date
) -> tuple[list[Figure], dict[str, dict[str, float]], list[dict[str, Any]]]:
    """供而未用 and idle land from the land contracts (the listing/contracts work, migration
    0008); without those tables the figures say so instead of showing a made-up number.

    Returns the figures, per-zone areas (m²) and the idle findings."""
    if not _has_contracts(conn):
        note = "尚无出让合同数据 / no land contracts in this database yet"
        return (
            [
                _fig("unused", None, "-- needs land_contracts (migration 0008)", {}, note=note),
                _fig("idle", None, "-- needs land_contracts (migration 0008)", {}, note=note),
            ],
            {},
            [],
        )
    from parkgis.land.idle import SQL_CONTRACTS, idle_land

    per_zone: dict[str, dict[str, float]] = {}
    unused = rows(conn, SQL_UNUSED, {"as_of": as_of})
    for r in unused:
        for z in (r["zone_code"], ALL):
            per_zone.setdefault(z, {"unused_m2": 0.0, "idle_m2": 0.0})["unused_m2"] += r["area_m2"]
    findings = idle_land(conn, as_of)
    areas = {
        r["code"]: r
        for r in rows(
            conn,
            "SELECT code, zone_code, area_m2 FROM parcels WHERE code = ANY(%(c)s)",
            {"c": [f.parcel_code for f in findings]},
        )
    }
    idle_rows = []
    seen: set[str] = set()
    for f in findings:
        p = areas.get(f.parcel_code)
        if p is None:
            continue
        if f.parcel_code not in seen:  # two contracts on one parcel count its land once
            seen.add(f.parcel_code)
            for z in (p["zone_code"], ALL):
                per_zone.setdefault(z, {"unused_m2": 0.0, "idle_m2": 0.0})["idle_m2"] += p[
                    "area_m2"
                ]
        idle_rows.append(
            {
                "parcel_code": f.parcel_code,
                "contract_no": f.contract_no,
                "zone_code": p["zone_code"],
                "area_mu": mu(p["area_m2"]),
                "kind": f.kind,
                "stage": f.stage,
                "since": f.since.isoformat(),
                "fee_wan": float(f.fee_wan),
                "reason_zh": f.reason_zh,
                "reason_en": f.reason_en,
            }
        )
    tot = per_zone.get(ALL, {"unused_m2": 0.0, "idle_m2": 0.0})
    figs = [
        _fig("unused", mu(tot["unused_m2"]), SQL_UNUSED, {"as_of": as_of}),
        _fig(
            "idle",
            mu(tot["idle_m2"]),
            SQL_CONTRACTS + "\n-- each contract judged by "
            "parkgis.land.idle.assess (令53, delays excluded)",
            {"as_of": as_of, "codes": None},
        ),
    ]
    return figs, per_zone, idle_rows


SQL_PUBLIC_AVAILABLE = """
SELECT z.code AS zone_code, z.name_zh, z.name_en,
       count(p.code) AS parcels, coalesce(sum(p.area_m2), 0) AS area_m2,
       ST_X(ST_PointOnSurface(z.geom)) AS label_lon, ST_Y(ST_PointOnSurface(z.geom)) AS label_lat
  FROM zones z LEFT JOIN parcels p ON p.zone_code = z.code AND p.status = 'available'
 GROUP BY z.code, z.name_zh, z.name_en, z.geom ORDER BY z.code"""


def public_available(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Available land by park, for the public investor map: today's status only (no history,
    no approvals, nothing confidential). ``label_lon``/``label_lat`` is a point inside the
    park (not its centroid, which a crescent-shaped park may not contain) for its map label."""
    parks: list[dict[str, Any]] = public_summary(conn)["parks"]
    return parks


def public_summary(conn: psycopg.Connection) -> dict[str, Any]:
    """The body of ``/api/ledger/public`` and of the static map's ``ledger-public.json``: the
    parks (:func:`public_available`) and the cluster's total. The total is summed before
    rounding, so it can differ from the sum of the rounded park figures in the last digit."""
    found = rows(conn, SQL_PUBLIC_AVAILABLE)
    area_m2 = sum(float(r["area_m2"]) for r in found)
    return {
        "parks": [
            {
                "zone_code": r["zone_code"],
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "parcels": int(r["parcels"]),
                "area_mu": round(mu(r["area_m2"]), 1),
                "area_ha": round(ha(r["area_m2"]), 2),
                "label_lon": round(float(r["label_lon"]), 6),
                "label_lat": round(float(r["label_lat"]), 6),
            }
            for r in found
        ],
        "total": {
            "parcels": sum(int(r["parcels"]) for r in found),
            "area_mu": round(mu(area_m2), 1),
            "area_ha": round(ha(area_m2), 2),
        },
        "definition_zh": "可供地块：当前状态为“可供”的地块；"
        "面积为所在园区高斯-克吕格投影下的面积。",
        "definition_en": "Available: parcels whose current status is 'available'; areas in "
        "the zone's Gauss-Krüger projection.",
    }


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)
