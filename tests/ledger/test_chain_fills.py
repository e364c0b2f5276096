"""A project that fills a missing chain link is said to do so (issue 14 point 3): on the pipeline
board (``/api/pipeline/board``) and in the match result (``/api/projects/{code}/matches``,
``POST /api/match``).

The expected links are computed here with one SQL query over the chain tables, the firms and
the projects (counting resident firms per link), not with the ledger's code.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from conftest import _copy
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from workbench_helpers import PASSWORD, add_users

from parkgis.ledger import sample
from parkgis.promotion import pipeline

# Per open project, every link of its industry's chain that lists its role, with the number of
# resident firms of that industry in one of the link's roles.
EXPECTED_SQL = """
SELECT p.code AS project, c.code AS chain, l.code AS link, l.name_zh, l.min_firms,
       count(e.code) AS firms
  FROM projects p
  JOIN chains c ON c.industry = p.industry
  JOIN chain_links l ON l.chain_code = c.code AND p.chain_role = ANY (l.roles)
  LEFT JOIN enterprises e ON e.industry = c.industry AND e.chain_role = ANY (l.roles)
 WHERE p.stage NOT IN ('operational', 'lost')
 GROUP BY p.code, c.code, l.code, l.name_zh, l.min_firms
"""


@pytest.fixture(scope="module")
def chain_db(databases, sample_template) -> str:
    url = _copy(databases, sample_template, "fills")
    with psycopg.connect(url) as conn:
        sample.load_sample(conn)
    add_users(url)
    return url


@pytest.fixture(scope="module")
def conn(chain_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(chain_db, row_factory=dict_row) as c:
        yield c


def expected(conn: psycopg.Connection) -> dict[str, set[tuple[str, str, str]]]:
    """project -> {(chain, link, missing|weak)}; a project on a present link fills nothing."""
    out: dict[str, set[tuple[str, str, str]]] = {
        r["code"]: set()
        for r in conn.execute(
            "SELECT code FROM projects WHERE stage NOT IN ('operational', 'lost')"
        )
    }
    for r in conn.execute(EXPECTED_SQL):
        if r["firms"] == 0:
            out[r["project"]].add((r["chain"], r["link"], "missing"))
        elif r["firms"] < r["min_firms"]:
            out[r["project"]].add((r["chain"], r["link"], "weak"))
    return out


def _links(fills: list[dict]) -> set[tuple[str, str, str]]:
    return {(f["chain_code"], f["link_code"], f["status"]) for f in fills}


def test_board_cards_say_which_gap_a_project_fills(conn: psycopg.Connection) -> None:
    want = expected(conn)
    # the sample has both kinds: the cold-chain centre fills a link with no firm, the drinks
    # projects sit on a link with firms enough
    assert want["PRJ-COLDCHAIN"] == {("FBP", "cold_chain", "missing")}
    assert want["PRJ-HDW"] == set()
    cards = {
        card["code"]: card
        for col in pipeline.board(conn, staff=True)["columns"]
        for card in col["projects"]
    }
    for code, links in want.items():
        assert _links(cards[code]["fills"]) == links, code
    cold = cards["PRJ-COLDCHAIN"]["fills"][0]
    assert cold["text_zh"] == "补链：填补「冷链物流」环节"
    assert cold["text_en"] == "fills the missing link 'cold-chain logistics'"
    assert cards["PRJ-HDW"]["fills"] == []
    # the public board says it too (nothing confidential in a chain gap)
    public = {
        c["code"]: c
        for col in pipeline.board(conn, staff=False)["columns"]
        for c in col["projects"]
    }
    assert _links(public["PRJ-COLDCHAIN"]["fills"]) == want["PRJ-COLDCHAIN"]


def test_match_results_say_which_gap_a_project_fills(chain_db: str, conn) -> None:
    from api.main import create_app

    want = expected(conn)
    with TestClient(create_app(database_url=chain_db)) as client:
        cold = client.get("/api/projects/PRJ-COLDCHAIN/matches?top=1&near=0")
        hdw = client.get("/api/projects/PRJ-HDW/matches?top=1&near=0")
        adhoc = client.post(
            "/api/match?top=1&near=0",
            json={"industry": "food_beverage_packaging", "chain_role": "cold_chain"},
        )
        none = client.post("/api/match?top=1&near=0", json={"min_area_mu": 10})
        tok = client.post("/api/auth/token", data={"username": "plan", "password": PASSWORD})
        board = client.get(
            "/api/pipeline/board",
            headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
        )
    assert cold.status_code == hdw.status_code == adhoc.status_code == none.status_code == 200
    assert _links(cold.json()["fills"]) == want["PRJ-COLDCHAIN"]
    assert cold.json()["fills"][0]["text_zh"] == "补链：填补「冷链物流」环节"
    assert hdw.json()["fills"] == []
    assert _links(adhoc.json()["fills"]) == {("FBP", "cold_chain", "missing")}
    assert none.json()["fills"] == []
    assert board.status_code == 200
    got = {
        c["code"]: _links(c["fills"]) for col in board.json()["columns"] for c in col["projects"]
    }
    assert {k: v for k, v in got.items() if k in want} == want
