"""Every error reads Chinese first, then English (house rule; issue 11 point 6): the title,
the framework's own validation and routing errors included. Found by attacking /openapi.json
routes with bad values: titles read "Bad request / 请求无效" and pydantic's or Starlette's
details ("path.bid: Input should be a valid integer", "Not Found") carried no Chinese at all."""

from __future__ import annotations

import re

import pytest

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


def _chinese_first(text: str) -> bool:
    """True when a Chinese character comes before the first Latin letter (and both exist)."""
    han, latin = HAN.search(text), LATIN.search(text)
    return han is not None and latin is not None and han.start() < latin.start()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/no/such/route"),  # Starlette 404
        ("DELETE", "/healthz"),  # Starlette 405
        ("GET", "/ogc/collections/parcels/tiles/WebMercatorQuad/a/1/1"),  # pydantic path int
        ("GET", "/api/map/search"),  # pydantic missing query
        ("GET", "/api/parcels/NO-SUCH-PARCEL"),  # the domain's own 404
    ],
)
def test_errors_are_chinese_first(client, method: str, path: str) -> None:
    r = client.request(method, path)
    assert r.status_code >= 400
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert _chinese_first(body["title"]), body["title"]
    assert _chinese_first(body["detail"]), body["detail"]


def test_an_oversized_body_is_refused_chinese_first(client) -> None:
    r = client.post(
        "/api/match",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    body = r.json()
    assert _chinese_first(body["title"]), body["title"]
    assert _chinese_first(body["detail"]), body["detail"]
