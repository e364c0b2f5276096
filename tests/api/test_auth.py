"""Accounts, tokens and roles; every write route refuses anonymous callers and investors, and
no public GET response carries a confidential field."""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from workbench_helpers import PASSWORD, add_users, login, one

from api.main import create_app
from parkgis import auth
from parkgis.errors import Conflict, InvalidData, Unauthorized
from parkgis.settings import Settings

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Public by design: signing in, the investor inquiry form, the ad-hoc match computation.
PUBLIC_WRITES = {("POST", "/api/auth/token"), ("POST", "/api/inquiries"), ("POST", "/api/match")}
CONFIDENTIAL = ("note_internal", "contact", "negotiation_notes", "password_hash", "land_budget_wan")


def _routes(app) -> list[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route, through included routers at any depth."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested router contexts: app.routes is flat
        return [(r.path, set(r.methods)) for r in app.routes if getattr(r, "methods", None)]
    # path converters ({code:parcel_code}) shown as the plain template the API documents
    return [
        (re.sub(r"\{(\w+):[^}]*\}", r"{\1}", rc.path), set(rc.methods))
        for rc in iter_route_contexts(app.routes)
        if getattr(rc, "methods", None)
    ]


def test_password_hashing_and_tokens(tmp_path) -> None:
    h = auth.hash_password("s3cret-pass")
    assert h.startswith("$argon2id$") and "s3cret-pass" not in h
    assert auth.verify_password(h, "s3cret-pass")
    assert not auth.verify_password(h, "s3cret-pasS")
    assert not auth.verify_password("not a hash", "s3cret-pass")
    with pytest.raises(InvalidData):
        auth.hash_password("short")

    s = Settings(data_dir=tmp_path, secret_key=None, token_minutes=5)
    token, seconds = auth.issue_token(auth.User("wang", "planner"), s)
    assert seconds == 300
    key_file = auth.key_path(s)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # a restart (new Settings, same directory) accepts the token: the key was persisted
    claims = auth.decode_token(token, Settings(data_dir=tmp_path, secret_key=None))
    assert claims["sub"] == "wang" and claims["role"] == "planner"
    old = auth.issue_token(
        auth.User("wang", "planner"), s, now=datetime.now(UTC) - timedelta(minutes=6)
    )[0]
    with pytest.raises(Unauthorized, match="expired"):
        auth.decode_token(old, s)
    forged = jwt.encode(
        {"sub": "wang", "role": "admin", "iss": "parkgis", "iat": 0, "exp": 2**31},
        "guessed-key-" * 4,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized):
        auth.decode_token(forged, s)
    with pytest.raises(Unauthorized):
        auth.decode_token(jwt.encode({"sub": "x"}, "k" * 40, algorithm="HS256").split(".")[0], s)
    # an explicit secret wins over the file
    s2 = Settings(data_dir=tmp_path, secret_key="configured-secret-abcdefghijklmnopqrstuvwxyz")
    t2, _ = auth.issue_token(auth.User("li", "admin"), s2)
    assert (
        jwt.decode(
            t2,
            "configured-secret-abcdefghijklmnopqrstuvwxyz",
            algorithms=["HS256"],
            issuer="parkgis",
        )["sub"]
        == "li"
    )


def test_users_store(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        auth.add_user(conn, "boss", "admin", PASSWORD)
        auth.add_user(conn, "wang", "planner", PASSWORD)
        with pytest.raises(Conflict):
            auth.add_user(conn, "wang", "investor", PASSWORD)
        with pytest.raises(InvalidData):
            auth.add_user(conn, "bad name!", "planner", PASSWORD)
        with pytest.raises(InvalidData):
            auth.add_user(conn, "zhao", "superuser", PASSWORD)
        assert auth.authenticate(conn, "wang", PASSWORD) == auth.User("wang", "planner")
        assert auth.authenticate(conn, "wang", "wrong-password") is None
        assert auth.authenticate(conn, "nobody", PASSWORD) is None
        with pytest.raises(Conflict):  # the last active admin stays
            auth.update_user(conn, "boss", role="planner")
        with pytest.raises(Conflict):
            auth.update_user(conn, "boss", active=False)
        auth.update_user(conn, "wang", active=False)
        assert auth.authenticate(conn, "wang", PASSWORD) is None
    assert [u["name"] for u in auth.list_users(psycopg.connect(empty_db))] == ["boss", "wang"]


@pytest.fixture
def app_client(sample_db_rw: str):
    add_users(sample_db_rw)
    with TestClient(create_app(database_url=sample_db_rw)) as c:
        yield sample_db_rw, c


def test_token_endpoint_me_and_user_admin(app_client) -> None:
    url, c = app_client
    r = c.post("/api/auth/token", data={"username": "plan", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "planner"
    assert body["expires_in"] == c.app.state.settings.token_minutes * 60
    r = c.post("/api/auth/token", data={"username": "plan", "password": "nope-nope"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert r.headers["content-type"] == "application/problem+json"
    plan = login(c, "plan")
    assert c.get("/api/auth/me", headers=plan).json() == {"name": "plan", "role": "planner"}
    r = c.get("/api/auth/me")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = c.get("/api/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]

    boss = login(c, "boss")
    assert c.get("/api/users", headers=plan).status_code == 403
    users = c.get("/api/users", headers=boss).json()
    assert {u["name"] for u in users} == {"inv", "plan", "plan2", "boss"}
    assert all("password_hash" not in u for u in users)
    r = c.post(
        "/api/users", json={"name": "zhou", "role": "investor", "password": PASSWORD}, headers=boss
    )
    assert r.status_code == 201 and r.json()["role"] == "investor"
    assert (
        c.post(
            "/api/users",
            json={"name": "zhou", "role": "investor", "password": PASSWORD},
            headers=boss,
        ).status_code
        == 409
    )
    assert (
        c.post(
            "/api/users", json={"name": "x", "role": "god", "password": PASSWORD}, headers=boss
        ).status_code
        == 400
    )
    assert c.patch("/api/users/nobody", json={"active": False}, headers=boss).status_code == 404
    r = c.patch("/api/users/zhou", json={"role": "planner"}, headers=boss)
    assert r.status_code == 200 and r.json()["role"] == "planner"
    zhou = login(c, "zhou")
    assert c.get("/api/auth/me", headers=zhou).json()["role"] == "planner"
    # deactivation and demotion take effect on tokens already issued
    c.patch("/api/users/zhou", json={"active": False}, headers=boss)
    assert c.get("/api/auth/me", headers=zhou).status_code == 401
    c.patch("/api/users/plan", json={"role": "investor"}, headers=boss)
    assert c.get("/api/users", headers=plan).status_code == 403
    assert c.patch("/api/users/boss", json={"role": "planner"}, headers=boss).status_code == 409
    row = one(url, "SELECT password_hash FROM users WHERE name = 'zhou'")
    assert row["password_hash"].startswith("$argon2id$")


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_write_route_refuses_anonymous_and_investors(app_client) -> None:
    url, c = app_client
    code = one(url, "SELECT code FROM parcels WHERE status = 'available' LIMIT 1")["code"]
    values = {"code": code, "action": "reserve", "name": "plan", "id": "1"}
    investor = login(c, "inv")
    before = one(
        url,
        "SELECT (SELECT count(*) FROM parcel_events) AS ev, "
        "(SELECT max(version) FROM data_versions) AS dv",
    )
    checked = []
    for path, methods in _routes(c.app):
        for method in sorted(methods & WRITE_METHODS):
            if (method, path) in PUBLIC_WRITES:
                continue
            target = _fill(path, values)
            anon = c.request(method, target, json={})
            assert anon.status_code == 401, (method, path, anon.status_code, anon.text)
            assert anon.headers.get("www-authenticate", "").startswith("Bearer"), (method, path)
            inv = c.request(method, target, json={}, headers=investor)
            assert inv.status_code == 403, (method, path, inv.status_code, inv.text)
            checked.append((method, path))
    assert ("POST", "/api/parcels/{code}/{action}") in checked
    assert ("POST", "/api/parcels/merge") in checked and ("PATCH", "/api/users/{name}") in checked
    assert (
        one(
            url,
            "SELECT (SELECT count(*) FROM parcel_events) AS ev, "
            "(SELECT max(version) FROM data_versions) AS dv",
        )
        == before
    )
    print(f"{len(checked)} write routes refuse anonymous (401) and investor (403) callers")


def test_public_get_routes_carry_no_confidential_field(app_client) -> None:
    url, c = app_client
    sample = one(
        url,
        """SELECT (SELECT code FROM parcels WHERE status = 'available'
                                  ORDER BY code LIMIT 1) AS parcel,
                                (SELECT code FROM projects ORDER BY code LIMIT 1) AS project,
                                (SELECT code FROM enterprises ORDER BY code LIMIT 1) AS enterprise,
                                (SELECT code FROM zones ORDER BY code LIMIT 1) AS zone,
                                (SELECT id FROM parcels ORDER BY id LIMIT 1) AS parcel_id,
                                ST_X(ST_Centroid(ST_Collect(geom))) AS lon,
                                ST_Y(ST_Centroid(ST_Collect(geom))) AS lat
                           FROM parcels""",
    )
    # the confidential values themselves must not leak either, whatever the key
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE parcels SET note_internal = 'SECRET-NOTE-7731' WHERE code = %s",
            (sample["parcel"],),
        )
        conn.execute(
            "UPDATE projects SET negotiation_notes = 'SECRET-NEGO-7731', "
            "contact = 'SECRET-CONTACT-7731', land_budget_wan = 7731"
        )
    import math

    z = 14
    n = 2**z
    x = int((sample["lon"] + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(sample["lat"]))) / math.pi) / 2 * n)
    collections = ["zones", "parcels", "infrastructure", "upgrades", "enterprises", "projects"]
    candidates = {
        "code": [sample["parcel"], sample["project"], sample["enterprise"], sample["zone"]],
        "parcel_code": [sample["parcel"]],
        "project_code": [sample["project"]],
        "collection_id": collections,
        "collectionId": collections,
        "id": collections,
        "fid": [sample["parcel"], str(sample["parcel_id"])],
        "featureId": [sample["parcel"]],
        "tms": ["WebMercatorQuad"],
        "tileMatrixSetId": ["WebMercatorQuad"],
        "z": [str(z)],
        "x": [str(x)],
        "y": [str(y)],
        "kind": ["dem", "slope", "flood"],
        "name": ["plan"],
        "lang": ["zh", "en"],
    }
    seen = 0
    for path, methods in _routes(c.app):
        if "GET" not in methods or path.startswith("/static"):
            continue
        names = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
        combos = itertools.product(*[candidates.get(nm, ["1"]) for nm in names])
        for combo in itertools.islice(combos, 12):
            target = _fill(path, dict(zip(names, combo, strict=True)))
            for query in ("", "?limit=1000", "?f=json"):
                r = c.get(target + query)
                if r.status_code in (401, 403):
                    break  # not public
                seen += 1
                ctype = r.headers.get("content-type", "")
                for secret in (b"SECRET-NOTE-7731", b"SECRET-NEGO-7731", b"SECRET-CONTACT-7731"):
                    assert secret not in r.content, (target + query, secret)
                if "json" in ctype and "openapi" not in ctype + target:
                    # data, not the API description (which may name input fields)
                    _no_confidential_keys(r.json(), target + query)
                elif "vector-tile" in ctype or "protobuf" in ctype:
                    for field in CONFIDENTIAL:
                        assert field.encode() not in r.content, (target, field)
    assert seen > 0
    print(f"{seen} public GET responses checked")


def _no_confidential_keys(doc: object, where: str) -> None:
    """No confidential field appears as a key anywhere in a JSON document."""
    if isinstance(doc, dict):
        assert not (set(doc) & set(CONFIDENTIAL)), (where, set(doc) & set(CONFIDENTIAL))
        for v in doc.values():
            _no_confidential_keys(v, where)
    elif isinstance(doc, list):
        for v in doc:
            _no_confidential_keys(v, where)


def test_planner_sees_internal_fields_investor_does_not(app_client) -> None:
    url, c = app_client
    code = one(url, "SELECT code FROM parcels ORDER BY code LIMIT 1")["code"]
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE parcels SET note_internal = 'only planners' WHERE code = %s", (code,))
    plan_props = c.get(f"/api/parcels/{code}", headers=login(c, "plan")).json()["properties"]
    assert plan_props["note_internal"] == "only planners" and "allowed_actions" in plan_props
    inv = c.get(f"/api/parcels/{code}", headers=login(c, "inv")).json()["properties"]
    assert "note_internal" not in inv and "project_code" not in inv
    assert json.dumps(inv).find("only planners") == -1
