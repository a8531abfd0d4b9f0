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

from tests.browser import REQUIRE_ENV, missing_reason, open_browser

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
    assert len(near) == min(10, len(report_library.analysed) - 1)
    command = page.find_element(By.ID, "command").text
    assert command.startswith(f"beet musicnn-similar -n 10 id:{item_id} ")
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
    assert [int(i) for i in radio if i.isdigit()] == listed
    # A listed track selects that track.
    near[0].click()
    wait_until(page, f"return window.musicnnReport.state.selected !== {row}")


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
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe


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
