"""A bad-input corpus through both doors: ``parkgis load`` (a real subprocess) and
``POST /api/layers/parcels/upload`` (real HTTP through the ASGI app).

Every file is generated here (``corpus`` writes them into a temporary directory); no binary
blobs are kept. A refused file must give exit 1 with one line on stderr and no traceback, and a
4xx problem+json, with the database byte-for-byte as before (a digest of every row of every
table a load could touch). A valid-but-odd file must load exactly the file's content.

The referencing attacks of issue #11 are here too: VRTs on a server file, on ``/etc/passwd``,
on ``/vsicurl/`` (a real local HTTP server must receive no request) and on a server-local
GeoJSON.
"""

from __future__ import annotations

import http.server
import json
import sqlite3
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import data_factory as df
import psycopg
import pytest
import workbench_helpers as wb
from fastapi.testclient import TestClient
from pyproj import Transformer

from api.main import create_app

PARKGIS = Path(sys.executable).parent / "parkgis"
CANARY = "canary-7f3a9c-not-for-your-eyes"

#: Every table a load could write, digested row by row.
SQL_DIGEST = """
SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM (
  SELECT 'p' || t::text AS x FROM parcels t UNION ALL
  SELECT 'e' || t::text FROM parcel_events t UNION ALL
  SELECT 'h' || t::text FROM parcel_holds t UNION ALL
  SELECT 'z' || t::text FROM zones t UNION ALL
  SELECT 'j' || t::text FROM projects t UNION ALL
  SELECT 'n' || t::text FROM enterprises t UNION ALL
  SELECT 'i' || t::text FROM infrastructure t) rows
"""


def digest(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute(SQL_DIGEST).fetchone()[0])


# --- a local HTTP server that records every request -----------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        type(self).hits.append(self.path)
        body = json.dumps(_feature_collection([_square_ring(9)], ["WH-NET-001"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Rec", (_Recorder,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


# --- hand-built content ------------------------------------------------------------------------

_TO_LONLAT = Transformer.from_crs(df.GK, 4326, always_xy=True)


def _square_ring(ix: int, iy: int = 3) -> list[list[float]]:
    """A 100 m parcel's closed ring in lon/lat, inside the test zone, away from seeded ones."""
    x, y = df.X0 + ix * 100, df.Y0 + iy * 100
    pts = [(x, y), (x + 100, y), (x + 100, y + 100), (x, y + 100), (x, y)]
    return [list(_TO_LONLAT.transform(px, py)) for px, py in pts]


def _props(code: str, **over: object) -> dict[str, object]:
    p: dict[str, object] = {
        "code": code,
        "zone_code": df.ZONE_CODE,
        "status": "available",
        "landuse_code": "100101",
        "landuse_alias": "M1",
    }
    p.update(over)
    return p


def _feature_collection(
    rings: list[list[list[float]]], codes: list[str], **over: object
) -> dict[str, object]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": _props(c, **over),
                "geometry": {"type": "Polygon", "coordinates": [r]},
            }
            for r, c in zip(rings, codes, strict=True)
        ],
    }


def _geojson_text(codes: list[str], first: int = 0, **over: object) -> str:
    return json.dumps(
        _feature_collection([_square_ring(first + i) for i in range(len(codes))], codes, **over),
        ensure_ascii=False,
    )


def _vrt(src: str, layer: str = "x") -> str:
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="{layer}"><SrcDataSource>{src}'
        f"</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _shapefile_members(tmp: Path, stem: str, gdf: object, **kw: object) -> dict[str, bytes]:
    src = tmp / f"src-{stem}"
    src.mkdir()
    df.write_shapefile(src / f"{stem}.shp", gdf, **kw)  # type: ignore[arg-type]
    return {f.name: f.read_bytes() for f in sorted(src.glob(f"{stem}.*"))}


# --- the corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One corpus file: how to write it and what must happen.

    ``expect`` is a fragment the refusal must contain (CLI stderr and problem detail alike);
    ``status`` the HTTP status; ``loads`` the rows ``code -> {column: value}`` a valid file
    must store exactly (then ``expect`` is None).
    """

    write: Callable[[Path], Path]
    expect: str | None = None
    status: int = 422
    loads: dict[str, dict[str, object]] | None = None
    secret: str | None = None  # text that must appear in no answer


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        p = tmp / name
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        return p

    return write


def _w_sqlite(tmp: Path) -> Path:
    p = tmp / "plain-sqlite.gpkg"
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE t (a text)")
        conn.execute("INSERT INTO t VALUES ('x')")
    return p


def _w_truncated_gpkg(tmp: Path) -> Path:
    full = df.write_gpkg(tmp / "full.gpkg", {"parcels": df.parcels_gdf(prefix="WH-TG")})
    return df.truncate(full, tmp / "truncated.gpkg", 0.4)


def _w_gpkg_odd_name(tmp: Path) -> Path:
    full = df.write_gpkg(
        tmp / "ok.gpkg",
        {"parcels": df.parcels_gdf(2, prefix="WH-GN", geoms=[df.square(0, 5), df.square(1, 5)])},
    )
    p = tmp / "survey-export.dat"
    p.write_bytes(full.read_bytes())
    return p


def _w_zip(
    name: str, members: Callable[[Path], dict[str, bytes]], symlink: str | None = None
) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        return _zip(tmp / name, members(tmp), symlink)

    return write


def _parcel_members(tmp: Path, stem: str = "parcels", **kw: object) -> dict[str, bytes]:
    return _shapefile_members(
        tmp,
        stem,
        df.parcels_gdf(1, prefix=f"WH-Z{stem[:2].upper()}", geoms=[df.square(12, 3)]),
        **kw,
    )


def _w_bomb(tmp: Path) -> Path:
    p = tmp / "bomb.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("parcels.shp", b"\x00\x00\x27\x0a")
        with zf.open("parcels.dbf", "w", force_zip64=True) as out:
            block = b"\x00" * (1 << 20)
            for _ in range(64):  # 64 MB of zeros in ~64 kB
                out.write(block)
    return p


def _w_gbk(tmp: Path) -> Path:
    g = df.parcels_gdf(1, prefix="WH-GB", geoms=[df.square(14, 3)], landuse_alias=["工业用地"])
    return _zip(tmp / "gbk.zip", _shapefile_members(tmp, "gbk", g, encoding="GBK", cpg=False))


def _w_metadata_zip(tmp: Path) -> Path:
    g = df.parcels_gdf(1, prefix="WH-MD", geoms=[df.square(15, 3)])
    members = _shapefile_members(tmp, "meta", g)
    members["meta.shp.xml"] = b"<metadata/>"
    members["meta.qix"] = b"\x00" * 16
    return _zip(tmp / "meta.zip", members)


def _w_kml(tmp: Path) -> Path:
    g = df.parcels_gdf(1, prefix="WH-KM", geoms=[df.square(16, 3)], landuse_alias=["仓储"])
    return df.write_kml(tmp / "attrs.kml", g)


def _w_two_shp(tmp: Path) -> Path:
    a = _parcel_members(tmp, "one")
    b = _parcel_members(tmp, "two")
    return _zip(tmp / "two.zip", {**a, **b})


def _w_noprj(tmp: Path) -> Path:
    return _zip(tmp / "noprj.zip", _parcel_members(tmp, "noprj", prj=False))


def _w_dxf(tmp: Path) -> Path:
    return df.write_dxf(tmp / "drawing.dxf", df.parcels_gdf(1, prefix="WH-DX"))


def _w_swapped(tmp: Path) -> Path:
    fc = _feature_collection([[[b, a] for a, b in _square_ring(17)]], ["WH-SW-001"])
    return _text("swapped.geojson", json.dumps(fc))(tmp)


def _ring_with(value: str) -> str:
    ring = _square_ring(18)
    text = json.dumps(_feature_collection([ring], ["WH-NN-001"]))
    return text.replace(json.dumps(ring[1][0]), value, 1)


def _w_unclosed(tmp: Path) -> Path:
    fc = _feature_collection([_square_ring(19)[:-1]], ["WH-UC-001"])
    return _text("unclosed.geojson", json.dumps(fc))(tmp)


def _w_bowtie(tmp: Path) -> Path:
    r = _square_ring(20)
    fc = _feature_collection([[r[0], r[2], r[1], r[3], r[0]]], ["WH-BT-001"])
    return _text("bowtie.geojson", json.dumps(fc))(tmp)


def _w_status_change(tmp: Path) -> Path:
    # WH-RS-001 is seeded reserved for a project (see ``world``); the file says available.
    return _text("status.geojson", _geojson_text(["WH-RS-001"], first=0))(tmp)


MARKUP = "[red]红[/red] :x: <script>alert(1)</script>"

CORPUS: dict[str, Case] = {
    # empty and unknown bytes
    "empty": Case(_text("empty.geojson", b""), "empty", 400),
    "blank": Case(_text("blank.geojson", b"  \n\t "), "empty", 400),
    "wrong_magic": Case(_text("random.gpkg", bytes(range(256)) * 4), "not a recognised"),
    "csv": Case(_text("parcels.geojson", "code,wkt\nA,POINT(1 2)\n"), "not a recognised"),
    "sqlite_not_gpkg": Case(_w_sqlite, "not a GeoPackage"),
    "truncated_gpkg": Case(_w_truncated_gpkg, "cannot read"),
    "json_not_geojson": Case(_text("odd.geojson", '{"hello": "world"}'), "cannot read"),
    "gdalg": Case(
        _text(
            "alg.geojson",
            json.dumps(
                {"type": "gdal_streamed_alg", "command_line": "gdal vector info /etc/passwd"}
            ),
        ),
        "cannot read",
        secret="root:",
    ),
    # encodings
    "utf16_bom": Case(
        _text(
            "u16.geojson",
            "\ufeff".encode("utf-16-le") + _geojson_text(["WH-U16-001"], 30).encode("utf-16-le"),
        ),
        "UTF-16",
    ),
    "utf16_nobom": Case(
        _text("u16n.geojson", _geojson_text(["WH-U16-002"], 30).encode("utf-16-le")), "UTF-16"
    ),
    # files and URLs referenced from inside a file
    "vrt_secret": Case(_text("secret.vrt", _vrt("/proc/self/cwd/.parkgis/secret.key")), "only KML"),
    "vrt_passwd": Case(
        _text("passwd.vrt", _vrt("/etc/passwd", "passwd")), "only KML", secret="root:"
    ),
    "vrt_as_geojson": Case(
        _text("innocent.geojson", _vrt("/etc/passwd")), "only KML", secret="root:"
    ),
    "gml": Case(
        _text(
            "features.gml",
            '<?xml version="1.0"?><wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"/>',
        ),
        "only KML",
    ),
    "kml_xxe": Case(
        _text(
            "xxe.kml",
            '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM '
            '"file:///etc/passwd">]><kml><Placemark><name>&x;</name></Placemark>'
            "</kml>",
        ),
        "DTD",
        secret="root:",
    ),
    "kml_laughs": Case(
        _text(
            "laughs.kml",
            '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a '
            '"aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<kml><Document><name>&b;</name></Document></kml>",
        ),
        "DTD",
    ),
    # zips
    "zip_traversal": Case(
        _w_zip(
            "traversal.zip",
            lambda t: {f"../../{k}": v for k, v in _parcel_members(t, "trav").items()},
        ),
        "outside",
    ),
    "zip_absolute": Case(
        _w_zip(
            "absolute.zip",
            lambda t: {f"/srv/{k}": v for k, v in _parcel_members(t, "abso").items()},
        ),
        "outside",
    ),
    "zip_symlink": Case(
        _w_zip("symlink.zip", lambda t: _parcel_members(t, "syml"), symlink="syml.prj"),
        "symbolic link",
    ),
    "zip_nested": Case(
        _w_zip(
            "nested.zip",
            lambda t: {"inner.zip": _zip(t / "inner.zip", _parcel_members(t, "nest")).read_bytes()},
        ),
        "not part of a shapefile",
    ),
    "zip_vrt": Case(
        _w_zip("vrt.zip", lambda t: {"x.vrt": _vrt("/etc/passwd").encode()}),
        "not part of a shapefile",
        secret="root:",
    ),
    "zip_bomb": Case(_w_bomb, "too large"),
    "zip_two": Case(_w_two_shp, "2 shapefiles"),
    "zip_empty": Case(_w_zip("hollow.zip", lambda t: {}), "cannot read"),
    # geometry and coordinates
    "unclosed_ring": Case(_w_unclosed, "not closed"),
    "nan": Case(_text("nan.geojson", _ring_with("NaN")), "NaN"),
    "infinity": Case(_text("inf.geojson", _ring_with("Infinity")), "Infinity"),
    "huge_coords": Case(_text("huge.geojson", _ring_with("1e308")), "refused"),
    "bowtie": Case(_w_bowtie, "invalid geometry"),
    "swapped": Case(_w_swapped, "swapped"),
    "no_prj": Case(_w_noprj, "coordinate system"),
    "dxf_no_crs": Case(_w_dxf, "coordinate system"),
    # values
    "huge_text": Case(
        _text("long.geojson", _geojson_text(["WH-LT-001"], 21, landuse_alias="字" * (5 << 20))),
        "value too long",
    ),
    "huge_number": Case(
        _text(
            "longnum.geojson",
            _geojson_text(["WH-LN-001"], 21).replace(
                '"landuse_alias": "M1"', '"land_price_wan_per_mu": "' + "9" * (5 << 20) + '"'
            ),
        ),
        "value too long",
    ),
    "duplicate_codes": Case(
        _text(
            "dups.geojson",
            json.dumps(
                _feature_collection(
                    [_square_ring(22), _square_ring(23)], ["WH-DU-001", "WH-DU-001"]
                )
            ),
        ),
        "duplicate code",
    ),
    "markup_bad_status": Case(
        _text("markup-status.geojson", _geojson_text(["WH-MS-001"], 24, status=MARKUP)),
        "[red]红[/red] :x:",
    ),
    "status_change": Case(_w_status_change, "reserved → available", 409),
    "negative_price": Case(
        _text(
            "negative.geojson",
            _geojson_text(
                ["WH-NP-001"], 28, land_price_wan_per_mu=-5, landuse_alias="row-dump-marker"
            ),
        ),
        "check constraint",
        secret="row-dump-marker",
    ),
    "script_code": Case(
        _text("script.geojson", _geojson_text(["<script>alert(1)</script>"], 29)), "refused"
    ),
    # valid but odd: exactly the file's content is stored
    "bom_geojson": Case(
        _text(
            "bom.geojson", "\ufeff" + _geojson_text(["WH-BOM-001"], 25, landuse_alias="标准厂房")
        ),
        loads={"WH-BOM-001": {"landuse_alias": "标准厂房"}},
    ),
    "markup_values": Case(
        _text("[red]m:x:.geojson", _geojson_text(["WH-MK-001"], 26, landuse_alias=MARKUP)),
        loads={"WH-MK-001": {"landuse_alias": MARKUP}},
    ),
    "geojson_named_kml": Case(
        _text("really-json.kml", _geojson_text(["WH-JK-001"], 27)),
        loads={"WH-JK-001": {"landuse_alias": "M1"}},
    ),
    "gpkg_odd_name": Case(
        _w_gpkg_odd_name,
        loads={"WH-GN-001": {"landuse_alias": "M1"}, "WH-GN-002": {"landuse_alias": "M1"}},
    ),
    "gbk_dbf": Case(_w_gbk, loads={"WH-GB-001": {"landuse_alias": "工业用地"}}),
    "zip_with_metadata": Case(_w_metadata_zip, loads={"WH-MD-001": {"status": "available"}}),
    "kml_attributes": Case(
        _w_kml, loads={"WH-KM-001": {"landuse_alias": "仓储", "landuse_code": "100101"}}
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("corpus")
    return {name: case.write(tmp) for name, case in CORPUS.items()}


@pytest.fixture(scope="module")
def world(databases, corpus: dict[str, Path]) -> Iterator[tuple[TestClient, str, dict]]:
    """One database: the zone, a reserved parcel with its project, and a planner."""
    url = databases.new("badinput")
    df.insert_zone(url)
    wb.add_users(url)
    from parkgis.land import lifecycle
    from parkgis.land.loader import load_file

    seed = df.write_geojson(
        corpus["empty"].parent / "seed.geojson",
        df.parcels_gdf(1, prefix="WH-RS", geoms=[df.square(0, 3)]),
    )
    load_file(url, seed, into="parcels")
    with psycopg.connect(url) as conn:
        conn.execute(wb.SQL_PROJECT, ("WH-PRJ-1",))
        lifecycle.apply_action(
            conn,
            "WH-RS-001",
            "reserve",
            lifecycle.ActionParams(
                project="WH-PRJ-1",
                until=lifecycle.park_today() + __import__("datetime").timedelta(days=30),
            ),
            "plan",
            None,
        )
    with TestClient(create_app(database_url=url)) as client:
        yield client, url, wb.login(client, "plan")


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PARKGIS), "load", *args],
        capture_output=True,
        text=True,
        env=df.env_for(url),
        timeout=180,
    )


def _upload(client: TestClient, headers: dict[str, str], path: Path, **form: str):
    return client.post(
        "/api/layers/parcels/upload",
        headers=headers,
        files={"file": (path.name, path.read_bytes())},
        data=form,
    )


def _stored(url: str, codes: list[str]) -> dict[str, dict[str, object]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT to_jsonb(p) FROM parcels p WHERE code = ANY(%s)", (codes,))
        return {r[0]["code"]: r[0] for r in cur.fetchall()}


def _assert_clean_refusal(text: str, case: Case, tmp_roots: list[str]) -> None:
    assert case.expect is not None and case.expect in text, text[:600]
    assert "Traceback" not in text
    for root in tmp_roots:
        assert root not in text, f"server path {root} leaked: {text[:600]}"
    if case.secret:
        assert case.secret not in text
    assert CANARY not in text
    # The server's own temporary directories (upload and unzip) are never named.
    assert "parkgis-upload-" not in text and "parkgis-read-" not in text


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert sum(c.loads is None for c in CORPUS.values()) >= 30


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_through_cli_and_upload(world, corpus: dict[str, Path], name: str) -> None:
    client, url, planner = world
    case, path = CORPUS[name], corpus[name]
    roots = [str(path.parent), str(Path.cwd() / ".parkgis"), sys.prefix, "/tmp/"]
    for door in ("cli", "http"):
        before = digest(url)
        if door == "cli":
            r = _cli(url, str(path), "--into", "parcels")
            ok, text = r.returncode == 0, r.stdout + r.stderr
            if case.loads is None:
                assert r.returncode == 1, text
                lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
                assert len(lines) == 1, r.stderr
                assert r.stdout.strip() == ""
        else:
            resp = _upload(client, planner, path)
            ok, text = resp.status_code == 201, resp.text
            if case.loads is None:
                assert resp.status_code == case.status, text[:600]
                assert resp.headers["content-type"].startswith("application/problem+json")
                assert len(text) < 20_000  # never a whole file or row dump
        if case.loads is None:
            _assert_clean_refusal(text, case, roots)
            assert digest(url) == before, f"{door}: the store changed"
        else:
            assert ok, text[:600]
            stored = _stored(url, list(case.loads))
            assert set(stored) == set(case.loads), text
            for code, columns in case.loads.items():
                for col, value in columns.items():
                    assert stored[code][col] == value, (door, code, col)
            if door == "cli":
                assert path.name in r.stdout  # the file name printed literally


# --- the reproductions of issue #11 ------------------------------------------------------------


def test_vrt_on_a_server_file_leaks_nothing(world, tmp_path: Path) -> None:
    client, url, planner = world
    secret = tmp_path / "secret.key"
    secret.write_text(f"code\n{CANARY}\n")
    local = df.write_geojson(
        tmp_path / "server-local.geojson",
        df.parcels_gdf(1, prefix="WH-LOC", geoms=[df.square(9, 9)]),
    )
    before = digest(url)
    for src in (str(secret), "/proc/self/cwd/.parkgis/secret.key", str(local)):
        vrt = tmp_path / "x.vrt"
        vrt.write_text(_vrt(src, "parcels"))
        resp = _upload(client, planner, vrt)
        assert resp.status_code == 422
        cli = _cli(url, str(vrt), "--into", "parcels")
        assert cli.returncode == 1
        for text in (resp.text, cli.stderr):
            assert CANARY not in text and str(tmp_path) not in text, text
            assert "only KML" in text, text
    assert digest(url) == before
    assert _stored(url, ["WH-LOC-001"]) == {}


def test_vsicurl_is_never_fetched(world, web, tmp_path: Path) -> None:
    client, url, planner = world
    base, hits = web
    target = f"/vsicurl/{base}/x.geojson"
    vrt = tmp_path / "net.vrt"
    vrt.write_text(_vrt(target, "parcels"))
    kml = tmp_path / "net.kml"
    kml.write_text(
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<NetworkLink><Link><href>{base}/x.kml</href></Link></NetworkLink>"
        "</Document></kml>"
    )
    # A GeoJSON "link" CRS (GeoJSON 2008) naming a URL: GDAL must not resolve it.
    linked = tmp_path / "linked.geojson"
    fc = _feature_collection([_square_ring(9, 9)], ["WH-NET-002"])
    fc["crs"] = {"type": "link", "properties": {"href": f"{base}/crs.wkt", "type": "ogcwkt"}}
    fc["features"][0]["properties"]["status"] = "bogus"  # refused whatever the CRS
    linked.write_text(json.dumps(fc))
    before = digest(url)
    for path in (vrt, kml, linked):
        assert _upload(client, planner, path).status_code in (400, 404, 422)
        assert _cli(url, str(path), "--into", "parcels").returncode == 1
    for arg in (target, f"{base}/x.geojson", f"GeoJSON:{base}/x.geojson"):
        r = _cli(url, arg, "--into", "parcels")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    # The server is alive (a direct request reaches it), yet ParkGIS never asked it anything.
    assert hits == []
    import urllib.request

    with urllib.request.urlopen(f"{base}/probe") as resp:  # noqa: S310 - loopback test server
        assert resp.status == 200
    assert hits == ["/probe"]
    assert digest(url) == before
    assert _stored(url, ["WH-NET-001"]) == {}


def test_upload_takes_set_and_crs_like_the_cli(world, tmp_path: Path) -> None:
    client, url, planner = world
    dxf = df.write_dxf(
        tmp_path / "survey.dxf",
        df.parcels_gdf(2, prefix="WH-SET", geoms=[df.square(3, 9), df.square(4, 9)]),
    )
    r = client.post(
        "/api/layers/parcels/upload",
        headers=planner,
        files={"file": (dxf.name, dxf.read_bytes())},
        data={
            "crs": "EPSG:4547",
            "set": [f"zone_code={df.ZONE_CODE}", "status=available", "landuse_code=100101"],
        },
    )
    assert r.status_code == 201, r.text
    stored = _stored(url, ["WH-SET-001", "WH-SET-002"])
    assert {c: (v["zone_code"], v["status"], v["landuse_code"]) for c, v in stored.items()} == {
        "WH-SET-001": (df.ZONE_CODE, "available", "100101"),
        "WH-SET-002": (df.ZONE_CODE, "available", "100101"),
    }
    bad = client.post(
        "/api/layers/parcels/upload",
        headers=planner,
        files={"file": (dxf.name, dxf.read_bytes())},
        data={"crs": "EPSG:4547", "set": ["zone_code"]},
    )
    assert bad.status_code == 400 and "COLUMN=VALUE" in bad.json()["detail"]


def test_status_change_lists_the_parcels_and_keeps_the_reservation(world) -> None:
    client, url, planner = world
    text = _geojson_text(["WH-RS-001"], first=0)
    r = client.post(
        "/api/layers/parcels/upload", headers=planner, files={"file": ("s.geojson", text.encode())}
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["parcels"] == [
        {"code": "WH-RS-001", "status": "reserved", "requested": "available"}
    ]
    assert "release" in body["detail"]
    row = _stored(url, ["WH-RS-001"])["WH-RS-001"]
    assert row["status"] == "reserved" and row["project_code"] == "WH-PRJ-1"
    assert row["reserved_until"] is not None
    # The same file without the status change (geometry/attributes only) is accepted.
    ok = json.loads(text)
    ok["features"][0]["properties"]["status"] = "reserved"
    ok["features"][0]["properties"]["landuse_alias"] = "M2"
    r2 = client.post(
        "/api/layers/parcels/upload",
        headers=planner,
        files={"file": ("s.geojson", json.dumps(ok).encode())},
    )
    assert r2.status_code == 201, r2.text
    row = _stored(url, ["WH-RS-001"])["WH-RS-001"]
    assert (row["status"], row["landuse_alias"], row["project_code"]) == (
        "reserved",
        "M2",
        "WH-PRJ-1",
    )


def test_zip_bomb_is_refused_from_its_directory_fast(corpus: dict[str, Path]) -> None:
    import time

    from parkgis.errors import InvalidData
    from parkgis.geo.formats import open_source

    started = time.perf_counter()
    with pytest.raises(InvalidData, match="too large"), open_source(corpus["zip_bomb"]):
        pass
    assert time.perf_counter() - started < 0.5


def test_referencing_drivers_are_gone_and_network_is_off() -> None:
    import pyogrio

    import parkgis.geo.formats  # noqa: F401 - importing the reader hardens GDAL

    drivers = set(pyogrio.list_drivers())
    assert {"GPKG", "GeoJSON", "ESRI Shapefile", "KML", "DXF"} <= drivers
    assert not drivers & {"OGR_VRT", "LIBKML", "WFS", "OAPIF", "GDALG", "HTTP", "GPSBabel"}
    assert pyogrio.get_gdal_config_option("GDAL_DISABLE_READDIR_ON_OPEN") == "EMPTY_DIR"
