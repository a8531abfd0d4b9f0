"""``beet musicnn-path`` end to end: real beets, real audio, real model.

The library holds six 4-second segments of each bundled clip (artist: the
clip, album: "<clip> excerpts"), 24 tracks analysed with ``beet musicnn``;
segments of one recording sound alike, the four recordings differ, so a
path from one recording to another has a real way to go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from beets import ui
from beets.library import Item
from beets.util import normpath
from test_plugin import MusicnnHelper

from beetsplug.musicnn.sound import paths, radio
from beetsplug.musicnn.sound.playlists import query_parts

SEGMENT_SECONDS = 4.0
SEGMENTS = 6
TRACKS = 4 * SEGMENTS
FROM = "artist:vanherk title:1"
TO = "artist:kaufman title:2"


@pytest.fixture(scope="session")
def segments(write_segments, tmp_path_factory) -> list[Path]:
    return write_segments(
        tmp_path_factory.mktemp("path_segments"), SEGMENT_SECONDS, SEGMENTS
    )


class PathHelper(MusicnnHelper):
    def path(self, *args: str) -> list[str]:
        """Output lines of ``beet musicnn-path``."""
        self.run_command("musicnn-path", *args)
        return self.capsys.readouterr().out.splitlines()

    def path_items(self, *args: str) -> list[Item]:
        lines = self.path("-f", "$id", *args)
        return [self.lib.get_item(int(line)) for line in lines if line.isdigit()]

    def vectors(self, items: list[Item]) -> np.ndarray:
        with self.store() as store:
            index = radio.open_index(store, "msd")
            return np.asarray(
                index.vectors[[int(index.rows_of([i.id])[0]) for i in items]],
                dtype=np.float64,
            )

    def only(self, query: str) -> Item:
        (item,) = self.lib.items(query_parts(query))
        return item


class TestPath(PathHelper):
    def test_from_first_to_last_n_tracks_none_twice(self, segments):
        self.add_segments(segments)
        found = self.path_items("-n", "8", FROM, TO)
        assert len(found) == 8
        assert found[0].id == self.only(FROM).id
        assert found[-1].id == self.only(TO).id
        assert len({item.id for item in found}) == 8

    def test_every_step_is_small_and_goes_towards_to(self, segments):
        self.add_segments(segments)
        found = self.path_items("-n", "8", FROM, TO)
        vectors = self.vectors(found)
        steps = paths.step_lengths(vectors)
        direct = np.linalg.norm(vectors[0] - vectors[-1])
        assert (steps <= direct).all(), (steps, direct)
        # Each track sounds more like TO than the one before.
        assert (np.diff(vectors @ vectors[-1]) > 0).all()
        # Smoother than the same tracks in a random order.
        rng = np.random.default_rng(0)
        shuffled_largest = []
        for _ in range(50):
            order = [0, *rng.permutation(np.arange(1, 7)), 7]
            shuffled_largest.append(paths.step_lengths(vectors[order]).max())
        assert steps.max() < np.mean(shuffled_largest)

    def test_caps_per_artist_and_album(self, segments):
        self.add_segments(segments)
        per_artist = self.path_items("-n", "6", "--max-per-artist", "3", FROM, TO)
        artists = [item.artist for item in per_artist]
        assert len(per_artist) == 6
        assert max(artists.count(a) for a in artists) == 3
        # Only two recordings lie between these ends: a cap of 2 per album
        # leaves a path shorter than asked, and says why.
        lines = self.path("-n", "8", "--max-per-album", "2", "-f", "$album", FROM, TO)
        albums = lines[1:]
        assert 3 <= len(albums) < 8
        assert max(albums.count(a) for a in albums) == 2
        assert lines[0].startswith(f"musicnn: only {len(albums)} of the 8 tracks fit")
        assert lines[0].endswith("within --max-per-album 2")

    def test_where_restricts_the_tracks_between(self, segments):
        self.add_segments(segments)
        where = "artist:hsr_rock , artist:lebidan"
        found = self.path_items("-n", "6", "--where", where, FROM, TO)
        assert all(
            item.artist.startswith(("hsr_rock", "lebidan")) for item in found[1:-1]
        )
        assert found[0].artist.startswith("vanherk")
        assert found[-1].artist.startswith("kaufman")

    def test_where_on_a_flexible_field(self, segments):
        # Not answerable by SQL on the items table: beets filters the items.
        items = self.add_segments(segments)
        for item in items:
            if item.artist == "hsr_rock" or item.title.endswith(("1", "2")):
                item.mark = "keep"
                item.store()
        found = self.path_items("-n", "6", "--where", "mark:keep", FROM, TO)
        assert len(found) >= 3
        assert all(item.get("mark") == "keep" for item in found[1:-1])

    def test_format_and_playlist(self, segments, tmp_path):
        self.add_segments(segments)
        playlist = tmp_path / "lists" / "way.m3u"
        lines = self.path(
            "-n", "5", "-f", "$artist // $title", "--m3u", str(playlist), FROM, TO
        )
        assert lines[0] == (
            "vanherk_architectural_contemplations // "
            "vanherk_architectural_contemplations 1"
        )
        assert lines[-1] == "kaufman_the_city_falls // kaufman_the_city_falls 2"
        written = playlist.read_bytes().splitlines()
        ids = self.path("-n", "5", "-f", "$id", FROM, TO)
        assert written == [normpath(self.lib.get_item(int(i)).path) for i in ids]

    def test_several_matches_use_the_first_and_say_so(self, segments):
        self.add_segments(segments)
        lines = self.path("-n", "4", "-f", "$title", "artist:hsr_rock", TO)
        assert lines[0] == (
            "musicnn: FROM 'artist:hsr_rock' matches several items; "
            "using the first: hsr_rock - hsr_rock 0"
        )
        assert lines[1] == "hsr_rock 0"
        assert lines[-1] == "kaufman_the_city_falls 2"

    def test_close_ends_give_a_shorter_path_and_say_why(self, segments):
        self.add_segments(segments)
        lines = self.path("-f", "$id", FROM, "artist:vanherk title:2")
        ids = [line for line in lines if line.isdigit()]
        assert 2 <= len(ids) < 20
        assert lines[0] == (
            f"musicnn: only {len(ids)} of the 20 tracks fit: too few tracks lie "
            "between FROM and TO (each step must go towards TO and be no longer "
            "than the jump from FROM to TO)"
        )


class TestMessages(PathHelper):
    def test_from_or_to_matching_nothing(self, segments):
        self.add_segments(segments[:3])
        with pytest.raises(ui.UserError, match="FROM 'title:nothing' matches no item"):
            self.path("title:nothing", "title:hsr_rock")
        with pytest.raises(ui.UserError, match="TO 'title:nothing' matches no item"):
            self.path("title:hsr_rock", "title:nothing")

    def test_an_end_not_analysed_yet(self, segments):
        self.add_segments(segments)
        late = self.add_file(segments[0], "late.ogg")
        late.title = "late"
        late.store()
        with pytest.raises(
            ui.UserError,
            match=rf"TO \(hsr_rock - late\) is not analysed yet \(by msd\): "
            rf"run `beet musicnn id:{late.id}`",
        ):
            self.path(FROM, "title:late")

    def test_the_same_track_twice(self, segments):
        self.add_segments(segments[:3])
        with pytest.raises(ui.UserError, match="FROM and TO are the same track"):
            self.path("title:hsr_rock", "title:hsr_rock 0")

    def test_a_library_too_small_for_n(self, segments):
        self.add_segments(segments)
        with pytest.raises(
            ui.UserError,
            match=f"a path of 30 tracks needs 30 analysed tracks; the library has "
            f"{TRACKS}",
        ):
            self.path("-n", "30", FROM, TO)

    def test_caps_that_from_and_to_break(self, segments):
        self.add_segments(segments)
        with pytest.raises(
            ui.UserError,
            match=r"FROM and TO share an artist \(vanherk_architectural_"
            r"contemplations\): --max-per-artist 1 cannot hold",
        ):
            self.path("--max-per-artist", "1", FROM, "artist:vanherk title:3")

    @pytest.mark.parametrize(
        "args, message",
        [
            ((FROM,), "give two queries, FROM and TO .*not 1"),
            ((), "give two queries, FROM and TO"),
            (("-n", "1", FROM, TO), "at least 2 tracks .*not -n 1"),
            (("--max-per-album", "0", FROM, TO), "max-per-album must be at least 1"),
            (("--where", "year:x..y", FROM, TO), "bad --where query"),
            (("year:x..y", TO), "bad FROM query"),
        ],
    )
    def test_bad_arguments(self, segments, args, message):
        self.add_segments(segments[:6])
        with pytest.raises(ui.UserError, match=message):
            self.path(*args)
