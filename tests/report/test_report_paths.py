"""The report's sonic paths, in a real headless Chromium.

The library and page are ``test_report.py``'s (segments of the bundled clips,
analysed with ``beet musicnn``, the report written with ``beet
musicnn-report``): the path the page draws must be the one ``beet
musicnn-path`` lists for the same two tracks.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_report
from test_report import beet, isolated_row, move_to, wait_until

from beetsplug.musicnn.report import data as report_data
from tests.browser import open_browser

# test_report.py's library and page, shared (module-scoped there, so built
# again for this module).
segments = test_report.segments
report_library = test_report.report_library
browser_available = test_report.browser_available
page = test_report.page


def command_path(report_library, start: int, end: int, count: int) -> list[int]:
    """Item ids of ``beet musicnn-path -n COUNT id:START id:END``."""
    lines = beet(
        report_library.folder,
        "musicnn-path",
        "-n",
        str(count),
        "-f",
        "$id",
        f"id:{start}",
        f"id:{end}",
    ).splitlines()
    return [int(line) for line in lines if line.isdigit()]


def page_path(page, start_row: int, end_row: int, count: int) -> list[int]:
    return page.execute_script(
        "const r = window.musicnnReport;"
        f"return r.sonicPath({start_row}, {end_row}, {count}).map(i => r.ids[i]);"
    )


def farthest_row(page, row: int) -> tuple[int, dict]:
    """The point drawn farthest from ``row``, and its position."""
    positions = page.execute_script(
        "const r = window.musicnnReport;"
        "return Array.from({length: r.n}, (_, i) => r.pointOnPage(i));"
    )
    here = positions[row]
    far = max(
        range(len(positions)),
        key=lambda i: (
            (positions[i]["x"] - here["x"]) ** 2 + (positions[i]["y"] - here["y"]) ** 2
        ),
    )
    return far, positions[far]


def test_picking_a_second_track_draws_the_path_and_its_command(page, report_library):
    from selenium.webdriver.common.by import By

    row, where = isolated_row(page)
    move_to(page, where["x"], where["y"], click=True)
    wait_until(page, f"return window.musicnnReport.state.selected === {row}")
    page.find_element(By.ID, "path-pick").click()
    assert page.execute_script("return window.musicnnReport.state.picking")
    hint = page.find_element(By.ID, "path-hint").text
    assert "Click or tap the track to end on" in hint
    end, end_where = farthest_row(page, row)
    move_to(page, end_where["x"], end_where["y"], click=True)
    wait_until(page, "return window.musicnnReport.state.path !== null")
    state = page.execute_script(
        "const s = window.musicnnReport.state;"
        "return {selected: s.selected, picking: s.picking, path: s.path};"
    )
    assert state["selected"] == row and not state["picking"]  # still FROM
    path = state["path"]
    assert path["from"] == row and path["to"] == end
    rows = path["rows"]
    assert rows[0] == row and rows[-1] == end and len(set(rows)) == len(rows)
    # Drawn on the map: a line through the path's points, in order.
    drawn = page.execute_script(
        "const gd = document.getElementById('map');"
        "const t = gd.data.find(t => t.name === 'path');"
        "return t && {mode: t.mode, rows: Array.from(t.customdata)};"
    )
    assert drawn == {"mode": "lines+markers", "rows": rows}
    # Listed in the panel, with the command, which lists the same tracks.
    ids = page.execute_script(f"return {rows}.map(i => window.musicnnReport.ids[i]);")
    listed = page.find_elements(By.CSS_SELECTOR, "#path-list li")
    assert [li.text for li in listed] == [
        f"{report_library.analysed[i]} — {_artist(report_library, i)}" for i in ids
    ]
    command = page.find_element(By.ID, "path-command").text
    count = path["count"]
    assert command == (
        f"beet musicnn-path -n {count} id:{ids[0]} id:{ids[-1]} "
        f"--m3u path-{ids[0]}-to-{ids[-1]}.m3u"
    )
    assert command_path(report_library, ids[0], ids[-1], count) == ids
    if len(rows) < count:  # the page says why, as the command does
        assert f"Only {len(rows)} of the {count} tracks fit" in (
            page.find_element(By.ID, "path-short").text
        )
    # Fewer tracks: the path is made again; clearing removes it.
    from selenium.webdriver.common.keys import Keys

    box = page.find_element(By.ID, "path-count")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("4" + Keys.ENTER)
    wait_until(page, "return window.musicnnReport.state.path.count === 4")
    assert len(page.find_elements(By.CSS_SELECTOR, "#path-list li")) <= 4
    page.find_element(By.ID, "path-clear").click()
    wait_until(page, "return window.musicnnReport.state.path === null")
    assert not page.execute_script(
        "return document.getElementById('map').data.some(t => t.name === 'path')"
    )
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def _artist(report_library, item_id: int) -> str:
    import sqlite3

    with sqlite3.connect(report_library.folder / "library.db") as db:
        query = "SELECT artist FROM items WHERE id = ?"
        return db.execute(query, (item_id,)).fetchone()[0]


def test_the_page_and_the_command_make_the_same_paths(page, report_library):
    """Pairs of every kind (within a recording, across recordings), each as
    ``beet musicnn-path`` lists it."""
    n = page.execute_script("return window.musicnnReport.n")
    rng = np.random.default_rng(16)
    pairs = [tuple(int(i) for i in rng.choice(n, 2, replace=False)) for _ in range(6)]
    for count in (20, 5):
        for start, end in pairs[:3] if count == 5 else pairs:
            ids = page_path(page, start, end, count)
            assert ids == command_path(report_library, ids[0], ids[-1], count)


def test_escape_stops_picking(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page.execute_script("window.musicnnReport.select(0)")
    page.find_element(By.ID, "path-pick").click()
    assert page.execute_script("return window.musicnnReport.state.picking")
    page.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_until(page, "return !window.musicnnReport.state.picking")
    button = page.find_element(By.ID, "path-pick").text
    assert button == "Pick the last track on the map"


def test_another_selected_track_says_which_path_is_drawn(page):
    from selenium.webdriver.common.by import By

    page.execute_script("window.musicnnReport.select(0)")
    end = page.execute_script("return window.musicnnReport.n - 1")
    page.execute_script(f"return window.musicnnReport.pathTo({end})")
    wait_until(page, "return window.musicnnReport.state.path !== null")
    page.execute_script("window.musicnnReport.select(1)")
    section = page.find_element(By.ID, "path-section")
    assert "The map shows the path from" in section.text
    assert not section.find_elements(By.ID, "path-list")  # not this track's
    page.find_element(By.ID, "path-clear").click()
    wait_until(page, "return window.musicnnReport.state.path === null")
    assert "The map shows" not in page.find_element(By.ID, "path-section").text


def test_the_page_keeps_every_dimension_within_its_budget():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 200))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    packed = report_data.path_vectors(vectors)
    assert packed["dims"] == packed["full_dims"] == 200
    # Decoded as the page decodes them: the same dot products, to 16 bits.
    decoded = _decode(packed, len(vectors))
    np.testing.assert_allclose(decoded @ decoded.T, vectors @ vectors.T, atol=2e-4)
    # Above the budget, the leading axes only: most of the variance stays.
    small = report_data.path_vectors(vectors[:, :200], budget=50 * 2 * 40)
    assert small["dims"] == 40


def _decode(packed: dict, n: int) -> np.ndarray:
    import base64

    codes = np.frombuffer(base64.b64decode(packed["codes"]), "<i2").reshape(n, -1)
    turned = codes * np.asarray(packed["scale"])
    return turned / np.linalg.norm(turned, axis=1, keepdims=True)


@pytest.mark.parametrize("width", [390])
def test_the_path_fits_a_phone(report_library, browser_available, width):
    from selenium.webdriver.common.by import By

    with open_browser(width, 844) as driver:
        driver.get(report_library.html.as_uri())
        wait_until(driver, "return window.musicnnReport && window.musicnnReport.ready")
        driver.execute_script("window.musicnnReport.select(0)")
        driver.find_element(By.ID, "path-pick").click()
        end = driver.execute_script("return window.musicnnReport.n - 1")
        driver.execute_script(f"return window.musicnnReport.pathTo({end})")
        wait_until(driver, "return window.musicnnReport.state.path !== null")
        sizes = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.getElementById('path-section').getBoundingClientRect().right];"
        )
        assert sizes[0] <= sizes[1] and sizes[2] <= sizes[1], sizes
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
