"""The progress line and the end-of-run summary of ``beet musicnn``."""

from __future__ import annotations

import io

import pytest

from beetsplug.musicnn.library.progress import (
    FAILED_QUERY,
    Progress,
    RunSummary,
    format_duration,
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (4.4, "4s"), (75, "1m 15s"), (3600, "1h 00m"), (3725, "1h 02m")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_summary_names_counts_rate_and_where_to_see_failures():
    summary = RunSummary(
        analysed=120, skipped=30, failed=2, audio_seconds=120 * 240, wall_seconds=600
    )
    text = summary.text()
    assert "analysed 120 tracks" in text
    assert "skipped 30 already up to date" in text
    assert "2 failed" in text
    assert FAILED_QUERY in text
    assert "Wall time 10m 00s" in text
    # 8 hours of audio in 10 minutes: 48 audio hours per wall hour.
    assert "48.0 hours of audio per wall-clock hour" in text
    assert "\n" not in text


def test_summary_without_failures_or_work():
    text = RunSummary(skipped=5).text()
    assert "analysed 0 tracks" in text
    assert "0 failed." in text
    assert FAILED_QUERY not in text
    assert "hours of audio" not in text


def test_summary_of_an_interrupted_run_says_work_was_kept():
    assert "what finished is saved" in RunSummary(analysed=1, interrupted=True).text()


def test_time_text_sums_stages_over_files():
    summary = RunSummary(saving_seconds=0.5)
    summary.add_stage_seconds({"decode": 1.0, "inference": 2.0})
    summary.add_stage_seconds({"decode": 1.0, "features": 1.0, "inference": 5.0})
    assert summary.time_text() == (
        "time in the analyses: decode 2.0 s (20%), inference 7.0 s (70%), "
        "features 1.0 s (10%); saving results: 0.5 s"
    )


def test_progress_is_silent_when_not_a_terminal():
    stream = io.StringIO()
    with Progress(3, stream) as progress:
        for _ in range(3):
            progress.advance()
    assert stream.getvalue() == ""
    assert progress.done == 3


def test_progress_line_shows_rate_eta_and_last_failure():
    clock = FakeClock()
    progress = Progress(10, io.StringIO(), enabled=False, clock=clock)
    clock.now += 60
    progress.advance()
    progress.advance("/music/a/broken.mp3", "file is empty")
    line = progress.line()
    assert line.startswith("musicnn: 2/10 (20%)")
    assert "2.0 tracks/min" in line
    assert "ETA 4m 00s" in line
    assert "last failed: broken.mp3 (file is empty)" in line


def test_progress_line_names_a_step_other_than_the_analysis():
    clock = FakeClock()
    progress = Progress(
        50_000, io.StringIO(), enabled=False, clock=clock,
        what="labels from stored results",
    )
    clock.now += 6
    for _ in range(1_000):
        progress.advance()
    line = progress.line()
    assert line.startswith("musicnn: labels from stored results 1,000/50,000 (2%)")
    assert "10,000.0 tracks/min" in line and "ETA 4m 54s" in line


def test_progress_of_nothing_shows_nothing_on_a_terminal():
    terminal = Terminal()
    with Progress(0, terminal, what="labels from stored results"):
        pass
    assert terminal.getvalue() == ""


def test_progress_redraws_in_place_and_erases_itself_on_a_terminal():
    clock = FakeClock()
    stream = Terminal()
    with Progress(2, stream, clock=clock) as progress:
        clock.now += 1
        progress.advance()
        clock.now += 1
        progress.advance()
    output = stream.getvalue()
    assert output.count("\r") >= 3  # first draw, two updates, erase
    assert "musicnn: 2/2 (100%)" in output
    assert "\n" not in output
    assert output.endswith("\r")


def test_progress_throttles_redraws():
    clock = FakeClock()
    stream = Terminal()
    progress = Progress(1000, stream, clock=clock)
    for _ in range(100):  # all within the same instant
        progress.advance()
    assert stream.getvalue().count("\r") == 1
