"""The report end to end: real beets (as subprocesses), real audio, real
model, and the page in a real headless Chromium driven by Selenium.

The library: consecutive 5-second segments of each bundled clip, analysed
with ``beet musicnn``, plus a damaged file (its analysis fails) and an item
imported after the run (not analysed yet). The browser tests skip, with the
reason, where Chromium or its driver is missing, and fail instead where
``MUSICNN_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile
from beets import ui
from test_plugin import MusicnnHelper

from tests.browser import (
    FLAGS,
    REQUIRE_ENV,
    find_browser,
    first_row,
    missing_reason,
    open_browser,
    with_fit_check,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SEGMENT_SECONDS = 5.0
SEGMENTS = 5


@dataclass
class ReportLibrary:
    folder: Path
    html: Path
    #: Item id -> title of the analysed items.
    analysed: dict[int, str]
    output: str


def beet(folder: Path, *args: str) -> str:
    """Run ``beet`` with the library in ``folder``; its standard output."""
    env = {
        **os.environ,
        "BEETSDIR": str(folder),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import beets.ui; beets.ui.main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def copy_as(source: Path, path: Path, title: str) -> None:
    """The audio of ``source`` under another title (not a duplicate to beets)."""
    signal, rate = soundfile.read(source)
    with soundfile.SoundFile(path, "w", rate, signal.shape[1], format="OGG") as sound:
        sound.title = sound.artist = sound.album = title
        sound.write(signal)


@pytest.fixture(scope="module")
def segments(write_segments, tmp_path_factory) -> list[Path]:
    return write_segments(
        tmp_path_factory.mktemp("report") / "clips",
        SEGMENT_SECONDS,
        SEGMENTS,
        title="{stem} part {number}",
        album="{stem} <segments> & more",  # needs escaping
    )


@pytest.fixture(scope="module")
def report_library(segments, tmp_path_factory) -> ReportLibrary:
    folder = tmp_path_factory.mktemp("report_library")
    shutil.copytree(segments[0].parent, folder / "source")
    (folder / "config.yaml").write_text(
        f"directory: {folder / 'music'}\nlibrary: {folder / 'library.db'}\n"
        "plugins: musicnn\ncreate_backup_before_migrations: no\n"
        "import: {copy: yes, write: no, quiet: yes}\n"
        "musicnn: {auto: no, workers: 0}\n"
    )
    beet(folder, "import", "-A", str(folder / "source"))
    # A file that imports, then gets damaged: its analysis fails.
    damaged_source = folder / "damaged"
    damaged_source.mkdir()
    copy_as(segments[0], damaged_source / "damaged.ogg", "damaged")
    beet(folder, "import", "-A", str(damaged_source))
    library_path = beet(folder, "ls", "-p", "title:damaged").strip()
    Path(library_path).write_bytes(b"OggS" + b"\x00garbage" * 100)
    beet(folder, "musicnn")
    # Imported after the run: not analysed yet.
    late = folder / "late"
    late.mkdir()
    copy_as(segments[1], late / "late.ogg", "late")
    beet(folder, "import", "-A", str(late))

    html = folder / "report.html"
    output = beet(folder, "musicnn-report", "-o", str(html))
    with sqlite3.connect(folder / "library.musicnn.sqlite") as store:
        analysed_ids = {row[0] for row in store.execute("SELECT item_id FROM results")}
    with sqlite3.connect(folder / "library.db") as db:
        titles = dict(db.execute("SELECT id, title FROM items"))
    return ReportLibrary(
        folder, html, {i: titles[i] for i in sorted(analysed_ids)}, output
    )


def test_the_command_writes_one_self_contained_file(report_library):
    assert f"wrote {report_library.html}" in report_library.output
    assert f"({len(report_library.analysed)} items" in report_library.output
    page = report_library.html.read_text()
    assert "<script src" not in page and "<link" not in page
    assert "Content-Security-Policy" in page
    assert len(report_library.analysed) == len(
        os.listdir(report_library.folder / "source")
    )


def test_the_default_output_is_in_the_current_folder(report_library, tmp_path):
    env_folder = report_library.folder
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import beets.ui; beets.ui.main()",
            "musicnn-report",
            "artist:hsr_rock",
        ],
        env={**os.environ, "BEETSDIR": str(env_folder), "PYTHONPATH": str(REPO_ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "musicnn-report.html").is_file()


# In the browser --------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_available():
    reason = missing_reason()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def page(report_library, browser_available):
    """The report open in headless Chromium at desktop size, drawn."""
    with open_browser(1400, 1000) as driver:
        driver.get(report_library.html.as_uri())
        wait_until(driver, "return window.musicnnReport && window.musicnnReport.ready")
        yield driver


def wait_until(driver, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def move_to(driver, x: float, y: float, click: bool = False) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(round(x), round(y))
    if click:
        actions.pointer_action.click()
    actions.perform()


def isolated_row(driver) -> tuple[int, dict]:
    """The point farthest from any other on the screen, and its position."""
    positions = driver.execute_script(
        "const r = window.musicnnReport;"
        "return Array.from({length: r.n}, (_, i) => r.pointOnPage(i));"
    )

    def room(i):
        return min(
            (p["x"] - positions[i]["x"]) ** 2 + (p["y"] - positions[i]["y"]) ** 2
            for j, p in enumerate(positions)
            if j != i
        )

    row = max(range(len(positions)), key=room)
    return row, positions[row]


def test_no_javascript_error(page):
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_one_point_per_analysed_item(page, report_library):
    ids = page.execute_script(
        "const gd = document.getElementById('map');"
        "const r = window.musicnnReport;"
        "const rows = gd.data.slice(0, r.state.baseTraces)"
        "  .flatMap(t => Array.from(t.customdata));"
        "return rows.map(i => r.ids[i]);"
    )
    assert sorted(ids) == sorted(report_library.analysed)


def test_hover_shows_the_track(page, report_library):
    row, where = isolated_row(page)
    item_id = page.execute_script(f"return window.musicnnReport.ids[{row}]")
    move_to(page, where["x"] + 20, where["y"] + 20)  # away first
    move_to(page, where["x"], where["y"])
    text = wait_until(
        page,
        "const h = document.querySelector('.hoverlayer .hovertext');"
        "return h && h.textContent;",
    )
    assert report_library.analysed[item_id] in text
    assert "genre:" in text and "mood:" in text
    assert "<segments> & more" in text  # escaped, shown as written


def test_search_highlights_the_matches(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = page.find_element(By.ID, "search")
    box.clear()
    box.send_keys("hsr_rock part 2")
    wait_until(
        page, "return document.getElementById('matches').textContent === '1 match'"
    )
    highlighted = page.execute_script(
        "const gd = document.getElementById('map');"
        "return gd.data[window.musicnnReport.state.baseTraces].x.length;"
    )
    assert highlighted == 1
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    box.send_keys("hsr_rock")
    wait_until(
        page,
        "return document.getElementById('matches').textContent"
        f" === '{SEGMENTS} matches'",
    )
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    wait_until(page, "return document.getElementById('matches').textContent === ''")


def test_selecting_a_point_lists_its_nearest_tracks_and_the_command(
    page, report_library
):
    from selenium.webdriver.common.by import By

    row, where = isolated_row(page)
    item_id = page.execute_script(f"return window.musicnnReport.ids[{row}]")
    move_to(page, where["x"], where["y"], click=True)
    wait_until(page, f"return window.musicnnReport.state.selected === {row}")
    panel = page.find_element(By.ID, "selected")
    assert report_library.analysed[item_id] in panel.text
    near = panel.find_elements(By.CSS_SELECTOR, "#near li")
    assert near  # the isolated point of a recording cut in segments has some
    command = page.find_element(By.ID, "command").text
    assert command.startswith(f"beet musicnn-similar -n {len(near)} id:{item_id} ")
    # The listed tracks are the radio's: `beet musicnn-similar` agrees.
    radio = beet(
        report_library.folder,
        "musicnn-similar",
        "-n",
        "10",
        "-f",
        "$id",
        f"id:{item_id}",
    ).splitlines()
    listed = page.execute_script(
        "return [...document.querySelectorAll('#near li')]"
        "  .map(li => window.musicnnReport.ids[Number(li.dataset.row)]);"
    )
    assert [int(i) for i in radio if i.isdigit()][: len(listed)] == listed
    # A listed track selects that track.
    near[0].click()
    wait_until(page, f"return window.musicnnReport.state.selected !== {row}")


def exact_similarities(report_library) -> dict[int, list[float]]:
    """Each analysed item's similarities to the others, best first, from
    the stored embeddings (the radio's measure, computed here in full)."""
    import numpy as np

    from beetsplug.musicnn.library.store import ResultStore
    from beetsplug.musicnn.sound.similarity import normalize

    with ResultStore.for_library(report_library.folder / "library.db") as store:
        _, rows = store.iter_embeddings("msd")
        stored = {i: np.frombuffer(b, "<f2").astype(np.float32) for i, b in rows}
    ids = sorted(stored)
    matrix = np.stack([stored[i] for i in ids])
    vectors = normalize(matrix, mean=matrix.mean(axis=0))
    similarity = vectors @ vectors.T
    return {
        item: sorted(np.delete(similarity[row], row).tolist(), reverse=True)
        for row, item in enumerate(ids)
    }


def test_the_nearest_list_holds_only_related_tracks(page, report_library):
    from beetsplug.musicnn.sound.similarity import RELATED

    exact = exact_similarities(report_library)
    k = page.execute_script(
        "return JSON.parse("
        "document.getElementById('report-data').textContent).neighbours.k"
    )
    left_out = 0
    for row in range(len(report_library.analysed)):
        item_id = page.execute_script(
            f"const r = window.musicnnReport; r.select({row}); return r.ids[{row}];"
        )
        shown = page.execute_script(
            "return [...document.querySelectorAll('#near .sim')]"
            "  .map(e => Number(e.textContent));"
        )
        note = page.execute_script(
            "const e = document.getElementById('unrelated');"
            "return e ? e.textContent : '';"
        )
        related = [s for s in exact[item_id][:k] if s >= RELATED]
        assert len(shown) == len(related), (item_id, shown, exact[item_id][:k])
        assert all(s >= RELATED for s in shown)
        if len(related) < k:
            left_out += 1
            assert f"{k - len(related)}" in note and "unrelated" in note
            assert f"{RELATED:.2f}" in note
        else:
            assert note == ""
    # Segments of four recordings: most neighbours of a segment are of other
    # recordings, some unrelated, so the test sees both cases.
    assert left_out > 0


def plot_boxes(driver) -> dict:
    """Family labels, points and plot area of the map, in page pixels."""
    return driver.execute_script(
        "const gd = document.getElementById('map');"
        "const r = window.musicnnReport, box = gd.getBoundingClientRect();"
        "const size = gd._fullLayout._size;"
        "const labels = [...gd.querySelectorAll('.annotation')].map(a => {"
        "  const b = (a.querySelector('.bg') || a).getBoundingClientRect();"
        "  return {text: a.textContent, x0: b.left, y0: b.top, x1: b.right,"
        "          y1: b.bottom}; });"
        "return {labels: labels,"
        "  points: Array.from({length: r.n}, (_, i) => r.pointOnPage(i)),"
        "  area: {x0: box.left + size.l, y0: box.top + size.t,"
        "         x1: box.left + size.l + size.w, y1: box.top + size.t + size.h}};"
    )


def hidden_points(boxes: dict) -> list[tuple[str, int]]:
    """(label, point) of every point whose centre is under a family label."""
    return [
        (label["text"], row)
        for label in boxes["labels"]
        for row, p in enumerate(boxes["points"])
        if label["x0"] - 1 <= p["x"] <= label["x1"] + 1
        and label["y0"] - 1 <= p["y"] <= label["y1"] + 1
    ]


def assert_labels_hide_no_point(driver) -> None:
    boxes = plot_boxes(driver)
    assert boxes["labels"], "no family label drawn"
    assert not hidden_points(boxes)
    area = boxes["area"]
    for label in boxes["labels"]:  # and stay on the map
        assert area["x0"] - 1 <= label["x0"] and label["x1"] <= area["x1"] + 1
        assert area["y0"] - 1 <= label["y0"] and label["y1"] <= area["y1"] + 1


def zoom(driver, factor: float) -> dict:
    """Zoom the map about its middle (``factor`` > 1 zooms out); the boxes
    of :func:`plot_boxes` once it is drawn, with only the points on it."""
    driver.execute_script(
        "const gd = document.getElementById('map'), f = arguments[0];"
        "const scale = ([a, b]) => [(a + b) / 2 - (b - a) * f / 2,"
        "                           (a + b) / 2 + (b - a) * f / 2];"
        "Plotly.relayout(gd, {'xaxis.range': scale(gd._fullLayout.xaxis.range),"
        "                     'yaxis.range': scale(gd._fullLayout.yaxis.range)});",
        factor,
    )
    time.sleep(0.5)
    boxes = plot_boxes(driver)
    area = boxes["area"]
    boxes["points"] = [
        p
        for p in boxes["points"]
        if area["x0"] <= p["x"] <= area["x1"] and area["y0"] <= p["y"] <= area["y1"]
    ]
    return boxes


def test_family_names_hide_no_point(page):
    assert_labels_hide_no_point(page)
    try:  # placed again after a zoom: out (the points crowd together), in
        for factor in (3.0, 0.4):
            boxes = zoom(page, factor)
            assert boxes["labels"] and not hidden_points(boxes), factor
    finally:
        page.execute_script(
            "Plotly.relayout('map', {'xaxis.autorange': true,"
            " 'yaxis.autorange': true});"
        )
        time.sleep(0.5)


#: Chart parts that must lie inside their chart: tick labels, and titles
#: with 2 px to spare (a title whose box touches the chart's edge loses
#: the bottom of its letters, or more with a wider font).
CHART_TEXT = (
    "const out = [];"
    "document.querySelectorAll('.chart').forEach(c => {"
    "  const box = c.getBoundingClientRect();"
    "  c.querySelectorAll('.g-xtitle, .g-ytitle, .xtick, .ytick').forEach(t => {"
    "    const r = t.getBoundingClientRect();"
    "    const room = t.matches('.g-xtitle, .g-ytitle') ? 2 : -0.5;"
    "    if (r.width && (r.left < box.left + room || r.right > box.right - room ||"
    "        r.top < box.top + room || r.bottom > box.bottom - room))"
    "      out.push(c.id + ': ' + t.textContent); }); });"
    "return out;"
)


def test_chart_titles_and_ticks_are_inside_their_charts(page):
    assert page.execute_script(
        "return document.querySelectorAll('#chart-strength .g-xtitle').length"
    )
    assert page.execute_script(CHART_TEXT) == []


def test_no_request_leaves_the_file(page, report_library):
    """DevTools' network events: the page asks for itself, nothing else, and
    nothing in the browser went to the network (``chrome://`` pages of the
    browser's own new tab are not network)."""
    from_page, anywhere = [], []
    for entry in page.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in (
            "Network.requestWillBeSent",
            "Network.webSocketCreated",
        ):
            params = message["params"]
            url = params.get("request", {}).get("url") or params.get("url", "")
            anywhere.append(url)
            if params.get("documentURL", "").startswith("file:"):
                from_page.append(url)
    assert report_library.html.as_uri() in from_page  # the log works
    assert all(u.startswith(("file:", "data:", "blob:")) for u in from_page), from_page
    network = [u for u in anywhere if u.startswith(("http:", "https:", "ws:", "wss:"))]
    assert not network, network


def test_charts_show_coverage_and_failures(page):
    coverage = page.execute_script(
        "return document.getElementById('chart-coverage').data[0].x;"
    )
    assert coverage == [SEGMENTS * 4, 1, 1]  # analysed, not yet, failed
    failures = page.execute_script(
        "return document.getElementById('failures').textContent;"
    )
    assert "why analysis failed" in failures
    genres = page.execute_script(
        "return document.getElementById('chart-genre').data[0].x"
        ".reduce((a, b) => a + b, 0);"
    )
    assert genres == SEGMENTS * 4


def test_fits_a_phone(report_library, browser_available):
    with open_browser(390, 844) as driver:
        driver.get(report_library.html.as_uri())
        wait_until(driver, "return window.musicnnReport && window.musicnnReport.ready")
        width = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.getElementById('map').getBoundingClientRect().width];"
        )
        assert width[0] <= width[1], width  # nothing wider than the screen
        assert width[2] >= 300, width
        wait_until(driver, "return document.getElementById('chart-strength').data")
        assert_labels_hide_no_point(driver)
        assert driver.execute_script(CHART_TEXT) == []
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe


@pytest.fixture
def checked_page(report_library, tmp_path) -> Path:
    """The report with :data:`browser.FIT_CHECK` in it."""
    path = tmp_path / "report.html"
    path.write_text(with_fit_check(report_library.html.read_text()))
    return path


def test_follows_a_viewport_that_shrinks_at_once(checked_page, browser_available):
    """What ``chromium --screenshot --window-size=390,844`` does, in Selenium:
    the page is laid out 500 px wide (Chromium's narrowest window), then the
    viewport becomes 390 px and the picture is taken in the next frame. By
    that frame's paint every plot, legend and label must fit."""
    with open_browser(500, 844) as driver:
        driver.get(checked_page.as_uri())
        wait_until(driver, "return document.getElementById('chart-strength').data")
        assert driver.execute_script("return window.fitLog.at(-1)")["out"] == []
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": False},
        )
        first = wait_until(
            driver, "return window.fitLog.find(entry => entry.width < 390)"
        )
        assert first["drawn"] and first["out"] == [], first
        time.sleep(0.5)  # and later too
        assert driver.execute_script("return window.fitLog.at(-1)")["out"] == []


def test_a_plain_headless_screenshot_at_phone_width_fits(
    checked_page, browser_available, tmp_path
):
    """The issue's command, ``chromium --headless=new --no-sandbox
    --screenshot=out.png --window-size=390,844 file://...``: the strip that
    :data:`browser.FIT_CHECK` paints is green in the picture."""
    browser, _ = find_browser()
    out = tmp_path / "out.png"
    subprocess.run(
        [
            browser,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={out}",
            "--window-size=390,844",
            checked_page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    strip = first_row(out.read_bytes())
    assert len(strip) == 390
    colours = {strip[x] for x in (5, 195, 360)}  # the scrollbar is at the right
    assert colours == {(0, 255, 0)}, (
        "red: a plot sticks out; grey: the map was not drawn" + f" {colours}"
    )


# Errors, in-process ----------------------------------------------------------------


class TestReportErrors(MusicnnHelper):
    def test_an_empty_library(self, tmp_path):
        with pytest.raises(ui.UserError, match="the library is empty"):
            self.run_command("musicnn-report", "-o", str(tmp_path / "r.html"))
        assert not (tmp_path / "r.html").exists()

    def test_an_unanalysed_library(self, segments, tmp_path):
        self.add_file(segments[0])
        with pytest.raises(ui.UserError, match="none of the 1 items is analysed"):
            self.run_command("musicnn-report", "-o", str(tmp_path / "r.html"))

    def test_without_the_extra_the_message_names_it(
        self, segments, tmp_path, monkeypatch
    ):
        self.add_file(segments[0])
        monkeypatch.setitem(sys.modules, "plotly", None)
        extra = r"needs plotly.*pip install 'beets-musicnn\[report\]'"
        with pytest.raises(ui.UserError, match=extra):
            self.run_command("musicnn-report", "-o", str(tmp_path / "r.html"))

    def test_too_few_tracks_for_families_still_make_a_report(self, segments, tmp_path):
        for clip in segments[::SEGMENTS]:  # the demo's four clips
            self.add_file(clip)
        self.musicnn()
        self.run_command("musicnn-report", "-o", str(tmp_path / "r.html"))
        assert "(4 items, 0 families" in self.capsys.readouterr().out
        page = (tmp_path / "r.html").read_text()
        assert '"family_note":"4 analysed tracks are too few for families' in page

    def test_an_unwritable_output(self, segments, tmp_path):
        for clip in segments[::5]:
            self.add_file(clip)
        self.musicnn()
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(ui.UserError, match="cannot write the report"):
            self.run_command("musicnn-report", "-o", str(blocker / "r.html"))


# The numbers of the page ------------------------------------------------------------


def test_failure_reasons_group_without_paths_and_numbers():
    from beetsplug.musicnn.report.data import failure_reason

    assert failure_reason("no such file") == "no such file"
    assert failure_reason(
        "[Errno 13] Permission denied: '/music/a b/x.mp3'"
    ) == failure_reason("[Errno 13] Permission denied: '/music/other.flac'")
    assert "/music" not in failure_reason("cannot open /music/x.mp3 at 12 s")


def test_quantised_strengths_keep_missing_values_apart():
    import numpy as np

    from beetsplug.musicnn.report.data import MISSING, quantise

    values = quantise(np.array([0.0, 0.5, 1.0, np.nan, 1.7]))
    assert values.tolist() == [0, 127, 254, MISSING, 254]
