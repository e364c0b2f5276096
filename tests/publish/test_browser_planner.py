"""The planner workbench in a real browser: a split drawn on ``/planner``.

Debian's headless chromium (selenium) against uvicorn over a private copy of the sample data
(``live_server_rw``): sign in through the page's form, find a parcel, draw a line across it
with mouse clicks on the map at the pixel positions of two points outside the parcel on either
side (Leaflet.draw, vendored), confirm — the request goes through the page's own code — then
check the database: the parent is historic and its two children add up to its area within
0.01 m². A merge is made the same way: "pick to merge" mode, a real click inside each of two
neighbouring parcels, confirm. Screenshots go to ``tests/artifacts/`` (look at them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import browser as browser_support
import psycopg
import pytest
from psycopg.rows import dict_row

from parkgis import auth

pytestmark = browser_support.MARKS
WAIT_S = 30.0  # an upper bound for polling, not an assertion on speed
PASSWORD = "planner-pass-1"

# An available parcel that a straight east–west line through a point on its surface cuts in
# exactly two (the page splits along the line the planner draws; we draw that one).
PICK_SQL = """
WITH c AS (
  SELECT code, geom, area_m2, ST_XMin(geom) AS x0, ST_XMax(geom) AS x1,
         ST_Y(ST_PointOnSurface(geom)) AS y
    FROM parcels WHERE status = 'available' AND area_m2 BETWEEN 15000 AND 400000)
SELECT code, area_m2, x0, x1, y
  FROM c
 WHERE ST_NumGeometries(ST_Split(geom, ST_SetSRID(ST_MakeLine(
         ST_MakePoint(x0 - (x1 - x0) * 0.2, y), ST_MakePoint(x1 + (x1 - x0) * 0.2, y)), 4490)))
       = 2
 ORDER BY code LIMIT 1
"""

# Two available neighbours the merge rules accept (parkgis.land.parcel_edit.merge_parcels: one zone,
# one status, one land-use code, sharing an edge — a 20 m common boundary, not a corner), each
# with a point deep inside it (the centre of its largest inscribed circle) for a click that
# cannot land on the neighbour.
PAIR_SQL = """
SELECT a.code AS a, b.code AS b, a.area_m2 AS a_m2, b.area_m2 AS b_m2,
       ST_Y(pa) AS a_lat, ST_X(pa) AS a_lon, ST_Y(pb) AS b_lat, ST_X(pb) AS b_lon,
       ST_XMin(env) AS x0, ST_YMin(env) AS y0, ST_XMax(env) AS x1, ST_YMax(env) AS y1
  FROM parcels a JOIN parcels b
    ON a.code < b.code AND a.zone_code = b.zone_code AND a.status = b.status
   AND a.landuse_code = b.landuse_code AND a.geom && b.geom,
       ST_Transform((ST_MaximumInscribedCircle(a.geom_gk)).center, 4490) AS pa,
       ST_Transform((ST_MaximumInscribedCircle(b.geom_gk)).center, 4490) AS pb,
       ST_Envelope(ST_Collect(a.geom, b.geom)) AS env
 WHERE a.status = 'available'
   AND ST_Length(ST_Intersection(ST_Boundary(a.geom_gk), ST_Boundary(b.geom_gk))) > 20
 ORDER BY a.code, b.code LIMIT 1
"""


@pytest.fixture
def browser() -> Iterator[object]:
    with browser_support.driver() as d:  # a fresh profile every time
        yield d


def wait_for(driver, script: str, *args, what: str = "condition"):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = driver.execute_script(script, *args)
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def click_map(driver, lat: float, lon: float) -> None:
    """A real mouse click on the map at the pixel where (lat, lon) is drawn."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    x, y = driver.execute_script(
        "var p = PGP.state.map.latLngToContainerPoint([arguments[0], arguments[1]]);"
        "return [p.x, p.y];",
        lat,
        lon,
    )
    el = driver.find_element(By.CSS_SELECTOR, ".folium-map")
    w, h = el.size["width"], el.size["height"]
    assert 5 < x < w - 5 and 5 < y < h - 5, (x, y, w, h)
    # selenium 4 offsets are from the element's centre
    ActionChains(driver).move_to_element_with_offset(el, int(x - w / 2), int(y - h / 2)).pause(
        0.2
    ).click().pause(0.2).perform()


def severe_errors(driver) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]


def test_split_drawn_on_planner_page(
    sample_db_rw: str, live_server_rw: str, browser, artifacts: Path
) -> None:
    from selenium.webdriver.common.by import By

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        auth.add_user(conn, "planner1", "planner", PASSWORD)
        target = conn.execute(PICK_SQL).fetchone()
    assert target is not None, "no splittable available parcel in the sample"
    code = target["code"]
    d = browser
    d.get(live_server_rw + "/planner")
    wait_for(d, "return document.body.getAttribute('data-pgp-ready')", what="page script")
    assert d.find_element(By.ID, "pgp-login").is_displayed()
    d.find_element(By.ID, "pgp-username").send_keys("planner1")
    d.find_element(By.ID, "pgp-password").send_keys(PASSWORD)
    d.find_element(By.ID, "pgp-login-btn").click()
    wait_for(d, "return document.body.getAttribute('data-parcels-loaded')", what="parcels")
    assert d.execute_script("return sessionStorage.getItem('parkgis.token')")
    d.save_screenshot(str(artifacts / "planner_1_signed_in.png"))

    # find and select the parcel (the page zooms to it)
    box = d.find_element(By.ID, "pgp-find-code")
    box.send_keys(code)
    d.find_element(By.CSS_SELECTOR, "#pgp-find button").click()
    wait_for(
        d,
        "return document.body.getAttribute('data-selected') === arguments[0]",
        code,
        what="selection",
    )
    wait_for(
        d,
        "return !!PGP.state.byCode[arguments[0]] && !!PGP.state.etag",
        code,
        what="parcel layer after zoom",
    )
    time.sleep(0.5)  # let the zoom animation settle before computing pixels
    assert "available" in d.find_element(By.ID, "pgp-parcel").text

    # draw the split line: two clicks outside the parcel on either side, then Finish
    split_btn = d.find_element(By.ID, "pgp-split")
    assert split_btn.is_enabled()
    split_btn.click()
    wait_for(d, "return !!PGP.state.drawer", what="draw mode")
    width = target["x1"] - target["x0"]
    west, east = target["x0"] - width * 0.15, target["x1"] + width * 0.15
    click_map(d, target["y"], west)
    click_map(d, target["y"], east)
    vertices = d.execute_script("return PGP.state.drawer ? PGP.state.drawer._markers.length : -1")
    assert vertices == 2, f"Leaflet.draw registered {vertices} vertices from the mouse clicks"
    d.find_element(By.ID, "pgp-split-finish").click()
    wait_for(d, "return document.body.getAttribute('data-blade') === 'drawn'", what="blade")
    assert d.find_element(By.ID, "pgp-split-confirm").is_displayed()
    d.save_screenshot(str(artifacts / "planner_2_split_line.png"))
    d.find_element(By.ID, "pgp-split-ok").click()
    kids = wait_for(
        d, "return document.body.getAttribute('data-split-result')", what="split result"
    ).split(",")
    wait_for(
        d,
        "return document.body.getAttribute('data-selected') === arguments[0]",
        kids[0],
        what="child selected",
    )
    wait_for(
        d,
        "return document.getElementById('pgp-events').textContent.indexOf('create') >= 0",
        what="child history",
    )
    time.sleep(0.3)
    d.save_screenshot(str(artifacts / "planner_3_split_done.png"))
    assert code in d.find_element(By.ID, "pgp-msg").text
    assert severe_errors(d) == []

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        parent = conn.execute(
            "SELECT status, area_m2 FROM parcels WHERE code = %s", (code,)
        ).fetchone()
        children = conn.execute(
            "SELECT code, status, area_m2, parent_codes FROM parcels "
            "WHERE %s = ANY(parent_codes) ORDER BY code",
            (code,),
        ).fetchall()
        events = conn.execute(
            "SELECT actor, action, to_status FROM parcel_events "
            "WHERE parcel_code = %s ORDER BY id DESC LIMIT 1",
            (code,),
        ).fetchone()
    assert parent["status"] == "historic"
    assert len(children) == 2 and sorted(c["code"] for c in children) == sorted(kids)
    assert all(c["status"] == "available" for c in children)
    assert abs(sum(c["area_m2"] for c in children) - parent["area_m2"]) < 0.01
    assert events == {"actor": "planner1", "action": "split", "to_status": "historic"}


def test_board_inbox_and_review_on_planner_page(
    sample_db_rw: str, live_server_rw: str, browser, artifacts: Path
) -> None:
    """The other panes: pipeline board with a bottleneck flag and township attribution, the
    inquiries inbox (mark answered), and a pre-review on the best match."""
    from selenium.webdriver.common.by import By

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        auth.add_user(conn, "planner2", "planner", PASSWORD)
        conn.execute(
            "INSERT INTO bottlenecks (project_code, kind, description, owner, due_date,"
            " created_by) VALUES ('PRJ-FLEXPACK', 'eia', 'VOCs 治理方案待批', "
            "'环保局', '2026-12-31', 'test')"
        )
        conn.execute(
            "INSERT INTO inquiries (name, company, contact, message, parcel_codes) "
            "VALUES ('李女士', '某包装公司', '13700000000', '请问 WH-C-005 的地价？', "
            "'{WH-C-005}')"
        )
    d = browser
    d.get(live_server_rw + "/planner")
    wait_for(d, "return document.body.getAttribute('data-pgp-ready')", what="page script")
    d.find_element(By.ID, "pgp-username").send_keys("planner2")
    d.find_element(By.ID, "pgp-password").send_keys(PASSWORD)
    d.find_element(By.ID, "pgp-login-btn").click()
    wait_for(d, "return document.body.getAttribute('data-parcels-loaded')", what="parcels")

    d.find_element(By.CSS_SELECTOR, ".pgp-tab[data-tab=board]").click()
    wait_for(
        d,
        "return document.querySelectorAll('#pgp-board .pgp-col').length === 7",
        what="board columns",
    )
    board = d.find_element(By.ID, "pgp-board").text
    assert "精品软包装基地" in board and "环评" in board
    assert "唐庄镇" in d.find_element(By.ID, "pgp-tab-board").text  # fostered Shenlong
    d.save_screenshot(str(artifacts / "planner_4_board.png"))

    d.find_element(By.CSS_SELECTOR, ".pgp-tab[data-tab=inbox]").click()
    wait_for(
        d,
        "return document.getElementById('pgp-inbox').textContent.indexOf('李女士') >= 0",
        what="inbox",
    )
    d.save_screenshot(str(artifacts / "planner_5_inbox.png"))
    d.execute_script("window.prompt = function () { return '已电话回复'; };")
    d.find_element(By.CSS_SELECTOR, "#pgp-inbox button[data-st=answered]").click()
    wait_for(
        d,
        "return document.getElementById('pgp-inbox').textContent.indexOf('李女士') < 0",
        what="inbox refresh",
    )

    d.find_element(By.CSS_SELECTOR, ".pgp-tab[data-tab=review]").click()
    d.execute_script("document.getElementById('pgp-review-project').value = 'PRJ-CONCH';")
    d.find_element(By.CSS_SELECTOR, "#pgp-review-form button[type=submit]").click()
    wait_for(
        d,
        "return document.querySelectorAll('#pgp-review table tr').length === 7",
        what="review table",
    )
    text = d.find_element(By.ID, "pgp-review").text
    assert "容积率" in text and "Floor-area ratio" in text and "不通过" in text
    time.sleep(0.5)
    d.save_screenshot(str(artifacts / "planner_6_review.png"))
    assert severe_errors(d) == []
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        got = conn.execute(
            "SELECT status, handled_by, reply_note FROM inquiries WHERE name = '李女士'"
        ).fetchone()
    assert got == {"status": "answered", "handled_by": "planner2", "reply_note": "已电话回复"}


def test_merge_picked_on_planner_page(
    sample_db_rw: str, live_server_rw: str, browser, artifacts: Path
) -> None:
    """Pick two neighbours with mouse clicks in merge mode, confirm; the page sends the ETags
    of the versions picked in If-Match (a stale one is refused with 412, then the page retries
    with the current ones) and the database holds one new parcel with the parents' exact area."""
    from selenium.webdriver.common.by import By

    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        auth.add_user(conn, "planner3", "planner", PASSWORD)
        pair = conn.execute(PAIR_SQL).fetchone()
    assert pair is not None, "no mergeable pair of available neighbours in the sample"
    codes = [pair["a"], pair["b"]]
    d = browser
    d.get(live_server_rw + "/planner")
    wait_for(d, "return document.body.getAttribute('data-pgp-ready')", what="page script")
    d.find_element(By.ID, "pgp-username").send_keys("planner3")
    d.find_element(By.ID, "pgp-password").send_keys(PASSWORD)
    d.find_element(By.ID, "pgp-login-btn").click()
    wait_for(d, "return document.body.getAttribute('data-parcels-loaded')", what="parcels")

    # bring both parcels into view (as a planner would by zooming) and wait for the reload the
    # move triggers, so that the clicks land on the layer that stays
    d.execute_script(
        "document.body.removeAttribute('data-parcels-loaded');"
        "PGP.state.map.fitBounds([[arguments[0], arguments[1]], [arguments[2], arguments[3]]],"
        " {padding: [80, 80], animate: false});",
        pair["y0"],
        pair["x0"],
        pair["y1"],
        pair["x1"],
    )
    wait_for(d, "return document.body.getAttribute('data-parcels-loaded')", what="reload")
    wait_for(
        d,
        "return !!PGP.state.byCode[arguments[0]] && !!PGP.state.byCode[arguments[1]]",
        *codes,
        what="both parcels drawn",
    )

    # merge mode with nothing selected: the pick list starts empty
    d.find_element(By.ID, "pgp-merge-mode").click()
    assert d.find_element(By.ID, "pgp-merge-box").is_displayed()
    assert d.find_element(By.ID, "pgp-merge-list").text == "—"
    ok = d.find_element(By.ID, "pgp-merge-ok")
    assert not ok.is_enabled()
    click_map(d, pair["a_lat"], pair["a_lon"])
    wait_for(
        d, "return PGP.state.mergePick.join(',') === arguments[0]", codes[0], what="first pick"
    )
    assert not ok.is_enabled()  # one parcel is no merge
    click_map(d, pair["b_lat"], pair["b_lon"])
    wait_for(
        d,
        "return PGP.state.mergePick.join(',') === arguments[0]",
        ",".join(codes),
        what="second pick",
    )
    assert d.find_element(By.ID, "pgp-merge-list").text == "、".join(codes)
    assert ok.is_enabled()
    assert d.execute_script("return document.body.getAttribute('data-selected')") is None
    d.find_element(By.ID, "pgp-merge-note").send_keys("合并供地 / merged for one project")
    time.sleep(0.3)
    d.save_screenshot(str(artifacts / "planner_7_merge_picked.png"))

    # someone else edits one of them after the pick: If-Match carries the versions the planner
    # saw, so the merge is refused (412) and nothing changes; the page reloads the parcels
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        bumped = conn.execute(
            "UPDATE parcels SET note_internal = '另一位规划员的修改 / edited by someone else' "
            "WHERE code = %s RETURNING version",
            (codes[1],),
        ).fetchone()["version"]
    ok.click()
    wait_for(
        d,
        "return document.getElementById('pgp-msg').className.indexOf('pgp-error') >= 0",
        what="stale refusal",
    )
    text = d.find_element(By.ID, "pgp-msg").text
    assert "合并失败" in text and "(412)" in text and codes[1] in text, text
    # chromium logs the refused request itself as SEVERE: that one, and nothing else
    logged = severe_errors(d)  # reading the log empties it
    assert len(logged) == 1 and "/api/parcels/merge" in logged[0] and " 412 " in logged[0], logged
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        assert conn.execute(
            "SELECT array_agg(status ORDER BY code) AS s FROM parcels "
            "WHERE code = ANY(%s) OR parent_codes && %s::text[]",
            (codes, codes),
        ).fetchone()["s"] == ["available", "available"]
    # ... and, once it shows the current versions, confirming again merges them
    wait_for(
        d,
        "return PGP.state.mergeSeen[arguments[0]] === arguments[1]",
        codes[1],
        f'"{codes[1]}-{bumped}"',
        what="current version picked up",
    )
    wait_for(d, "return !document.getElementById('pgp-merge-ok').disabled", what="re-enabled")
    assert d.execute_script("return PGP.state.mergePick") == codes
    refused = d.find_element(By.ID, "pgp-msg").get_attribute("textContent")
    ok.click()
    wait_for(
        d,
        "return document.getElementById('pgp-msg').textContent !== arguments[0]",
        refused,
        what="merge answer",
    )
    text = d.find_element(By.ID, "pgp-msg").text
    assert "已合并为" in text, text
    with psycopg.connect(sample_db_rw, row_factory=dict_row) as conn:
        parents = conn.execute(
            "SELECT code, status FROM parcels WHERE code = ANY(%s) ORDER BY code", (codes,)
        ).fetchall()
        merged = conn.execute(
            "SELECT code, status, area_m2, parent_codes FROM parcels "
            "WHERE parent_codes && %s::text[]",
            (codes,),
        ).fetchall()
        events = conn.execute(
            "SELECT parcel_code, actor, action, from_status, to_status, note "
            "FROM parcel_events WHERE parcel_code = ANY(%s) "
            "AND action IN ('merge', 'create') ORDER BY id",
            (codes + [m["code"] for m in merged],),
        ).fetchall()
    assert parents == [{"code": c, "status": "historic"} for c in codes]
    assert len(merged) == 1, merged
    new = merged[0]
    assert new["status"] == "available" and sorted(new["parent_codes"]) == codes
    assert abs(new["area_m2"] - (pair["a_m2"] + pair["b_m2"])) < 0.01
    assert new["code"] in text
    note = "合并供地 / merged for one project"
    # the parents are retired by one UPDATE: their two events come in no promised order
    events.sort(key=lambda e: (e["action"] != "merge", e["parcel_code"]))
    assert events == [
        {
            "parcel_code": codes[0],
            "actor": "planner3",
            "action": "merge",
            "from_status": "available",
            "to_status": "historic",
            "note": note,
        },
        {
            "parcel_code": codes[1],
            "actor": "planner3",
            "action": "merge",
            "from_status": "available",
            "to_status": "historic",
            "note": note,
        },
        {
            "parcel_code": new["code"],
            "actor": "planner3",
            "action": "create",
            "from_status": None,
            "to_status": "available",
            "note": note,
        },
    ]

    # the page leaves merge mode and shows the new parcel with its lineage and history
    wait_for(
        d,
        "return document.body.getAttribute('data-selected') === arguments[0]",
        new["code"],
        what="merged parcel selected",
    )
    wait_for(
        d,
        "return document.getElementById('pgp-events').textContent.indexOf('create') >= 0",
        what="merged parcel history",
    )
    assert not d.find_element(By.ID, "pgp-merge-box").is_displayed()
    assert d.execute_script("return PGP.state.merging") is False
    panel = d.find_element(By.ID, "pgp-parcel").text
    assert all(c in panel for c in codes), panel
    time.sleep(0.3)
    d.save_screenshot(str(artifacts / "planner_7_merge.png"))
    assert severe_errors(d) == []
