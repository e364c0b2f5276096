"""Pre-review (预审) against the indicator table: data, units, verdicts, exports, API, CLI.

The small park of ``workbench_helpers`` has 100 m × 100 m parcels (1 ha = 15 mu exactly), so
every expected figure below is exact arithmetic.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from workbench_helpers import add_users, login, one, rows, small_park

from api.main import create_app
from parkgis.errors import Conflict, InvalidData, InvalidInput, NotFound
from parkgis.promotion import indicators, review

ROOT = Path(__file__).resolve().parents[2]

# A beverage project (GB/T 4754 code 15 via chain role) with figures chosen around the seed:
# on one 1-ha parcel: intensity 1200 万元/公顷 ≥ 1000; tax 15 万元/亩 ≥ 10 (225/ha);
# FAR 0.9 < 1.0 fails; coverage 0.35 ≥ 0.30; office 0.07 ≤ 0.07 (boundary passes);
# green 0.25 > 0.20 fails.
SQL_FIGURES = """
UPDATE projects SET chain_role = 'beverage', investment_wan = 1200, expected_tax_wan = 225,
       floor_area_ratio = 0.9, building_coverage = 0.35, office_share = 0.07, green_ratio = 0.25
 WHERE code = 'PRJ-A'
"""


@pytest.fixture
def park(empty_db: str) -> str:
    small_park(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute(SQL_FIGURES)
    return empty_db


def _review(url: str, *args, **kw) -> review.Review:
    with psycopg.connect(url) as conn:
        r = review.review(conn, *args, **kw)
        conn.commit()
        return r


def test_units_convert_exactly() -> None:
    assert indicators.to_storage(Decimal("10"), "万元/亩") == (Decimal("150"), "万元/公顷")
    assert indicators.to_storage(Decimal("30"), "%") == (Decimal("0.30"), "ratio")
    assert indicators.per_mu(Decimal("1000")) * 15 == Decimal("1000")
    assert indicators.per_ha(indicators.per_mu(Decimal("7"))) == Decimal("7")
    with pytest.raises(InvalidData):
        indicators.to_storage(Decimal(1), "元/平方米")


def test_seed_is_data_with_design_values(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        assert indicators.ensure_seeded(conn) is True
        conn.commit()
        assert indicators.ensure_seeded(conn) is False
        s = indicators.get_set(conn)
    assert s["version"] == "2008" and s["source"] == "国土资发〔2008〕24号" and s["is_active"]
    assert s["park_region_tier"] == "六类"

    def row(ind: str, code: str | None = None) -> dict:
        got = [r for r in s["rows"] if r["indicator"] == ind and r["industry_code"] == code]
        assert len(got) == 1, (ind, code)
        return got[0]

    # design §3: FAR minimums by industry (GB/T 4754-2002 codes used by the 2008 table)
    for code, far in {
        "13": "1.0",
        "17": "0.8",
        "26": "0.6",
        "27": "0.7",
        "31": "0.7",
        "32": "0.6",
        "33": "0.6",
    }.items():
        assert row("floor_area_ratio", code)["min_value"] == Decimal(far)
    assert row("building_coverage")["min_value"] == Decimal("0.30")
    assert row("office_share")["max_value"] == Decimal("0.07")
    assert row("green_ratio")["max_value"] == Decimal("0.20")
    tax = row("tax_per_mu")
    assert (tax["unit"], tax["min_value"], tax["min_value_per_mu"]) == ("万元/公顷", 150, 10)
    assert tax["is_assumption"] is True
    # every investment-intensity row is a labelled assumption, in the stated tier
    inv = [r for r in s["rows"] if r["indicator"] == "investment_intensity"]
    assert inv and all(r["is_assumption"] and r["note"] and r["region_tier"] == "六类" for r in inv)


def test_review_pass_fail_per_indicator(park: str) -> None:
    r = _review(park, "PRJ-A", ["T-1"])
    b = r.body()
    assert b["industry"]["code"] == "15"
    assert b["area_mu"] == pytest.approx(15.0, abs=1e-6)
    got = {i["indicator"]: i for i in b["items"]}
    assert list(got) == list(indicators.INDICATORS)
    assert got["investment_intensity"]["value"] == pytest.approx(1200, rel=1e-9)
    assert got["investment_intensity"]["min_value"] == 1000
    assert got["investment_intensity"]["local"]["value"] == pytest.approx(80, rel=1e-9)
    assert got["tax_per_mu"]["local"]["value"] == pytest.approx(15, rel=1e-9)
    assert got["tax_per_mu"]["local"]["min_value"] == 10
    verdicts = {k: v["verdict"] for k, v in got.items()}
    assert verdicts == {
        "investment_intensity": "pass",
        "floor_area_ratio": "fail",
        "building_coverage": "pass",
        "office_share": "pass",
        "green_ratio": "fail",
        "tax_per_mu": "pass",
    }
    assert b["verdict"] == "fail"
    far = got["floor_area_ratio"]
    assert "容积率 0.90" in far["sentence_zh"] and "不通过" in far["sentence_zh"]
    assert far["sentence_en"].startswith("Floor-area ratio 0.90") and "fail" in far["sentence_en"]
    inv_zh = got["investment_intensity"]["sentence_zh"]
    assert "投资强度 1,200.00 万元/公顷（80.00 万元/亩）" in inv_zh


def test_site_of_two_parcels_halves_intensity(park: str) -> None:
    b = _review(park, "PRJ-A", ["T-1", "T-2"]).body()
    got = {i["indicator"]: i for i in b["items"]}
    assert b["area_mu"] == pytest.approx(30.0, abs=1e-6)
    assert got["investment_intensity"]["value"] == pytest.approx(600, rel=1e-9)
    assert got["investment_intensity"]["verdict"] == "fail"


def test_storeys_over_8m_count_twice_and_overrides(park: str) -> None:
    # 1 ha site: 4000 m² at 10 m (counts 8000) + 2500 m² at 4 m = 10500 → FAR 1.05 ≥ 1.0
    r = _review(
        park,
        "PRJ-A",
        ["T-1"],
        overrides={
            "green_ratio": 0.15,
            "buildings": [
                {"floor_area_m2": 4000, "storey_height_m": 10},
                {"floor_area_m2": 2500, "storey_height_m": 4},
            ],
        },
    )
    got = {i.indicator: i for i in r.items}
    assert float(got["floor_area_ratio"].value) == pytest.approx(1.05, rel=1e-9)
    assert got["floor_area_ratio"].verdict == "pass"
    assert r.verdict == "pass"
    # the stored project is unchanged by a what-if
    assert one(park, "SELECT green_ratio FROM projects WHERE code='PRJ-A'")["green_ratio"] == 0.25


def test_missing_and_not_applicable(park: str) -> None:
    with psycopg.connect(park) as conn:
        conn.execute(
            "UPDATE projects SET chain_role = 'logistics', expected_tax_wan = NULL "
            "WHERE code = 'PRJ-A'"
        )
    b = _review(park, "PRJ-A", ["T-1"]).body()
    got = {i["indicator"]: i["verdict"] for i in b["items"]}
    # logistics is not an industrial project: the per-industry tables do not apply
    assert got["investment_intensity"] == "not_applicable"
    assert got["floor_area_ratio"] == "not_applicable"
    assert got["tax_per_mu"] == "missing"
    assert got["green_ratio"] == "fail"
    assert b["verdict"] == "fail"


def test_bad_input_is_refused(park: str) -> None:
    with psycopg.connect(park) as conn:
        with pytest.raises(NotFound):
            review.review(conn, "NOPE", ["T-1"])
        with pytest.raises(NotFound):
            review.review(conn, "PRJ-A", ["T-99"])
        with pytest.raises(InvalidInput):
            review.review(conn, "PRJ-A", [])
        with pytest.raises(InvalidInput):
            review.review(conn, "PRJ-A", ["T-1"], overrides={"price": 1})
        with pytest.raises(InvalidInput):
            review.review(conn, "PRJ-A", ["T-1"], overrides={"buildings": [{"x": 1}]})
        conn.execute("UPDATE parcels SET status = 'historic' WHERE code = 'T-4'")
        with pytest.raises(Conflict):
            review.review(conn, "PRJ-A", ["T-4"])


def test_exports_csv_bom_and_printable_html(park: str, artifacts: Path) -> None:
    r = _review(park, "PRJ-A", ["T-1"])
    data = review.to_csv(r)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [t["indicator"] for t in table] == [*indicators.INDICATORS, "overall"]
    assert table[0]["name_zh"] == "投资强度" and table[0]["verdict"] == "pass"
    assert table[-1]["verdict"] == "fail"
    html = review.to_html(r)
    assert "<table>" in html and "容积率" in html and "Floor-area ratio" in html
    assert "http://" not in html and "https://" not in html  # self-contained, printable
    assert "@media print" in html
    (artifacts / "review_PRJ-A_T-1.html").write_text(html, encoding="utf-8")
    (artifacts / "review_PRJ-A_T-1.csv").write_bytes(data)


# ------------------------------------------------------------------------------ the API


@pytest.fixture
def api(park: str):
    add_users(park)
    with TestClient(create_app(database_url=park)) as c:
        yield c


def test_api_review_formats_and_roles(api: TestClient, park: str) -> None:
    assert api.get("/api/review/PRJ-A/T-1").status_code == 401
    inv = login(api, "inv")
    r = api.get("/api/review/PRJ-A/T-1", headers=inv)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    h = login(api, "plan")
    r = api.get("/api/review/PRJ-A/T-1,T-2", headers=h)
    assert r.status_code == 200 and r.json()["parcels"] == ["T-1", "T-2"]
    r = api.get("/api/review/PRJ-A/T-1", params={"format": "csv"}, headers=h)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in r.headers["content-disposition"]
    r = api.get("/api/review/PRJ-A/T-1", params={"format": "html"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    r = api.post(
        "/api/review",
        headers=h,
        json={
            "project": "PRJ-A",
            "parcels": ["T-1"],
            "overrides": {"floor_area_ratio": 1.2, "green_ratio": 0.1},
        },
    )
    assert r.status_code == 200 and r.json()["verdict"] == "pass"
    for bad, code in (
        (api.get("/api/review/PRJ-A/T-1", params={"format": "pdf"}, headers=h), 400),
        (api.get("/api/review/PRJ-X/T-1", headers=h), 404),
        (
            api.post(
                "/api/review",
                headers=h,
                json={"project": "PRJ-A", "parcels": ["T-1"], "overrides": {"green_ratio": 3}},
            ),
            400,
        ),
    ):
        assert bad.status_code == code, bad.text
        assert bad.headers["content-type"] == "application/problem+json"


def test_api_indicator_tables_admin_editable(api: TestClient, park: str) -> None:
    r = api.get("/api/indicators")
    assert r.status_code == 200 and r.json()["sets"][0]["version"] == "2008"
    active = api.get("/api/indicators/active").json()
    green = next(x for x in active["rows"] if x["indicator"] == "green_ratio")
    plan, boss = login(api, "plan"), login(api, "boss")
    body = {
        "version": "2023-test",
        "name_zh": "测试版",
        "name_en": "Test revision",
        "source": "test",
        "copy_from": "2008",
        "park_region_tier": "六类",
    }
    assert api.post("/api/indicators", json=body).status_code == 401
    assert api.post("/api/indicators", json=body, headers=plan).status_code == 403
    r = api.post("/api/indicators", json=body, headers=boss)
    assert r.status_code == 201, r.text
    assert len(r.json()["rows"]) == len(active["rows"]) and not r.json()["is_active"]
    assert api.post("/api/indicators", json=body, headers=boss).status_code == 409
    # tax per mu entered the local way (万元/亩) is stored in 万元/公顷, exactly
    r = api.post(
        "/api/indicators/2023-test/rows",
        headers=boss,
        json={
            "indicator": "tax_per_mu",
            "min_value": "12.5",
            "unit": "万元/亩",
            "note": "test",
            "is_assumption": True,
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["min_value"], r.json()["min_value_per_mu"]) == (187.5, 12.5)
    # bad rows: 422 and nothing stored
    before = rows(park, "SELECT count(*) AS n FROM indicators")[0]["n"]
    for bad in (
        {"indicator": "green_ratio", "max_value": 20, "unit": "ratio"},
        {"indicator": "green_ratio", "min_value": 0.5, "max_value": 0.1},
        {"indicator": "floor_area_ratio", "min_value": 1, "unit": "万元/亩"},
        {"indicator": "green_ratio"},
    ):
        r = api.post("/api/indicators/2023-test/rows", headers=boss, json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert rows(park, "SELECT count(*) AS n FROM indicators")[0]["n"] == before
    r = api.patch(
        f"/api/indicators/2023-test/rows/{green['id']}", headers=boss, json={"max_value": 0.3}
    )
    assert r.status_code == 404  # the id belongs to 2008, not to this set
    g2 = next(
        x
        for x in api.get("/api/indicators/2023-test").json()["rows"]
        if x["indicator"] == "green_ratio"
    )
    r = api.patch(
        f"/api/indicators/2023-test/rows/{g2['id']}", headers=boss, json={"max_value": 0.3}
    )
    assert r.status_code == 200 and r.json()["max_value"] == 0.3
    # the review follows the active set only once it is activated
    h = plan
    assert api.get("/api/review/PRJ-A/T-1", headers=h).json()["indicator_set"]["version"] == "2008"
    assert api.post("/api/indicators/2023-test/activate", headers=boss).status_code == 200
    b = api.get("/api/review/PRJ-A/T-1", headers=h).json()
    assert b["indicator_set"]["version"] == "2023-test"
    assert {i["indicator"]: i["verdict"] for i in b["items"]}["green_ratio"] == "pass"
    assert one(park, "SELECT count(*) AS n FROM indicator_sets WHERE is_active")["n"] == 1
    assert api.delete("/api/indicators/2023-test", headers=boss).status_code == 409
    assert api.delete("/api/indicators/2008", headers=boss).status_code == 204
    # CSV import by an admin
    csv_text = (
        "set_version,indicator,region_tier,industry_code,industry_name,min_value,"
        "max_value,unit,note,is_assumption\n2023-test,floor_area_ratio,,15,饮料,1.2,,"
        "ratio,x,true\n"
    )
    r = api.post(
        "/api/indicators/import",
        headers={**boss, "content-type": "text/csv"},
        content=csv_text.encode(),
    )
    assert r.status_code == 200 and r.json()["rows"] == 1, r.text
    r = api.post(
        "/api/indicators/import",
        headers={**plan, "content-type": "text/csv"},
        content=csv_text.encode(),
    )
    assert r.status_code == 403


def test_cli_review_and_indicators_load(park: str, tmp_path: Path) -> None:
    env = {"PARKGIS_DATABASE_URL": park, "PATH": "/usr/bin:/bin"}
    cmd = [str(Path(sys.executable).parent / "parkgis")]
    r = subprocess.run(
        [*cmd, "review", "PRJ-A", "T-1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["verdict"] == "fail" and len(body["items"]) == 6
    r = subprocess.run(
        [*cmd, "review", "PRJ-A", "T-1", "--csv"],
        env=env,
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 0 and r.stdout.startswith(b"\xef\xbb\xbf")
    r = subprocess.run(
        [*cmd, "review", "PRJ-A", "T-1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 0 and "容积率" in r.stdout
    f = tmp_path / "rows.csv"
    f.write_text(
        "set_version,indicator,industry_code,min_value,unit,is_assumption\n"
        "2008,floor_area_ratio,15,0.8,ratio,true\n",
        encoding="utf-8-sig",
    )
    r = subprocess.run(
        [*cmd, "indicators", "load", str(f)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert one(
        park,
        "SELECT min_value FROM indicators WHERE set_version='2008' AND "
        "indicator='floor_area_ratio' AND industry_code='15'",
    )["min_value"] == Decimal("0.8")
    f.write_text("set_version,indicator,min_value\n2008,bogus,1\n", encoding="utf-8")
    r = subprocess.run(
        [*cmd, "indicators", "load", str(f)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 1 and "bogus" in r.stderr
    r = subprocess.run(
        [*cmd, "review", "PRJ-A", "T-77"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 1 and "T-77" in r.stderr


# ------------------------------------------------------------------- the sample projects


def test_every_sample_project_on_its_best_match(sample_db: str, artifacts: Path) -> None:
    """Done-when: a report with pass/fail per indicator for every sample project on its best
    site (parkgis.siting.fit's top match; the nearest miss where the park has no full match)."""
    from parkgis.siting import fit

    with psycopg.connect(sample_db, row_factory=dict_row) as conn:
        projects = [r["code"] for r in conn.execute("SELECT code FROM projects ORDER BY code")]
        assert len(projects) >= 5
        lines = []
        for code in projects:
            top = fit.match_project(conn, code, top=1, near_miss_limit=1)
            r = review.review_best(conn, code)
            conn.rollback()  # reading only; seeding is undone so the shared DB stays as loaded
            b = r.body()
            if top.matches:
                assert b["parcels"] == list(top.matches[0].site.codes)
                assert b["site_kind"] == "match"
            else:
                assert b["parcels"] == list(top.near_misses[0].site.codes)
                assert b["site_kind"] == "near_miss"
            assert [i["indicator"] for i in b["items"]] == list(indicators.INDICATORS)
            decided = [i for i in b["items"] if i["verdict"] in ("pass", "fail")]
            assert decided, code
            for i in decided:
                assert i["value"] is not None and (
                    i["min_value"] is not None or i["max_value"] is not None
                )
                assert i["unit"] and i["sentence_zh"] and i["sentence_en"]
            assert b["verdict"] in ("pass", "fail", "incomplete")
            lines.append(
                f"{code}\t{','.join(b['parcels'])}\t{b['site_kind']}\t{b['verdict']}\t"
                + " ".join(f"{i['indicator']}={i['verdict']}" for i in b["items"])
            )
    (artifacts / "review_sample_projects.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
