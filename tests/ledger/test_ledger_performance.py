"""亩均效益评价 against a hand-worked example; loading refuses a bad row and stores nothing;
the XLSX comes back through openpyxl with its headers, frozen row and neutralised text.

The park: firms F1..F5 (规模以上), F6/F7 (below the 2000 万元 threshold) and F8 (exempt, in its
construction period), each on one rectangle drawn in EPSG:4547 metres so its land is known
exactly (mu = m² × 15 / 10000).
"""

from __future__ import annotations

import io

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from workbench_helpers import PASSWORD, add_users

from parkgis.errors import InvalidData
from parkgis.ledger import performance, xlsx

X0, Y0 = 515_000.0, 3_918_000.0

# code: (land mu, tax, revenue, value added, energy tce, R&D, employees, exempt kind)
FIRMS = {
    "F1": (20, 400, 4000, 1200, 400, 120, 100, None),
    "F2": (40, 400, 8000, 2000, 1000, 80, 200, None),
    "F3": (30, 900, 6000, 1800, 300, 300, 120, None),
    "F4": (50, 250, 2500, 500, 500, 25, 50, None),
    "F5": (25, 1000, 12500, 3000, 600, 500, 150, None),
    "F6": (10, 100, 1500, 300, 100, 15, 30, None),  # small: tax/mu 10
    "F7": (10, 200, 1900, 400, 100, 10, 30, None),  # small: tax/mu 20
    "F8": (40, 40, 3000, 500, 100, 30, 20, "construction_period"),
}

# Worked by hand (weights 45/20/15/15/5; score = w × (20 + 80 × (x − min)/(max − min)) / 100,
# min/max over F1..F5, the graded 规模以上 firms):
#   tax/mu      F1 20  F2 10  F3 30  F4 5   F5 40   -> min 5,  max 40 (range 35)
#   revenue/mu  F1 200 F2 200 F3 200 F4 50  F5 500  -> min 50, max 500 (range 450)
#   VA/tce      F1 3   F2 2   F3 6   F4 1   F5 5    -> min 1,  max 6 (range 5)
#   R&D %       F1 3   F2 1   F3 5   F4 1   F5 4    -> min 1,  max 5 (range 4)
#   VA/person   F1 12  F2 10  F3 15  F4 10  F5 20   -> min 10, max 20 (range 10)
# F1 = 45(.2+.8·15/35) + 20(.2+.8/3) + 15(.2+.8·.4) + 15(.2+.8·.5) + 5(.2+.8·.2)
#    = 24.428571 + 9.333333 + 7.8 + 9.0 + 1.8 = 52.361905
# F2 = 45(.2+.8·5/35) + 9.333333 + 15(.2+.8·.2) + 3.0 + 1.0 = 14.142857 + 9.333333 + 5.4 + 4.0
#    = 32.876190
# F3 = 45(.2+.8·25/35) + 9.333333 + 15 + 15 + 5(.2+.8·.5) = 34.714286 + 9.333333 + 33.0
#    = 77.047619
# F4 = 45·.2 + 20·.2 + 15·.2 + 15·.2 + 5·.2 = 20.0
# F5 = 45 + 20 + 15(.2+.8·.8) + 15(.2+.8·.75) + 5 = 45 + 20 + 12.6 + 12.0 + 5 = 94.6
# Ranks: F5, F3, F1, F2, F4 -> r/n = .2 .4 .6 .8 1.0 -> A, B, B, C, D.
# Small firms by tax per mu alone: F7 (20) rank 1 of 2 -> .5 -> B; F6 (10) rank 2 -> 1.0 -> D.
# F8 is exempt: scored (its tax/mu 1 is below the min 5, clamped to 0 -> 9.0 for that
# indicator), never ranked or graded.
EXPECTED_SCORE = {"F1": 52.361905, "F2": 32.876190, "F3": 77.047619, "F4": 20.0, "F5": 94.6}
EXPECTED_GRADE = {
    "F5": "A",
    "F3": "B",
    "F1": "B",
    "F2": "C",
    "F4": "D",
    "F7": "B",
    "F6": "D",
    "F8": None,
}
EXPECTED_RANK = {"F5": 1, "F3": 2, "F1": 3, "F2": 4, "F4": 5, "F7": 1, "F6": 2, "F8": None}

HEADER = (
    "企业编号,年度,税收（万元）,营业收入（万元）,工业增加值（万元）,综合能耗（吨标准煤）,"
    "研发经费（万元）,从业人员（人）,不参评类型\n"
)


def _csv(year: int, firms: dict[str, tuple]) -> bytes:
    lines = [HEADER]
    for code, (_, tax, rev, va, tce, rd, emp, ex) in firms.items():
        lines.append(f"{code},{year},{tax},{rev},{va},{tce},{rd},{emp},{ex or ''}\n")
    return "".join(lines).encode()


@pytest.fixture
def park(empty_db: str) -> str:
    with psycopg.connect(empty_db) as conn:
        conn.execute(
            "INSERT INTO zones (code, name_zh, name_en, kind, status, gk_srid, geom) "
            "VALUES ('TZ', '测试园区', 'Test', 'cluster_zone', 'approved', 4547, "
            "ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))",
            (X0 - 100, Y0 - 100, X0 + 3000, Y0 + 1000),
        )
        for i, (code, (land_mu, *_)) in enumerate(FIRMS.items()):
            # 100 m wide, as long as the land needs: land_mu × 10000/15 m²
            x = X0 + 300 * i
            length = land_mu * 10000 / 15 / 100
            conn.execute(
                "INSERT INTO parcels (code, zone_code, status, landuse_code, enterprise_code, "
                "geom) VALUES (%s, 'TZ', 'operational', '100101', %s, "
                "ST_Multi(ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4547), 4490)))",
                (f"P-{code}", code, x, Y0, x + 100, Y0 + length),
            )
            conn.execute(
                "INSERT INTO enterprises (code, name_zh, name_en, industry, chain_role, zone_code,"
                " geom) VALUES (%s, %s, %s, 'food_beverage_packaging', 'beverage', 'TZ', "
                "ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4547), 4490))",
                (code, f"企业{code}", f"Firm {code}", x + 50, Y0 + 10),
            )
    return empty_db


def test_hand_worked_grading(park: str) -> None:
    with psycopg.connect(park) as conn:
        res = performance.load(conn, _csv(2025, FIRMS), "figures-2025.csv")
        assert res.rows == 8
        g = performance.grade(conn, 2025)
    by = {m["enterprise_code"]: m for m in g["firms"]}
    for code, score in EXPECTED_SCORE.items():
        assert by[code]["score"] == pytest.approx(score, abs=1e-5), code
        assert by[code]["group"] == "scale"
    for code, grade in EXPECTED_GRADE.items():
        assert by[code]["grade"] == grade, code
        assert by[code]["rank"] == EXPECTED_RANK[code], code
    assert by["F6"]["group"] == by["F7"]["group"] == "small"
    assert by["F8"]["group"] == "exempt"
    assert by["F8"]["scores"]["tax_per_mu"] == pytest.approx(9.0)
    # land from the parcels, and each indicator's value
    assert by["F3"]["land_mu"] == pytest.approx(30, rel=1e-7)
    assert by["F3"]["values"]["tax_per_mu"] == pytest.approx(30, rel=1e-6)
    assert by["F5"]["values"]["rd_intensity"] == pytest.approx(4.0)
    assert by["F1"]["values"]["va_per_tce"] == pytest.approx(3.0)
    # per-indicator ranks over all firms with a value: tax/mu 40, 30, 20 (F1 and F7 tie at 20
    # and keep code order), 10, 10, 5, 1
    assert by["F5"]["indicator_rank"]["tax_per_mu"] == 1
    assert by["F1"]["indicator_rank"]["tax_per_mu"] == 3
    assert by["F8"]["indicator_rank"]["tax_per_mu"] == 8
    assert g["grade_counts"] == {"A": 1, "B": 3, "C": 1, "D": 2}


def test_change_from_last_year(park: str) -> None:
    last = dict(FIRMS)
    # 2024: F4 paid 2500 (50 per mu, the top), all else as in 2025. The tax/mu range is now
    # F2 10 .. F4 50 (range 40); the other indicators' ranges are unchanged.
    # F4 = 45 + 20·.2 + 15·.2 + 15·.2 + 5·.2 = 56.0
    # F5 = 45(.2+.8·30/40) + 20 + 12.6 + 12 + 5 = 36 + 49.6 = 85.6
    # F3 = 45(.2+.8·20/40) + 9.333333 + 15 + 15 + 3 = 27 + 42.333333 = 69.333333
    # F1 = 45(.2+.8·10/40) + 9.333333 + 7.8 + 9 + 1.8 = 18 + 27.933333 = 45.933333
    # F2 = 45·.2 + 9.333333 + 5.4 + 3 + 1 = 27.733333
    # -> F5 A, F3 B, F4 B (third of five: .6), F1 C, F2 D; in 2025 F4 falls to D (20.0).
    last["F4"] = (50, 2500, 2500, 500, 500, 25, 50, None)
    with psycopg.connect(park) as conn:
        performance.load(conn, _csv(2024, last), "2024.csv")
        performance.load(conn, _csv(2025, FIRMS), "2025.csv")
        g = performance.grade(conn, 2025)
        g_prev = performance.grade(conn, 2024, with_previous=False)
    by = {m["enterprise_code"]: m for m in g["firms"]}
    prev = {m["enterprise_code"]: m for m in g_prev["firms"]}
    assert prev["F4"]["score"] == pytest.approx(56.0, abs=1e-5)
    assert prev["F1"]["score"] == pytest.approx(45.933333, abs=1e-5)
    assert prev["F5"]["score"] == pytest.approx(85.6, abs=1e-5)
    assert [prev[c]["grade"] for c in ("F5", "F3", "F4", "F1", "F2")] == ["A", "B", "B", "C", "D"]
    assert by["F4"]["previous_grade"] == "B" and by["F4"]["grade"] == "D"
    assert by["F4"]["score_change"] == pytest.approx(20.0 - 56.0, abs=1e-5)
    assert by["F1"]["previous_grade"] == "C" and by["F1"]["grade"] == "B"


def test_bad_row_refuses_the_file(park: str) -> None:
    rows = _csv(2025, FIRMS).decode().splitlines(keepends=True)
    rows[3] = "F3,2025,900,6000,1800,0,300,120,\n"  # line 4: energy 0
    rows[6] = "NOPE,2025,1,1,1,1,1,1,\n"  # line 7: unknown firm
    rows.append("F1,2025,abc,1,1,1,1,1,\n")  # line 10: not a number + duplicate
    with psycopg.connect(park) as conn:
        with pytest.raises(InvalidData) as e:
            performance.load(conn, "".join(rows).encode(), "bad.csv")
        conn.rollback()
        n = conn.execute("SELECT count(*) FROM perf_figures").fetchone()[0]
    assert n == 0
    lines = sorted({x["line"] for x in e.value.extra["errors"]})
    assert lines == [4, 7, 10]
    assert e.value.message.startswith("第 4 行")
    reasons = " ".join(x["reason"] for x in e.value.extra["errors"])
    assert "energy_tce" in reasons and "unknown enterprise NOPE" in reasons
    assert "duplicates line 2" in reasons


def _token(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_upload_route_and_xlsx(park: str) -> None:
    from api.main import create_app

    add_users(park)
    with psycopg.connect(park) as conn:
        # a firm name from a statistics file may start with '=': it must stay text in Excel
        conn.execute(
            "UPDATE enterprises SET name_zh = '=HYPERLINK(\"http://x\",\"y\")' WHERE code = 'F2'"
        )
    # the upload as an XLSX, as statistics offices send them
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for line in _csv(2025, FIRMS).decode().splitlines():
        ws.append([int(c) if c.isdigit() else (c or None) for c in line.split(",")])
    buf = io.BytesIO()
    wb.save(buf)
    with TestClient(create_app(database_url=park)) as client:
        files = {"file": ("2025.xlsx", buf.getvalue(), xlsx_type())}
        assert client.post("/api/ledger/performance", files=files).status_code == 401
        r = client.post("/api/ledger/performance", files=files, headers=_token(client, "inv"))
        assert r.status_code == 403
        plan = _token(client, "plan")
        bad = _csv(2025, FIRMS).replace(b"F5,2025,1000", b"F5,2025,-1000")
        r = client.post(
            "/api/ledger/performance", headers=plan, files={"file": ("bad.csv", bad, "text/csv")}
        )
        assert r.status_code == 422 and r.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert r.json()["errors"][0]["line"] == 6
        assert "tax_wan" in r.json()["detail"] and "/work" not in r.json()["detail"]
        with psycopg.connect(park) as conn:
            assert conn.execute("SELECT count(*) FROM perf_figures").fetchone()[0] == 0
        r = client.post("/api/ledger/performance", headers=plan, files=files)
        assert r.status_code == 201, r.text
        assert r.json()["rows"] == 8
        j = client.get("/api/ledger/performance?year=2025", headers=plan).json()
        x = client.get("/api/ledger/performance?year=2025&format=xlsx", headers=plan)
    assert x.headers["content-type"] == xlsx_type()
    ws = load_workbook(io.BytesIO(x.content)).worksheets[0]
    assert ws.freeze_panes == "A2"
    head = [c.value for c in ws[1]]
    assert head[0] == "企业编号 / Enterprise"
    assert "亩均税收（万元/亩） / Tax per mu" in head
    col = {h: i for i, h in enumerate(head)}
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True) if r[0]}
    by = {m["enterprise_code"]: m for m in j["firms"]}
    for code, score in EXPECTED_SCORE.items():
        assert rows[code][col["综合得分（分） / Score"]] == pytest.approx(score, abs=1e-5)
        assert rows[code][col["等级 / Grade"]] == EXPECTED_GRADE[code]
        assert by[code]["grade"] == EXPECTED_GRADE[code]
    name = rows["F2"][col["企业名称 / Name"]]
    assert name.startswith("'=HYPERLINK")
    cell = ws.cell(
        row=[r[0].value for r in ws.iter_rows()].index("F2") + 1,
        column=col["综合得分（分） / Score"] + 1,
    )
    assert cell.number_format == "0.00"


def xlsx_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_formula_neutralised() -> None:
    for v in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx"):
        assert xlsx.safe(v).startswith("'")
    assert xlsx.safe("宝钢制罐") == "宝钢制罐"
    assert xlsx.safe(-3.5) == -3.5
