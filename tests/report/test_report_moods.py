"""The seven listener moods in the report: colourings, charts, payload.

The library and page are ``test_report.py``'s (segments of the bundled clips,
analysed with ``beet musicnn``, the report written with ``beet
musicnn-report``), so every analysed item has the seven
``musicnn_mood_<mood>`` strengths the shipped mood head stores. A copy of the
library without them stands for one analysed before the moods existed.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import test_report
from test_report import beet, wait_until

from beetsplug.musicnn.labels import fields, moods
from beetsplug.musicnn.report.data import MOOD_COLOURS
from beetsplug.musicnn.sound.catalog import is_strength, strength_order
from tests.browser import open_browser

# test_report.py's library and page, shared (module-scoped there, so built
# again for this module).
segments = test_report.segments
report_library = test_report.report_library
browser_available = test_report.browser_available
page = test_report.page

MOOD_FIELDS = list(fields.MOOD_STRENGTH_FIELDS.values())
MOOD_LABELS = [f"{mood} (listeners)" for mood in fields.MOOD_STRENGTH_FIELDS]
GREY = "#b8bec8"


def payload(html: Path) -> dict:
    """The data the report page holds."""
    text = html.read_text()
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>',
        text,
        re.DOTALL,
    )
    assert found
    return json.loads(found.group(1))


def stored(folder: Path, prefix: str) -> dict[str, dict[int, float]]:
    """The library's fields whose names start with ``prefix``: name ->
    item id -> value."""
    out: dict[str, dict[int, float]] = {}
    with sqlite3.connect(folder / "library.db") as db:
        for item_id, key, value in db.execute(
            "SELECT entity_id, key, value FROM item_attributes "
            "WHERE substr(key, 1, ?) = ?",
            (len(prefix), prefix),
        ):
            out.setdefault(key, {})[item_id] = float(value)
    return out


def page_ids(data: dict) -> list[int]:
    return list(memoryview(base64.b64decode(data["ids"])).cast("i"))


def strength_bytes(entry: dict) -> list[int]:
    return list(base64.b64decode(entry["values"]))


# Which fields are strengths --------------------------------------------------------


def test_the_seven_moods_are_strengths_and_come_first():
    assert all(is_strength(name) for name in MOOD_FIELDS)
    assert is_strength("musicnn_msd_happy") and is_strength("musicnn_mtt_slow")
    for name in ("musicnn_mood", "musicnn_mood_amazement", "musicnn_genre"):
        assert not is_strength(name), name
    shuffled = ["musicnn_msd_sad", *reversed(MOOD_FIELDS), "musicnn_msd_happy"]
    assert sorted(shuffled, key=strength_order) == [
        *MOOD_FIELDS,
        "musicnn_msd_happy",
        "musicnn_msd_sad",
    ]


def test_every_listener_mood_has_its_own_colour():
    assert set(MOOD_COLOURS) == set(moods.LISTENER_MOODS)
    assert len(set(MOOD_COLOURS.values())) == len(MOOD_COLOURS)
    assert GREY not in MOOD_COLOURS.values()


# The payload -----------------------------------------------------------------------


def test_the_payload_lists_the_mood_strengths_first(report_library):
    data = payload(report_library.html)
    ids = page_ids(data)
    assert sorted(ids) == sorted(report_library.analysed)
    moods_stored = stored(report_library.folder, "musicnn_mood_")
    assert sorted(moods_stored) == sorted(MOOD_FIELDS)  # the head stored them
    strengths = data["strengths"]
    assert [s["field"] for s in strengths[:7]] == MOOD_FIELDS
    assert [s["label"] for s in strengths[:7]] == MOOD_LABELS
    assert {s["kind"] for s in strengths[:7]} == {"mood"}
    # The tags' strengths follow, the default ones first, labelled as before.
    rest = strengths[7:]
    defaults = [fields.score_field(m, t) for m, t in fields.DEFAULT_SCORES]
    assert rest and {s["kind"] for s in rest} == {"tag"}
    assert all(re.fullmatch(r".+ \((msd|mtt)\)", s["label"]) for s in rest)
    shown_defaults = [s["field"] for s in rest if s["field"] in defaults]
    assert [s["field"] for s in rest[: len(shown_defaults)]] == shown_defaults
    assert "happy (msd)" in [s["label"] for s in rest]
    # Each point's value is the item's field (bytes of 1/254).
    for entry in strengths[:7]:
        values = stored(report_library.folder, entry["field"])[entry["field"]]
        for item_id, code in zip(ids, strength_bytes(entry), strict=True):
            assert code != 255, (entry["field"], item_id)
            assert abs(code / 254 - values[item_id]) <= 0.5 / 254 + 1e-6, (
                entry["field"],
                item_id,
                code,
                values[item_id],
            )


def test_the_charts_count_the_moods(report_library):
    data = payload(report_library.html)
    charts = data["charts"]
    histograms = charts["histograms"]
    assert [h["label"] for h in histograms[:7]] == MOOD_LABELS
    assert "mood strength" in histograms[0]["axis"]
    assert "calibrated strength" in histograms[7]["axis"]
    n = len(report_library.analysed)
    assert all(sum(h["counts"]) == n for h in histograms[:7])
    # The mood chart names each of the seven, with its tracks.
    mood_of = dict.fromkeys(report_library.analysed, "")
    with sqlite3.connect(report_library.folder / "library.db") as db:
        for item_id, value in db.execute(
            "SELECT entity_id, value FROM item_attributes WHERE key = 'musicnn_mood'"
        ):
            if item_id in mood_of:
                mood_of[item_id] = value
    counted = dict(map(tuple, charts["mood"]))
    assert set(moods.LISTENER_MOODS) <= set(counted)
    for mood in moods.LISTENER_MOODS:
        assert counted[mood] == list(mood_of.values()).count(mood), mood
    assert sum(counted.values()) == n
    assert charts["mood_colours"] == MOOD_COLOURS
    colours = data["categories"]["mood"]["colours"]
    assert colours and all(MOOD_COLOURS[name] == c for name, c in colours.items())


# In the browser --------------------------------------------------------------------


def options(driver, select_id: str) -> list[list[str]]:
    return driver.execute_script(
        "return [...document.getElementById(arguments[0]).options]"
        "  .map(o => [o.value, o.text]);",
        select_id,
    )


def choose_colour(driver, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "colour")).select_by_visible_text(text)


def map_traces(driver) -> list[dict]:
    """The map's colouring traces: name, points (item ids) and colours."""
    return driver.execute_script(
        "const gd = document.getElementById('map'), r = window.musicnnReport;"
        "return gd.data.slice(0, r.state.baseTraces).map(t => ({"
        "  name: t.name,"
        "  ids: Array.from(t.customdata).map(i => r.ids[i]),"
        "  color: typeof t.marker.color === 'string' ? t.marker.color"
        "    : Array.from(t.marker.color)}));"
    )


def test_the_colour_menu_offers_the_moods_first(page):
    texts = [text for _, text in options(page, "colour")]
    strengths = [t for t in texts if t.startswith("strength: ")]
    assert strengths[:7] == [f"strength: {label}" for label in MOOD_LABELS]
    assert all(t.endswith(("(msd)", "(mtt)")) for t in strengths[7:])
    assert "mood" in texts  # the category colouring stays
    histogram = [text for _, text in options(page, "histogram-field")]
    assert histogram[:7] == MOOD_LABELS
    title = page.execute_script(
        "return document.querySelector('#chart-strength .g-xtitle').textContent"
    )
    assert title.startswith("mood strength")


def test_colouring_by_a_mood_colours_each_point_by_its_strength(page, report_library):
    values = stored(report_library.folder, "musicnn_mood_sad")["musicnn_mood_sad"]
    try:
        choose_colour(page, "strength: sad (listeners)")
        wait_until(
            page,
            "return window.musicnnReport.state.colour === 'strength:"
            f"{MOOD_FIELDS.index('musicnn_mood_sad')}'",
        )
        traces = map_traces(page)
        assert len(traces) == 1  # every point has a value
        coloured = dict(zip(traces[0]["ids"], traces[0]["color"], strict=True))
        assert sorted(coloured) == sorted(report_library.analysed)
        for item_id, colour in coloured.items():
            assert abs(colour - values[item_id]) <= 0.5 / 254 + 1e-6, item_id
        # ...and differently from another mood.
        choose_colour(page, "strength: joyful (listeners)")
        wait_until(page, "return window.musicnnReport.state.colour === 'strength:0'")
        joyful = map_traces(page)[0]
        assert dict(zip(joyful["ids"], joyful["color"], strict=True)) != coloured
    finally:
        choose_colour(page, "genre")
        wait_until(page, "return window.musicnnReport.state.colour === 'genre'")


def test_mood_categories_keep_their_colours(page, report_library):
    try:
        choose_colour(page, "mood")
        wait_until(page, "return window.musicnnReport.state.colour === 'mood'")
        traces = map_traces(page)
    finally:
        choose_colour(page, "genre")
        wait_until(page, "return window.musicnnReport.state.colour === 'genre'")
    named = {}
    for trace in traces:
        name = trace["name"].rsplit(" (", 1)[0]
        named[name] = trace["color"]
    assert set(named) - {"none"}, named  # some track has a mood
    for name, colour in named.items():
        assert colour == (GREY if name == "none" else MOOD_COLOURS[name]), name
    assert sum(len(t["ids"]) for t in traces) == len(report_library.analysed)
    # The moods chart: the seven, in the map's colours.
    bars = page.execute_script(
        "const t = document.getElementById('chart-mood').data[0];"
        "return [t.y, t.marker.color];"
    )
    assert set(moods.LISTENER_MOODS) <= set(bars[0])
    for name, colour in zip(*bars, strict=True):
        assert colour == (GREY if name == "(none)" else MOOD_COLOURS[name]), name


# A library analysed before the moods -----------------------------------------------


def felt_text(driver, row: int) -> str | None:
    """The selected-track panel's "felt" row once ``row`` is selected."""
    driver.execute_script(f"window.musicnnReport.select({row})")
    wait_until(driver, f"return window.musicnnReport.state.selected === {row}")
    return driver.execute_script(
        "const e = document.getElementById('felt'); return e && e.textContent;"
    )


def test_the_panel_shows_the_strongest_felt_moods(page, report_library):
    values = stored(report_library.folder, "musicnn_mood_")
    ids = page.execute_script("return Array.from(window.musicnnReport.ids)")
    for row in (0, len(ids) // 2, len(ids) - 1):
        item = {
            name.removeprefix("musicnn_mood_"): by_id[ids[row]]
            for name, by_id in values.items()
        }
        shown = [part.rsplit(" ", 1) for part in felt_text(page, row).split(" · ")]
        strongest = sorted(item, key=item.get, reverse=True)[:3]
        assert [name for name, _ in shown] == strongest, (item, shown)
        for name, value in shown:
            assert abs(float(value) - item[name]) <= 0.005 + 0.5 / 254, name


@pytest.fixture(scope="module")
def library_without_moods(report_library, tmp_path_factory) -> Path:
    """A copy of the library without the seven strengths, and its report."""
    folder = tmp_path_factory.mktemp("before_moods")
    for name in ("library.db", "library.musicnn.sqlite"):
        shutil.copy(report_library.folder / name, folder / name)
    (folder / "config.yaml").write_text(
        (report_library.folder / "config.yaml")
        .read_text()
        .replace(str(report_library.folder), str(folder))
    )
    with sqlite3.connect(folder / "library.db") as db:
        db.execute(
            "DELETE FROM item_attributes WHERE substr(key, 1, 13) = 'musicnn_mood_'"
        )
    beet(folder, "musicnn-report", "-o", str(folder / "report.html"))
    return folder


def test_a_library_without_the_moods_reports_as_before(
    library_without_moods, report_library, browser_available
):
    assert not stored(library_without_moods, "musicnn_mood_")
    old = payload(library_without_moods / "report.html")
    new = payload(report_library.html)
    # The tag strengths only, in the order and with the labels of before.
    assert old["strengths"] and {s["kind"] for s in old["strengths"]} == {"tag"}
    assert [s["field"] for s in old["strengths"]] == [
        s["field"] for s in new["strengths"][7:]
    ]
    assert [h["label"] for h in old["charts"]["histograms"]] == [
        h["label"] for h in new["charts"]["histograms"][7:]
    ]
    # The mood chart counts the moods found, no empty rows.
    assert all(count > 0 for _, count in old["charts"]["mood"])
    with open_browser(1400, 1000) as driver:
        driver.get((library_without_moods / "report.html").as_uri())
        wait_until(driver, "return window.musicnnReport && window.musicnnReport.ready")
        wait_until(driver, "return document.getElementById('chart-strength').data")
        texts = [text for _, text in options(driver, "colour")]
        assert not [t for t in texts if "listeners" in t], texts
        assert texts[:2] == ["genre", "mood"]
        histogram = [text for _, text in options(driver, "histogram-field")]
        assert histogram and not [t for t in histogram if "listeners" in t]
        assert felt_text(driver, 0) is None  # no "felt" row without the moods
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
