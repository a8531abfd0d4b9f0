"""Unknown option names under ``musicnn:``: a warning naming the closest one.

Real ``beet`` processes with real configuration files: the user's options
come from files, and the warning goes to the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from beets import ui

from beetsplug.musicnn.library.config_keys import unknown_option
from beetsplug.musicnn.library.settings import DEFAULT_CONFIG
from tests import test_plugin
from tests.test_plugin import REPO_ROOT, MusicnnHelper

#: The bundled clips' first seconds (a session fixture of test_plugin).
excerpts = test_plugin.excerpts

#: A plugin of someone else that adds an option of its own to the section,
#: as a colleague's module adding a DEFAULT_CONFIG does.
NEIGHBOUR_PLUGIN = """
from beets.plugins import BeetsPlugin


class Neighbour(BeetsPlugin):
    def __init__(self):
        super().__init__()
        self.config.root()["musicnn"].add({"neighbour_option": 1})
"""


def test_the_warning_names_the_closest_known_option():
    assert unknown_option("threshhold", DEFAULT_CONFIG, "musicnn") == (
        "unknown option 'threshhold' under musicnn: did you mean 'threshold'?"
    )
    assert unknown_option("write_genres", DEFAULT_CONFIG, "musicnn").endswith(
        "did you mean 'write_genre'?"
    )
    assert unknown_option("zzz", DEFAULT_CONFIG, "musicnn") == (
        "unknown option 'zzz' under musicnn: it is ignored"
    )


class TestUnknownOptions(MusicnnHelper):
    def beet(self, settings: str, *args: str) -> tuple[int, str, str]:
        """``beet ARGS`` with ``settings`` under ``musicnn:`` in config.yaml."""
        plugins = self.temp_path / "plugins"
        plugins.mkdir(exist_ok=True)
        (plugins / "neighbour.py").write_text(NEIGHBOUR_PLUGIN)
        (self.temp_path / "config.yaml").write_text(
            f"directory: {self.lib_path}\nlibrary: {os.fsdecode(self.lib.path)}\n"
            f"pluginpath: [{plugins}]\nplugins: musicnn neighbour\n"
            "musicnn:\n  nice: no\n" + textwrap.indent(settings, "  ")
        )
        done = subprocess.run(
            [sys.executable, "-c", "import beets.ui; beets.ui.main()", *args],
            env={
                **os.environ,
                "BEETSDIR": str(self.temp_path),
                "PYTHONPATH": str(REPO_ROOT),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    def test_typos_are_named_once_with_the_closest_option(self, excerpts):
        self.add_file(excerpts[0])
        settings = (
            "threshhold: 0.5\nwrite_genres: yes\nneighbour_option: 2\n"
            "family_playlists: []\nworkers: 0\n"
        )
        status, output, errors = self.beet(settings, "musicnn", "-p")
        assert status == 0, (output, errors)
        assert "would analyse 1 items" in output
        lines = [line for line in errors.splitlines() if "unknown option" in line]
        assert lines == [
            "musicnn: unknown option 'threshhold' under musicnn: did you mean "
            "'threshold'?",
            "musicnn: unknown option 'write_genres' under musicnn: did you mean "
            "'write_genre'?",
        ], errors

    def test_known_options_say_nothing(self):
        status, output, errors = self.beet(
            "threshold: 0.5\nneighbour_option: 2\n", "musicnn-radio"
        )
        assert status == 0, (output, errors)
        assert "unknown option" not in errors


class TestPlaylistEntries(MusicnnHelper):
    @pytest.mark.parametrize(
        ("key", "entry", "message"),
        [
            (
                "similar_playlists",
                {"name": "a", "seed": "artist:x"},
                "unknown option 'seed' under entry 1: did you mean 'seeds'?",
            ),
            (
                "family_playlists",
                {"name": "a", "querry": "artist:x"},
                "unknown option 'querry' under entry 1: did you mean 'query'?",
            ),
        ],
    )
    def test_an_unknown_key_of_an_entry_names_the_closest(
        self, key, entry, message, excerpts
    ):
        self.add_file(excerpts[0])
        self.config["musicnn"][key] = [entry]
        with pytest.raises(ui.UserError, match=message.replace("?", r"\?")):
            self.musicnn()  # both sets of playlists are rewritten after a run
