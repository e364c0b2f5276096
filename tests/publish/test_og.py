"""Issue 15 point 3: a link shared to a chat shows a title, a description and a picture.

``/`` and ``/parcel/{code}`` carry Open Graph and Twitter tags; ``/api/parcels/{code}/preview.png``
is the parcel's picture. Where a pixel of the picture lands is recomputed here from PostGIS's
own Gauss-Krüger coordinates and the view rule the module documents (centre of the parcel's
box, the larger of the two scales with PAD on each side), not from the renderer's code.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from psycopg.rows import dict_row

from parkgis.publish.maps import layers

# The documented view rule (parkgis.publish.preview's module doc): map in the left 760 px.
W, H, MAP_W, PAD, MIN_M_PER_PX = 1200, 630, 760, 0.6, 0.8
PARCEL_FILL, PARCEL_ALPHA = (0xFF, 0x7B, 0x00), 0.85
BACKGROUND = (0xF2, 0xEF, 0xE9)
HOSTILE_ZH = '"><script>alert(1)</script> $\\frac{1}{0}$ 园区'
HOSTILE_EN = "Park' onmouseover='alert(2)' & <b>bold</b> $x^$"


def _rows(url: str, sql: str, params: dict | None = None) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        cur = conn.execute(sql, params or {})
        return cur.fetchall() if cur.description else []


class MetaParser(HTMLParser):
    """Every <meta property|name=... content=...> of a page, values unescaped."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        a = dict(attrs)
        key = a.get("property") or a.get("name")
        if key and a.get("content") is not None:
            self.meta.setdefault(key, []).append(a["content"] or "")


def meta_of(html: str) -> dict[str, str]:
    p = MetaParser()
    p.feed(html)
    for k, v in p.meta.items():
        if k.startswith(("og:", "twitter:")):
            assert len(v) == 1, f"{k} appears {len(v)} times"
    return {k: v[0] for k, v in p.meta.items()}


def pick_parcel(url: str) -> dict:
    """A mid-sized available parcel, its area (mu) from PostGIS, its Gauss-Krüger box."""
    return _rows(
        url,
        """
        SELECT code, ST_Area(geom_gk) / (10000.0 / 15) AS mu, gk_srid,
               ST_XMin(geom_gk) x0, ST_YMin(geom_gk) y0, ST_XMax(geom_gk) x1, ST_YMax(geom_gk) y1
          FROM parcels WHERE status = 'available'
         ORDER BY area_m2, code OFFSET (SELECT count(*) / 2 FROM parcels WHERE status = 'available')
         LIMIT 1""",
    )[0]


def to_px(p: dict, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GK metres to image pixels by the documented view rule."""
    s = max((p["x1"] - p["x0"]) * (1 + 2 * PAD) / MAP_W, (p["y1"] - p["y0"]) * (1 + 2 * PAD) / H)
    s = max(s, MIN_M_PER_PX)
    cx, cy = (p["x0"] + p["x1"]) / 2, (p["y0"] + p["y1"]) / 2
    left, top = cx - MAP_W / 2 * s, cy + H / 2 * s
    return ((xs - left) / s).astype(int), ((top - ys) / s).astype(int)


def sample_points(url: str, code: str, region_sql: str, n: int = 60) -> tuple[np.ndarray, ...]:
    """n random points of a region built from the parcel's geom_gk (``g``) by PostGIS."""
    rows = _rows(
        url,
        f"""
        SELECT ST_X(d.geom) x, ST_Y(d.geom) y
          FROM parcels p,
               LATERAL (SELECT {region_sql} AS r FROM (SELECT p.geom_gk AS g) q) reg,
               LATERAL ST_Dump(ST_GeneratePoints(reg.r, %(n)s, 7)) d
         WHERE p.code = %(code)s""",
        {"code": code, "n": n},
    )
    return np.array([r["x"] for r in rows]), np.array([r["y"] for r in rows])


def near(img: np.ndarray, px: np.ndarray, py: np.ndarray, rgb: np.ndarray, tol: int) -> np.ndarray:
    return np.abs(img[py, px] - rgb).max(axis=1) <= tol


def decode(png: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(png))
    assert im.size == (W, H)
    return np.asarray(im.convert("RGB")).astype(int)


def test_parcel_preview_draws_the_parcel_where_its_geometry_projects(client, sample_db, artifacts):
    p = pick_parcel(sample_db)
    r = client.get(f"/api/parcels/{p['code']}/preview.png")
    assert r.status_code == 200, r.text
    (artifacts / "og-parcel-preview.png").write_bytes(r.content)
    assert r.headers["content-type"] == "image/png"
    img = decode(r.content)
    want = np.array(PARCEL_FILL) * PARCEL_ALPHA + np.array(BACKGROUND) * (1 - PARCEL_ALPHA)
    # inside, clear of the 4-px outline: the parcel's fill
    xs, ys = sample_points(sample_db, p["code"], "ST_Buffer(g, -12)")
    px, py = to_px(p, xs, ys)
    assert ((px >= 0) & (px < MAP_W) & (py >= 0) & (py < H)).all()
    inside = near(img, px, py, want, 12)
    assert inside.mean() > 0.95, inside.mean()
    # a ring just outside: never the parcel's fill
    xs, ys = sample_points(
        sample_db, p["code"], "ST_Difference(ST_Buffer(g, 40), ST_Buffer(g, 12))"
    )
    px, py = to_px(p, xs, ys)
    outside = near(img, px, py, want, 12)
    assert outside.mean() < 0.05, outside.mean()
    # the outline: dark red pixels on the boundary
    xs, ys = sample_points(sample_db, p["code"], "ST_Buffer(ST_Boundary(g), 0.5)", 40)
    px, py = to_px(p, xs, ys)
    edge = near(img, px, py, np.array([0xB3, 0x00, 0x00]), 40)
    assert edge.mean() > 0.8, edge.mean()


def test_neighbours_are_drawn_in_their_status_colour(client, sample_db):
    p = pick_parcel(sample_db)
    img = decode(client.get(f"/api/parcels/{p['code']}/preview.png").content)
    s = max((p["x1"] - p["x0"]) * (1 + 2 * PAD) / MAP_W, (p["y1"] - p["y0"]) * (1 + 2 * PAD) / H)
    s = max(s, MIN_M_PER_PX)
    cx, cy = (p["x0"] + p["x1"]) / 2, (p["y0"] + p["y1"]) / 2
    # neighbours whose inside point lies well within the frame, away from other outlines
    rows = _rows(
        sample_db,
        """
        SELECT n.status, ST_X(ST_PointOnSurface(n.geom_gk)) x, ST_Y(ST_PointOnSurface(n.geom_gk)) y
          FROM parcels n
         WHERE n.code <> %(code)s AND n.status <> 'historic' AND n.gk_srid = %(srid)s
           AND ST_Contains(ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s),
                           ST_PointOnSurface(n.geom_gk))
           AND ST_Distance(ST_Boundary(n.geom_gk), ST_PointOnSurface(n.geom_gk)) > 8 * %(s)s
           AND NOT EXISTS (SELECT 1 FROM zones z WHERE ST_DWithin(ST_Boundary(z.geom_gk),
                           ST_PointOnSurface(n.geom_gk), 8 * %(s)s))""",
        {
            "code": p["code"],
            "srid": p["gk_srid"],
            "s": s,
            "x0": cx - (MAP_W / 2 - 40) * s,
            "x1": cx + (MAP_W / 2 - 40) * s,
            "y0": cy - (H / 2 - 40) * s,
            "y1": cy + (H / 2 - 40) * s,
        },
    )
    assert rows, "the sample has neighbours in view"
    for r in rows:
        px, py = to_px(p, np.array([r["x"]]), np.array([r["y"]]))
        hexcol, a = layers.STATUS_COLOURS[r["status"]], layers.STATUS_OPACITY[r["status"]]
        rgb = np.array([int(hexcol[i : i + 2], 16) for i in (1, 3, 5)])
        want = rgb * a + np.array(BACKGROUND) * (1 - a)
        assert near(img, px, py, want, 10).all(), (r, img[py[0], px[0]], want)


def test_preview_is_cached_by_etag_and_unknown_or_retired_is_404(client, sample_db, artifacts):
    p = pick_parcel(sample_db)
    r = client.get(f"/api/parcels/{p['code']}/preview.png")
    etag = r.headers["etag"]
    again = client.get(f"/api/parcels/{p['code']}/preview.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    for code in ("NO-SUCH-PARCEL", "..%2F..%2Fetc%2Fpasswd", "<b>x</b>", "W" * 300, "地块%00"):
        r = client.get(f"/api/parcels/{code}/preview.png")
        assert r.status_code == 404, (code, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "/work" not in r.text and "Traceback" not in r.text
    home = client.get("/api/map/preview.png")
    assert home.status_code == 200
    decode(home.content)
    (artifacts / "og-map-preview.png").write_bytes(home.content)


@pytest.fixture
def rw_client(sample_db_rw: str) -> Iterator[TestClient]:
    from api.main import create_app

    with TestClient(create_app(database_url=sample_db_rw)) as c:
        yield c


def test_preview_etag_follows_edits_and_retired_parcels_are_not_public(rw_client, sample_db_rw):
    p = pick_parcel(sample_db_rw)
    url = f"/api/parcels/{p['code']}/preview.png"
    before = rw_client.get(url).headers["etag"]
    # the park boundary's name is drawn: renaming it makes a new picture
    _rows(sample_db_rw, "UPDATE zones SET name_en = name_en || ' (renamed)'")
    after = rw_client.get(url)
    assert after.status_code == 200 and after.headers["etag"] != before
    _rows(
        sample_db_rw, "UPDATE parcels SET status = 'historic' WHERE code = %(c)s", {"c": p["code"]}
    )
    gone = rw_client.get(url)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert rw_client.get(f"/parcel/{p['code']}").status_code == 404


def test_home_and_parcel_links_carry_open_graph_tags(client, sample_db):
    home = meta_of(client.get("/").text)
    for key in ("og:title", "og:description", "og:image", "og:type", "twitter:card", "og:url"):
        assert home.get(key), key
    assert home["twitter:card"] == "summary_large_image"
    assert home["og:image"] == "http://testserver/api/map/preview.png"
    n, mu = (lambda r: (r["n"], r["mu"]))(
        _rows(
            sample_db,
            "SELECT count(*) n, coalesce(sum(ST_Area(geom_gk)), 0) / (10000.0 / 15) mu "
            "FROM parcels WHERE status = 'available'",
        )[0]
    )
    assert f"可供地 {n} 宗，共 {mu:,.0f} 亩" in home["og:description"]
    assert home["og:description"].index("可供地") < home["og:description"].index("available")

    p = pick_parcel(sample_db)
    r = client.get(f"/parcel/{p['code']}")
    assert r.status_code == 200
    m = meta_of(r.text)
    assert m["og:image"] == f"http://testserver/api/parcels/{p['code']}/preview.png"
    assert m["og:url"] == f"http://testserver/parcel/{p['code']}"
    assert m["og:type"] == "website" and m["twitter:card"] == "summary_large_image"
    assert p["code"] in m["og:title"]
    desc = m["og:description"]
    assert f"{p['mu']:,.1f} 亩" in desc and f"{p['mu']:,.1f} mu" in desc
    assert desc.index("亩") < desc.index(" mu")  # Chinese first
    img = client.get(m["og:image"].removeprefix("http://testserver"))
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    # the page itself is still the map: the parcel page selects the parcel in the browser
    assert "PG.init" in r.text or "investor.js" in r.text


def test_open_graph_values_are_escaped_and_the_picture_survives_hostile_names(
    rw_client, sample_db_rw, artifacts
):
    _rows(
        sample_db_rw,
        "UPDATE zones SET name_zh = %(zh)s, name_en = %(en)s",
        {"zh": HOSTILE_ZH, "en": HOSTILE_EN},
    )
    p = pick_parcel(sample_db_rw)
    html = rw_client.get(f"/parcel/{p['code']}").text
    head = html[: html.index("</head>")]
    assert "<script>alert(1)" not in head and "<b>bold" not in head
    assert "onmouseover='alert" not in head
    m = meta_of(html)
    # escaped, not dropped: the parser gets the stored text back exactly
    assert HOSTILE_ZH in m["og:title"] and HOSTILE_ZH in m["og:description"]
    assert HOSTILE_EN in m["og:description"]
    assert re.search(r'content="[^"]*&lt;script&gt;alert\(1\)', head)
    png = rw_client.get(f"/api/parcels/{p['code']}/preview.png")
    assert png.status_code == 200  # "$...$" is text, never mathtext
    decode(png.content)
    (artifacts / "og-parcel-preview-hostile.png").write_bytes(png.content)


def test_public_base_url_setting_makes_the_absolute_urls(sample_db):
    from api.main import create_app
    from parkgis.settings import Settings

    settings = Settings(public_base_url="https://park.example.cn/", clock_enabled=False)
    with TestClient(create_app(settings, database_url=sample_db)) as c:
        p = pick_parcel(sample_db)
        m = meta_of(c.get(f"/parcel/{p['code']}").text)
    assert m["og:image"] == f"https://park.example.cn/api/parcels/{p['code']}/preview.png"
    assert m["og:url"] == f"https://park.example.cn/parcel/{p['code']}"


@pytest.mark.parametrize("code", ["WH-NOPE-404", "<img src=x onerror=alert(1)>", "%E0%A4%A"])
def test_an_unknown_parcel_link_is_the_map_with_status_404(client, code):
    r = client.get("/parcel/" + code)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    m = meta_of(r.text)
    # the map's own preview, never a title or picture naming what was asked for
    assert m["og:image"] == "http://testserver/api/map/preview.png"
    assert "NOPE" not in r.text and "onerror=alert" not in r.text
    assert 'id="pg-map"' in r.text or "L.map" in r.text  # the investor map itself
