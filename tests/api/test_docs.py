"""The API docs page works offline: Swagger UI comes from our own server."""

from __future__ import annotations

import re


def test_docs_page_uses_no_cdn(client) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert not re.search(r"(src|href)=['\"]https?://", r.text)
    for url in re.findall(r"/static/vendor/swagger-ui-dist/[\w.-]+", r.text):
        assert client.get(url).status_code == 200, url
    assert "'/ogc/api'" in r.text or '"/ogc/api"' in r.text
