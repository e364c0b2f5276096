"""Idle land (闲置土地处置办法, 国土资源部令第53号, 2012).

A contract's land is idle when
- construction has not started one full year after the agreed start date (约定动工开发日期):
  the idle fee is 20 % of the land price (第十四条(一)); at two full years the land may be
  taken back without compensation (第十四条(二));
- or construction started, but the developed area is under one third of the parcel or the
  investment under 25 % of the promised total, and work has been stopped for one full year
  (第二条); the same two-year rule then applies to the stoppage.

Delays the government caused (第八条: 规划调整, 征收未完成, 军事管制 ...) are recorded per contract
(``contract_delays``) and their days do not count: each day inside a recorded delay pushes the
one- and two-year marks back by a day, and a delay still going on stops the count.

The judgement is a pure function of the stored contract, its delays and a date
(:func:`assess`); :func:`idle_land` applies it to every active contract, and the clock
(:mod:`parkgis.land.clock`) raises each finding once as an event in the parcel's history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

#: 第十四条(一): the idle fee is 20 % of the land price.
IDLE_FEE_SHARE = Decimal("0.20")
#: 第二条: developed area under one third / investment under a quarter of the promise.
DEVELOPED_SHARE_MIN = 1 / 3
INVESTMENT_SHARE_MIN = Decimal("0.25")

SQL_CONTRACTS = """
SELECT c.id, c.contract_no, c.parcel_code, c.project_code, c.price_wan, c.agreed_start,
       c.agreed_completion, c.promised_investment_wan, c.actual_start, c.actual_completion,
       c.developed_area_m2, c.investment_to_date_wan, c.work_stopped_since,
       p.area_m2, p.status AS parcel_status, p.zone_code
  FROM land_contracts c JOIN parcels p ON p.code = c.parcel_code
 WHERE c.status = 'active' AND c.actual_completion IS NULL
   AND (%(codes)s::text[] IS NULL OR c.parcel_code = ANY(%(codes)s::text[]))
 ORDER BY c.parcel_code, c.id
"""
SQL_DELAYS = """
SELECT contract_id, from_date, to_date FROM contract_delays
 WHERE contract_id = ANY(%s) ORDER BY contract_id, from_date
"""


@dataclass
class IdleFinding:
    """One idle contract as of a date.

    ``since`` is the day the one-year mark was reached (delays included); ``reclaim_from``
    the day the two-year mark is (or will be) reached; ``delay_days`` the government-delay
    days that did not count.
    """

    parcel_code: str
    contract_no: str
    contract_id: int
    project_code: str | None
    kind: str  # not_started | stalled
    stage: str  # idle | reclaimable
    count_from: date  # agreed start, or the day work stopped
    since: date
    reclaim_from: date | None
    delay_days: int
    days_counted: int
    land_price_wan: Decimal
    fee_wan: Decimal
    reason_zh: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February into a common year
        return d.replace(year=d.year + years, month=3, day=1)


def delay_days_between(delays: list[tuple[date, date | None]], start: date, end: date) -> int:
    """Days in [start, end) covered by at least one delay (a delay's ``to_date`` is inclusive;
    an open delay runs through ``end``). Overlapping delays count once."""
    days: set[date] = set()
    for lo, hi in delays:
        a = max(lo, start)
        b = min(hi + timedelta(days=1) if hi else end, end)
        d = a
        while d < b:
            days.add(d)
            d += timedelta(days=1)
    return len(days)


def _covered(delays: list[tuple[date, date | None]], d: date) -> bool:
    return any(lo <= d and (hi is None or d <= hi) for lo, hi in delays)


def _mark(
    count_from: date, years: int, delays: list[tuple[date, date | None]], as_of: date
) -> date | None:
    """The first day on which ``years`` years of counted days lie behind ``count_from``: the
    anniversary, pushed back a day for each delay day in between. None when a delay still
    going on holds the count short of the mark (it cannot be reached while it lasts)."""
    need = (_add_years(count_from, years) - count_from).days
    d, counted = count_from, 0
    while counted < need:
        if _covered(delays, d):
            if d > as_of and any(hi is None and lo <= d for lo, hi in delays):
                return None
        else:
            counted += 1
        d += timedelta(days=1)
    return d


def assess(
    contract: dict[str, Any], delays: list[tuple[date, date | None]], as_of: date
) -> IdleFinding | None:
    """The idle finding for one contract on ``as_of``, or None when it is not idle.

    ``contract`` carries the ``land_contracts`` columns plus the parcel's ``area_m2``.
    """
    if contract.get("actual_completion") is not None:
        return None
    if contract.get("actual_start") is None:
        kind, count_from = "not_started", contract["agreed_start"]
    else:
        stopped = contract.get("work_stopped_since")
        if stopped is None:
            return None
        area = float(contract.get("area_m2") or 0)
        developed = contract.get("developed_area_m2")
        promised = contract.get("promised_investment_wan")
        invested = contract.get("investment_to_date_wan")
        short_area = (
            developed is not None and area > 0 and float(developed) < area * DEVELOPED_SHARE_MIN
        )
        short_money = (
            promised is not None
            and invested is not None
            and Decimal(invested) < Decimal(promised) * INVESTMENT_SHARE_MIN
        )
        if not (short_area or short_money):
            return None
        kind, count_from = "stalled", stopped
    if as_of < count_from:
        return None
    one = _mark(count_from, 1, delays, as_of)
    if one is None or as_of < one:
        return None
    two = _mark(count_from, 2, delays, as_of)
    stage = "reclaimable" if two is not None and as_of >= two else "idle"
    skipped = delay_days_between(delays, count_from, as_of + timedelta(days=1))
    price = Decimal(contract["price_wan"])
    fee = (price * IDLE_FEE_SHARE).quantize(Decimal("0.01"), ROUND_HALF_UP)
    what_zh = "约定动工日后未动工" if kind == "not_started" else "开发不足且停工"
    what_en = (
        "not started since the agreed start"
        if kind == "not_started"
        else "under-developed and stopped"
    )
    if stage == "idle":
        zh = (
            f"{what_zh}满一年（自 {count_from} 起，扣除政府原因延误 {skipped} 天），"
            f"征收闲置费 {fee} 万元"
        )
        en = (
            f"{what_en} for a year (from {count_from}, less {skipped} days of government "
            f"delay): idle fee {fee} (10k yuan)"
        )
    else:
        zh = f"{what_zh}满两年（自 {count_from} 起，扣除政府原因延误 {skipped} 天），可无偿收回"
        en = (
            f"{what_en} for two years (from {count_from}, less {skipped} days of government "
            f"delay): may be taken back without compensation"
        )
    return IdleFinding(
        parcel_code=contract["parcel_code"],
        contract_no=contract["contract_no"],
        contract_id=contract["id"],
        project_code=contract.get("project_code"),
        kind=kind,
        stage=stage,
        count_from=count_from,
        since=one,
        reclaim_from=two,
        delay_days=skipped,
        days_counted=(as_of - count_from).days + 1 - skipped,
        land_price_wan=price,
        fee_wan=fee,
        reason_zh=zh,
        reason_en=en,
    )


def idle_land(
    conn: psycopg.Connection, as_of: date, codes: list[str] | None = None
) -> list[IdleFinding]:
    """Every active contract whose land is idle on ``as_of``, by parcel code.

    Parameters
    ----------
    conn : psycopg.Connection
    as_of : date
        The day judged (park time).
    codes : list of str, optional
        Only these parcels.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        contracts = cur.execute(SQL_CONTRACTS, {"codes": codes}).fetchall()
        ids = [c["id"] for c in contracts]
        delays: dict[int, list[tuple[date, date | None]]] = {i: [] for i in ids}
        if ids:
            for r in cur.execute(SQL_DELAYS, (ids,)).fetchall():
                delays[r["contract_id"]].append((r["from_date"], r["to_date"]))
    out: list[IdleFinding] = []
    for c in contracts:
        finding = assess(c, delays[c["id"]], as_of)
        if finding is not None:
            out.append(finding)
    return out


SQL_GEOMETRIES = """
SELECT code, zone_code, status, area_mu, ST_AsGeoJSON(geom, 7)::json AS geometry
  FROM parcels WHERE code = ANY(%s)
"""


def idle_land_features(conn: psycopg.Connection, as_of: date) -> dict[str, Any]:
    """:func:`idle_land` as a GeoJSON FeatureCollection (EPSG:4490 ≈ WGS84) for the planner's
    list and map layer."""
    found = idle_land(conn, as_of)
    with conn.cursor(row_factory=dict_row) as cur:
        parcels = {
            r["code"]: r
            for r in cur.execute(SQL_GEOMETRIES, ([f.parcel_code for f in found],)).fetchall()
        }
    features = []
    for f in found:
        p = parcels.get(f.parcel_code, {})
        props = f.as_dict()
        props.update(
            {
                "zone_code": p.get("zone_code"),
                "status": p.get("status"),
                "area_mu": p.get("area_mu"),
            }
        )
        features.append(
            {
                "type": "Feature",
                "id": f.parcel_code,
                "geometry": p.get("geometry"),
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "as_of": as_of, "features": features}
