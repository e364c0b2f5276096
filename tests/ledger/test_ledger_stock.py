"""Land-stock accounts on the sample park with the ledger's illustrative sample loaded: every
figure recomputed here another way — today's stock from the parcels table itself, a past
date's stock and the absorption from the sample history file read in Python, 供地率 and
批而未供 from pairwise parcel/batch intersections — plus the routes (auth, JSON, XLSX read
back with openpyxl, the public subset, the OGC collection ``approvals``).
"""

from __future__ import annotations

import csv
import io
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import _copy
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from psycopg.rows import dict_row
from workbench_helpers import PASSWORD, add_users

from parkgis.ledger import chains, sample, stock, townships

HISTORY = Path(__file__).resolve().parents[2] / "data" / "ledger" / "history.csv"
SUPPLIED = {"allocated", "under_construction", "operational"}
MU_PER_M2 = 15 / 10000


@pytest.fixture(scope="module")
def ledger_db(databases, sample_template) -> str:
    url = _copy(databases, sample_template, "ledger")
    with psycopg.connect(url) as conn:
        sample.load_sample(conn)
    return url


@pytest.fixture(scope="module")
def conn(ledger_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ledger_db, row_factory=dict_row) as c:
        yield c


def _areas(conn: psycopg.Connection) -> dict[str, tuple[str, float]]:
    return {
        r["code"]: (r["zone_code"], r["area_m2"])
        for r in conn.execute("SELECT code, zone_code, area_m2 FROM parcels")
    }


def _zone(body: dict, code: str) -> dict:
    return next(z for z in body["zones"] if z["zone_code"] == code)


def test_stock_today_is_the_parcels_table(conn: psycopg.Connection) -> None:
    body = stock.stock(conn, date.today())
    expect: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
    for r in conn.execute(
        "SELECT zone_code, status, count(*) AS n, sum(area_m2) AS m2 "
        "FROM parcels WHERE status <> 'historic' GROUP BY 1, 2"
    ):
        expect[r["zone_code"]][r["status"]] = (r["n"], r["m2"] * MU_PER_M2)
    assert set(expect) == {z["zone_code"] for z in body["zones"]} - {"ALL"}
    for zc, statuses in expect.items():
        got = _zone(body, zc)["by_status"]
        assert set(got) == set(statuses)
        for st, (n, mu) in statuses.items():
            assert got[st]["parcels"] == n
            assert got[st]["area_mu"] == pytest.approx(mu, rel=1e-9)
    total = _zone(body, "ALL")
    assert total["area_mu"] == pytest.approx(
        sum(mu for s in expect.values() for _, mu in s.values()), rel=1e-9
    )
    sup = sum(mu for s in expect.values() for st, (_, mu) in s.items() if st in SUPPLIED)
    op = sum(s.get("operational", (0, 0))[1] for s in expect.values())
    assert total["supplied_mu"] == pytest.approx(sup, rel=1e-9)
    assert total["development_rate"] == pytest.approx(op / sup, rel=1e-9)


def _history() -> list[dict[str, str]]:
    with HISTORY.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_stock_on_a_past_date_follows_the_history(conn: psycopg.Connection) -> None:
    day = date(2024, 6, 30)
    areas = _areas(conn)
    last: dict[str, tuple[str, str]] = {}
    for r in _history():  # the file is in date order per parcel
        if r["on"] <= day.isoformat() and (
            r["parcel_code"] not in last or r["on"] >= last[r["parcel_code"]][0]
        ):
            last[r["parcel_code"]] = (r["on"], r["to_status"])
    expect: dict[tuple[str, str], list[float]] = defaultdict(list)
    for code, (_, st) in last.items():
        expect[(areas[code][0], st)].append(areas[code][1])
    body = stock.stock(conn, day)
    for (zc, st), m2s in expect.items():
        got = _zone(body, zc)["by_status"][st]
        assert got["parcels"] == len(m2s), (zc, st)
        assert got["area_mu"] == pytest.approx(sum(m2s) * MU_PER_M2, rel=1e-9)
    n = sum(z["parcels"] for z in body["zones"] if z["zone_code"] != "ALL")
    assert n == len(last)
    # a supplied parcel of today was still vacant on that date in the history
    assert (
        _zone(body, "ALL")["supplied_mu"]
        < stock.stock(conn, date.today())["zones"][-1]["supplied_mu"]
    )


def _older(approved: date, as_of: date, years: int) -> bool:
    return approved < date(as_of.year - years, as_of.month, as_of.day)


def test_supply_rate_and_approved_unsupplied(conn: psycopg.Connection) -> None:
    day = date(2025, 12, 31)
    # pairwise intersections of each batch with each parcel supplied on the day (parcels never
    # overlap, so the sum is the covered area) — the product unions the parcels first
    hist_last: dict[str, tuple[str, str]] = {}
    for r in _history():
        if r["on"] <= day.isoformat() and r["on"] >= hist_last.get(r["parcel_code"], ("",))[0]:
            hist_last[r["parcel_code"]] = (r["on"], r["to_status"])
    supplied = [c for c, (_, st) in hist_last.items() if st in SUPPLIED]
    batches = conn.execute(
        "SELECT a.code, a.zone_code, a.approved_on, a.area_m2, "
        "       coalesce(sum(ST_Area(ST_Intersection(a.geom_gk, p.geom_gk))), 0) AS sup "
        "  FROM approvals a LEFT JOIN parcels p ON p.code = ANY(%s) AND p.geom_gk && a.geom_gk "
        " WHERE a.approved_on <= %s GROUP BY a.code, a.zone_code, a.approved_on, a.area_m2",
        (supplied, day),
    ).fetchall()
    assert len(batches) == 5
    body = stock.stock(conn, day)
    got = {b["code"]: b for b in body["batches"]}
    tot_area = tot_sup = un2 = un5 = 0.0
    for b in batches:
        g = got[b["code"]]
        assert g["area_mu"] == pytest.approx(b["area_m2"] * MU_PER_M2, rel=1e-9)
        assert g["supplied_mu"] == pytest.approx(b["sup"] * MU_PER_M2, rel=1e-6)
        un = (b["area_m2"] - b["sup"]) * MU_PER_M2
        assert g["unsupplied_mu"] == pytest.approx(un, rel=1e-6)
        assert g["over_2y"] == _older(b["approved_on"], day, 2)
        assert g["over_5y"] == _older(b["approved_on"], day, 5)
        tot_area += b["area_m2"]
        tot_sup += b["sup"]
        un2 += un if _older(b["approved_on"], day, 2) else 0
        un5 += un if _older(b["approved_on"], day, 5) else 0
    total = _zone(body, "ALL")
    assert total["supply_rate"] == pytest.approx(tot_sup / tot_area, rel=1e-6)
    assert total["unsupplied_over_2y_mu"] == pytest.approx(un2, rel=1e-6)
    assert total["unsupplied_over_5y_mu"] == pytest.approx(un5, rel=1e-6)
    # 2024-03-28 is under 2 years before 2025-12-31, 2019-11-08 over 5: both buckets differ
    assert 0 < un5 < un2 < total["unsupplied_mu"]


def test_absorption_per_quarter_from_the_history(conn: psycopg.Connection) -> None:
    areas = _areas(conn)
    avail: dict[str, date] = {}
    per_q: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for r in _history():
        on = date.fromisoformat(r["on"])
        if r["to_status"] == "available":
            avail[r["parcel_code"]] = on
        if r["to_status"] == "allocated" and date(2024, 1, 1) <= on <= date(2025, 6, 30):
            q = f"{on.year}-Q{(on.month - 1) // 3 + 1}"
            per_q[q].append((areas[r["parcel_code"]][1], (on - avail[r["parcel_code"]]).days))
    body = stock.stock(conn, date(2025, 6, 30), date(2024, 1, 1), date(2025, 6, 30))
    got = {r["quarter"]: r for r in body["absorption"] if r["zone_code"] == "ALL"}
    assert set(got) == set(per_q) and len(got) == 6
    for q, items in per_q.items():
        assert got[q]["parcels"] == len(items)
        assert got[q]["area_mu"] == pytest.approx(sum(a for a, _ in items) * MU_PER_M2, rel=1e-9)
        assert got[q]["median_days"] == pytest.approx(
            statistics.median(d for _, d in items), abs=0.05
        )


def _token(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_routes_xlsx_public_and_ogc(ledger_db: str, conn: psycopg.Connection) -> None:
    from api.main import create_app

    add_users(ledger_db)
    with TestClient(create_app(database_url=ledger_db)) as client:
        assert client.get("/api/ledger/stock").status_code == 401
        assert client.get("/api/ledger/townships", headers=_token(client, "inv")).status_code == 403
        h = _token(client, "plan")
        r = client.get("/api/ledger/stock?as_of=2025-12-31", headers=h)
        assert r.status_code == 200
        j = r.json()
        x = client.get("/api/ledger/stock?as_of=2025-12-31&format=xlsx", headers=h)
        bad = client.get("/api/ledger/stock?as_of=31/12/2025", headers=h)
        pub = client.get("/api/ledger/public")
        ogc = client.get("/ogc/collections/approvals/items?limit=100")
        page = client.get("/dashboard")
        others = {
            k: client.get(f"/api/ledger/{k}?format=xlsx", headers=h)
            for k in ("performance", "chains", "townships")
        }
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert x.headers["content-type"] == XLSX
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames[:2] == ["土地存量 Stock", "批次 Batches"]
    ws = wb["土地存量 Stock"]
    assert ws.freeze_panes == "A2"
    head = [c.value for c in ws[1]]
    assert head[:4] == [
        "园区编号 / Zone",
        "园区 / Name",
        "宗数（宗） / Parcels",
        "面积（亩） / Area (mu)",
    ]
    col = {h: i for i, h in enumerate(head)}
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True) if r[0] and r[1]}
    for z in j["zones"]:
        assert rows[z["zone_code"]][col["面积（亩） / Area (mu)"]] == pytest.approx(z["area_mu"])
        assert rows[z["zone_code"]][col["供地率（%） / Supply rate"]] == pytest.approx(
            z["supply_rate"]
        )
    assert ws.cell(row=2, column=col["供地率（%） / Supply rate"] + 1).number_format == "0.0%"
    for k, resp in others.items():
        assert resp.status_code == 200, k
        ws = load_workbook(io.BytesIO(resp.content)).worksheets[0]
        assert ws.freeze_panes == "A2" and ws.max_row > 2, k
    # the public subset: available land by park, as the parcels table says
    want = {
        r["zone_code"]: r
        for r in conn.execute(
            "SELECT zone_code, count(*) AS n, sum(area_m2) AS m2 FROM parcels "
            "WHERE status = 'available' GROUP BY 1"
        )
    }
    assert pub.status_code == 200
    for p in pub.json()["parks"]:
        assert p["parcels"] == want[p["zone_code"]]["n"]
        assert p["area_mu"] == pytest.approx(want[p["zone_code"]]["m2"] * MU_PER_M2, abs=0.05)
        # nothing but public figures and a point inside the (public) park for its map label
        assert set(p) == {
            "zone_code",
            "name_zh",
            "name_en",
            "parcels",
            "area_mu",
            "area_ha",
            "label_lon",
            "label_lat",
        }
        inside = conn.execute(
            "SELECT ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), ST_SRID(geom))) AS ok "
            "FROM zones WHERE code = %s",
            (p["label_lon"], p["label_lat"], p["zone_code"]),
        ).fetchone()
        assert inside["ok"], p["zone_code"]
    total = pub.json()["total"]
    assert total["parcels"] == sum(r["n"] for r in want.values())
    assert total["area_mu"] == pytest.approx(
        sum(r["m2"] for r in want.values()) * MU_PER_M2, abs=0.05
    )
    feats = ogc.json()["features"]
    assert ogc.status_code == 200 and len(feats) == 5
    assert {f["properties"]["approval_no"] for f in feats} == {
        r["approval_no"] for r in conn.execute("SELECT approval_no FROM approvals")
    }
    # the page carries no inline script (CSP): every <script> has a src and nothing inside
    assert page.status_code == 200
    for tag, body in re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S):
        assert "src=" in tag and not body.strip()
    assert not re.search(r"\son[a-z]+\s*=", page.text)


def test_chain_gaps_and_fills(conn: psycopg.Connection) -> None:
    links = conn.execute(
        "SELECT c.code AS chain, c.industry, l.code, l.roles, l.min_firms "
        "FROM chains c JOIN chain_links l ON l.chain_code = c.code"
    ).fetchall()
    firms = conn.execute("SELECT industry, chain_role FROM enterprises").fetchall()
    expect = {}
    for lk in links:
        n = sum(
            1 for f in firms if f["industry"] == lk["industry"] and f["chain_role"] in lk["roles"]
        )
        expect[(lk["chain"], lk["code"])] = (
            "missing" if n == 0 else "weak" if n < lk["min_firms"] else "present"
        )
    got = chains.chains(conn)
    assert {(t["chain_code"], t["link_code"]): t["status"] for t in got["targets"]} == {
        k: v for k, v in expect.items() if v != "present"
    }
    # the sample: no firm makes concentrate or runs a cold chain; the cold-chain centre would
    assert expect[("FBP", "raw")] == expect[("FBP", "cold_chain")] == "missing"
    assert [
        (f["chain_code"], f["link_code"], f["status"])
        for f in chains.fills_gap(conn, "PRJ-COLDCHAIN")
    ] == [("FBP", "cold_chain", "missing")]
    assert chains.fills_gap(conn, "PRJ-WLJ") == []  # beverages: a present link


def test_township_leaderboard(conn: psycopg.Connection) -> None:
    t = {x["name_zh"]: x for x in townships.leaderboard(conn)["townships"]}
    assert len([x for x in t.values() if x["listed"]]) == 13
    # fostered tax shares worked by hand from the sample projects (expected tax, 万元/yr):
    # 唐庄镇 神龙科技 900 × 0.4 = 360; 孙杏村镇 精品软包装 1500 × 0.3 = 450;
    # 后河镇 五经科技 2000 × 0.25 = 500; 狮豹头乡 and 城郊乡 foster nothing.
    assert t["唐庄镇"]["fostered_tax_wan"] == pytest.approx(360)
    assert t["孙杏村镇"]["fostered_tax_wan"] == pytest.approx(450)
    assert t["后河镇"]["fostered_tax_wan"] == pytest.approx(500)
    assert t["狮豹头乡"]["fostered_tax_wan"] == 0
    for name, x in t.items():
        r = conn.execute(
            "SELECT count(*) AS leads, count(*) FILTER (WHERE stage IN ('signed', "
            "'land_supplied', 'under_construction', 'operational')) AS signed, "
            "coalesce(sum(investment_wan) FILTER (WHERE stage IN ('signed', 'land_supplied', "
            "'under_construction', 'operational')), 0) AS inv "
            "FROM projects WHERE source_township = %s",
            (name,),
        ).fetchone()
        assert (x["leads"], x["signed"]) == (r["leads"], r["signed"]), name
        assert x["investment_wan"] == pytest.approx(float(r["inv"]))
        land = conn.execute(
            "SELECT coalesce(sum(l.area_m2), 0) AS m2 FROM parcels l "
            "WHERE l.status IN ('allocated', 'under_construction', 'operational') "
            "AND l.project_code IN (SELECT code FROM projects WHERE source_township = %s)",
            (name,),
        ).fetchone()["m2"]
        assert x["land_mu"] == pytest.approx(land * MU_PER_M2, rel=1e-9)
    # no township has a geometry: none is sourced
    assert (
        conn.execute("SELECT count(*) AS n FROM townships WHERE geom IS NOT NULL").fetchone()["n"]
        == 0
    )


def test_monthly_report_pdf(ledger_db: str, conn: psycopg.Connection, tmp_path: Path) -> None:
    import os

    out = tmp_path / "report.pdf"
    env = {**os.environ, "PARKGIS_DATABASE_URL": ledger_db}
    cli = [sys.executable, "-m", "parkgis.cli"]
    r = subprocess.run(
        [*cli, "ledger", "report", "--month", "2025-06", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "土地账月报 2025-06" in text and "2025-06-30" in text
    versions = conn.execute(
        "SELECT layer, version FROM data_versions WHERE layer IN "
        "('parcels', 'approvals', 'ledger') ORDER BY layer"
    ).fetchall()
    for v in versions:
        assert f"{v['layer']} {v['version']}" in text
    assert "数据版本" in text and "供地率" in text and "批而未供" in text
    # the supply rate on 2025-06-30 as the accounts compute it, printed to one decimal
    rate = stock.stock(conn, date(2025, 6, 30))["zones"][-1]["supply_rate"]
    assert f"{100 * rate:.1f}%" in text
    assert "唐庄镇" in text and "冷链物流" in text
    bad = subprocess.run(
        [*cli, "ledger", "report", "--month", "2025-13", "--out", str(tmp_path / "x.pdf")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "month" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pdf").exists()


def test_unused_and_idle_from_the_contracts(conn: psycopg.Connection) -> None:
    """供而未用 and idle land, recomputed in Python from the raw contract rows (the GeoPackage
    sample's and the ledger sample's): unused = signed by the day, not taken back, not started
    by it (a parcel once); idle (令53; the samples record no government delay) = never started,
    not completed, and the agreed start's first anniversary on or before the day."""
    assert conn.execute("SELECT count(*) AS n FROM contract_delays").fetchone()["n"] == 0
    areas = _areas(conn)
    contracts = conn.execute("SELECT * FROM land_contracts").fetchall()
    for day in (date(2025, 12, 31), date.today()):
        unused: dict[str, set[str]] = defaultdict(set)
        idle: dict[str, set[str]] = defaultdict(set)
        for c in contracts:
            zone = areas[c["parcel_code"]][0]
            if (
                c["signed_on"] <= day
                and c["status"] != "reclaimed"
                and (c["actual_start"] is None or c["actual_start"] > day)
            ):
                unused[zone].add(c["parcel_code"])
                unused["ALL"].add(c["parcel_code"])
            a = c["agreed_start"]
            if (
                c["status"] == "active"
                and c["actual_start"] is None
                and c["actual_completion"] is None
                and date(a.year + 1, a.month, a.day) <= day
            ):
                idle[zone].add(c["parcel_code"])
                idle["ALL"].add(c["parcel_code"])

        def mu(codes: set[str]) -> float:
            return sum(areas[k][1] for k in codes) * MU_PER_M2

        body = stock.stock(conn, day)
        for z in body["zones"]:
            assert z["unused_mu"] == pytest.approx(mu(unused[z["zone_code"]]), rel=1e-9)
            assert z["idle_mu"] == pytest.approx(mu(idle[z["zone_code"]]), rel=1e-9)
        figs = {f["key"]: f for f in body["figures"]}
        assert figs["idle"]["value"] == pytest.approx(mu(idle["ALL"]), rel=1e-9)
        assert {r["parcel_code"] for r in body["idle"]} == idle["ALL"]
    assert idle["ALL"] and len(unused["ALL"]) >= len(idle["ALL"])
    assert "land_contracts" in figs["unused"]["sql"]


def test_hostile_queries_are_precise_problems(ledger_db: str) -> None:
    from api.main import create_app

    with TestClient(create_app(database_url=ledger_db)) as client:
        h = _token(client, "plan") if _has_user(ledger_db) else _make_token(client, ledger_db)
        cases = {
            "/api/ledger/stock?from=2025-06-01&to=2025-01-01": 400,
            "/api/ledger/stock?as_of=<script>": 400,
            "/api/ledger/stock?format=xls": 400,  # request validation is a 400 here
            "/api/ledger/performance?year=1800": 400,
            "/api/ledger/chains/fills/NO-SUCH": 404,
            "/api/ledger/report.pdf?month=2025-1": 400,
        }
        for url, code in cases.items():
            r = client.get(url, headers=h)
            assert r.status_code == code, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), url
            assert "<script>" not in r.text and "/work/" not in r.text, url
        pdf = client.get("/api/ledger/report.pdf?month=2025-06", headers=h)
        assert client.get("/api/ledger/report.pdf?month=2025-06").status_code == 401
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _has_user(url: str) -> bool:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM users WHERE name = 'plan'").fetchone()[0] > 0


def _make_token(client: TestClient, url: str) -> dict[str, str]:
    add_users(url)
    return _token(client, "plan")
