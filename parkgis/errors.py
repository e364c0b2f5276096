"""Domain errors. Each carries the HTTP status the API gives it and a bilingual title.

The core raises these; the CLI prints them as one line, the API as RFC 9457 problem+json.
"""

from __future__ import annotations

from typing import Any


class ParkGISError(Exception):
    status = 400
    title_zh = "请求无效"
    title_en = "Invalid request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(ParkGISError):
    status = 400


class InvalidData(ParkGISError):
    """A file or a geometry that the store refuses (nothing was written)."""

    status = 422
    title_zh = "数据无效"
    title_en = "Invalid data"


class NotFound(ParkGISError):
    status = 404
    title_zh = "未找到"
    title_en = "Not found"


class Conflict(ParkGISError):
    status = 409
    title_zh = "冲突"
    title_en = "Conflict"


class PreconditionFailed(ParkGISError):
    status = 412
    title_zh = "版本已过期"
    title_en = "Precondition failed"


class Unauthorized(ParkGISError):
    status = 401
    title_zh = "需要登录"
    title_en = "Authentication required"


class Forbidden(ParkGISError):
    status = 403
    title_zh = "无权操作"
    title_en = "Forbidden"


class TooManyRequests(ParkGISError):
    status = 429
    title_zh = "请求过于频繁"
    title_en = "Too many requests"
