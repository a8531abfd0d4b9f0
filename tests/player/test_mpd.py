"""``--play``/``--queue`` and the MPD connection, against a real MPD.

Each test starts Debian's ``mpd`` on a free loopback port (null audio
output) over the test library's folder, so MPD's URIs are the library's
relative paths; the library holds 6-second segments of the bundled clips,
analysed with ``beet musicnn``. Skipped without ``mpd`` (failed under
``MUSICNN_REQUIRE_MPD=1``).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import pytest
from beets import ui
from mpd_server import MPDServer, free_port, queue_files
from test_plugin import MusicnnHelper

from beetsplug.musicnn.player import mpd as mpd_client
from beetsplug.musicnn.player.mpd import MPDAddress, MusicRoot, Player

SEED = "title:hsr_rock 0"


class MPDHelper(MusicnnHelper):
    """A beets library and a real MPD whose music directory is its folder."""

    #: Only clients that send it may do anything (None: no password).
    mpd_password: str | None = None
    #: MPD also listens on a Unix socket.
    mpd_socket = False

    @pytest.fixture(autouse=True)
    def mpd(self, setup, mpd_required, tmp_path):
        self.server = MPDServer(
            tmp_path / "mpd",
            self.lib_path,
            password=self.mpd_password,
            unix_socket=self.mpd_socket,
        )
        with self.server:
            self.use_mpd()
            self.client = self.server.client()
            if self.mpd_password:
                self.client.password(self.mpd_password)
            try:
                yield self.server
            finally:
                self.client.disconnect()

    def use_mpd(self, host: str | None = None, password: str | None = None) -> None:
        """Point beets' `mpd:` settings at the test server."""
        self.config["mpd"]["host"] = host or "127.0.0.1"
        self.config["mpd"]["port"] = self.server.port
        self.config["mpd"]["password"] = (
            self.mpd_password if password is None else password
        )

    def index(self) -> None:
        """Have MPD index its music folder (the library's) and wait for it."""
        self.server.update(self.client)

    def listed(self, command: str, *args: str) -> list[str]:
        """The lines of ``beet COMMAND -f $path ARGS`` that are paths, as
        MPD's URIs (relative to the library folder)."""
        self.run_command(command, "-f", "$path", *args)
        self.output = self.capsys.readouterr().out
        folder = os.fsdecode(self.lib_path) + os.sep
        return [
            line[len(folder) :]
            for line in self.output.splitlines()
            if line.startswith(folder)
        ]


class TestPlayAndQueue(MPDHelper):
    def test_play_replaces_the_queue_and_plays_queue_appends(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        self.client.add("vanherk_architectural_contemplations_2.ogg")

        played = self.listed("musicnn-similar", "-n", "4", "--play", SEED)
        assert len(played) == 4
        assert queue_files(self.client) == played  # the old queue is gone
        assert self.client.status()["state"] == "play"
        assert f"MPD at 127.0.0.1:{self.server.port} plays the 4 tracks" in self.output

        queued = self.listed(
            "musicnn-similar", "-n", "3", "--queue", "title:kaufman_the_city_falls 0"
        )
        assert len(queued) == 3
        assert queue_files(self.client) == played + queued
        assert "added 3 tracks to MPD's queue" in self.output

    def test_path_play_puts_the_path_in_mpd(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        self.client.add("vanherk_architectural_contemplations_2.ogg")
        played = self.listed(
            "musicnn-path", "-n", "4", "--play", SEED, "title:kaufman_the_city_falls 0"
        )
        assert played[0].startswith("hsr_rock")
        assert played[-1].startswith("kaufman_the_city_falls")
        assert queue_files(self.client) == played  # the old queue is gone
        assert self.client.status()["state"] == "play"

    def test_families_play_all_or_one_family(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        families = self.listed("musicnn-families", "--queue")
        assert sorted(families) == sorted(
            p.name for p in six_second_segments
        )  # all of them
        assert queue_files(self.client) == families  # in the listed order
        names = [
            line[3 : line.rindex(" (")]
            for line in self.output.splitlines()
            if line.startswith("== ")
        ]
        one = self.listed("musicnn-families", "--family", names[-1].upper(), "--play")
        assert 0 < len(one) < len(families)
        assert queue_files(self.client) == one
        with pytest.raises(ui.UserError, match="no family is named like 'polka'"):
            self.listed("musicnn-families", "--family", "polka", "--play")

    def test_play_and_queue_together_is_a_usage_error(self):
        with pytest.raises(SystemExit):  # optparse's error: usage and exit 2
            self.run_command("musicnn-similar", "--play", "--queue", SEED)
        assert "use --play or --queue, not both" in self.capsys.readouterr().err


class TestTracksMPDCannotPlay(MPDHelper):
    def test_unknown_tracks_are_named_and_left_out(self, six_second_segments):
        # MPD indexes the folder before half of the library's files are there.
        half = len(six_second_segments) // 2
        for path in six_second_segments[:half]:
            self.add_file(path)
        self.index()
        for path in six_second_segments[half:]:
            self.add_file(path)
        self.musicnn()
        known = {path.name for path in six_second_segments[:half]}

        listed = self.listed("musicnn-similar", "-n", "11", "--queue", SEED)
        assert queue_files(self.client) == [name for name in listed if name in known]
        unknown = len(listed) - len(queue_files(self.client))
        assert unknown > 0
        assert f"MPD does not know {unknown} tracks" in self.output
        assert "update MPD's database" in self.output

        # None known (lebidan's came after the indexing): an error, and the
        # queue as it was.
        before = queue_files(self.client)
        with pytest.raises(ui.UserError, match=r"knows none of the 3 .*unchanged"):
            self.listed("musicnn-similar", "--play", "--where", "artist:lebidan", SEED)
        assert queue_files(self.client) == before

    def test_tracks_outside_mpds_folder_name_the_setting(self, six_second_segments):
        self.add_segments(six_second_segments)
        self.index()
        self.config["musicnn"]["mpd_music_directory"] = str(self.lib_path / "elsewhere")
        with pytest.raises(ui.UserError) as error:
            self.listed("musicnn-similar", "-n", "2", "--play", SEED)
        message = str(error.value)
        assert "knows none of the 2 tracks" in message
        assert "not under MPD's music directory" in message
        assert "from `musicnn: mpd_music_directory`" in message
        assert queue_files(self.client) == []


class TestConnection(MPDHelper):
    mpd_password = "open sesame"
    mpd_socket = True

    def test_wrong_or_missing_password_and_no_server(self):
        self.use_mpd(password="guess")
        with pytest.raises(mpd_client.MPDError, match="refused the password"):
            Player(MPDAddress.from_config()).connect()

        self.use_mpd(password="")
        with (
            Player(MPDAddress.from_config()) as player,
            pytest.raises(
                mpd_client.MPDError,
                match=r"does not allow `status` without a password.*`mpd: password`",
            ),
        ):
            player.status()

        port = free_port()
        self.config["mpd"]["port"] = port
        with pytest.raises(
            mpd_client.MPDUnreachable,
            match=rf"cannot connect to MPD at 127.0.0.1:{port}: Connection refused "
            r"\(is it running\?",
        ):
            Player(MPDAddress.from_config()).connect()

    def test_music_directory_setting_then_mpds_own_then_beets(self):
        def root() -> MusicRoot:
            with mpd_client.connected(self.config["musicnn"], self.lib) as (_, found):
                return found

        self.use_mpd(host=str(self.server.socket))
        assert root() == MusicRoot(
            os.fsencode(self.lib_path), "MPD's own configuration"
        )
        self.config["musicnn"]["mpd_music_directory"] = "/srv/music"
        assert root().path == b"/srv/music"
        self.config["musicnn"]["mpd_music_directory"] = None
        self.use_mpd()  # over TCP MPD does not say
        assert root().source == "beets' `directory`"

    def test_bad_port_setting(self):
        self.config["mpd"]["port"] = "sixty-six hundred"
        with pytest.raises(ui.UserError, match="bad `mpd: port` setting"):
            MPDAddress.from_config()


@contextmanager
def _no_module(name: str):
    saved = sys.modules.get(name)
    sys.modules[name] = None  # what Python does for a module it cannot import
    try:
        yield
    finally:
        if saved is None:
            del sys.modules[name]
        else:
            sys.modules[name] = saved


def test_missing_client_names_the_extra():
    with _no_module("mpd"), pytest.raises(ui.UserError, match=r"beets-musicnn\[mpd\]"):
        mpd_client.import_mpd()


def test_uris_are_relative_to_the_music_directory():
    root = MusicRoot(b"/srv/music", "test")
    assert (
        root.uri("/srv/music/Artist/Album/01 Song.flac") == "Artist/Album/01 Song.flac"
    )
    assert root.uri(b"/srv/music") is None
    assert root.uri("/srv/musical/x.flac") is None
    assert root.uri("/srv/other/x.flac") is None
    assert root.path_of("Artist/01 Song.flac") == b"/srv/music/Artist/01 Song.flac"
