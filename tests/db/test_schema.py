"""The schema refuses wrong data by itself: every constraint, exercised with direct SQL.

No loader here: these tests talk to the database the way any other client (QGIS, psql, a
future API) could, so they prove the rules live in the database, not in our Python.
"""

from __future__ import annotations

import re

import data_factory as df
import psycopg
import pytest
from psycopg import errors as pge
from psycopg.conninfo import make_conninfo

from parkgis.db import migrate
from parkgis.db.migrate import available
from parkgis.db.tables import TABLES

# SQL building a parcel geometry from a square in EPSG:4547 (metres), stored in 4490.
SQ = "ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490))"
INSERT_PARCEL = (
    "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) "
    f"VALUES (%s, 'WH-CZ', %s, '1001', {SQ})"
)


def _square(ix: float, iy: float, size: float = 100.0) -> tuple[float, float, float, float]:
    x, y = df.X0 + ix * size, df.Y0 + iy * size
    return (x, y, x + size, y + size)


@pytest.fixture
def db(empty_db: str) -> str:
    df.insert_zone(empty_db)
    return empty_db


def _parcel(
    conn: psycopg.Connection,
    code: str,
    ix: float,
    iy: float = 0,
    status: str = "available",
    size: float = 100.0,
) -> None:
    conn.execute(INSERT_PARCEL, (code, status, *_square(ix, iy, size)))


def _refused(
    url: str,
    sql: str,
    params: tuple = (),
    exc: type[Exception] = psycopg.Error,
    match: str | None = None,
    constraint: str | None = None,
) -> None:
    """``sql`` fails with ``exc`` (and a message matching ``match``, and the named
    ``constraint`` as the server reports it) and leaves nothing."""
    with psycopg.connect(url) as conn:
        with pytest.raises(exc) as info:
            conn.execute(sql, params)
        conn.rollback()
    if match:
        assert re.search(match, str(info.value)), str(info.value)
    if constraint:
        assert info.value.diag.constraint_name == constraint, (
            info.value.sqlstate,
            info.value.diag.constraint_name,
            str(info.value),
        )


# --- migrations ------------------------------------------------------------------------------


def test_migrations_from_empty_and_reapplied(databases) -> None:
    name = databases._create(f"{databases.prefix}_raw_{len(databases.created)}")
    url = make_conninfo(databases.server, dbname=name)
    versions = [v for v, _ in available()]
    assert versions[0] == "0001_core" and versions == sorted(versions)
    assert migrate(url) == versions
    assert migrate(url) == []  # the second run applies nothing
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [r[0] for r in rows] == versions
        assert conn.execute("SELECT count(*) FROM data_versions").fetchone()[0] >= 7


_PG_TYPES = {
    "text": ("text",),
    "text[]": ("_text",),
    "int": ("int4",),
    "float": ("float8",),
    "numeric": ("numeric",),
    "bool": ("bool",),
    "date": ("date",),
    "jsonb": ("jsonb",),
}


def test_table_registry_matches_schema(empty_db: str) -> None:
    """``parkgis.db.tables`` describes the real tables: names, types, NOT NULL, vocabularies."""
    with psycopg.connect(empty_db) as conn:
        for table in TABLES.values():
            cols = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT column_name, udt_name, is_nullable FROM information_schema.columns "
                    "WHERE table_name = %s",
                    (table.name,),
                )
            }
            checks = [
                r[0]
                for r in conn.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'c'",
                    (table.name,),
                )
            ]
            for c in table.columns:
                assert c.name in cols, f"{table.name}.{c.name} missing"
                assert cols[c.name][0] in _PG_TYPES[c.type], f"{table.name}.{c.name} type"
                if c.required:
                    assert cols[c.name][1] == "NO", f"{table.name}.{c.name} should be NOT NULL"
                if c.vocab:
                    defs = [d for d in checks if re.search(rf"\b{c.name}\b", d)]
                    if not defs:  # a vocabulary only the loader checks (upgrades.kind)
                        continue
                    words = set(re.findall(r"'([a-z_]+)'::text", defs[0]))
                    assert words == set(c.vocab), f"{table.name}.{c.name} vocabulary"
            assert ("geom" in cols) == table.spatial


# --- geometry constraints --------------------------------------------------------------------


def test_bowtie_geometry_refused(db: str) -> None:
    x, y, x2, y2 = _square(0, 0)
    bow = f"POLYGON(({x} {y},{x2} {y2},{x2} {y},{x} {y2},{x} {y}))"
    _refused(
        db,
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) VALUES "
        "('P1', 'WH-CZ', 'available', '1001', "
        "ST_Multi(ST_Transform(ST_GeomFromText(%s, 4547), 4490)))",
        (bow,),
        pge.CheckViolation,
        constraint="parcels_geom_check",
    )


def test_empty_geometry_refused(db: str) -> None:
    _refused(
        db,
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) VALUES "
        "('P1', 'WH-CZ', 'available', '1001', "
        "ST_GeomFromText('MULTIPOLYGON EMPTY', 4490))",
        (),
        pge.CheckViolation,
        constraint="parcels_geom_check",
    )


def test_wrong_srid_refused(db: str) -> None:
    _refused(
        db,
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) VALUES "
        f"('P1', 'WH-CZ', 'available', '1001', ST_SetSRID({SQ}, 4326))",
        _square(0, 0),
        pge.InvalidParameterValue,
        r"SRID \(4326\) does not match column SRID \(4490\)",
    )


def test_wrong_geometry_type_refused(db: str) -> None:
    _refused(
        db,
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) VALUES "
        "('P1', 'WH-CZ', 'available', '1001', "
        "ST_GeomFromText('LINESTRING(114.07 35.39, 114.08 35.39)', 4490))",
        (),
        pge.InvalidParameterValue,
        r"type \(LineString\) does not match column type \(MultiPolygon\)",
    )


@pytest.mark.parametrize(
    ("sql", "constraint", "match"),
    [
        # infrastructure admits points, lines and polygons, not multipoints
        (
            "INSERT INTO infrastructure (code, kind, name_zh, name_en, geom) "
            "VALUES ('I1', 'substation', '变电站', 'Substation', "
            "ST_GeomFromText('MULTIPOINT((114.07 35.39),(114.08 35.39))', 4490))",
            "infrastructure_geom_check",
            None,
        ),
        # enterprises are points (the column type refuses it: no constraint name, SQLSTATE 22023)
        (
            "INSERT INTO enterprises (code, name_zh, name_en, industry, chain_role, geom) "
            "VALUES ('E1', '企业', 'Firm', 'food', 'brewery', "
            "ST_GeomFromText('LINESTRING(114.07 35.39, 114.08 35.39)', 4490))",
            None,
            r"type \(LineString\) does not match column type \(Point\)",
        ),
    ],
    ids=["infra-multipoint", "enterprise-line"],
)
def test_other_tables_refuse_wrong_types(
    empty_db: str, sql: str, constraint: str | None, match: str | None
) -> None:
    exc = pge.CheckViolation if constraint else pge.InvalidParameterValue
    _refused(empty_db, sql, (), exc, match, constraint)


# --- codes, vocabularies and other checks ----------------------------------------------------


def test_duplicate_parcel_code_refused(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
    _refused(
        db,
        INSERT_PARCEL,
        ("WH-A-001", "available", *_square(5, 5)),
        pge.UniqueViolation,
        constraint="parcels_code_key",
    )


@pytest.mark.parametrize("status", ["vacant", "Available", "sold", ""])
def test_status_outside_vocabulary_refused(db: str, status: str) -> None:
    _refused(
        db,
        INSERT_PARCEL,
        ("WH-A-001", status, *_square(0, 0)),
        pge.CheckViolation,
        constraint="parcels_status_check",
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom) SELECT 'Z2', 'z', "
        "'z', 'science_park', 'approved', 4547, geom FROM zones",
        "UPDATE zones SET status = 'rejected'",
        "INSERT INTO projects (code, name_zh, name_en, industry, min_area_mu, max_area_mu) "
        "VALUES ('P1', 'p', 'p', 'food', 100, 50)",
        "INSERT INTO projects (code, name_zh, name_en, industry, stage) "
        "VALUES ('P1', 'p', 'p', 'food', 'dreaming')",
        "INSERT INTO upgrades (code, kind, name_zh, name_en, status, start_date, finish_date, "
        "geom) "
        "VALUES ('U1', 'substation', 'u', 'u', 'planned', '2026-01-01', '2025-01-01', "
        "ST_GeomFromText('POINT(114.07 35.39)', 4490))",
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) SELECT 'bad code!', "
        "'WH-CZ', 'available', '1001', geom FROM zones",
        "INSERT INTO parcels (code, zone_code, status, landuse_code, geom) SELECT 'P9', "
        "'WH-CZ', 'available', 'M1', geom FROM zones",
    ],
    ids=[
        "zone-kind",
        "zone-status",
        "project-area-range",
        "project-stage",
        "upgrade-dates",
        "parcel-code-format",
        "parcel-landuse-code",
    ],
)
def test_checks_refuse(db: str, sql: str, request: pytest.FixtureRequest) -> None:
    constraint = CHECK_CONSTRAINTS[request.node.callspec.id]
    _refused(db, sql, (), pge.CheckViolation, constraint=constraint)


# The constraint each statement above must trip (as named in the migrations).
CHECK_CONSTRAINTS = {
    "zone-kind": "zones_kind_check",
    "zone-status": "zones_status_check",
    "project-area-range": "projects_check",
    "project-stage": "projects_stage_check",
    "upgrade-dates": "upgrades_check",
    "parcel-code-format": "parcels_code_check",
    "parcel-landuse-code": "parcels_landuse_code_check",
}


def test_parcel_in_unknown_zone_refused(db: str) -> None:
    _refused(
        db,
        INSERT_PARCEL.replace("'WH-CZ'", "'NOPE'"),
        ("P1", "available", *_square(0, 0)),
        pge.ForeignKeyViolation,
        "unknown zone NOPE",
    )


# --- overlap of live parcels -----------------------------------------------------------------


def test_overlapping_live_parcels_refused(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
    # Half over WH-A-001.
    _refused(
        db,
        INSERT_PARCEL,
        ("WH-A-002", "reserved", *_square(0.5, 0)),
        pge.ExclusionViolation,
        "parcel WH-A-002 overlaps live parcel WH-A-001",
    )
    # Inside it entirely (ST_Overlaps would miss containment; the trigger must not).
    _refused(
        db,
        INSERT_PARCEL,
        ("WH-A-003", "available", *_square(1, 1, 20)),
        pge.ExclusionViolation,
        "overlaps live parcel WH-A-001",
    )
    # Moving a live parcel onto another is refused too.
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-004", 3)
    _refused(
        db,
        f"UPDATE parcels SET geom = {SQ} WHERE code = 'WH-A-004'",
        _square(0.5, 0),
        pge.ExclusionViolation,
        "parcel WH-A-004 overlaps live parcel WH-A-001",
    )
    assert df.count(db, "parcels") == 2


def test_edge_touching_parcels_accepted(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
        _parcel(conn, "WH-A-002", 1)  # shares an edge
        _parcel(conn, "WH-A-003", 1, 1)  # shares a corner only
    assert df.count(db, "parcels") == 3


def test_historic_parcel_may_overlap_live_one(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
        _parcel(conn, "WH-A-000", 0, status="historic")  # the parent before a re-survey
    with psycopg.connect(db) as conn:
        # ...but it may not come back to life on top of a live parcel.
        with pytest.raises(pge.ExclusionViolation):
            conn.execute("UPDATE parcels SET status = 'available' WHERE code = 'WH-A-000'")
    assert df.count(db, "parcels") == 2


def test_upsert_of_a_live_parcel_is_not_an_overlap_with_itself(db: str) -> None:
    """The BEFORE INSERT trigger of an upsert sees the stored row with the same
    code; that is the row being updated, not an overlapping neighbour."""
    upsert = INSERT_PARCEL + " ON CONFLICT (code) DO UPDATE SET status = EXCLUDED.status"
    with psycopg.connect(db) as conn:
        conn.execute(upsert, ("WH-A-001", "available", *_square(0, 0)))
        conn.execute(upsert, ("WH-A-001", "reserved", *_square(0, 0)))
        conn.execute(upsert, ("WH-A-001", "listed", *_square(0.1, 0)))
        row = conn.execute("SELECT status, version FROM parcels").fetchone()
    assert row == ("listed", 3)


# --- holds and audit -------------------------------------------------------------------------


def test_two_active_holds_with_overlapping_periods_refused(db: str) -> None:
    hold = (
        "INSERT INTO parcel_holds (parcel_code, project_code, kind, during, active) "
        "VALUES ('WH-A-001', %s, 'reserved', tstzrange(%s, %s), %s)"
    )
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
        conn.execute(hold, ("PRJ-1", "2025-01-01", "2025-03-01", True))
        conn.execute(hold, ("PRJ-2", "2025-03-01", "2025-06-01", True))  # adjacent: fine
        conn.execute(hold, ("PRJ-3", "2025-01-15", "2025-02-01", False))  # inactive: fine
    _refused(
        db,
        hold,
        ("PRJ-4", "2025-02-01", "2025-04-01", True),
        pge.ExclusionViolation,
        constraint="parcel_holds_one_active",
    )


def test_parcel_events_are_append_only(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
    _refused(
        db,
        "UPDATE parcel_events SET actor = 'mallory'",
        (),
        pge.InsufficientPrivilege,
        "append-only",
    )
    _refused(db, "DELETE FROM parcel_events", (), pge.InsufficientPrivilege, "append-only")
    assert df.count(db, "parcel_events") == 1


def test_status_change_writes_exactly_one_event_in_the_same_transaction(db: str) -> None:
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
    with psycopg.connect(db) as conn:
        conn.execute("SELECT set_config('parkgis.actor', 'planner1', true)")
        conn.execute("UPDATE parcels SET status = 'reserved', project_code = 'PRJ-1'")
        # Visible inside the transaction, before commit: same transaction, not a later job.
        inside = conn.execute(
            "SELECT count(*) FROM parcel_events WHERE to_status = 'reserved'"
        ).fetchone()[0]
        assert inside == 1
        conn.execute("UPDATE parcels SET land_price_wan_per_mu = 20")  # no status change
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE parcels SET status = 'listed'")
        conn.rollback()  # a rolled-back change leaves no event
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT action, actor, from_status, to_status, project_code "
            "FROM parcel_events ORDER BY id"
        ).fetchall()
    assert rows == [
        ("create", "system", None, "available", None),
        ("status_change", "planner1", "available", "reserved", "PRJ-1"),
    ]


# --- measurement -----------------------------------------------------------------------------


def test_area_in_mu_of_a_known_square(db: str) -> None:
    """100 m × 100 m in EPSG:4547, stored in 4490, measured back in 4547: 1 ha = 15 mu."""
    with psycopg.connect(db) as conn:
        _parcel(conn, "WH-A-001", 0)
        m2, mu, ha, srid = conn.execute(
            "SELECT area_m2, area_mu, area_ha, gk_srid FROM parcels"
        ).fetchone()
        zone_m2 = conn.execute("SELECT area_m2 FROM zones").fetchone()[0]
    assert srid == 4547
    assert abs(m2 - 10000) <= 0.01
    assert abs(float(mu) - 15) <= 1e-6
    assert abs(float(ha) - 1) <= 1e-6
    assert abs(zone_m2 - 4_000_000) <= 1
