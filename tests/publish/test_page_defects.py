"""What the pages got wrong (issue #15, point 5): each test here failed before its fix.

Expectations come from the data files read directly (sqlite over the GeoPackage, SQL over the
loaded store) or from values worked by hand, never from the function under test.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import psycopg
import pytest
from pypdf import PdfReader

from parkgis.publish import i18n
from parkgis.publish.maps import investor, layers

ROOT = Path(__file__).resolve().parents[2]
GPKG = ROOT / "data" / "shapes" / "weihui.gpkg"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _gpkg(sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{GPKG}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def test_every_landuse_code_in_the_data_has_a_zh_and_an_en_label(sample_db: str) -> None:
    codes = {c for (c,) in _gpkg("SELECT DISTINCT landuse_code FROM parcels")}
    with psycopg.connect(sample_db) as conn:
        codes |= {r[0] for r in conn.execute("SELECT DISTINCT landuse_code FROM parcels")}
        codes |= {
            c for (cs,) in conn.execute("SELECT landuse_codes FROM projects") for c in (cs or [])
        }
    assert "1402" in codes  # the green belts that showed as "1402 1402"
    for code in sorted(codes):
        zh, en = i18n.label(i18n.landuse_key(code))
        assert CJK.search(zh), (code, zh)
        assert re.search(r"[A-Za-z]", en) and code not in en, (code, en)
        assert zh != code and en != zh, (code, zh, en)


def test_undivided_codes_carry_the_undivided_alias(sample_db: str) -> None:
    # GB 50137: M and W are the undivided classes; M2/W1 are subclasses.
    want = {"1001": "M", "1101": "W"}
    rows = _gpkg(
        "SELECT landuse_code, landuse_alias FROM parcels WHERE landuse_code IN ('1001', '1101')"
    )
    assert rows
    assert all(alias == want[code] for code, alias in rows), set(rows)
    with psycopg.connect(sample_db) as conn:
        stored = conn.execute(
            "SELECT landuse_code, landuse_alias FROM parcels WHERE landuse_code IN ('1001', '1101')"
        ).fetchall()
    assert stored and all(alias == want[code] for code, alias in stored), set(stored)
    src = (ROOT / "scripts" / "build_sample.py").read_text(encoding="utf-8")
    assert '("1001", "M2")' not in src and '("1101", "W1")' not in src


@pytest.mark.parametrize(
    ("value", "unit", "sign", "expected"),
    [
        (2.6, "km", True, "+2.6 km"),
        (0.35, "km", True, "+0.3 km"),  # one decimal (banker's rounding of .35 in binary: .3)
        (10, "MW", True, "+10 MW"),
        (12400, "m³/d", False, "12,400 m³/d"),
        (4.0, "km", False, "4 km"),
    ],
)
def test_quantities_keep_a_decimal_below_ten(
    value: float, unit: str, sign: bool, expected: str
) -> None:
    assert i18n.quantity(value, unit, sign=sign) == expected


@pytest.mark.parametrize(
    ("metres", "expected"),
    [(850, "850 m"), (2600, "2.6 km"), (9940, "9.9 km"), (12400, "12 km"), (None, "—")],
)
def test_distances_read_sensibly(metres: float | None, expected: str) -> None:
    assert i18n.distance(metres) == expected


def test_upgrade_popup_shows_a_2_6_km_extension_as_such(sample_db_rw: str) -> None:
    # The popup is built in the page from the layer's properties (no stored value in a script):
    # the layer carries the capacity as the popup prints it.
    with psycopg.connect(sample_db_rw) as conn:
        code = conn.execute(
            "SELECT code FROM upgrades WHERE status <> 'completed' ORDER BY code LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE upgrades SET capacity_added = 2.6, capacity_unit = 'km' WHERE code = %s",
            (code,),
        )
        conn.commit()
        layer = investor.map_layer(conn, "upgrades")
    props = next(f["properties"] for f in layer["features"] if f["properties"]["code"] == code)
    assert props["capacity_text"] == "+2.6 km"


def test_sheet_upgrades_carry_a_formatted_capacity(client, sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        row = conn.execute(
            "SELECT p.code, u.code, u.capacity_added, u.capacity_unit FROM parcels p "
            "JOIN upgrades u ON u.gk_srid = p.gk_srid AND ST_DWithin(ST_SetSRID(u.geom_gk, 0),"
            " ST_SetSRID(p.geom_gk, 0), 500) WHERE p.status = 'available' "
            "AND u.status <> 'completed' AND u.capacity_added IS NOT NULL "
            "ORDER BY p.code LIMIT 1"
        ).fetchone()
    assert row, "the sample has an upgrade near an available parcel"
    parcel, upgrade, added, unit = row
    sheet = client.get(f"/api/parcels/{parcel}/sheet").json()
    u = next(x for x in sheet["upgrades"] if x["code"] == upgrade)
    v = float(added)
    # Worked independently: "+" then one decimal below 10 unless whole, thousands otherwise.
    body = f"{v:.1f}" if v < 10 and v != int(v) else f"{v:,.0f}"
    assert u["capacity_text"] == f"+{body} {unit}"


def test_legend_names_every_utility_drawn_and_the_substation_symbol() -> None:
    html = layers.legend_html()
    for kind in ("sewer", "heat_main", "telecom", "rail_siding", "substation"):
        zh, en = i18n.label(f"infra.{kind}")
        assert f'data-zh="{zh}"' in html, kind
    assert "fa-bolt" in html  # the substation's map icon, as on the map (INFRA_ICONS)


def test_enterprise_layer_carries_its_parcel_and_chain_role(sample_db: str) -> None:
    with psycopg.connect(sample_db) as conn:
        layer = investor.map_layer(conn, "enterprises")
        want = dict(conn.execute("SELECT code, parcel_code FROM enterprises").fetchall())
    got = {f["properties"]["code"]: f["properties"] for f in layer["features"]}
    assert set(got) == set(want)
    assert any(want.values())
    for code, parcel in want.items():
        e = got[code]
        assert e["parcel_code"] == parcel
        if parcel:
            assert e["parcel_href"] == f"/#sel={parcel}"
        assert CJK.search(e["role_zh"]) and e["role_en"] and e["role_en"] != e["chain_role"]


def test_problem_titles_put_chinese_first(client) -> None:
    r = client.get("/api/parcels/NO-SUCH-PARCEL/sheet")
    assert r.status_code == 404
    assert r.json()["title"] == "未找到 / Not found"


def _budget_case(sample_db: str) -> tuple[str, str]:
    """A project with a land budget and an open parcel whose land costs less than it."""
    with psycopg.connect(sample_db) as conn:
        row = conn.execute(
            "SELECT pr.code, p.code FROM projects pr JOIN parcels p ON p.status = 'available' "
            "AND p.land_price_wan_per_mu IS NOT NULL "
            "WHERE pr.land_budget_wan IS NOT NULL "
            "AND p.area_mu * p.land_price_wan_per_mu < pr.land_budget_wan "
            "ORDER BY pr.code, p.code LIMIT 1"
        ).fetchone()
    assert row
    return row[0], row[1]


def test_public_brief_never_mentions_the_budget_nor_the_design_document(
    client, sample_db: str
) -> None:
    project, parcel = _budget_case(sample_db)
    html = client.get(f"/api/parcels/{parcel}/brief.html?project={project}").text
    assert "预算" not in html and "budget" not in html.lower()
    assert "设计文档" not in html and "§" not in html
    m = client.get(f"/api/projects/{project}/matches").json()
    reasons = str(
        [
            (x.get("reasons"), x.get("criteria"), x.get("failures"))
            for x in m.get("matches", []) + m.get("near_misses", [])
        ]
    )
    assert "预算" not in str(m) and "within budget" not in reasons
    assert "over budget" not in reasons and "the budget" not in reasons


def test_pdf_brief_wraps_fit_sentences_instead_of_cutting_them(client, sample_db: str) -> None:
    project, parcel = _budget_case(sample_db)
    for lang in ("zh", "en", "both"):
        r = client.get(f"/api/parcels/{parcel}/brief.pdf?project={project}&lang={lang}")
        assert r.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
        assert "…" not in text, lang
        assert "设计文档" not in text and "预算" not in text
