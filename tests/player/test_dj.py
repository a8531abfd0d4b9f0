"""``beet musicnn-dj`` against a real MPD, driven with real ``next`` commands.

The DJ runs in a thread (stopped with :meth:`DJ.stop`) or, for Ctrl-C, as
a real ``beet`` process. MPD's queue is read with a client of the test's
own; every track is paused right after ``next``, so that 6-second tracks
do not move on by themselves while the test looks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import beets.plugins
import pytest
from beets import ui
from mpd_server import queue_files
from test_mpd import MPDHelper
from test_plugin import REPO_ROOT

from beetsplug.musicnn.commands.dj import open_dj
from beetsplug.musicnn.player.dj import DJ, DJSettings

#: Seconds to wait for the DJ to react.
TIMEOUT = 30.0


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class DJHelper(MPDHelper):
    @contextmanager
    def running_dj(self, **settings) -> Iterator[DJ]:
        """The command's DJ, following the test server in a thread."""
        self.said: list[str] = []
        plugin = next(iter(beets.plugins.find_plugins()))
        dj = open_dj(plugin, self.lib, DJSettings(**settings), say=self.said.append)

        def follow() -> None:
            try:
                dj.run(retry_first=0.2, retry_max=1.0)
            finally:
                # The store this thread opened (SQLite: its own connection).
                plugin._close_stores(self.lib)
                dj.player.close()

        thread = threading.Thread(target=follow)
        thread.start()
        try:
            yield dj
        finally:
            dj.stop()
            thread.join(TIMEOUT)
            assert not thread.is_alive()

    def start_paused(self, *files: str) -> None:
        """MPD's queue is ``files``, the first one current and paused."""
        self.client.command_list_ok_begin()
        self.client.clear()
        for file in files:
            self.client.add(file)
        self.client.play(0)
        self.client.pause(1)
        self.client.command_list_end()

    def next_paused(self) -> None:
        """MPD's ``next``, then pause (``next`` plays)."""
        self.client.command_list_ok_begin()
        self.client.next()
        self.client.pause(1)
        self.client.command_list_end()

    def ahead(self) -> list[str]:
        """The files queued after the current one."""
        position = int(self.client.status()["song"])
        return queue_files(self.client)[position + 1 :]


class TestDJ(DJHelper):
    def test_tops_up_after_each_next_with_similar_tracks_and_no_repeats(
        self, six_second_segments
    ):
        self.add_segments(six_second_segments)
        self.index()
        self.start_paused("hsr_rock_0.ogg")
        with self.running_dj(ahead=3, seeds=2):
            wait_for(lambda: len(self.ahead()) == 3, "the first top-up")
            # The nearest in sound to the seed: the rest of its recording.
            assert set(self.ahead()[:2]) == {"hsr_rock_1.ogg", "hsr_rock_2.ogg"}
            for step in range(1, 7):
                self.next_paused()
                wait_for(lambda: len(self.ahead()) == 3, f"the top-up after {step}")
                queue = queue_files(self.client)
                assert len(queue) == 4 + step
                assert len(set(queue)) == len(queue), queue  # no repeats
        assert sum(line.startswith("musicnn-dj: queued ") for line in self.said) == 9

    def test_tracks_queued_by_hand_stay_and_count(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        self.start_paused("hsr_rock_0.ogg")
        with self.running_dj(ahead=2):
            wait_for(lambda: len(self.ahead()) == 2, "the first top-up")
            by_hand = "vanherk_architectural_contemplations_2.ogg"
            self.client.add(by_hand)
            first = queue_files(self.client)
            self.next_paused()  # 2 ahead, the hand-queued one among them
            time.sleep(1.0)  # time enough for a top-up that must not happen
            assert queue_files(self.client) == first
            self.next_paused()  # 1 ahead: the DJ appends after it
            wait_for(lambda: len(self.ahead()) == 2, "the top-up")
            queue = queue_files(self.client)
            assert queue[:4] == first
            assert queue[3] == by_hand and queue[4] not in first

    def test_tracks_mpd_does_not_know_are_skipped_and_said(self, six_second_segments):
        # MPD indexes the folder when only hsr_rock's and kaufman's are there.
        known = six_second_segments[:6]
        for path in known:
            self.add_file(path)
        self.index()
        for path in six_second_segments[6:]:
            self.add_file(path)
        self.musicnn()
        self.start_paused("hsr_rock_0.ogg")
        with self.running_dj(ahead=8):
            wait_for(lambda: len(self.ahead()) == 5, "the known tracks")
            wait_for(lambda: any("nothing more" in x for x in self.said), "the end")
        assert sorted(queue_files(self.client)) == sorted(p.name for p in known)
        skipped = [line for line in self.said if "skipped" in line]
        assert len(skipped) == 6
        assert all("unknown to MPD, under its music directory" in x for x in skipped)
        assert any("lebidan_frozen_bubble_intro_0.ogg" in line for line in skipped)

    def test_survives_an_mpd_restart(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        self.start_paused("hsr_rock_0.ogg")
        with self.running_dj(ahead=2):
            wait_for(lambda: len(self.ahead()) == 2, "the first top-up")
            self.client.disconnect()
            self.server.restart()  # MPD keeps its queue in its state file
            self.client = self.server.client()
            wait_for(
                lambda: any("connected again" in line for line in self.said),
                "the DJ to reconnect",
            )
            self.next_paused()
            wait_for(lambda: len(self.ahead()) == 2, "a top-up after the restart")
            assert len(set(queue_files(self.client))) == 4
        lost = [line for line in self.said if "lost the connection" in line]
        assert lost, self.said
        assert f"to MPD at 127.0.0.1:{self.server.port}" in lost[0]
        assert "trying again in 0.2 s" in lost[0]


class TestWaiting(DJHelper):
    """What the DJ says when it has nothing to follow (no analysis needed)."""

    def test_a_track_outside_the_library_or_not_analysed(self, six_second_segments):
        self.add_segments(six_second_segments[:1], analyse=False)  # hsr_rock_0 only
        (self.lib_path / "not_in_beets.ogg").write_bytes(
            six_second_segments[1].read_bytes()
        )
        self.index()
        self.start_paused("not_in_beets.ogg", "hsr_rock_0.ogg")
        with self.running_dj(ahead=3):
            wait_for(lambda: self.said, "a notice")
            assert "not_in_beets.ogg, which is not in the beets library" in self.said[0]
            self.next_paused()
            wait_for(lambda: len(self.said) > 1, "a second notice")
            assert "is not analysed yet (`beet musicnn`)" in self.said[1]
        assert queue_files(self.client) == ["not_in_beets.ogg", "hsr_rock_0.ogg"]

    def test_ctrl_c_stops_it_with_status_0(self, six_second_segments):
        self.add_segments(six_second_segments[:1], analyse=False)
        self.index()
        self.start_paused("hsr_rock_0.ogg")
        (self.temp_path / "config.yaml").write_text(
            f"directory: {self.lib_path}\nlibrary: {os.fsdecode(self.lib.path)}\n"
            f"plugins: musicnn\nmpd:\n  host: 127.0.0.1\n  port: {self.server.port}\n"
        )
        beet = subprocess.Popen(
            [sys.executable, "-c", "import beets.ui; beets.ui.main()", "musicnn-dj"],
            env={
                **os.environ,
                "BEETSDIR": str(self.temp_path),
                "PYTHONPATH": str(REPO_ROOT),
                "PYTHONUNBUFFERED": "1",  # its lines as they are said
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        # Whatever happens, the test ends: a hung `beet` is killed.
        guard = threading.Timer(TIMEOUT, beet.kill)
        guard.start()
        try:
            lines = []
            for line in beet.stdout:  # until it waits on MPD
                lines.append(line)
                if "not analysed yet" in line:
                    break
            os.killpg(beet.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            output, errors = beet.communicate(timeout=TIMEOUT)
        finally:
            guard.cancel()
            if beet.poll() is None:
                beet.kill()
        output = "".join(lines) + output
        assert beet.returncode == 0, (output, errors)
        assert f"following MPD at 127.0.0.1:{self.server.port}" in output
        assert "musicnn-dj: stopped; it queued 0 tracks." in output
        assert "Traceback" not in errors


class TestCommandErrors(DJHelper):
    mpd_password = "open sesame"

    def test_wrong_password_query_and_settings(self):
        self.use_mpd(password="guess")
        with pytest.raises(ui.UserError, match="refused the password"):
            self.run_command("musicnn-dj")
        with pytest.raises(ui.UserError, match="takes no query"):
            self.run_command("musicnn-dj", "artist:x")
        with pytest.raises(ui.UserError, match="--ahead must be at least 1, not 0"):
            self.run_command("musicnn-dj", "--ahead", "0")
        with pytest.raises(ui.UserError, match="bad --where query"):
            self.run_command("musicnn-dj", "--where", "year:1990..x")
