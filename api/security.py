"""Authentication and role checks as FastAPI dependencies.

Use the annotated names in route signatures; they are stable for every router::

    from api.security import OptionalUser, CurrentUser, RequirePlanner, RequireAdmin

    @router.post("/api/things")
    def create_thing(user: RequirePlanner, conn: SyncConn) -> ...:   # planner or admin
        ...

- ``OptionalUser``: ``User | None`` — None for anonymous callers (public reads that show more
  to planners). A token that is present but invalid or expired is still a 401, so a planner
  whose session ran out is told so rather than silently shown the public view.
- ``CurrentUser``: any signed-in account (investor, planner or admin); 401 otherwise.
- ``RequirePlanner``: role planner or admin (every write); ``RequireAdmin``: role admin.
- ``require_roles(*roles)``: the dependency behind those two, for other combinations.

``ClientAddress`` is the caller's address, the key of the rate limits (inquiries, sign-in):
the TCP peer, unless the peer is one of ``settings.trusted_proxies`` — then the right-most
``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further left were
written by the client and prove nothing). Run uvicorn with ``proxy_headers=False`` (``parkgis
serve`` does): uvicorn's own default believes X-Forwarded-For from every loopback peer.

Missing, invalid or expired tokens are 401 with ``WWW-Authenticate: Bearer``; a valid token
with the wrong role is 403. The token carries the name; the role and the active flag are read
from the users table on each request, so demoting or deactivating an account takes effect at
once rather than when its token expires.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from parkgis.auth import ROLES, User, account_state, decode_token
from parkgis.errors import Forbidden, Unauthorized

__all__ = [
    "ClientAddress",
    "CurrentUser",
    "OptionalUser",
    "RequireAdmin",
    "RequirePlanner",
    "User",
    "client_ip",
    "oauth2_scheme",
    "require_roles",
]

TOKEN_URL = "/api/auth/token"
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL, auto_error=False, scheme_name="ParkGIS bearer token"
)


def _unauthorized(message: str, error: str | None = None) -> Unauthorized:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


async def optional_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User | None:
    """The caller's account, or None without an ``Authorization: Bearer`` header."""
    if not token:
        return None
    claims = decode_token(token, request.app.state.settings)
    async with request.app.state.pool.connection() as conn:
        row = await account_state(conn, claims["sub"])
    if row is None or not row["active"]:
        raise _unauthorized(
            "账户不存在或已停用 / the account is unknown or deactivated", "invalid_token"
        )
    return User(claims["sub"], row["role"])


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """Any signed-in account; 401 for anonymous callers."""
    if user is None:
        raise _unauthorized("请先登录 / sign in first (Authorization: Bearer <token>)")
    return user


def require_roles(*roles: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting only accounts with one of ``roles`` (401 anonymous, 403 other)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Forbidden(
                f"此操作需要角色 {' / '.join(roles)}，当前为 {user.role} / "
                f"this needs role {' or '.join(roles)}; you are {user.role}"
            )
        return user

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``settings.trusted_proxies`` ("10.0.0.2, 192.168.0.0/24") as networks."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in setting.split(",")
        if part.strip()
    )


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:4711"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:4711"
        value = value.split(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address from the TCP ``peer`` and the ``X-Forwarded-For`` header values.

    Only a trusted peer's header is read, right to left, past the trusted proxies; an entry
    that is not an address stops the walk at the last trusted hop (a real proxy writes
    addresses, so anything else came from the client).
    """
    hop = _parse_ip(peer or "")
    if hop is None:
        return peer or "unknown"

    def is_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in trusted)

    if not trusted or not is_trusted(hop):
        return str(hop)
    entries = [e for value in forwarded_for for e in value.split(",") if e.strip()]
    for entry in reversed(entries):
        ip = _parse_ip(entry)
        if ip is None:
            break
        hop = ip
        if not is_trusted(ip):
            break
    return str(hop)


def client_address(request: Request) -> str:
    """The caller's address for rate limits (see the module docstring)."""
    peer = request.client.host if request.client else None
    trusted = trusted_networks(request.app.state.settings.trusted_proxies)
    return client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)


ClientAddress = Annotated[str, Depends(client_address)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
RequirePlanner = Annotated[User, Depends(require_roles("planner", "admin"))]
RequireAdmin = Annotated[User, Depends(require_roles("admin"))]
