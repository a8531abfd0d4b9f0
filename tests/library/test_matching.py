"""A query that matches nothing: every command says so, with one exit status.

Real ``beet`` processes on a real library (``test_plugin.MusicnnHelper``),
since the exit status is what scripts see.
"""

from __future__ import annotations

import pytest

from beetsplug.musicnn.library.matching import NO_MATCH_STATUS
from tests import test_plugin
from tests.test_plugin import MusicnnHelper

#: The bundled clips' first seconds (a session fixture of test_plugin).
excerpts = test_plugin.excerpts

NO_MATCH = "error: musicnn: no item matches 'title:nothing'"
EMPTY = "error: musicnn: the library is empty"

COMMANDS = [
    ("musicnn",),
    ("musicnn", "-p"),
    ("musicnn", "-r"),
    ("musicnn", "-f"),
    ("musicnn-similar",),
    ("musicnn-families",),
    ("musicnn-report",),
]


class TestNoMatch(MusicnnHelper):
    start_beet = test_plugin.TestInterrupt.start_beet

    def beet(self, *args: str) -> tuple[int, str, str]:
        process = self.start_beet(*args)
        output, errors = process.communicate(timeout=120)
        return process.returncode, output, errors

    @pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
    def test_a_query_matching_nothing_stops_every_command(self, command, excerpts):
        item = self.add_file(excerpts[0])
        report = ("-o", str(self.temp_path / "report.html"))
        options = report if command == ("musicnn-report",) else ()
        status, output, errors = self.beet(*command, *options, "title:nothing")
        assert status == NO_MATCH_STATUS, (output, errors)
        assert NO_MATCH in errors, (output, errors)
        assert "Traceback" not in errors
        assert "analysed" not in output  # no summary of a run that did nothing
        assert "musicnn_version" not in self.item(item)

    @pytest.mark.parametrize(
        "command", [("musicnn",), ("musicnn", "-p"), ("musicnn", "--calibrate")]
    )
    def test_an_empty_library_says_so(self, command):
        status, output, errors = self.beet(*command)
        assert status == NO_MATCH_STATUS, (output, errors)
        assert EMPTY in errors, (output, errors)
