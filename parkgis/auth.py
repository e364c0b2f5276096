"""Accounts, roles and bearer tokens.

Three roles (design §4): ``investor`` (the public, read only), ``planner`` (every write to
parcels and projects) and ``admin`` (a planner who also manages users and indicator tables).
Passwords are hashed with argon2id (argon2-cffi); tokens are HS256 JWTs (PyJWT) signed with
``settings.secret_key`` or, when that is unset, a random secret kept in a file outside the
application's working tree (``key_path``: ``$XDG_STATE_HOME/parkgis/`` or
``~/.local/state/parkgis/``, ``/var/lib/parkgis/`` for root; mode 600) so that tokens survive
a restart and nothing that reads files under the tree (a loader, a static route) can reach it.

The functions take a synchronous psycopg connection and never commit: the caller owns the
transaction (the CLI and the API both call them). One exception, :func:`login`: a failed
sign-in is answered with an error, which rolls the caller's unit of work back, yet the failure
must be counted, so ``login`` commits its own bookkeeping.

Examples
--------
>>> add_user(conn, "wang", "planner", "s3cret-pass")      # doctest: +SKIP
>>> token, seconds = issue_token(authenticate(conn, "wang", "s3cret-pass"), settings)  # +SKIP
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.rows import dict_row

from parkgis.errors import (
    Conflict,
    InvalidData,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from parkgis.settings import Settings

ROLES: tuple[str, ...] = ("investor", "planner", "admin")
#: Roles allowed to write (parcel actions, split/merge, pipeline edits).
WRITER_ROLES: tuple[str, ...] = ("planner", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 256
ALGORITHM = "HS256"
ISSUER = "parkgis"

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that a wrong name costs as much time as a
# wrong password and response times do not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

SQL_USER = "SELECT name, role, active, password_hash FROM users WHERE name = %s"
SQL_USERS = "SELECT name, role, active, created_at FROM users ORDER BY name"
SQL_INSERT_USER = """
INSERT INTO users (name, role, password_hash) VALUES (%s, %s, %s)
ON CONFLICT (name) DO NOTHING
RETURNING name, role, active, created_at
"""
SQL_SET_HASH = "UPDATE users SET password_hash = %s WHERE name = %s"
SQL_ACTIVE_ADMINS = "SELECT count(*) AS n FROM users WHERE role = 'admin' AND active AND name <> %s"
SQL_UPDATE_USER = """
UPDATE users SET role = coalesce(%(role)s, role),
                 active = coalesce(%(active)s, active),
                 password_hash = coalesce(%(password_hash)s, password_hash)
 WHERE name = %(name)s
RETURNING name, role, active, created_at
"""


@dataclass(frozen=True)
class User:
    """An authenticated account: its name (recorded as ``actor`` in the audit) and role."""

    name: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES


# -- passwords ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (with its own random salt and parameters)."""
    _check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; never raises on a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _check_password(password: str) -> None:
    if not (MIN_PASSWORD_LEN <= len(password) <= MAX_PASSWORD_LEN):
        raise InvalidData(
            f"密码长度须为 {MIN_PASSWORD_LEN}–{MAX_PASSWORD_LEN} 个字符 / "
            f"password must be {MIN_PASSWORD_LEN}–{MAX_PASSWORD_LEN} characters long"
        )


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidData(
            "用户名只能包含字母、数字和 _.@-，最长 64 个字符 / "
            "user names use letters, digits and _.@- (at most 64 characters)"
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidData(
            f"未知角色 {role!r}，可选 {', '.join(ROLES)} / "
            f"unknown role {role!r}; one of {', '.join(ROLES)}"
        )


# -- the users store ---------------------------------------------------------------------------


def add_user(conn: psycopg.Connection, name: str, role: str, password: str) -> dict[str, Any]:
    """Create an account; :class:`Conflict` if the name is taken.

    Parameters
    ----------
    conn : psycopg.Connection
        The caller commits.
    name, role, password : str
        ``role`` is one of :data:`ROLES`; the password is stored only as its argon2 hash.
    """
    _check_name(name)
    _check_role(role)
    pw_hash = hash_password(password)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_INSERT_USER, (name, role, pw_hash)).fetchone()
    if row is None:
        raise Conflict(f"用户 {name} 已存在 / user {name} already exists")
    return row


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """All accounts (name, role, active, created_at) — never the hashes."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_USERS).fetchall()


def update_user(
    conn: psycopg.Connection,
    name: str,
    *,
    role: str | None = None,
    password: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """Change the role, password or active flag of an account.

    The last active admin cannot be demoted or deactivated (:class:`Conflict`): nobody could
    manage users afterwards.
    """
    if role is not None:
        _check_role(role)
    pw_hash = hash_password(password) if password is not None else None
    with conn.cursor(row_factory=dict_row) as cur:
        current = cur.execute(SQL_USER + " FOR UPDATE", (name,)).fetchone()
        if current is None:
            raise NotFound(f"用户 {name} 不存在 / no user {name}")
        loses_admin = (
            current["role"] == "admin"
            and current["active"]
            and ((role is not None and role != "admin") or active is False)
        )
        if loses_admin:
            # Lock the admins so two concurrent demotions cannot both see "another admin".
            cur.execute("SELECT name FROM users WHERE role = 'admin' FOR UPDATE")
            admins = cur.execute(SQL_ACTIVE_ADMINS, (name,)).fetchone()
            assert admins is not None  # a count always has its row
            if admins["n"] == 0:
                raise Conflict(
                    "不能停用或降级最后一个管理员 / "
                    "the last active admin cannot be demoted or deactivated"
                )
        updated = cur.execute(
            SQL_UPDATE_USER,
            {"name": name, "role": role, "active": active, "password_hash": pw_hash},
        ).fetchone()
        assert updated is not None  # the row is locked above: it is still there
        return updated


def get_user(conn: psycopg.Connection, name: str) -> User | None:
    """The active account called ``name``, or None (unknown or deactivated)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_USER, (name,)).fetchone()
    if row is None or not row["active"]:
        return None
    return User(row["name"], row["role"])


SQL_ACCOUNT = "SELECT role, active FROM users WHERE name = %s"


async def account_state(conn: psycopg.AsyncConnection, name: str) -> dict[str, Any] | None:
    """``{role, active}`` of an account, or None; read on every authenticated request (async,
    so a token check does not take a thread from the synchronous pool)."""
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(SQL_ACCOUNT, (name,))).fetchone()


def authenticate(conn: psycopg.Connection, name: str, password: str) -> User | None:
    """The account if ``password`` is right and the account active, else None.

    A hash made with older argon2 parameters is upgraded on a successful login.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_USER, (name,)).fetchone()
        if row is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(row["password_hash"], password) or not row["active"]:
            return None
        if _hasher.check_needs_rehash(row["password_hash"]):
            cur.execute(SQL_SET_HASH, (_hasher.hash(password), name))
    return User(row["name"], row["role"])


# -- throttling -------------------------------------------------------------------------------
# Failed sign-ins are counted per account name and per client address over a sliding window;
# past the limit the name (or the address) is locked for a while, and every attempt meanwhile
# is refused with 429 before the password is even checked — the right password included, or
# the lock would only slow a guesser down. The counts and locks live in the database (every
# worker sees them, a restart keeps them) and every time is the database's clock.

SQL_LOGIN_SERIALISE = "SELECT pg_advisory_xact_lock(hashtextextended('login:' || %(account)s, 0))"
SQL_ACTIVE_LOCK = """
SELECT kind, key, ceil(extract(epoch FROM until - now()))::int AS retry_s
  FROM login_lockouts
 WHERE ((kind = 'account' AND key = %(account)s) OR (kind = 'client' AND key = %(client)s))
   AND until > now()
 ORDER BY until DESC
 LIMIT 1
"""
SQL_RECORD_FAILURE = "INSERT INTO login_failures (account, client) VALUES (%(account)s, %(client)s)"
SQL_COUNT_FAILURES = """
SELECT (SELECT count(*) FROM login_failures
         WHERE account = %(account)s AND at > now() - make_interval(secs => %(window)s))
         AS by_account,
       (SELECT count(*) FROM login_failures
         WHERE client = %(client)s AND at > now() - make_interval(secs => %(window)s))
         AS by_client
"""
SQL_LOCK = """
INSERT INTO login_lockouts (kind, key, until, failures)
VALUES (%(kind)s, %(key)s, now() + make_interval(secs => %(lockout)s), %(failures)s)
ON CONFLICT (kind, key) DO UPDATE
   SET locked_at = now(), until = excluded.until, failures = excluded.failures
"""
SQL_PRUNE_FAILURES = """
DELETE FROM login_failures WHERE at < now() - make_interval(secs => %(window)s)
"""
SQL_CLEAR_ACCOUNT_FAILURES = "DELETE FROM login_failures WHERE account = %(account)s"
SQL_LOCKOUTS = """
SELECT kind, key, locked_at, until, failures FROM login_lockouts
 WHERE until > now() ORDER BY until DESC
"""
SQL_UNLOCK = """
WITH lifted AS (
  DELETE FROM login_lockouts
   WHERE (kind = 'account' AND key = %(account)s) OR (kind = 'client' AND key = %(client)s)
  RETURNING until > now() AS active
), forgotten AS (
  DELETE FROM login_failures WHERE account = %(account)s OR client = %(client)s
)
SELECT count(*) FILTER (WHERE active) AS n FROM lifted
"""


def _locked(retry_s: int, kind: str) -> TooManyRequests:
    retry_s = max(1, int(retry_s))
    m = -(-retry_s // 60)
    who_zh, who_en = (
        ("该账户", "this account") if kind == "account" else ("您的地址", "your address")
    )
    return TooManyRequests(
        f"登录失败次数过多，{who_zh}已暂时锁定，请 {m} 分钟后再试或联系管理员解锁 / too many "
        f"failed sign-ins: {who_en} is locked; try again in {m} min or ask an admin to "
        f"unlock it",
        retry_after=retry_s,
        headers={"Retry-After": str(retry_s)},
    )


def login(
    conn: psycopg.Connection, name: str, password: str, client: str, settings: Settings
) -> User:
    """Sign-in with throttling: :func:`authenticate`, counted and locked per name and client.

    Commits its bookkeeping itself, unlike every other function here: a failure is answered
    with an error (400/429), the caller's unit of work then rolls back, and a throttle whose
    failures vanish with the answer would never lock anyone. The connection must hold no
    other uncommitted work.

    Parameters
    ----------
    conn : psycopg.Connection
    name, password : str
        As typed; an unknown name counts like a known one.
    client : str
        The client's address (see ``api.security.client_address``).
    settings : Settings
        ``login_max_failures`` (per name), ``login_max_failures_per_client``,
        ``login_window_s`` and ``login_lockout_s``.

    Raises
    ------
    TooManyRequests
        The name or the client is locked (``Retry-After``): the password was not checked.
    InvalidInput
        Wrong name or password (``error: invalid_grant``); this failure is counted, and the
        one that reaches a limit locks the name or the client for ``login_lockout_s``.
    """
    p = {
        "account": name,
        "client": client,
        "window": int(settings.login_window_s),
        "lockout": int(settings.login_lockout_s),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        # One attempt per name at a time: parallel guesses cannot all slip under the limit.
        cur.execute(SQL_LOGIN_SERIALISE, p)
        lock = cur.execute(SQL_ACTIVE_LOCK, p).fetchone()
        if lock is not None:
            conn.rollback()
            raise _locked(lock["retry_s"], lock["kind"])
        user = authenticate(conn, name, password)
        if user is not None:
            cur.execute(SQL_CLEAR_ACCOUNT_FAILURES, p)
            conn.commit()
            return user
        cur.execute(SQL_RECORD_FAILURE, p)
        counts = cur.execute(SQL_COUNT_FAILURES, p).fetchone()
        assert counts is not None  # counts always have their row
        if counts["by_account"] >= settings.login_max_failures:
            cur.execute(
                SQL_LOCK, {**p, "kind": "account", "key": name, "failures": counts["by_account"]}
            )
        if counts["by_client"] >= settings.login_max_failures_per_client:
            cur.execute(
                SQL_LOCK, {**p, "kind": "client", "key": client, "failures": counts["by_client"]}
            )
        cur.execute(SQL_PRUNE_FAILURES, p)
    conn.commit()
    raise InvalidInput("用户名或密码错误 / wrong user name or password", error="invalid_grant")


def lockouts(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The locks in force: ``kind`` (account | client), ``key``, ``locked_at``, ``until``,
    ``failures``."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SQL_LOCKOUTS).fetchall()


def unlock(
    conn: psycopg.Connection, *, account: str | None = None, client: str | None = None
) -> int:
    """Lift the lock of an account name and/or a client address and forget their failures.

    Returns the number of locks that were in force; the caller commits.
    """
    if account is None and client is None:
        raise InvalidInput("请指定账户或客户端地址 / name an account or a client address")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SQL_UNLOCK, {"account": account, "client": client}).fetchone()
        assert row is not None  # a count always has its row
        return int(row["n"])


# -- tokens ------------------------------------------------------------------------------------


def state_dir() -> Path:
    """Per-user state directory for ParkGIS secrets, outside any clone of the code:
    ``$XDG_STATE_HOME/parkgis``, else ``/var/lib/parkgis`` for root (a service account's
    home may be the install directory), else ``~/.local/state/parkgis``."""
    if os.environ.get("XDG_STATE_HOME"):
        return Path(os.environ["XDG_STATE_HOME"]) / "parkgis"
    if os.geteuid() == 0:
        return Path("/var/lib/parkgis")
    return Path.home() / ".local" / "state" / "parkgis"


def key_path(settings: Settings) -> Path:
    """Where the signing key file lives: ``settings.secret_key_file``, else one file per data
    directory in ``state_dir()`` (two installations on one account keep separate keys)."""
    if settings.secret_key_file:
        return Path(settings.secret_key_file).expanduser()
    tag = hashlib.sha256(str(Path(settings.data_dir).resolve()).encode()).hexdigest()[:16]
    return state_dir() / f"secret-{tag}.key"


def _write_new_key(path: Path, key: str) -> None:
    """Create ``path`` holding ``key``, mode 600, unless it exists (``O_EXCL``: several workers
    may start at once, exactly one writes and the others read the same key)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)


def signing_key(settings: Settings) -> str:
    """``settings.secret_key``, else the persisted random key (created on first use, mode 600).

    A key left by an older version in ``data_dir/secret.key`` (inside the working tree) is
    moved to ``key_path`` so that existing tokens stay valid, then removed from the tree.
    """
    if settings.secret_key:
        return settings.secret_key
    path = key_path(settings)
    legacy = Path(settings.data_dir) / "secret.key"
    if legacy.is_file():
        if not path.exists():
            _write_new_key(path, legacy.read_text(encoding="ascii").strip())
        legacy.unlink(missing_ok=True)
    if not path.exists():
        _write_new_key(path, secrets.token_urlsafe(48))
    key = path.read_text(encoding="ascii").strip()
    if not key:  # another worker is between O_EXCL and write; the key is one write away
        import time

        time.sleep(0.05)
        key = path.read_text(encoding="ascii").strip()
    return key


def issue_token(user: User, settings: Settings, now: datetime | None = None) -> tuple[str, int]:
    """A signed bearer token for ``user`` and its lifetime in seconds."""
    now = now or datetime.now(UTC)
    seconds = int(settings.token_minutes) * 60
    expires = now + timedelta(seconds=seconds)
    claims = {
        "sub": user.name,
        "role": user.role,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM), seconds


def decode_token(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a valid token; :class:`Unauthorized` for a bad, forged or expired one."""
    try:
        return jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "登录已过期，请重新登录 / the token has expired; sign in again",
            headers={
                "WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'
            },
        ) from None
    except jwt.PyJWTError:
        raise Unauthorized(
            "令牌无效 / invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None
