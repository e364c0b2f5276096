"""Investor inquiries ("咨询此地块 / Ask about this site"): validation, rate limit, storage.

The rate limit is counted in the database (rows of the ``inquiries`` table from the same client
in the last hour), not in process memory: it survives restarts and holds across several API
workers. A per-client advisory lock makes the count-then-insert atomic, so two simultaneous
posts cannot both slip under the limit. Refused or invalid posts store nothing.
"""

from __future__ import annotations

import re
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from parkgis.errors import InvalidData, TooManyRequests

WINDOW_S = 3600
MAX_PARCELS = 20
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,24}$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('inquiry:' || %(client)s, 0))"
WINDOW_SQL = """
SELECT count(*) AS n,
       ceil(extract(epoch FROM min(created_at) + make_interval(secs => %(window)s) - now()))
         AS retry_s
  FROM inquiries
 WHERE client = %(client)s AND created_at > now() - make_interval(secs => %(window)s)
"""
KNOWN_PARCELS_SQL = """
SELECT code FROM parcels WHERE code = ANY(%(codes)s) AND status <> 'historic'
"""
INSERT_SQL = """
INSERT INTO inquiries (name, company, contact, message, parcel_codes, lang, client)
VALUES (%(name)s, %(company)s, %(contact)s, %(message)s, %(parcels)s, %(lang)s, %(client)s)
RETURNING id, created_at
"""
NEW_COUNT_SQL = """
SELECT count(*) AS n, max(created_at) AS latest FROM inquiries WHERE status = 'new'
"""

MESSAGES = {
    "ok": (
        "已收到您的咨询（编号 {id}），招商服务人员将在两个工作日内与您联系。",
        "Thank you: inquiry no. {id} received; our investment service will contact you "
        "within two working days.",
    ),
    "limited": (
        "提交过于频繁：每小时最多 {n} 条，请 {m} 分钟后再试。",
        "Too many inquiries: at most {n} per hour; please try again in {m} min.",
    ),
}


class Inquiry(BaseModel):
    """What an investor sends. Text is stripped; control characters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="姓名 / name")
    company: str | None = Field(None, max_length=200, description="公司 / company")
    contact: str = Field(min_length=3, max_length=200, description="电话或邮箱 / phone or e-mail")
    message: str = Field(min_length=1, max_length=4000, description="留言 / message")
    parcels: list[str] = Field(
        default_factory=list, max_length=MAX_PARCELS, description="地块编号 / parcel codes"
    )
    lang: Literal["zh", "en"] = "zh"
    consent: StrictBool = Field(
        description="同意个人信息保护说明（/privacy） / consent to the "
        "personal-information notice at /privacy"
    )

    @field_validator("consent")
    @classmethod
    def _consented(cls, v: bool) -> bool:
        # PIPL art. 13/14: a name and phone number are collected only with informed consent.
        if v is not True:
            raise ValueError(
                "须阅读并同意个人信息保护说明 / you must agree to the personal-information notice"
            )
        return v

    @field_validator("name", "company", "contact")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        if v is not None and (_CONTROL_RE.search(v) or "\n" in v or "\r" in v):
            raise ValueError("不能包含换行或控制字符 / no line breaks or control characters")
        return None if v == "" else v

    @field_validator("message")
    @classmethod
    def _text(cls, v: str) -> str:
        if _CONTROL_RE.search(v):
            raise ValueError("不能包含控制字符 / no control characters")
        return v

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str) -> str:
        if not (_EMAIL_RE.match(v) or _PHONE_RE.match(v)):
            raise ValueError("请填写电话号码或邮箱 / give a phone number or an e-mail address")
        return v

    @field_validator("parcels")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        out = list(dict.fromkeys(c.strip() for c in v if c.strip()))
        for c in out:
            if not _CODE_RE.match(c):
                raise ValueError(f"地块编号格式错误 / not a parcel code: {c!r}")
        return out


# Pydantic's own messages are English; these are what a Chinese reader is shown with them.
ERROR_ZH = {
    "missing": "必填",
    "string_too_short": "不能为空或太短",
    "string_too_long": "太长",
    "too_long": "项目太多",
    "extra_forbidden": "不接受此字段",
    "literal_error": "取值无效",
    "string_type": "应为文本",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "model_type": "请求体应为 JSON 对象",
    "model_attributes_type": "请求体应为 JSON 对象",
    "dict_type": "请求体应为 JSON 对象",
}

FIELD_NAMES = {
    "name": "姓名 / name",
    "company": "公司 / company",
    "contact": "电话或邮箱 / contact",
    "message": "留言 / message",
    "parcels": "地块 / parcels",
    "lang": "语言 / lang",
    "consent": "个人信息同意 / consent",
}


def parse(payload: object) -> Inquiry:
    """Validate a decoded JSON body.

    Raises
    ------
    InvalidData
        with a bilingual ``detail`` naming the first bad field and ``errors`` for all of them.
    """
    try:
        return Inquiry.model_validate(payload)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()))
            msg = str(e.get("msg", ""))
            if e.get("type") == "value_error":
                msg = msg.removeprefix("Value error, ")  # ours: already "中文 / English"
            else:
                msg = f"{ERROR_ZH.get(str(e.get('type')), '无效')} / {msg}"
            errors.append({"field": loc, "msg": msg})
        first = errors[0]
        field = FIELD_NAMES.get(first["field"].split(".")[0], first["field"] or "body")
        raise InvalidData(f"{field}: {first['msg']}", errors=errors) from None


def submit(
    conn: psycopg.Connection, inquiry: Inquiry, client: str, rate_per_hour: int
) -> dict[str, object]:
    """Store an inquiry unless ``client`` already sent ``rate_per_hour`` in the last hour.

    Parameters
    ----------
    conn : psycopg.Connection
        committed here (one transaction: lock, count, check parcels, insert).
    inquiry : Inquiry
    client : str
        the client's address (the rate-limit key).
    rate_per_hour : int

    Returns
    -------
    dict
        ``id``, ``created_at``, ``message_zh``, ``message_en``.

    Raises
    ------
    TooManyRequests
        limit reached (``retry_after`` seconds in ``extra``); nothing stored.
    InvalidData
        a parcel code that is not a live parcel; nothing stored.
    """
    with conn.transaction():
        conn.execute(LOCK_SQL, {"client": client})
        row = conn.execute(WINDOW_SQL, {"client": client, "window": WINDOW_S}).fetchone()
        assert row is not None  # a count always has its row
        n, retry = (row["n"], row["retry_s"]) if isinstance(row, dict) else row
        if n >= rate_per_hour:
            retry_s = max(1, int(retry or WINDOW_S))
            zh, en = MESSAGES["limited"]
            m = -(-retry_s // 60)
            raise TooManyRequests(
                f"{zh.format(n=rate_per_hour, m=m)} / {en.format(n=rate_per_hour, m=m)}",
                retry_after=retry_s,
                headers={"Retry-After": str(retry_s)},
            )
        if inquiry.parcels:
            rows = conn.execute(KNOWN_PARCELS_SQL, {"codes": inquiry.parcels}).fetchall()
            known = {r["code"] if isinstance(r, dict) else r[0] for r in rows}
            missing = [c for c in inquiry.parcels if c not in known]
            if missing:
                raise InvalidData(
                    f"没有这些地块 / no such parcels: {', '.join(missing)}", missing=missing
                )
        out = conn.execute(INSERT_SQL, {**inquiry.model_dump(), "client": client}).fetchone()
        assert out is not None  # INSERT ... RETURNING one row
    rid, created = (out["id"], out["created_at"]) if isinstance(out, dict) else out
    zh, en = MESSAGES["ok"]
    return {
        "id": rid,
        "created_at": created.isoformat(),
        "message_zh": zh.format(id=rid),
        "message_en": en.format(id=rid),
    }


def new_count(conn: psycopg.Connection) -> dict[str, object]:
    """How many inquiries wait in the inbox (status ``new``) and when the latest came: what
    the planner page polls to tell planners something arrived."""
    row = conn.execute(NEW_COUNT_SQL).fetchone()
    assert row is not None  # a count always has its row
    n, latest = (row["n"], row["latest"]) if isinstance(row, dict) else row
    return {"new": int(n), "latest": latest.isoformat() if latest else None}
