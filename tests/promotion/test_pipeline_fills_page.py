"""The pipeline board page says which chain gap a project fills (issue 14 point 3), in a real
browser: the card of a project whose link has no resident firm reads "补链：填补「…」环节",
the card of one whose link has firms enough has no such line. Expected from SQL over the chain
tables here, not from the ledger's code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import browser as browser_support
import httpx
import psycopg
import pytest
from conftest import _copy, _serve
from workbench_helpers import PASSWORD, add_users

from parkgis.ledger import sample

pytestmark = browser_support.MARKS
WAIT_S = 30.0  # an upper bound for polling, not an assertion on speed

# Links per open project with the count of resident firms on them.
LINK_FIRMS_SQL = """
SELECT p.code, l.name_zh, l.min_firms, count(e.code) AS firms
  FROM projects p
  JOIN chains c ON c.industry = p.industry
  JOIN chain_links l ON l.chain_code = c.code AND p.chain_role = ANY (l.roles)
  LEFT JOIN enterprises e ON e.industry = c.industry AND e.chain_role = ANY (l.roles)
 WHERE p.stage NOT IN ('operational', 'lost')
 GROUP BY p.code, l.name_zh, l.min_firms
"""


@pytest.fixture(scope="module")
def ledger_server(databases, sample_template) -> Iterator[tuple[str, str]]:
    url = _copy(databases, sample_template, "fillspage")
    with psycopg.connect(url) as conn:
        sample.load_sample(conn)
    add_users(url)
    for base in _serve(url):
        yield url, base


def wait_for(driver, script: str, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = driver.execute_script(script)
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_board_cards_name_the_missing_link_a_project_fills(ledger_server, artifacts) -> None:
    url, base = ledger_server
    with psycopg.connect(url) as conn:
        found = conn.execute(LINK_FIRMS_SQL).fetchall()
    missing = {code: name for code, name, _, firms in found if firms == 0}
    covered = {code for code, _, least, firms in found if firms >= least}
    assert missing and covered  # the sample has both kinds
    tok = httpx.post(base + "/api/auth/token", data={"username": "plan", "password": PASSWORD})
    with browser_support.driver() as d:
        d.get(base + "/privacy")  # any page of the origin, to reach its sessionStorage
        d.execute_script(
            "sessionStorage.setItem('parkgis.token', arguments[0]);"
            "sessionStorage.setItem('parkgis.user', 'plan');"
            "sessionStorage.setItem('parkgis.role', arguments[1]);",
            tok.json()["access_token"],
            tok.json()["role"],
        )
        d.set_window_size(1440, 900)
        d.get(base + "/planner/pipeline")
        wait_for(d, "return document.body.getAttribute('data-pp-ready')", "board")
        wait_for(d, "return document.querySelectorAll('.pp-card').length", "cards")
        cards = d.execute_script(
            "var o = {}; document.querySelectorAll('.pp-card[data-code]').forEach(function (c) {"
            "  o[c.getAttribute('data-code')] = Array.from(c.querySelectorAll('.pp-fills'))"
            "    .map(function (f) { return f.textContent; }); }); return o;"
        )
        d.save_screenshot(str(artifacts / "pipeline-fills.png"))
    for code, name in missing.items():
        assert f"补链：填补「{name}」环节" in " ".join(cards[code]), (code, cards[code])
    for code in covered:
        assert cards[code] == [], code
