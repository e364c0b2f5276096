"""Sign-in (OAuth2 password flow → bearer token) and user management for admins.

``POST /api/auth/token`` takes the standard form (``username``, ``password``) and returns
``{access_token, token_type: "bearer", expires_in, role}``. Wrong credentials are answered as
RFC 6749 §5.2 asks: 400 with ``error: invalid_grant`` (the 401 + ``WWW-Authenticate`` answer is
for requests that carry a missing, invalid or expired token).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, status
from pydantic import BaseModel, Field

from api.deps import SettingsDep, SyncConn
from api.security import CurrentUser, RequireAdmin
from parkgis import auth
from parkgis.errors import InvalidInput

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


class UserPatch(BaseModel):
    role: Role | None = None
    password: str | None = Field(None, min_length=auth.MIN_PASSWORD_LEN,
                                 max_length=auth.MAX_PASSWORD_LEN)
    active: bool | None = None


@router.post("/api/auth/token", response_model=TokenOut, summary="Sign in / 登录获取令牌")
def token(
    conn: SyncConn,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD_LEN)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    user = auth.authenticate(conn, username, password)
    conn.commit()  # a rehashed password is kept even though nothing else was written
    if user is None:
        raise InvalidInput("用户名或密码错误 / wrong user name or password",
                           error="invalid_grant")
    access, seconds = auth.issue_token(user, settings)
    return TokenOut(access_token=access, expires_in=seconds, role=user.role)


@router.get("/api/auth/me", response_model=Me, summary="Who am I / 当前用户")
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role)


@router.get("/api/users", response_model=list[UserOut], summary="Users (admin) / 用户列表")
def users(_: RequireAdmin, conn: SyncConn) -> list[dict]:
    return auth.list_users(conn)


@router.post("/api/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             summary="Add a user (admin) / 新增用户")
def add_user(_: RequireAdmin, body: UserIn, conn: SyncConn) -> dict:
    row = auth.add_user(conn, body.name, body.role, body.password)
    conn.commit()
    return row


@router.patch("/api/users/{name}", response_model=UserOut,
              summary="Change role, password or active flag (admin) / 修改用户")
def patch_user(_: RequireAdmin, name: str, body: UserPatch, conn: SyncConn) -> dict:
    row = auth.update_user(conn, name, role=body.role, password=body.password,
                           active=body.active)
    conn.commit()
    return row
