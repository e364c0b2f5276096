"""The parcel lifecycle: a state machine over ``parcels.status`` with an audit trail.

States (design §2): ``available`` → ``reserved`` (for a project, until a date) → ``listed``
(招拍挂 notice running, at least 20 days) → ``allocated`` (land-use contract, lease term) →
``under_construction`` → ``operational``. ``release`` returns a reserved or listed parcel to
``available``; reservations also expire on their own (:func:`expire_reservations`).
``withdraw`` takes an available parcel out of supply (``not_for_supply``: green belt,
corridors, reserves) and ``restore`` brings it back. ``historic`` is terminal and reached only
by a split or a merge (:mod:`parkgis.land.parcel_edit`).

Industrial land may only be granted through tender, auction or listing (招拍挂), so
``allocate`` starts from ``listed`` — and only once the listing notice has run its course.

How the guarantees are kept
---------------------------
- **Audit.** Every status change writes exactly one ``parcel_events`` row, written by the
  database trigger in the same transaction; who/what/why come from transaction-local settings
  (``parkgis.actor``, ``parkgis.action``, ``parkgis.note``, ``parkgis.data``) set just before
  the ``UPDATE``.
- **Stale writes.** The row is locked (``SELECT ... FOR UPDATE``) and its ``version`` compared
  with the version the caller saw (the API's ``If-Match``): a mismatch is
  :class:`~parkgis.errors.PreconditionFailed` (412). Of N concurrent requests holding the same
  version, the first to get the lock wins and the others see the bumped version.
- **No two active holds.** ``reserve``/``list``/``allocate`` open a row in ``parcel_holds``
  (closing the previous one); ``release`` and expiry close it. The table's exclusion constraint
  refuses two active holds of one parcel over overlapping time, whatever the caller.

Reservation expiry
------------------
A reservation is valid through its ``reserved_until`` day (park time, Asia/Shanghai).
:func:`expire_reservations` returns lapsed ones to ``available`` (actor ``system``, action
``expire``). The API runs it for the parcel at hand before every read or action of that parcel,
so nobody ever sees or acts on a lapsed reservation; ``parkgis parcels expire`` runs it for all
parcels (put it in cron to keep lists and tiles current too).

The functions take a synchronous psycopg connection (dict rows or not) and work inside
``conn.transaction()``: on a connection without an open transaction that block commits, inside
a caller's transaction it is a savepoint and the caller commits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from parkgis.db.audit import set_audit_context
from parkgis.db.collections import svc_join, svc_sql
from parkgis.errors import Conflict, InvalidData, NotFound, PreconditionFailed
from parkgis.vocabulary import SERVICES

PARK_TZ = ZoneInfo("Asia/Shanghai")

#: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "reserve": (("available",), "reserved"),
    "list": (("available", "reserved"), "listed"),
    "allocate": (("listed",), "allocated"),
    "start_construction": (("allocated",), "under_construction"),
    "complete": (("under_construction",), "operational"),
    "release": (("reserved", "listed"), "available"),
    "withdraw": (("available",), "not_for_supply"),
    "restore": (("not_for_supply",), "available"),
}
ACTIONS: tuple[str, ...] = tuple(TRANSITIONS)
ACTION_NAMES_ZH: dict[str, str] = {
    "reserve": "预留",
    "list": "挂牌公告",
    "allocate": "出让/供地",
    "start_construction": "开工",
    "complete": "竣工投产",
    "release": "释放",
    "withdraw": "暂不供应",
    "restore": "恢复供应",
    "expire": "预留到期",
    "split": "分割",
    "merge": "合并",
    "create": "新建",
    "listing_open": "挂牌期开始",
    "listing_sold": "挂牌成交",
    "listing_failed": "流拍",
    "idle_flag": "认定闲置",
    "idle_reclaimable": "闲置满两年可收回",
}
STATUS_NAMES_ZH: dict[str, str] = {
    "available": "可供应",
    "reserved": "已预留",
    "listed": "挂牌中",
    "allocated": "已出让",
    "under_construction": "在建",
    "operational": "已投产",
    "not_for_supply": "暂不供应",
    "historic": "已注销（分割/合并）",
}

#: Longest reservation a planner may grant, in days.
RESERVE_MAX_DAYS = 180
#: 招拍挂: a listing notice runs at least this many days (and we accept at most a year).
NOTICE_MIN_DAYS = 20
NOTICE_MAX_DAYS = 365
#: Longest land-use right term by land-use code prefix (《城镇国有土地使用权出让和转让暂行条例》
#: 第十二条: industrial 50, residential 70, commercial/tourism/recreation 40); default 50.
LEASE_MAX_YEARS: dict[str, int] = {"1001": 50, "1101": 50, "1102": 50, "07": 70, "09": 40}
LEASE_MAX_DEFAULT = 50
NOTE_MAX = 2000

SQL_LOCK = """
SELECT code, status, version, project_code, reserved_until, landuse_code
  FROM parcels WHERE code = %s FOR UPDATE
"""
SQL_UPDATE_STATUS = """
UPDATE parcels
   SET status = %(status)s, project_code = %(project)s, reserved_until = %(until)s
 WHERE code = %(code)s
RETURNING code, status, version
"""
# A hold closes now; one opened earlier in this transaction becomes an empty range.
SQL_CLOSE_HOLDS = """
UPDATE parcel_holds
   SET active = false,
       during = tstzrange(lower(during), greatest(lower(during),
                          least(coalesce(upper(during), 'infinity'), now())))
 WHERE parcel_code = %s AND active
"""
SQL_OPEN_HOLD = """
INSERT INTO parcel_holds (parcel_code, project_code, kind, during, actor, note, data)
VALUES (%(code)s, %(project)s, %(kind)s, tstzrange(now(), %(upper)s), %(actor)s, %(note)s,
        %(data)s::jsonb)
"""
SQL_ACTIVE_HOLD = """
SELECT kind, project_code, data FROM parcel_holds WHERE parcel_code = %s AND active
"""
# The parcel's latest listing record (令39 flow, parkgis.land.listing), if any is live or sold.
SQL_LISTING_RECORD = """
SELECT id, status, listing_end, winner, closing_price_wan FROM land_listings
 WHERE parcel_code = %s ORDER BY id DESC LIMIT 1
"""
SQL_WITHDRAW_LISTING = """
UPDATE land_listings SET status = 'withdrawn', closed_at = now()
 WHERE parcel_code = %s AND status IN ('notice', 'open')
"""
SQL_PROJECT_EXISTS = "SELECT 1 FROM projects WHERE code = %s"
SQL_LAST_EVENT = """
SELECT id, parcel_code, at, actor, action, from_status, to_status, project_code, note, data
  FROM parcel_events WHERE parcel_code = %s ORDER BY id DESC LIMIT 1
"""
SQL_EVENTS = """
SELECT id, parcel_code, at, actor, action, from_status, to_status, project_code, note, data
  FROM parcel_events WHERE parcel_code = %s ORDER BY at, id
"""
SQL_EXPIRED = """
SELECT code, project_code, reserved_until FROM parcels
 WHERE status = 'reserved' AND reserved_until < %(today)s
   AND (%(codes)s::text[] IS NULL OR code = ANY(%(codes)s::text[]))
 ORDER BY code
   FOR UPDATE SKIP LOCKED
"""
SQL_EXPIRE_ONE = """
UPDATE parcels SET status = 'available', project_code = NULL, reserved_until = NULL
 WHERE code = %s
"""
SQL_PARCEL = """
SELECT p.code, p.zone_code, p.status, p.landuse_code, p.landuse_alias, p.gk_srid,
       p.area_m2, p.area_mu, p.area_ha,
       {svc}, p.land_price_wan_per_mu, p.enterprise_code,
       p.project_code, p.reserved_until, p.parent_codes, p.note_internal, p.version,
       p.created_at, p.updated_at,
       t.elev_mean_m, t.slope_mean_deg, t.flood_share,
       ST_AsGeoJSON(p.geom, 9)::json AS geometry
  FROM parcels p LEFT JOIN parcel_terrain t ON t.parcel_code = p.code
  {svc_join}
 WHERE p.code = %s
""".replace(
    # 七通一平 as in service today (svc_as_of, migration 0011), as the sheet and search say
    "{svc}",
    ",\n       ".join(f"{svc_sql(s, alias='p')} AS svc_{s}" for s in SERVICES),
).replace("{svc_join}", svc_join("p"))


@dataclass
class ActionParams:
    """What a transition may carry (the API's JSON body); each action reads its own fields.

    Attributes
    ----------
    project : str, optional
        Project code (``projects.code``): required to reserve; allocate falls back to the
        parcel's current project.
    until : date, optional
        Last day of a reservation (required to reserve; at most 180 days ahead).
    note : str, optional
        Free text for the audit trail.
    contract_no : str, optional
        Land-use right contract number (required to allocate).
    lease_years : int, optional
        Lease term (required to allocate; ≤ 50 for industrial land).
    notice_start : date, optional
        First day of the listing notice (default today).
    notice_days : int, optional
        Length of the listing notice, at least 20 days (default 20).
    """

    project: str | None = None
    until: date | None = None
    note: str | None = None
    contract_no: str | None = None
    lease_years: int | None = None
    notice_start: date | None = None
    notice_days: int | None = None
    #: A notice dated before today, recorded by an admin (:mod:`parkgis.land.listing` checks
    #: the role and the document number); without it a past notice is refused.
    backfill: bool = False
    #: Further facts for the event's data (the listing record's notice number, periods).
    extra: dict[str, Any] | None = None


def park_today(now: datetime | None = None) -> date:
    """Today's date in the park (Asia/Shanghai), which is what reservation days count in."""
    return (now or datetime.now(PARK_TZ)).astimezone(PARK_TZ).date()


def allowed_actions(status: str) -> list[str]:
    """The actions a parcel in ``status`` admits, in lifecycle order."""
    return [a for a, (sources, _) in TRANSITIONS.items() if status in sources]


def max_lease_years(landuse_code: str) -> int:
    """The legal maximum lease term for a land-use code (longest matching prefix)."""
    for n in range(len(landuse_code), 0, -1):
        if landuse_code[:n] in LEASE_MAX_YEARS:
            return LEASE_MAX_YEARS[landuse_code[:n]]
    return LEASE_MAX_DEFAULT


def _local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=PARK_TZ)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February into a common year
        return d.replace(year=d.year + years, day=28)


def _set_context(
    cur: psycopg.Cursor[Any], actor: str, action: str, note: str | None, data: dict[str, Any]
) -> None:
    set_audit_context(cur, actor, action, note, data)


def _illegal(code: str, status: str, action: str) -> Conflict:
    allowed = allowed_actions(status)
    zh_allowed = "、".join(f"{a}（{ACTION_NAMES_ZH[a]}）" for a in allowed) or "无"
    en_allowed = ", ".join(allowed) or "none"
    return Conflict(
        f"地块 {code} 当前状态为“{STATUS_NAMES_ZH.get(status, status)}”，不能执行"
        f"“{ACTION_NAMES_ZH.get(action, action)}”；可执行：{zh_allowed} / "
        f"parcel {code} is {status}: '{action}' is not allowed; allowed: {en_allowed}",
        status_now=status,
        action=action,
        allowed_actions=allowed,
    )


def _require_project(cur: psycopg.Cursor, project: str | None, action: str) -> str:
    if not project:
        raise InvalidData(
            f"“{ACTION_NAMES_ZH[action]}”需要项目编号 project / "
            f"'{action}' needs a project code (project)"
        )
    if cur.execute(SQL_PROJECT_EXISTS, (project,)).fetchone() is None:
        raise InvalidData(f"项目 {project} 不存在 / unknown project {project}", field="project")
    return project


def validate(action: str, p: ActionParams, today: date) -> None:
    """Check the parameters an action needs, before anything is locked (422 when wrong)."""
    if action not in TRANSITIONS:
        raise NotFound(
            f"未知操作 {action}；可用：{', '.join(ACTIONS)} / "
            f"unknown action {action}; one of {', '.join(ACTIONS)}"
        )
    if p.note is not None and len(p.note) > NOTE_MAX:
        raise InvalidData(
            f"备注最长 {NOTE_MAX} 字 / note longer than {NOTE_MAX} characters", field="note"
        )
    if action == "reserve":
        if p.until is None:
            raise InvalidData(
                "预留需要截止日期 until / a reservation needs an end date (until)", field="until"
            )
        last = today + timedelta(days=RESERVE_MAX_DAYS)
        if not today <= p.until <= last:
            raise InvalidData(
                f"预留截止日期须在 {today} 至 {last} 之间（最长 {RESERVE_MAX_DAYS} 天） / "
                f"until must be between {today} and {last} (at most {RESERVE_MAX_DAYS} days)",
                field="until",
            )
    elif action == "list":
        days = NOTICE_MIN_DAYS if p.notice_days is None else p.notice_days
        if not NOTICE_MIN_DAYS <= days <= NOTICE_MAX_DAYS:
            raise InvalidData(
                f"挂牌公告期须为 {NOTICE_MIN_DAYS}–{NOTICE_MAX_DAYS} 天 / the listing notice must "
                f"run {NOTICE_MIN_DAYS}–{NOTICE_MAX_DAYS} days",
                field="notice_days",
            )
        start = p.notice_start or today
        if start < today and not p.backfill:
            raise InvalidData(
                f"公告开始日期 {start} 早于今天 {today}：不能倒签公告"
                f"（管理员可补录并注明公告文号） / "
                f"the notice date {start} is before today ({today}): a notice cannot be "
                f"backdated (an admin may record it as a backfill with its document number)",
                field="notice_start",
            )
        if abs((start - today).days) > NOTICE_MAX_DAYS:
            raise InvalidData(
                "公告开始日期距今超过一年 / notice_start is more than a year away from today",
                field="notice_start",
            )
    elif action == "allocate":
        if not p.contract_no or not p.contract_no.strip() or len(p.contract_no) > 64:
            raise InvalidData(
                "供地需要出让合同编号 contract_no（最长 64 字） / allocation needs "
                "the contract number (contract_no, at most 64 characters)",
                field="contract_no",
            )
        if p.lease_years is None or p.lease_years < 1:
            raise InvalidData(
                "供地需要出让年限 lease_years（≥ 1 年） / allocation needs the "
                "lease term in years (lease_years ≥ 1)",
                field="lease_years",
            )


def apply_action(
    conn: psycopg.Connection,
    code: str,
    action: str,
    params: ActionParams,
    actor: str,
    expected_version: int | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run one lifecycle action on a parcel, with its audit row and holds, atomically.

    Parameters
    ----------
    conn : psycopg.Connection
    code : str
        Parcel code.
    action : str
        One of :data:`ACTIONS`.
    params : ActionParams
    actor : str
        Account name recorded in ``parcel_events.actor`` and ``parcel_holds.actor``.
    expected_version : int or None
        The version the caller based its decision on (``If-Match``); None skips the check
        (``If-Match: *``, the CLI).
    now : datetime, optional
        The clock for date checks (tests); default now.

    Returns
    -------
    dict
        ``{"parcel": {...}, "event": {...}}``: the parcel after the change and its new event.

    Raises
    ------
    NotFound, InvalidData, PreconditionFailed, Conflict
        404 unknown parcel or action; 422 bad parameters; 412 stale version; 409 an action
        the parcel's status does not admit (naming the allowed ones) or a listing notice that
        has not yet run its course.
    """
    today = park_today(now)
    validate(action, params, today)
    sources, target = TRANSITIONS[action]
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = _lock_parcel(cur, code, expected_version)
        if row["status"] not in sources:
            raise _illegal(code, row["status"], action)
        change = _plan(cur, row, action, params, today)
        if action in ("start_construction", "complete"):
            change.data.update(params.extra or {})
        _set_context(cur, actor, action, params.note, change.data)
        if action in ("reserve", "list", "allocate", "release"):
            cur.execute(SQL_CLOSE_HOLDS, (code,))
        if action == "release":
            cur.execute(SQL_WITHDRAW_LISTING, (code,))
        if change.hold is not None:
            cur.execute(
                SQL_OPEN_HOLD,
                {
                    "code": code,
                    "project": change.project,
                    "kind": change.hold[0],
                    "upper": change.hold[1],
                    "actor": actor,
                    "note": params.note,
                    "data": json.dumps(change.data, ensure_ascii=False),
                },
            )
        cur.execute(
            SQL_UPDATE_STATUS,
            {"status": target, "project": change.project, "until": change.until, "code": code},
        )
        event = cur.execute(SQL_LAST_EVENT, (code,)).fetchone()
        parcel = cur.execute(SQL_PARCEL, (code,)).fetchone()
    return {"parcel": parcel, "event": event}


def _lock_parcel(
    cur: psycopg.Cursor[Any], code: str, expected_version: int | None
) -> dict[str, Any]:
    """The parcel's row, locked until the transaction ends; 404 unknown, 412 stale version."""
    row = cur.execute(SQL_LOCK, (code,)).fetchone()
    if row is None:
        raise NotFound(f"地块 {code} 不存在 / no parcel {code}")
    if expected_version is not None and row["version"] != expected_version:
        raise PreconditionFailed(
            f"地块 {code} 已被修改（当前版本 {row['version']}，请求基于版本 "
            f"{expected_version}），请刷新后重试 / parcel {code} has changed (version "
            f"{row['version']}, you sent {expected_version}); reload and retry",
            current_version=row["version"],
        )
    return dict(row)


@dataclass
class _Change:
    """What an action writes besides the status: project, reservation end, event data and
    the hold it opens (kind, upper bound)."""

    project: str | None
    until: date | None = None
    data: dict[str, Any] = field(default_factory=dict)
    hold: tuple[str, datetime | None] | None = None


def _plan(
    cur: psycopg.Cursor[Any], row: dict[str, Any], action: str, params: ActionParams, today: date
) -> _Change:
    """The change ``action`` makes to the locked parcel ``row`` (checks that need the data)."""
    if action == "reserve":
        until = params.until
        assert until is not None  # validate() requires it
        return _Change(
            _require_project(cur, params.project, action),
            until,
            {"until": until.isoformat()},
            ("reserved", _local_midnight(until + timedelta(days=1))),
        )
    if action == "list":
        project = row["project_code"]
        if params.project:
            project = _require_project(cur, params.project, action)
        start = params.notice_start or today
        days = params.notice_days or NOTICE_MIN_DAYS
        data: dict[str, Any] = {
            "notice_start": start.isoformat(),
            "notice_days": days,
            "notice_end": (start + timedelta(days=days)).isoformat(),
        }
        if params.backfill:
            data["backfill"] = True
        data.update(params.extra or {})
        return _Change(project, None, data, ("listed", None))
    if action == "allocate":
        return _plan_allocation(cur, row, params, today)
    if action in ("release", "restore", "withdraw"):
        return _Change(None)
    return _Change(row["project_code"])


def _plan_allocation(
    cur: psycopg.Cursor[Any], row: dict[str, Any], params: ActionParams, today: date
) -> _Change:
    """Allocation: only after the listing's recorded result (or its notice period), within
    the land use's longest lease."""
    code = row["code"]
    record = cur.execute(SQL_LISTING_RECORD, (code,)).fetchone()
    if record is not None and record["status"] in ("failed", "withdrawn"):
        record = None  # an earlier round; this listing predates the records
    if record is not None and record["status"] != "sold":
        earliest = record["listing_end"] + timedelta(days=1)
        raise Conflict(
            f"挂牌期至 {record['listing_end']} 截止，结果须由系统在截止后记录；最早可于 "
            f"{earliest} 出让 / the listing runs until {record['listing_end']} and its "
            f"result is recorded after the close: the earliest legal allocation date "
            f"is {earliest}",
            earliest_allocation=earliest.isoformat(),
            listing_end=record["listing_end"].isoformat(),
            allowed_actions=["release"],
        )
    project = _require_project(cur, params.project or row["project_code"], "allocate")
    limit = max_lease_years(row["landuse_code"])
    assert params.lease_years is not None  # validate() requires it
    if params.lease_years > limit:
        raise InvalidData(
            f"用地 {row['landuse_code']} 出让年限最长 {limit} 年 / the lease term for "
            f"land use {row['landuse_code']} is at most {limit} years",
            field="lease_years",
        )
    listing = cur.execute(SQL_ACTIVE_HOLD, (code,)).fetchone()
    notice_end = (listing or {}).get("data", {}).get("notice_end")
    if record is None and notice_end and today < date.fromisoformat(notice_end):
        raise Conflict(
            f"挂牌公告期至 {notice_end} 才届满，届满前不能出让 / the listing notice runs "
            f"until {notice_end}; the parcel cannot be allocated before then",
            notice_end=notice_end,
            allowed_actions=["release"],
        )
    assert params.contract_no is not None  # validate() requires it
    data: dict[str, Any] = {
        "contract_no": params.contract_no.strip(),
        "lease_years": params.lease_years,
    }
    if record is not None:
        data.update(
            {
                "listing_id": record["id"],
                "winner": record["winner"],
                "closing_price_wan": str(record["closing_price_wan"]),
            }
        )
    data.update(params.extra or {})
    return _Change(
        project, None, data, ("allocated", _local_midnight(_add_years(today, params.lease_years)))
    )


def expire_reservations(
    conn: psycopg.Connection, now: datetime | None = None, codes: list[str] | None = None
) -> list[str]:
    """Return lapsed reservations to ``available``; the codes expired.

    A reservation lapses when the park's date is past ``reserved_until``. Each expiry is an
    audited transition (actor ``system``, action ``expire``) and closes the parcel's hold.
    Rows another transaction holds locked are skipped (that transaction is acting on them);
    the next call catches them.

    Parameters
    ----------
    conn : psycopg.Connection
    now : datetime, optional
        The clock (tests); default now.
    codes : list of str, optional
        Only these parcels (the API passes the one it is serving); default all.
    """
    today = park_today(now)
    expired: list[str] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SQL_EXPIRED, {"today": today, "codes": codes}).fetchall()
        for r in rows:
            _set_context(
                cur,
                "system",
                "expire",
                f"预留已于 {r['reserved_until']} 到期 / reservation lapsed after "
                f"{r['reserved_until']}",
                {"until": r["reserved_until"].isoformat()},
            )
            cur.execute(SQL_CLOSE_HOLDS, (r["code"],))
            cur.execute(SQL_EXPIRE_ONE, (r["code"],))
            expired.append(r["code"])
    return expired


SQL_NOTE_EVENT = """
INSERT INTO parcel_events (parcel_code, actor, action, from_status, to_status, project_code,
                           note, data)
SELECT code, %(actor)s, %(action)s, status, status, project_code, %(note)s, %(data)s::jsonb
  FROM parcels WHERE code = %(code)s
"""


def note_event(
    cur: psycopg.Cursor[Any], code: str, actor: str, action: str, note: str, data: dict[str, Any]
) -> None:
    """Record an event that changes no status (a bid, a listing result, progress, an idle
    flag) in the parcel's history, at its current status and project.

    The audit trigger writes only status changes, so these rows are written here, the one
    place every module uses for them. ``data`` values that JSON lacks (dates, decimals) are
    written as text.
    """
    cur.execute(
        SQL_NOTE_EVENT,
        {
            "code": code,
            "actor": actor,
            "action": action,
            "note": note,
            "data": json.dumps(data, default=str, ensure_ascii=False),
        },
    )


def get_parcel(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """One parcel with its geometry (GeoJSON, EPSG:4490) and terrain figures; 404 if unknown."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_PARCEL, (code,)).fetchone()
    if row is None:
        raise NotFound(f"地块 {code} 不存在 / no parcel {code}")
    return row


def events(conn: psycopg.Connection, code: str) -> list[dict[str, Any]]:
    """The audit trail of a parcel, oldest first; 404 if the parcel never existed."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SQL_EVENTS, (code,)).fetchall()
        if (
            not rows
            and cur.execute("SELECT 1 FROM parcels WHERE code = %s", (code,)).fetchone() is None
        ):
            raise NotFound(f"地块 {code} 不存在 / no parcel {code}")
    return rows


def params_dict(p: ActionParams) -> dict[str, Any]:
    """The parameters as a plain dict (for logs and the CLI)."""
    return {k: v for k, v in asdict(p).items() if v is not None}


def system_transition(
    conn: psycopg.Connection,
    code: str,
    action: str,
    sources: tuple[str, ...],
    target: str,
    note: str,
    data: dict[str, Any],
) -> bool:
    """A status change the clock makes (actor ``system``), audited like any other.

    Returns False, changing nothing, when the parcel is no longer in one of ``sources``
    (someone acted first): the clock's steps are idempotent.
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_LOCK, (code,)).fetchone()
        if row is None or row["status"] not in sources:
            return False
        _set_context(cur, "system", action, note, data)
        cur.execute(SQL_CLOSE_HOLDS, (code,))
        project = None if target == "available" else row["project_code"]
        cur.execute(
            SQL_UPDATE_STATUS, {"status": target, "project": project, "until": None, "code": code}
        )
    return True
