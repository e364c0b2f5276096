"""CQL2 text parser and SQL generator (parkgis.publish.ogc.cql2).

Parser tests need no database; the last group runs every accepted filter in PostGIS against the
sample data and compares with the same condition written by hand in SQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from parkgis.db.collections import ENTERPRISES, PARCELS, svc_sql
from parkgis.errors import InvalidInput
from parkgis.geo.crs import resolve
from parkgis.publish.ogc import cql2


def sql(text: str, crs: str | None = None) -> tuple[str, list]:
    return cql2.compile_filter(text, PARCELS, resolve(crs, "filter-crs"))


# --- parsing into an AST --------------------------------------------------------------------


def test_precedence_and_over_or_and_not_binds_tightest() -> None:
    ast = cql2.parse("status = 'a' OR status = 'b' AND NOT area_mu > 1")
    assert isinstance(ast, cql2.Or)
    assert isinstance(ast.args[1], cql2.And)
    assert isinstance(ast.args[1].args[1], cql2.Not)


def test_parentheses_override_precedence() -> None:
    ast = cql2.parse("(status = 'a' OR status = 'b') AND area_mu > 1")
    assert isinstance(ast, cql2.And)
    assert isinstance(ast.args[0], cql2.Or)


def test_keywords_are_case_insensitive() -> None:
    assert cql2.parse("status in ('a') and code like 'W%' or zone_code is not null") == cql2.parse(
        "status IN ('a') AND code LIKE 'W%' OR zone_code IS NOT NULL"
    )


def test_string_with_doubled_quote() -> None:
    ast = cql2.parse("code = 'O''Brien'")
    assert ast.right.value == "O'Brien"


def test_double_quoted_property_names() -> None:
    ast = cql2.parse("\"status\" = 'available'")
    assert ast.left == cql2.Prop("status", 0)


def test_numbers() -> None:
    for text, value in [
        ("1", Decimal(1)),
        ("-2.5", Decimal("-2.5")),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        ("+7", Decimal(7)),
    ]:
        assert cql2.parse(f"area_mu = {text}").right.value == value


def test_booleans_and_dates() -> None:
    assert cql2.parse("svc_road = TRUE").right.value is True
    assert cql2.parse("svc_road = false").right.value is False
    assert cql2.parse("reserved_until = DATE('2030-01-31')").right.value == dt.date(2030, 1, 31)
    assert cql2.parse("TRUE") == cql2.BoolConst(True)


def test_wkt_literal_is_one_token() -> None:
    toks = cql2.tokenize("S_INTERSECTS(geometry, POLYGON ((1 2, 3 4, 5 6, 1 2)))")
    assert [t.kind for t in toks] == ["word", "punct", "word", "punct", "wkt", "punct", "eof"]


# --- SQL generation ---------------------------------------------------------------------------


def test_comparisons_bind_values_and_use_registry_expressions() -> None:
    for op in ("=", "<>", "<", "<=", ">", ">="):
        s, p = sql(f"area_mu {op} 10")
        assert s == f"((t.area_mu) {op} %s::numeric)"
        assert p == [Decimal(10)]


def test_property_with_sql_expression_comes_from_registry() -> None:
    s, p = sql("elev_mean_m > 70")
    assert "(pt.elev_mean_m)" in s and p == [Decimal(70)]


def test_literal_on_the_left_takes_the_property_type() -> None:
    s, p = sql("'available' = status")
    assert s == "(%s::text = (t.status))" and p == ["available"]


def test_in_between_like_isnull() -> None:
    assert sql("status IN ('available', 'listed')") == (
        "((t.status) IN (%s::text, %s::text))",
        ["available", "listed"],
    )
    assert sql("status NOT IN ('historic')")[0] == "((t.status) NOT IN (%s::text))"
    assert sql("area_mu BETWEEN 10 AND 50") == (
        "((t.area_mu) BETWEEN %s::numeric AND %s::numeric)",
        [Decimal(10), Decimal(50)],
    )
    assert sql("area_mu NOT BETWEEN 10 AND 50")[0].startswith("((t.area_mu) NOT BETWEEN")
    assert sql("code LIKE 'WH-A-0_%'") == ("((t.code) LIKE %s::text)", ["WH-A-0_%"])
    assert sql("code NOT LIKE 'X%'")[0] == "((t.code) NOT LIKE %s::text)"
    assert sql("code ILIKE 'wh%'")[0] == "((t.code) ILIKE %s::text)"
    assert sql("enterprise_code IS NULL") == ("((t.enterprise_code) IS NULL)", [])
    assert sql("enterprise_code IS NOT NULL") == ("((t.enterprise_code) IS NOT NULL)", [])


def test_logical_operators() -> None:
    s, p = sql("NOT (status = 'a' OR status = 'b') AND svc_power = TRUE")
    # svc_power is derived as in service today (issue 13), not the stored survey flag
    assert s == (
        "((NOT (((t.status) = %s::text) OR ((t.status) = %s::text))) AND "
        f"(({svc_sql('power')}) = %s::boolean))"
    )
    assert "ps.power <= (now() AT TIME ZONE 'Asia/Shanghai')::date" in s  # the store, as of today
    assert p == ["a", "b", True]


def test_dates_accept_date_function_and_iso_strings_as_gdal_sends_them() -> None:
    assert sql("reserved_until > DATE('2024-05-01')")[1] == [dt.date(2024, 5, 1)]
    assert sql("reserved_until > '2024-05-01'")[1] == [dt.date(2024, 5, 1)]
    assert sql("reserved_until > '2024-05-01T'")[1] == [dt.date(2024, 5, 1)]


def test_spatial_functions_with_wkt_and_bbox() -> None:
    s, p = sql("S_INTERSECTS(geometry, POINT(114.05 35.4))")
    assert s == "ST_Intersects(t.geom, ST_GeomFromText(%s, 4490))"
    assert p == ["POINT (114.05 35.4)"]
    s, p = sql("S_INTERSECTS(geometry, BBOX(114, 35.3, 114.1, 35.5))")
    assert s == "ST_Intersects(t.geom, ST_GeomFromText(%s, 4490))"
    assert p[0].startswith("POLYGON")
    s, _ = sql("S_WITHIN(geometry, POLYGON((114 35, 115 35, 115 36, 114 35)))")
    assert s.startswith("ST_Within(t.geom,")
    for fn in cql2.SPATIAL_FUNCTIONS:
        assert sql(f"{fn}(geometry, POINT(114 35))")[0].startswith(cql2.SPATIAL_FUNCTIONS[fn])


def test_filter_crs_axis_order_and_transform() -> None:
    # EPSG:4490 is latitude first: the literal is swapped to lon/lat for PostGIS.
    assert sql("S_INTERSECTS(geometry, POINT(35.4 114.05))", "EPSG:4490")[1] == [
        "POINT (114.05 35.4)"
    ]
    # EPSG:4547 is northing first and is transformed to the stored CRS.
    s, p = sql(
        "S_INTERSECTS(geometry, POINT(3918000 500000))",
        "http://www.opengis.net/def/crs/EPSG/0/4547",
    )
    assert s == "ST_Intersects(t.geom, ST_Transform(ST_GeomFromText(%s, 4547), 4490))"
    assert p == ["POINT (500000 3918000)"]
    s, p = sql("S_INTERSECTS(geometry, POINT(12696000 4218000))", "EPSG:3857")
    assert "ST_GeomFromText(%s, 3857)" in s and p == ["POINT (12696000 4218000)"]


def test_injection_text_only_ever_becomes_a_bound_value() -> None:
    s, p = sql("code = 'x''; DROP TABLE parcels; --'")
    assert s == "((t.code) = %s::text)"
    assert p == ["x'; DROP TABLE parcels; --"]


# --- refusals ---------------------------------------------------------------------------------

BAD_FILTERS = [
    "",
    "   ",
    "status =",
    "status = 'unterminated",
    "= 'x'",
    "status == 'a'",
    "status != 'a'",
    "status = 'a' AND",
    "(status = 'a'",
    "status = 'a')",
    "unknown_prop = 1",
    "note_internal = 'x'",  # confidential: not a queryable
    "contact IS NULL",
    "area_mu = 'ten'",  # type mismatch
    "status = 5",
    "svc_road > TRUE",
    "code LIKE 5",
    "area_mu LIKE '1%'",
    "status BETWEEN 'a' AND 'b'",
    "reserved_until = DATE('2024-13-40')",
    "reserved_until = 'not a date'",
    "area_mu + 1 > 2",  # arithmetic
    "area_mu - 1 > 2",
    "upper(code) = 'X'",  # functions
    "status = 'a'; DROP TABLE parcels",
    "status = 'a' -- comment",
    "1=1 OR code = ''; SELECT pg_sleep(10)",
    "geometry = 'x'",
    "S_INTERSECTS(status, POINT(1 2))",
    "S_INTERSECTS(geometry, POINT(200 100))",  # lon/lat out of range
    "S_INTERSECTS(geometry, POLYGON((1 2, 3)))",  # bad WKT
    "S_INTERSECTS(geometry, BBOX(1, 2, 3))",
    "S_INTERSECTS(geometry, BBOX(3, 2, 1, 4))",
    "S_INTERSECTS(geometry, POINT EMPTY)",
    "T_AFTER(reserved_until, DATE('2020-01-01'))",
    "status IN ()",
    "status IS 'x'",
    "\"status = 'a'",
    "area_mu = 1e999",
    "status = 'a' " + "AND status = 'a' " * 3000,  # too long
    "(" * 100 + "status = 'a'" + ")" * 100,  # too deep
]


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_malformed_or_unsafe_filters_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        sql(text)
    assert err.value.status == 400
    assert "filter" in err.value.message


def test_error_names_the_position() -> None:
    with pytest.raises(InvalidInput, match=r"at 13"):
        sql("status = 'a' @ 1")


def test_properties_are_per_collection() -> None:
    assert (
        cql2.compile_filter("chain_role = 'brewery'", ENTERPRISES)[0]
        == "((t.chain_role) = %s::text)"
    )
    with pytest.raises(InvalidInput):
        sql("chain_role = 'brewery'")


# --- in PostGIS, against the sample data ------------------------------------------------------

# (CQL2, the same condition in hand-written SQL over parcels p)
EQUIVALENT = [
    ("status = 'available'", "p.status = 'available'"),
    ("status <> 'available'", "p.status <> 'available'"),
    ("area_mu >= 50", "p.area_mu >= 50"),
    ("area_mu < 20 OR area_mu > 100", "p.area_mu < 20 OR p.area_mu > 100"),
    (
        "status IN ('available', 'reserved', 'listed')",
        "p.status IN ('available', 'reserved', 'listed')",
    ),
    ("NOT status IN ('available')", "p.status NOT IN ('available')"),
    ("area_mu BETWEEN 30 AND 80", "p.area_mu BETWEEN 30 AND 80"),
    ("code LIKE '%-0_1'", "p.code LIKE '%-0_1'"),
    ("landuse_code LIKE '1001%'", "p.landuse_code LIKE '1001%'"),
    ("enterprise_code IS NULL", "p.enterprise_code IS NULL"),
    (
        "enterprise_code IS NOT NULL AND svc_power = TRUE",
        "p.enterprise_code IS NOT NULL AND p.svc_power",
    ),
    ("svc_gas = FALSE", "NOT p.svc_gas"),
    (
        "S_INTERSECTS(geometry, BBOX(114.0, 35.37, 114.05, 35.42))",
        "ST_Intersects(p.geom, ST_MakeEnvelope(114.0, 35.37, 114.05, 35.42, 4490))",
    ),
    (
        "S_INTERSECTS(geometry, POLYGON((114.0 35.37, 114.08 35.37, 114.08 35.43, 114.0 35.37)))",
        "ST_Intersects(p.geom, ST_GeomFromText("
        "'POLYGON((114.0 35.37, 114.08 35.37, 114.08 35.43, 114.0 35.37))', 4490))",
    ),
]


@pytest.fixture(scope="module")
def sample_conn(sample_db: str):
    with psycopg.connect(sample_db) as conn:
        yield conn


@pytest.mark.parametrize(("cql", "where"), EQUIVALENT)
def test_compiled_filter_selects_what_the_sql_does(
    sample_conn: psycopg.Connection, cql: str, where: str
) -> None:
    frag, params = cql2.compile_filter(cql, PARCELS)
    got = [
        r[0]
        for r in sample_conn.execute(
            f"SELECT t.code FROM parcels t {PARCELS.joins} WHERE {PARCELS.where} AND {frag} "
            f"ORDER BY t.code",
            params,
        )
    ]
    want = [
        r[0]
        for r in sample_conn.execute(
            f"SELECT p.code FROM parcels p WHERE p.status <> 'historic' AND ({where}) "
            f"ORDER BY p.code"
        )
    ]
    assert got == want


def test_sample_filters_are_not_trivial(sample_conn: psycopg.Connection) -> None:
    """The equivalence tests mean something only if the data splits both ways."""
    n_all = sample_conn.execute(
        "SELECT count(*) FROM parcels WHERE status <> 'historic'"
    ).fetchone()[0]
    n_av = sample_conn.execute(
        "SELECT count(*) FROM parcels WHERE status = 'available'"
    ).fetchone()[0]
    assert 0 < n_av < n_all
