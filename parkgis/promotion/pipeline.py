"""The project pipeline (招商项目动态管理): stages, bottlenecks, township attribution,
complaints, and the inbox of investor inquiries.

Stages
------
``lead`` → ``negotiating`` → ``signed`` → ``land_supplied`` → ``under_construction`` →
``operational``, one step at a time; any stage before ``operational`` may go to ``lost``, and a
lost project may be reopened as a ``lead``. A stage change writes one ``project_events`` row in
the same transaction (a database trigger, with who/why from transaction-local settings, as
for parcels); other pipeline edits (township, bottlenecks) append their own events. The
events table is append-only.

Confidentiality
---------------
Public callers see a card's public fields only (the one rule:
:mod:`parkgis.promotion.projects`) -- never the tax share, contacts, negotiation notes, money
figures, bottlenecks or complaints.

The functions take a synchronous psycopg connection and work inside ``conn.transaction()``.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.rows import dict_row

from parkgis.db.audit import set_audit_context
from parkgis.errors import Conflict, InvalidInput, NotFound
from parkgis.ledger import chains
from parkgis.promotion import projects

STAGES: tuple[str, ...] = (
    "lead",
    "negotiating",
    "signed",
    "land_supplied",
    "under_construction",
    "operational",
    "lost",
)
STAGE_NAMES_ZH: dict[str, str] = {
    "lead": "线索",
    "negotiating": "洽谈中",
    "signed": "已签约",
    "land_supplied": "已供地",
    "under_construction": "在建",
    "operational": "已投产",
    "lost": "已流失",
}
FORWARD = STAGES[:6]
BOTTLENECK_KINDS: dict[str, str] = {
    "land": "用地",
    "eia": "环评",
    "approvals": "审批",
    "other": "其他",
}
BOTTLENECK_STATUSES = ("open", "in_progress", "resolved")
COMPLAINT_CATEGORIES: dict[str, str] = {
    "land": "用地",
    "approvals": "审批",
    "infrastructure": "基础设施",
    "environment": "环保",
    "tax": "税费",
    "contract": "合同",
    "service": "服务",
    "other": "其他",
}
COMPLAINT_STATUSES = ("received", "in_progress", "resolved", "closed")
INQUIRY_STATUSES = ("new", "answered", "closed")
# What a board card shows; who may see which of them is decided by promotion.projects.
CARD_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "industry",
    "chain_role",
    "stage",
    "fostered",
    "source_township",
    "target_quarter",
    "township_tax_share",
    "investment_wan",
    "expected_tax_wan",
    "land_budget_wan",
    "min_area_mu",
    "max_area_mu",
    "start_date",
    "industry_code",
    "contact",
    "negotiation_notes",
    "updated_at",
)
TEXT_MAX = 2000

# past_start: short of construction past the start date, as of today in the park (the rule
# the sheet and the map use, migration 0011).
SQL_PROJECTS = """SELECT *, project_past_start(stage, start_date,
                                              (now() AT TIME ZONE 'Asia/Shanghai')::date)
                               AS past_start
                    FROM projects ORDER BY code"""
SQL_PROJECT_LOCK = "SELECT * FROM projects WHERE code = %s FOR UPDATE"
SQL_PROJECT = "SELECT * FROM projects WHERE code = %s"
SQL_SET_STAGE = "UPDATE projects SET stage = %s, updated_at = now() WHERE code = %s RETURNING *"
SQL_SET_TOWNSHIP = """
UPDATE projects SET source_township = %(source_township)s,
                    township_tax_share = %(township_tax_share)s,
                    fostered = %(fostered)s, updated_at = now()
 WHERE code = %(code)s RETURNING *
"""
SQL_EVENT = """
INSERT INTO project_events (project_code, actor, action, note, data)
VALUES (%s, %s, %s, %s, %s) RETURNING *
"""
SQL_EVENTS = "SELECT * FROM project_events WHERE project_code = %s ORDER BY at, id"
SQL_LAST_EVENT = "SELECT * FROM project_events WHERE project_code = %s ORDER BY id DESC LIMIT 1"
SQL_BOTTLENECKS = """
SELECT * FROM bottlenecks
 WHERE (%(project)s::text IS NULL OR project_code = %(project)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
 ORDER BY status = 'resolved', due_date NULLS LAST, id
"""
SQL_INSERT_BOTTLENECK = """
INSERT INTO bottlenecks (project_code, kind, description, owner, due_date, status, created_by)
VALUES (%(project_code)s, %(kind)s, %(description)s, %(owner)s, %(due_date)s, %(status)s,
        %(actor)s)
RETURNING *
"""
SQL_BOTTLENECK_LOCK = "SELECT * FROM bottlenecks WHERE id = %s FOR UPDATE"
SQL_UPDATE_BOTTLENECK = """
UPDATE bottlenecks SET kind = %(kind)s, description = %(description)s, owner = %(owner)s,
       due_date = %(due_date)s, status = %(status)s, resolution = %(resolution)s,
       updated_at = now(),
       resolved_at = CASE WHEN %(status)s = 'resolved' THEN coalesce(resolved_at, now()) END
 WHERE id = %(id)s RETURNING *
"""
SQL_COMPLAINTS = """
SELECT * FROM complaints WHERE (%(status)s::text IS NULL OR status = %(status)s)
 ORDER BY status IN ('resolved', 'closed'), received DESC, id DESC
"""
SQL_INSERT_COMPLAINT = """
INSERT INTO complaints (received, complainant, project_code, enterprise_code, category, summary,
                        status, handler, created_by)
VALUES (%(received)s, %(complainant)s, %(project_code)s, %(enterprise_code)s, %(category)s,
        %(summary)s, 'received', %(handler)s, %(actor)s)
RETURNING *
"""
SQL_COMPLAINT_LOCK = "SELECT * FROM complaints WHERE id = %s FOR UPDATE"
SQL_UPDATE_COMPLAINT = """
UPDATE complaints SET status = %(status)s, handler = %(handler)s, resolution = %(resolution)s,
       category = %(category)s, updated_at = now()
 WHERE id = %(id)s RETURNING *
"""
SQL_INQUIRIES = """
SELECT * FROM inquiries WHERE (%(status)s::text IS NULL OR status = %(status)s)
 ORDER BY status <> 'new', created_at DESC, id DESC LIMIT %(limit)s
"""
SQL_INQUIRY_LOCK = "SELECT * FROM inquiries WHERE id = %s FOR UPDATE"
SQL_UPDATE_INQUIRY = """
UPDATE inquiries SET status = %(status)s, reply_note = coalesce(%(note)s, reply_note),
       handled_by = %(actor)s, handled_at = now()
 WHERE id = %(id)s RETURNING *
"""
SQL_INSERT_PROJECT = """
INSERT INTO projects (code, name_zh, name_en, industry, chain_role, stage, min_area_mu,
                      max_area_mu, start_date, investment_wan, expected_tax_wan,
                      land_budget_wan, target_quarter, contact, negotiation_notes)
VALUES (%(code)s, %(name_zh)s, %(name_en)s, %(industry)s, %(chain_role)s, 'lead',
        %(min_area_mu)s, %(max_area_mu)s, %(start_date)s, %(investment_wan)s,
        %(expected_tax_wan)s, %(land_budget_wan)s, %(target_quarter)s, %(contact)s,
        %(negotiation_notes)s)
ON CONFLICT (code) DO NOTHING
RETURNING *
"""
# Column names come from PROJECT_EDIT_FIELDS (a constant), never from a request.
PROJECT_EDIT_FIELDS: tuple[str, ...] = (
    "name_zh",
    "name_en",
    "industry",
    "chain_role",
    "min_area_mu",
    "max_area_mu",
    "start_date",
    "investment_wan",
    "expected_tax_wan",
    "land_budget_wan",
    "target_quarter",
    "contact",
    "negotiation_notes",
)
SQL_UPDATE_PROJECT = (
    "UPDATE projects SET "
    + ", ".join(f"{f} = %({f})s" for f in PROJECT_EDIT_FIELDS)
    + ", updated_at = now() WHERE code = %(code)s RETURNING *"
)
# Where each project stands: the parks of the parcels it holds (names, not codes).
SQL_PROJECT_ZONES = """
SELECT DISTINCT p.project_code, z.code, z.name_zh, z.name_en
  FROM parcels p JOIN zones z ON z.code = p.zone_code
 WHERE p.project_code IS NOT NULL AND p.status <> 'historic'
 ORDER BY p.project_code, z.code
"""
SQL_OPEN_BOTTLENECKS = """
SELECT project_code, kind, count(*) AS n, min(due_date) AS next_due
  FROM bottlenecks WHERE status <> 'resolved' GROUP BY project_code, kind
"""


def _text(value: Any, field: str, *, required: bool = False, limit: int = TEXT_MAX) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} 不能为空 / {field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} 须为文本 / {field} must be text")
    if len(value) > limit:
        raise InvalidInput(f"{field} 过长（≤{limit}） / {field} is too long (≤ {limit})")
    return value.strip()


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{field} 须为 YYYY-MM-DD / {field} must be YYYY-MM-DD") from None


def _returned(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row an INSERT or UPDATE ... RETURNING gave back: every caller has checked (and
    locked) the row it changes, so there is one."""
    assert row is not None
    return row


def _choice(value: Any, field: str, allowed: tuple[str, ...] | dict[str, str]) -> str:
    if value not in allowed:
        raise InvalidInput(
            f"{field} 须为 {' / '.join(allowed)} 之一 / {field} must be one of {', '.join(allowed)}"
        )
    return str(value)


def allowed_stages(stage: str) -> list[str]:
    """Stages a project in ``stage`` may move to."""
    if stage == "lost":
        return ["lead"]
    if stage == "operational":
        return []
    i = FORWARD.index(stage)
    return [FORWARD[i + 1], "lost"]


def public_project(row: dict[str, Any], staff: bool) -> dict[str, Any]:
    """A project card: :data:`CARD_FIELDS` the caller may see."""
    return projects.project_view(row, staff, CARD_FIELDS)


# ------------------------------------------------------------------------- stages


def set_stage(
    conn: psycopg.Connection, code: str, to: str, actor: str, note: str | None = None
) -> dict[str, Any]:
    """Move a project to stage ``to``; 409 naming the allowed stages if illegal."""
    _choice(to, "to", STAGES)
    note = _text(note, "note")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        p = cur.execute(SQL_PROJECT_LOCK, (code,)).fetchone()
        if p is None:
            raise NotFound(f"项目 {code} 不存在 / no project {code}")
        allowed = allowed_stages(p["stage"])
        if to not in allowed:
            names = "、".join(f"{s}（{STAGE_NAMES_ZH[s]}）" for s in allowed) or "无"
            raise Conflict(
                f"项目 {code} 处于 {p['stage']}（{STAGE_NAMES_ZH[p['stage']]}），"
                f"不能转为 {to}；可转为：{names} / project {code} is "
                f"{p['stage']}; it cannot move to {to}; allowed: "
                f"{', '.join(allowed) or 'none'}",
                allowed=allowed,
                stage=p["stage"],
            )
        set_audit_context(cur, actor, "reopen" if to == "lead" else "stage", note)
        row = cur.execute(SQL_SET_STAGE, (to, code)).fetchone()
        event = cur.execute(SQL_LAST_EVENT, (code,)).fetchone()
    return {"project": row, "event": event, "allowed": allowed_stages(to)}


def set_township(
    conn: psycopg.Connection, code: str, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Source township and tax share of a (fostered, 项目寄养) project."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        p = cur.execute(SQL_PROJECT_LOCK, (code,)).fetchone()
        if p is None:
            raise NotFound(f"项目 {code} 不存在 / no project {code}")
        township = _text(
            body.get("source_township", p["source_township"]), "source_township", limit=100
        )
        share = body.get("township_tax_share", p["township_tax_share"])
        if share is not None:
            try:
                share = Decimal(str(share))
            except InvalidOperation:
                raise InvalidInput(
                    "township_tax_share 须为 0–1 的数 / township_tax_share must be a number in 0–1"
                ) from None
            if not share.is_finite() or not (0 <= share <= 1):
                raise InvalidInput(
                    "township_tax_share 须在 0 到 1 之间 / township_tax_share must lie in 0–1"
                )
        fostered = body.get("fostered", p["fostered"])
        if not isinstance(fostered, bool):
            raise InvalidInput("fostered 须为 true/false / fostered must be true or false")
        if fostered and not township:
            raise InvalidInput(
                "寄养项目须注明来源乡镇 / a fostered project needs its source township"
            )
        if share is not None and not township:
            raise InvalidInput("税收分成须对应来源乡镇 / a tax share needs a source township")
        row = cur.execute(
            SQL_SET_TOWNSHIP,
            {
                "code": code,
                "source_township": township,
                "township_tax_share": share,
                "fostered": fostered,
            },
        ).fetchone()
        before = {
            "source_township": p["source_township"],
            "township_tax_share": p["township_tax_share"],
            "fostered": p["fostered"],
        }
        after = {"source_township": township, "township_tax_share": share, "fostered": fostered}
        event = cur.execute(
            SQL_EVENT,
            (
                code,
                actor,
                "township",
                _text(body.get("note"), "note"),
                json.dumps({"before": before, "after": after}, default=str),
            ),
        ).fetchone()
    return {"project": row, "event": event}


def events(conn: psycopg.Connection, code: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(SQL_PROJECT, (code,)).fetchone() is None:
            raise NotFound(f"项目 {code} 不存在 / no project {code}")
        return cur.execute(SQL_EVENTS, (code,)).fetchall()


def project_detail(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """A project for staff: its card, the stages it may move to, its history and bottlenecks."""
    evs = events(conn, code)  # NotFound first
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_PROJECT, (code,)).fetchone()
    assert row is not None
    return {
        "project": public_project(row, True),
        "allowed_stages": allowed_stages(row["stage"]),
        "events": evs,
        "bottlenecks": bottlenecks(conn, code),
    }


def board(conn: psycopg.Connection, staff: bool) -> dict[str, Any]:
    """Projects by stage (one column per stage) with open bottlenecks (staff only)."""
    with conn.cursor(row_factory=dict_row) as cur:
        projects = cur.execute(SQL_PROJECTS).fetchall()
        open_b = cur.execute(SQL_OPEN_BOTTLENECKS).fetchall() if staff else []
        zone_rows = cur.execute(SQL_PROJECT_ZONES).fetchall()
    # Which chain gaps each open project would fill (延链补链): the ledger's target list.
    fills = chains.fills_by_project(conn)
    zones: dict[str, list[dict[str, Any]]] = {}
    for z in zone_rows:
        zones.setdefault(z["project_code"], []).append(
            {"code": z["code"], "name_zh": z["name_zh"], "name_en": z["name_en"]}
        )
    flags: dict[str, list[dict[str, Any]]] = {}
    for b in open_b:
        flags.setdefault(b["project_code"], []).append(
            {
                "kind": b["kind"],
                "kind_zh": BOTTLENECK_KINDS[b["kind"]],
                "open": b["n"],
                "next_due": b["next_due"],
            }
        )
    columns = []
    for s in STAGES:
        cards = []
        for p in projects:
            if p["stage"] != s:
                continue
            card = public_project(p, staff)
            card["past_start"] = bool(p["past_start"])
            card["zones"] = zones.get(p["code"], [])
            card["fills"] = fills.get(p["code"], [])
            if staff:
                card["bottlenecks"] = flags.get(p["code"], [])
                card["allowed_stages"] = allowed_stages(s)
            cards.append(card)
        columns.append({"stage": s, "name_zh": STAGE_NAMES_ZH[s], "projects": cards})
    townships: dict[str, int] = {}
    for p in projects:
        if p.get("source_township"):
            townships[p["source_township"]] = townships.get(p["source_township"], 0) + 1
    return {"columns": columns, "townships": townships}


# ----------------------------------------------------------------------- projects

_PROJECT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_QUARTER_RE = re.compile(r"^[0-9]{4}-?Q[1-4]$")


def _amount(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{field} 须为非负数 / {field} must be a number ≥ 0")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field} 须为非负数 / {field} must be a number ≥ 0") from None
    if not d.is_finite() or d < 0 or d > Decimal("1e9"):
        raise InvalidInput(f"{field} 须为 0 到 10 亿之间的数 / {field} must lie in 0–1e9")
    return d


def _project_fields(body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in body.items() if k in PROJECT_EDIT_FIELDS}}
    f: dict[str, Any] = {
        "name_zh": _text(merged.get("name_zh"), "name_zh", required=True, limit=200),
        "name_en": _text(merged.get("name_en"), "name_en", required=True, limit=200),
        "industry": _text(merged.get("industry"), "industry", required=True, limit=100),
        "chain_role": _text(merged.get("chain_role"), "chain_role", limit=100),
        "start_date": _date(merged.get("start_date"), "start_date"),
        "target_quarter": _text(merged.get("target_quarter"), "target_quarter", limit=16),
        "contact": _text(merged.get("contact"), "contact", limit=500),
        "negotiation_notes": _text(merged.get("negotiation_notes"), "negotiation_notes"),
    }
    for k in (
        "min_area_mu",
        "max_area_mu",
        "investment_wan",
        "expected_tax_wan",
        "land_budget_wan",
    ):
        f[k] = _amount(merged.get(k), k)
    for k in ("min_area_mu", "max_area_mu"):
        if f[k] is not None and f[k] <= 0:
            raise InvalidInput(f"{k} 须大于 0 / {k} must be above 0")
    if (
        f["min_area_mu"] is not None
        and f["max_area_mu"] is not None
        and f["max_area_mu"] < f["min_area_mu"]
    ):
        raise InvalidInput("最大面积小于最小面积 / max_area_mu is below min_area_mu")
    if f["target_quarter"] and not _QUARTER_RE.match(f["target_quarter"]):
        raise InvalidInput("target_quarter 须为 2027Q1 形式 / target_quarter must look like 2027Q1")
    return f


def create_project(conn: psycopg.Connection, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """A new lead (线索): 409 if the code is taken. Appends a ``create`` event."""
    code = body.get("code")
    if not isinstance(code, str) or not _PROJECT_CODE_RE.match(code):
        raise InvalidInput(
            "项目编号须为字母、数字、. _ -（≤64） / code: letters, digits, . _ - (≤ 64)"
        )
    f = _project_fields(body, {})
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_INSERT_PROJECT, {**f, "code": code}).fetchone()
        if row is None:
            raise Conflict(f"项目编号 {code} 已存在 / project code {code} is taken")
        cur.execute(SQL_EVENT, (code, actor, "create", None, json.dumps({"stage": "lead"})))
    return row


def update_project(
    conn: psycopg.Connection, code: str, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Edit a project's names, requirement and money figures (not its stage: that is
    :func:`set_stage`). Appends an ``edit`` event naming the fields changed."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        p = cur.execute(SQL_PROJECT_LOCK, (code,)).fetchone()
        if p is None:
            raise NotFound(f"项目 {code} 不存在 / no project {code}")
        f = _project_fields(body, {k: p[k] for k in PROJECT_EDIT_FIELDS})
        changed = sorted(k for k in PROJECT_EDIT_FIELDS if f[k] != p[k])
        row = _returned(cur.execute(SQL_UPDATE_PROJECT, {**f, "code": code}).fetchone())
        # Field names only: the values may be confidential (budget, contact, notes).
        cur.execute(SQL_EVENT, (code, actor, "edit", None, json.dumps({"fields": changed})))
    return row


# -------------------------------------------------------------------- bottlenecks


def _bottleneck_fields(body: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    merged = {
        **base,
        **{
            k: v
            for k, v in body.items()
            if k in ("kind", "description", "owner", "due_date", "status", "resolution")
        },
    }
    return {
        "kind": _choice(merged.get("kind"), "kind", BOTTLENECK_KINDS),
        "description": _text(merged.get("description"), "description", required=True),
        "owner": _text(merged.get("owner"), "owner", required=True, limit=100),
        "due_date": _date(merged.get("due_date"), "due_date"),
        "status": _choice(merged.get("status") or "open", "status", BOTTLENECK_STATUSES),
        "resolution": _text(merged.get("resolution"), "resolution"),
    }


def add_bottleneck(
    conn: psycopg.Connection, code: str, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    f = _bottleneck_fields(body, {})
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(SQL_PROJECT_LOCK, (code,)).fetchone() is None:
            raise NotFound(f"项目 {code} 不存在 / no project {code}")
        row = _returned(
            cur.execute(
                SQL_INSERT_BOTTLENECK, {**f, "project_code": code, "actor": actor}
            ).fetchone()
        )
        cur.execute(
            SQL_EVENT,
            (
                code,
                actor,
                "bottleneck_add",
                f["description"],
                json.dumps(
                    {
                        "bottleneck": row["id"],
                        "kind": f["kind"],
                        "owner": f["owner"],
                        "due_date": f["due_date"],
                    },
                    default=str,
                ),
            ),
        )
    return row


def update_bottleneck(
    conn: psycopg.Connection, bid: int, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur_row = cur.execute(SQL_BOTTLENECK_LOCK, (bid,)).fetchone()
        if cur_row is None:
            raise NotFound(f"瓶颈 {bid} 不存在 / no bottleneck {bid}")
        f = _bottleneck_fields(body, cur_row)
        row = _returned(cur.execute(SQL_UPDATE_BOTTLENECK, {**f, "id": bid}).fetchone())
        cur.execute(
            SQL_EVENT,
            (
                row["project_code"],
                actor,
                "bottleneck_update",
                f.get("resolution"),
                json.dumps({"bottleneck": bid, "from": cur_row["status"], "to": f["status"]}),
            ),
        )
    return row


def bottlenecks(
    conn: psycopg.Connection, project: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    if status is not None:
        _choice(status, "status", BOTTLENECK_STATUSES)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_BOTTLENECKS, {"project": project, "status": status}).fetchall()


# --------------------------------------------------------------------- complaints


def add_complaint(conn: psycopg.Connection, body: dict[str, Any], actor: str) -> dict[str, Any]:
    f = {
        "received": _date(body.get("received"), "received") or date.today(),
        "complainant": _text(body.get("complainant"), "complainant", required=True, limit=200),
        "project_code": _text(body.get("project_code"), "project_code", limit=64),
        "enterprise_code": _text(body.get("enterprise_code"), "enterprise_code", limit=64),
        "category": _choice(body.get("category"), "category", COMPLAINT_CATEGORIES),
        "summary": _text(body.get("summary"), "summary", required=True, limit=4000),
        "handler": _text(body.get("handler"), "handler", limit=100),
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if f["project_code"] and cur.execute(SQL_PROJECT, (f["project_code"],)).fetchone() is None:
            raise NotFound(f"项目 {f['project_code']} 不存在 / no project {f['project_code']}")
        return _returned(cur.execute(SQL_INSERT_COMPLAINT, {**f, "actor": actor}).fetchone())


def update_complaint(
    conn: psycopg.Connection, cid: int, body: dict[str, Any], actor: str
) -> dict[str, Any]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        c = cur.execute(SQL_COMPLAINT_LOCK, (cid,)).fetchone()
        if c is None:
            raise NotFound(f"投诉 {cid} 不存在 / no complaint {cid}")
        status = _choice(body.get("status", c["status"]), "status", COMPLAINT_STATUSES)
        resolution = _text(body.get("resolution", c["resolution"]), "resolution", limit=4000)
        if status in ("resolved", "closed") and not resolution:
            raise InvalidInput("办结须填写处理结果 / resolving or closing needs a resolution")
        row = _returned(
            cur.execute(
                SQL_UPDATE_COMPLAINT,
                {
                    "id": cid,
                    "status": status,
                    "handler": _text(body.get("handler", c["handler"]), "handler", limit=100)
                    or actor,
                    "resolution": resolution,
                    "category": _choice(
                        body.get("category", c["category"]), "category", COMPLAINT_CATEGORIES
                    ),
                },
            ).fetchone()
        )
        if c["project_code"]:
            cur.execute(
                SQL_EVENT,
                (
                    c["project_code"],
                    actor,
                    "complaint_update",
                    resolution,
                    json.dumps({"complaint": cid, "from": c["status"], "to": status}),
                ),
            )
    return row


def complaints(conn: psycopg.Connection, status: str | None = None) -> list[dict[str, Any]]:
    if status is not None:
        _choice(status, "status", COMPLAINT_STATUSES)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_COMPLAINTS, {"status": status}).fetchall()


# ---------------------------------------------------------------------- inquiries


def inquiries(
    conn: psycopg.Connection, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The inbox of investor inquiries from the public map (new ones first)."""
    if status is not None:
        _choice(status, "status", INQUIRY_STATUSES)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_INQUIRIES, {"status": status, "limit": limit}).fetchall()


def mark_inquiry(
    conn: psycopg.Connection, iid: int, status: str, actor: str, note: str | None = None
) -> dict[str, Any]:
    """Mark an inquiry answered or closed (or back to new), recording who and when."""
    _choice(status, "status", INQUIRY_STATUSES)
    note = _text(note, "note")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if cur.execute(SQL_INQUIRY_LOCK, (iid,)).fetchone() is None:
            raise NotFound(f"咨询 {iid} 不存在 / no inquiry {iid}")
        return _returned(
            cur.execute(
                SQL_UPDATE_INQUIRY, {"id": iid, "status": status, "note": note, "actor": actor}
            ).fetchone()
        )
