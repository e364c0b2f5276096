"""``/dashboard`` in headless chromium over the sample park with the ledger sample: sign in
through the page's form, wait for the figures, then check that there are no console errors,
that every ECharts canvas has drawn pixels, that the grade map has its parcels coloured, that
the KPI card for the supply rate shows the figure the accounts compute, and that a firm name
carrying markup is shown as text. Screenshot: ``tests/artifacts/dashboard.png``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import browser as browser_support
import psycopg
import pytest
from conftest import _copy, _serve
from workbench_helpers import PASSWORD, add_users

from parkgis.ledger import sample, stock

pytestmark = browser_support.MARKS
WAIT_S = 45.0
CHARTS = ("chart-stock", "chart-absorption", "chart-grades", "chart-chains", "chart-townships")
HOSTILE = '<img src=x id="pwned">百威'

# Counts canvas pixels that are not fully transparent (ECharts draws on a transparent canvas).
INKED_JS = """
var c = document.querySelector('#' + arguments[0] + ' canvas');
if (!c || !c.width || !c.height) { return -1; }
var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } }
return n;
"""


@pytest.fixture
def dash(databases, sample_template) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a server over the sample with the ledger sample."""
    url = _copy(databases, sample_template, "dash")
    with psycopg.connect(url) as conn:
        sample.load_sample(conn)
        conn.execute("UPDATE enterprises SET name_zh = %s WHERE code = 'ENT-BUDWEISER'", (HOSTILE,))
    add_users(url)
    for base in _serve(url):
        yield base, url


def test_dashboard_draws_everything(dash: tuple[str, str], artifacts) -> None:
    from psycopg.rows import dict_row
    from selenium.webdriver.common.by import By

    base, db = dash
    with psycopg.connect(db, row_factory=dict_row) as conn:
        rate = stock.stock(conn, date.today())["zones"][-1]["supply_rate"]
    with browser_support.driver() as d:
        d.get(base + "/dashboard")
        d.find_element(By.ID, "pgd-username").send_keys("plan")
        d.find_element(By.ID, "pgd-password").send_keys(PASSWORD)
        d.find_element(By.ID, "pgd-login-btn").click()
        deadline = time.monotonic() + WAIT_S
        inked: dict[str, int] = {}
        while time.monotonic() < deadline:
            inked = {c: d.execute_script(INKED_JS, c) for c in CHARTS}
            grade_paths = d.find_elements(By.CSS_SELECTOR, "#grade-map path.leaflet-interactive")
            if (
                all(v > 500 for v in inked.values())
                and grade_paths
                and d.find_elements(By.CSS_SELECTOR, "#tbl-townships tbody tr")
            ):
                break
            time.sleep(0.5)
        time.sleep(0.5)
        d.set_window_size(1400, 2600)
        d.save_screenshot(str(artifacts / "dashboard.png"))
        assert not d.find_element(By.ID, "pgd-login").is_displayed()
        logs = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not logs, logs
        for c, n in inked.items():
            assert n > 500, (c, n)
        fills = {
            p.get_attribute("fill")
            for p in d.find_elements(By.CSS_SELECTOR, "#grade-map path.leaflet-interactive")
        }
        assert {"#1a7f37", "#2f81c7"} <= fills  # A and B firms on the map
        kpis = d.find_element(By.ID, "pgd-kpis").text
        assert f"{100 * rate:.1f}%" in kpis
        assert "供而未用" in kpis  # shown as "no contracts yet"
        # the hostile name is text, not an element
        assert not d.find_elements(By.ID, "pwned")
        assert HOSTILE in d.find_element(By.ID, "tbl-performance").text
        rows = d.find_elements(By.CSS_SELECTOR, "#tbl-townships tbody tr")
        assert len(rows) >= 13
