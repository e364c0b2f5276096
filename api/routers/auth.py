"""Sign-in (OAuth2 password flow → bearer token) and user management for admins.

``POST /api/auth/token`` takes the standard form (``username``, ``password``) and returns
``{access_token, token_type: "bearer", expires_in, role}``. Wrong credentials are answered as
RFC 6749 §5.2 asks: 400 with ``error: invalid_grant`` (the 401 + ``WWW-Authenticate`` answer is
for requests that carry a missing, invalid or expired token). Repeated failures lock the name
and the client address for a while (429 with ``Retry-After``, even for the right password);
admins see the locks at ``GET /api/auth/lockouts`` and lift them with ``DELETE
/api/auth/lockouts?account=NAME`` or ``?client=ADDRESS`` (or ``parkgis user unlock``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, status
from pydantic import BaseModel, Field

from api.dependencies import AppSettings, Conn
from api.security import ClientAddress, CurrentUser, RequireAdmin
from parkgis import auth

router = APIRouter(tags=["auth"])

Role = Literal["investor", "planner", "admin"]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds / 有效期（秒）")
    role: Role


class Me(BaseModel):
    name: str
    role: Role


class UserOut(BaseModel):
    name: str
    role: Role
    active: bool
    created_at: datetime


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=auth.MIN_PASSWORD_LEN, max_length=auth.MAX_PASSWORD_LEN)


class LockoutOut(BaseModel):
    kind: Literal["account", "client"]
    key: str
    locked_at: datetime
    until: datetime
    failures: int


class UnlockOut(BaseModel):
    lifted: int = Field(description="locks that were in force / 解除的锁定数")


class UserPatch(BaseModel):
    role: Role | None = None
    password: str | None = Field(
        None, min_length=auth.MIN_PASSWORD_LEN, max_length=auth.MAX_PASSWORD_LEN
    )
    active: bool | None = None


@router.post(
    "/api/auth/token",
    response_model=TokenOut,
    summary="Sign in / 登录获取令牌",
    responses={
        400: {"description": "wrong name or password / 用户名或密码错误"},
        429: {"description": "locked after failures / 失败过多，已锁定"},
    },
)
def token(
    conn: Conn,
    settings: AppSettings,
    client: ClientAddress,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD_LEN)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    user = auth.login(conn, username, password, client, settings)
    access, seconds = auth.issue_token(user, settings)
    return TokenOut(access_token=access, expires_in=seconds, role=user.role)


@router.get("/api/auth/me", response_model=Me, summary="Who am I / 当前用户")
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role)


@router.get("/api/users", response_model=list[UserOut], summary="Users (admin) / 用户列表")
def users(_: RequireAdmin, conn: Conn) -> list[dict]:
    return auth.list_users(conn)


@router.post(
    "/api/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a user (admin) / 新增用户",
)
def add_user(_: RequireAdmin, body: UserIn, conn: Conn) -> dict:
    return auth.add_user(conn, body.name, body.role, body.password)


@router.patch(
    "/api/users/{name}",
    response_model=UserOut,
    summary="Change role, password or active flag (admin) / 修改用户",
)
def patch_user(_: RequireAdmin, name: str, body: UserPatch, conn: Conn) -> dict:
    return auth.update_user(conn, name, role=body.role, password=body.password, active=body.active)


@router.get(
    "/api/auth/lockouts",
    response_model=list[LockoutOut],
    summary="Sign-in locks in force (admin) / 登录锁定列表",
)
def lockouts(_: RequireAdmin, conn: Conn) -> list[dict]:
    return auth.lockouts(conn)


@router.delete(
    "/api/auth/lockouts",
    response_model=UnlockOut,
    summary="Lift a sign-in lock (admin) / 解除登录锁定",
)
def unlock(
    _: RequireAdmin,
    conn: Conn,
    account: Annotated[str | None, Query(max_length=64)] = None,
    client: Annotated[str | None, Query(max_length=100)] = None,
) -> UnlockOut:
    return UnlockOut(lifted=auth.unlock(conn, account=account, client=client))
