"""The shape of the house (issue 12), checked from the source text and the running apps.

* ``api/`` holds no SQL and never commits: routes parse, make one core call and respond; the
  connection dependency commits the unit of work once.
* ``parkgis/`` imports nothing from ``api/`` or ``web/`` and never calls ``get_settings()``
  (the CLI, an entry point, is the one exception): settings are handed in.
* The core's subpackages import one way: api/web -> publish -> siting/promotion/ledger ->
  land/geo -> db/settings. Checked against the TARGET layout (docs/architecture.md): a module
  still at its old path is classified by ``MOVES`` below, so the check runs before and after
  the lead's file moves.
* Two apps built with different settings run side by side, each honouring its own.

``PENDING`` lists offenders owned by branches not yet merged when this test was written; each
entry is checked to still offend (a stale entry fails), so the lists only shrink.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]

# Offenders fixed on other branches (the lead removes an entry when merging its fix).
PENDING_SQL_IN_API: set[str] = set()
PENDING_GET_SETTINGS: set[str] = set()

# Upper-case keywords, as all SQL in this code base is written; prose ("Delete a set") is not.
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s")


def _py_files(top: str) -> Iterator[Path]:
    yield from sorted((ROOT / top).rglob("*.py"))


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _sql_literals(tree: ast.AST) -> list[str]:
    out = []
    in_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in in_fstrings
        ):
            if SQL_START.match(node.value):
                out.append(node.value[:60])
        elif isinstance(node, ast.JoinedStr):
            head = next(
                (
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                ),
                "",
            )
            if SQL_START.match(head):
                out.append(head[:60])
    return out


def _commit_calls(tree: ast.AST) -> int:
    return sum(
        1
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "commit"
    )


def _api_offenders() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in _py_files("api"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        why = [f"SQL {s!r}" for s in _sql_literals(tree)]
        if n := _commit_calls(tree):
            why.append(f"{n} commit() call(s)")
        if why:
            found[_rel(p)] = why
    return found


def test_the_sql_detector_sees_sql_and_commits() -> None:
    # The detector itself must be able to fail: fed a route that does it all wrong.
    bad = ast.parse(
        'def r(conn):\n    conn.execute("SELECT code FROM parcels")\n'
        '    conn.execute(f"UPDATE parcels SET x = {1}")\n    conn.commit()\n'
    )
    assert len(_sql_literals(bad)) == 2 and _commit_calls(bad) == 1
    # ... and not fooled by prose that merely starts with a keyword
    assert _sql_literals(ast.parse('x = "Delete an inactive set"')) == []


def test_api_holds_no_sql_and_no_commit() -> None:
    found = _api_offenders()
    unexpected = {k: v for k, v in found.items() if k not in PENDING_SQL_IN_API}
    assert unexpected == {}, "api/ must call the core, not the database"
    stale = PENDING_SQL_IN_API - set(found)
    assert not stale, f"fixed: remove from PENDING_SQL_IN_API: {sorted(stale)}"


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for a in node.names:  # ``from parkgis import terrain`` imports parkgis.geo.terrain
                yield f"{node.module}.{a.name}"


def _calls_named(tree: ast.AST, name: str) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Name) and f.id == name) or (
                isinstance(f, ast.Attribute) and f.attr == name
            ):
                return True
    return False


def test_core_imports_nothing_from_api_or_web() -> None:
    bad = {}
    for p in _py_files("parkgis"):
        mods = [
            m
            for m in _imports(ast.parse(p.read_text(encoding="utf-8")))
            if m.split(".")[0] in ("api", "web")
        ]
        if mods:
            bad[_rel(p)] = mods
    assert bad == {}


def test_core_never_reads_global_settings() -> None:
    callers = {
        _rel(p)
        for p in _py_files("parkgis")
        if _calls_named(ast.parse(p.read_text(encoding="utf-8")), "get_settings")
    }
    callers -= {"parkgis/cli.py", "parkgis/settings.py"}  # the entry point; the definition
    assert callers - PENDING_GET_SETTINGS == set(), "pass settings in (settings.<concern>)"
    stale = PENDING_GET_SETTINGS - callers
    assert not stale, f"fixed: remove from PENDING_GET_SETTINGS: {sorted(stale)}"


def _private_imports(tree: ast.AST) -> list[str]:
    """``from parkgis.x import _name`` and ``x._name`` on a module imported from parkgis."""
    out = []
    modules: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "parkgis":
            for a in n.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    out.append(f"{n.module}.{a.name}")
                modules.add(a.asname or a.name)
        elif isinstance(n, ast.Import):
            modules |= {a.asname for a in n.names if a.asname and a.name.startswith("parkgis")}
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id in modules
            and n.attr.startswith("_")
            and not n.attr.startswith("__")
        ):
            out.append(f"{n.value.id}.{n.attr}")
    return out


def test_the_private_import_detector_can_fail() -> None:
    tree = ast.parse(
        "from parkgis.land.lifecycle import _set_context\n"
        "from parkgis.publish.maps import investor\nx = investor._fc\n"
    )
    assert _private_imports(tree) == ["parkgis.land.lifecycle._set_context", "investor._fc"]


PENDING_PRIVATE: set[str] = set()


def test_no_private_name_is_imported_across_modules() -> None:
    found = {}
    for top in ("parkgis", "api"):
        for p in _py_files(top):
            if names := _private_imports(ast.parse(p.read_text(encoding="utf-8"))):
                found[_rel(p)] = names
    assert {k: v for k, v in found.items() if k not in PENDING_PRIVATE} == {}
    assert not PENDING_PRIVATE - set(found), "fixed: shrink PENDING_PRIVATE"


# -- layering against the target layout ---------------------------------------------------------

# The modules stand where docs/architecture.md draws them; a future move maps old -> new here
# so the layering check can run before the files move.
MOVES: dict[str, str] = {}

# Higher imports lower, never the reverse. Same-rank subpackages (siting, promotion, ledger)
# may use each other but must not form a cycle.
RANK = {
    "settings": 0,
    "errors": 0,
    "jsonvalues": 0,
    "auth": 0,
    "db": 0,
    "vocabulary": 0,
    "cells": 0,
    "land": 1,
    "geo": 1,
    "siting": 2,
    "promotion": 2,
    "ledger": 2,
    "publish": 3,
}
ENTRY_POINTS = {"parkgis.cli", "parkgis", "parkgis.__main__"}


def _target(module: str) -> str:
    """The target name of ``module`` (longest matching prefix in MOVES)."""
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        head = ".".join(parts[:i])
        if head in MOVES:
            return ".".join([MOVES[head], *parts[i:]])
    return module


def _group(module: str) -> str | None:
    parts = _target(module).split(".")
    if parts[0] != "parkgis" or module in ENTRY_POINTS or len(parts) < 2:
        return None
    if parts[1] in ("ogc", "maps", "brief", "sheet", "tiles", "i18n", "export"):
        return "publish"  # never reached once MOVES applies; kept for modules added later
    return parts[1]


def _module_name(p: Path) -> str:
    mod = ".".join(p.relative_to(ROOT).with_suffix("").parts)
    return mod.removesuffix(".__init__")


def _core_edges() -> dict[tuple[str, str], list[str]]:
    """(importer group, imported group) -> example modules, for groups that differ."""
    edges: dict[tuple[str, str], list[str]] = {}
    for p in _py_files("parkgis"):
        src = _module_name(p)
        g = _group(src)
        if g is None:
            continue
        for m in _imports(ast.parse(p.read_text(encoding="utf-8"))):
            h = _group(m)
            if h is not None and h != g and m.startswith("parkgis."):
                edges.setdefault((g, h), []).append(f"{src} -> {m}")
    return edges


def test_the_layout_map_covers_every_core_module() -> None:
    unknown = {
        m
        for p in _py_files("parkgis")
        if (g := _group(m := _module_name(p))) is not None and g not in RANK
    }
    assert unknown == set(), "classify these in RANK/MOVES and docs/architecture.md"


def test_target_layout_rules_are_what_the_doc_says() -> None:
    # Hand-picked examples from the target layout, so a wrong MOVES entry shows.
    assert _group("parkgis.land.loader") == "land"
    assert _group("parkgis.geo.crs") == "geo"
    assert _group("parkgis.publish.ogc.features") == "publish"
    assert _group("parkgis.publish.i18n") == "publish"
    assert _group("parkgis.db.tables") == "db"
    assert _group("parkgis.db.collections") == "db"
    assert _group("parkgis.cli") is None


# LAYERING ASSERTION (issue 12, deliverable 1): runs today against the mapped target layout,
# and unchanged after the lead's file moves.
def test_core_imports_run_one_way() -> None:
    upward = {e: ex[:3] for e, ex in _core_edges().items() if RANK[e[0]] < RANK[e[1]]}
    assert upward == {}, "a lower layer imports a higher one"


def test_no_cycle_between_core_subpackages() -> None:
    edges = {e for e in _core_edges()}
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles = sorted((a, b) for a, b in edges if a in graph.get(b, set()))
    assert cycles == []


# -- settings are per app ----------------------------------------------------------------------


@pytest.fixture()
def two_apps(sample_db_rw: str) -> Iterator[tuple[TestClient, TestClient, int]]:
    from api.main import create_app
    from parkgis.settings import Settings

    with psycopg.connect(sample_db_rw, autocommit=True) as conn:
        conn.execute("ANALYZE parcels")
        n = conn.execute("SELECT count(*) FROM parcels WHERE status <> 'historic'").fetchone()
    assert n is not None and n[0] > 5
    a = create_app(
        Settings(count_exact_max=5, tianditu_key="key-of-app-a", tile_cache_size=0),
        database_url=sample_db_rw,
    )
    b = create_app(
        Settings(count_exact_max=10_000_000, tianditu_key=None, tile_cache_size=1000),
        database_url=sample_db_rw,
    )
    with TestClient(a) as ca, TestClient(b) as cb:
        yield ca, cb, int(n[0])


def test_two_apps_with_different_settings_coexist(
    two_apps: tuple[TestClient, TestClient, int],
) -> None:
    ca, cb, n = two_apps
    for _ in range(2):  # interleaved: neither app's settings leak into the other
        da = ca.get("/ogc/collections/parcels/items", params={"limit": 1}).json()
        db = cb.get("/ogc/collections/parcels/items", params={"limit": 1}).json()
        assert da.get("numberMatchedEstimated") is True
        assert "numberMatchedEstimated" not in db and db["numberMatched"] == n
        assert "tk=key-of-app-a" in ca.get("/").text
        assert "tianditu.gov.cn" not in cb.get("/").text
    # tile cache: off in A (every request renders), on in B (the repeat is served from memory);
    # the tile holding Weihui's centre (114.07E 35.40N) at z14, worked out by hand:
    # x = floor((114.07 + 180) / 360 * 2^14) = 13383, y = floor((1 - asinh(tan 35.40°)/π) / 2
    # * 2^14) = 6467
    tile = "/ogc/collections/parcels/tiles/WebMercatorQuad/14/13383/6467"
    for c, repeat in ((ca, "miss"), (cb, "hit")):
        first = c.get(tile)
        assert first.status_code in (200, 204), first.text
        assert c.get(tile).headers["x-tile-cache"] == repeat


# -- routes do not depend on registration order ------------------------------------------------

# (method, path, the endpoint that must answer it) -- pairs that a careless ``{code}`` would steal.
ROUTE_CASES = [
    ("GET", "/api/parcels/available", "available"),
    ("GET", "/api/parcels/WH-A-012", "get_parcel"),
    ("GET", "/api/parcels/availableX", "get_parcel"),
    ("POST", "/api/parcels/merge", "merge"),
    ("POST", "/api/parcels/WH-A-012/split", "split"),
    ("POST", "/api/parcels/WH-A-012/reserve", "act"),
    ("POST", "/api/parcels/WH-A-012/list", "list_parcel"),
    ("POST", "/api/parcels/WH-A-012/bids", "bid"),
    ("POST", "/api/parcels/WH-A-012/contract", "sign"),
    ("POST", "/api/parcels/WH-A-012/listx", "act"),
    ("GET", "/api/parcels/WH-A-012/terrain", "parcel_terrain"),
    ("GET", "/api/terrain/overlays", "terrain_overlays"),
    ("GET", "/api/terrain/hillshade.png", "terrain_overlay_png"),
    ("POST", "/api/indicators/import", "import_indicators"),
    ("GET", "/api/review/PRJ-1", "review_best"),
    ("GET", "/api/review/PRJ-1/WH-A-1,WH-A-2", "review_site"),
    ("GET", "/ogc/collections/parcels/items", "items"),
    ("GET", "/ogc/collections/parcels/tiles", None),
]


def _endpoint(routes: list, method: str, path: str) -> str | None:
    from starlette.routing import Match

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    for r in routes:
        match, _ = r.matches(scope)
        if match == Match.FULL:
            return getattr(r, "name", None)
    return None


def test_routes_answer_the_same_in_any_registration_order() -> None:
    from fastapi import APIRouter

    from api.routers import ROUTERS

    def routes_of(order: list[APIRouter]) -> list:
        out: list = []
        for router in order:
            out.extend(router.routes)
        return out

    forward, backward = routes_of(ROUTERS), routes_of(list(reversed(ROUTERS)))
    for method, path, expected in ROUTE_CASES:
        got = _endpoint(forward, method, path)
        assert got is not None, (method, path)
        if expected is not None:
            assert got == expected, (method, path, got)
        assert _endpoint(backward, method, path) == got, (method, path)


# -- the shared dependencies, seen from outside -------------------------------------------------


def _params(client: TestClient, path: str, method: str = "get") -> set[str]:
    op = client.get("/ogc/api").json()["paths"][path][method]
    return {p["name"] for p in op.get("parameters", [])}


def test_openapi_parameters_come_from_the_dependencies(client: TestClient) -> None:
    assert {"bbox", "bbox-crs", "limit", "offset"} <= _params(client, "/api/planner/parcels")
    # the search's own filters: the core's table through a dependency, no hand-written list
    search = _params(client, "/api/parcels/available")
    assert {
        "f",
        "zone",
        "landuse",
        "min_mu",
        "svc",
        "max_slope_deg",
        "yuan_per_m3",
        "sort",
        "limit",
        "offset",
        "as_of",
    } <= search
    assert "_OPENAPI_PARAMS" not in (ROOT / "api/routers/search.py").read_text()
    assert "code" in _params(client, "/api/parcels/{code}")  # the converter is not leaked


def test_format_from_f_or_accept(client: TestClient) -> None:
    path = "/api/parcels/available"
    by_accept = client.get(path, params={"limit": 1}, headers={"Accept": "text/csv"})
    assert by_accept.status_code == 200 and by_accept.headers["content-type"].startswith("text/csv")
    # f wins over Accept; an unacceptable Accept falls back to GeoJSON
    by_f = client.get(path, params={"limit": 1, "f": "geojson"}, headers={"Accept": "text/csv"})
    assert by_f.headers["content-type"].startswith("application/geo+json")
    other = client.get(path, params={"limit": 1}, headers={"Accept": "image/png"})
    assert other.headers["content-type"].startswith("application/geo+json")
    for bad in ({"f": "xls"}, [("f", "csv"), ("f", "csv")]):
        r = client.get(path, params=bad)
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        assert r.json().get("param") == "f" or "f" in r.json()["detail"]


def test_one_bbox_parser_for_ogc_and_planner() -> None:
    from parkgis.errors import InvalidInput
    from parkgis.geo import crs

    # EPSG:4490 is latitude first: the same box written both ways parses to the same x/y
    a = crs.parse_bbox("114.0,35.3,114.2,35.5")
    b = crs.parse_bbox("35.3,114.0,35.5,114.2", crs.resolve("EPSG:4490", "bbox-crs"))
    assert (a.x1, a.y1, a.x2, a.y2) == (b.x1, b.y1, b.x2, b.y2) == (114.0, 35.3, 114.2, 35.5)
    for bad in ("1,2,3", "a,b,c,d", "0,10,1,5", "0,0,1,nan", "500,1,501,2"):
        with pytest.raises(InvalidInput):
            crs.parse_bbox(bad)
    # the OGC items query and the planner layer both go through it (no second parser)
    src = "".join(
        (ROOT / f).read_text() for f in ("parkgis/publish/ogc/features.py", "api/dependencies.py")
    )
    assert src.count("parse_bbox(") >= 2 and "def _bbox_sql" not in src


# -- small functions -----------------------------------------------------------------------------

LONG_LINES = 80
LONG_REASON = re.compile(r"\blong\b", re.IGNORECASE)


def _long_functions(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(name, lines, says why) of every function over :data:`LONG_LINES` lines; "says why" is
    a docstring line with the word "long" ("Long because ...")."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (n.end_lineno or n.lineno) - n.lineno + 1
            if lines > LONG_LINES:
                doc = ast.get_docstring(n) or ""
                out.append((n.name, lines, any(LONG_REASON.search(d) for d in doc.splitlines())))
    return out


def test_the_long_function_scan_can_fail() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(LONG_LINES))
    quiet = ast.parse(f"def f():\n    'Does things.'\n{body}")
    said = ast.parse(f"def g():\n    '''Does things.\n\n    Long because of x.'''\n{body}")
    short = ast.parse("def h():\n    return 1\n")
    assert _long_functions(quiet) == [("f", LONG_LINES + 2, False)]
    assert _long_functions(said) == [("g", LONG_LINES + 4, True)]
    assert _long_functions(short) == []


def test_long_functions_say_why() -> None:
    """No product function over ~80 lines without a docstring line saying why (issue 12)."""
    silent = {}
    for top in ("parkgis", "api"):
        for p in _py_files(top):
            for name, lines, why in _long_functions(ast.parse(p.read_text(encoding="utf-8"))):
                if not why:
                    silent[f"{_rel(p)}::{name}"] = lines
    assert silent == {}, "split it along its steps, or say in its docstring why it is long"
