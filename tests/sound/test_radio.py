"""The radio end to end: real beets, real audio, real model, no mocks.

The library holds three 6-second segments of each bundled clip (artist and
album: the clip), analysed with ``beet musicnn``; segments of one recording
sound alike, which gives the radio something real to find.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from beets import ui
from beets.library import Item
from beets.util import normpath
from test_plugin import MusicnnHelper

from beetsplug.musicnn.sound import radio

SEGMENT_SECONDS = 6.0
SEGMENTS = 3


@pytest.fixture(scope="session")
def segments(write_segments, tmp_path_factory) -> list[Path]:
    """Ogg files of consecutive segments of each bundled clip, tagged with
    the clip as artist and album."""
    return write_segments(
        tmp_path_factory.mktemp("segments"), SEGMENT_SECONDS, SEGMENTS
    )


class RadioHelper(MusicnnHelper):
    def similar(self, *args: str) -> list[str]:
        """Output lines of ``beet musicnn-similar``."""
        self.run_command("musicnn-similar", *args)
        return self.capsys.readouterr().out.splitlines()

    def similar_items(self, *args: str) -> list[Item]:
        lines = self.similar("-f", "$id", *args)
        return [self.lib.get_item(int(line)) for line in lines if line.isdigit()]

    def vectors(self, items: list[Item]) -> np.ndarray:
        with self.store() as store:
            index = radio.open_index(store, "msd")
            return np.asarray(
                index.vectors[[int(index.rows_of([i.id])[0]) for i in items]],
                dtype=np.float32,
            )


SEED = "title:hsr_rock 0"


class TestSimilar(RadioHelper):
    def test_nearest_items_exclude_the_seeds_and_find_the_same_recording(
        self, segments
    ):
        self.add_segments(segments)
        found = self.similar_items("-n", "3", SEED)
        assert len(found) == 3
        assert "hsr_rock 0" not in [item.title for item in found]
        # The two other segments of the seed's recording rank first.
        assert {item.title for item in found[:2]} == {"hsr_rock 1", "hsr_rock 2"}

    def test_several_seeds_combine_and_all_are_excluded(self, segments):
        self.add_segments(segments)
        found = self.similar_items("-n", "20", "artist:hsr_rock", ",", "title:kaufman")
        titles = [item.title for item in found]
        assert len(titles) == 12 - 3 - 3
        assert not any(t.startswith(("hsr_rock", "kaufman")) for t in titles)

    def test_where_restricts_the_candidates(self, segments):
        self.add_segments(segments)
        found = self.similar_items("-n", "10", "--where", "artist:lebidan", SEED)
        assert [item.artist for item in found] == [
            "lebidan_frozen_bubble_intro"
        ] * SEGMENTS

    def test_caps_per_artist_and_album(self, segments):
        self.add_segments(segments)
        per_artist = self.similar_items("-n", "10", "--max-per-artist", "1", SEED)
        artists = [item.artist for item in per_artist]
        assert len(artists) == 4  # one of each clip, the seed's included
        assert len(set(artists)) == 4
        per_album = self.similar_items("-n", "10", "--max-per-album", "2", SEED)
        albums = [item.album for item in per_album]
        assert len(per_album) == 2 + 2 * 3
        assert max(albums.count(album) for album in albums) == 2

    def test_flow_steps_are_closer_than_a_random_pick(self, segments):
        self.add_segments(segments)
        flow = self.similar_items("-n", "11", "--order", "flow", SEED)
        by_similarity = self.similar_items("-n", "11", SEED)
        assert sorted(i.id for i in flow) == sorted(i.id for i in by_similarity)
        vectors = self.vectors(flow)
        steps = (vectors[:-1] * vectors[1:]).sum(axis=1)
        pairs = vectors @ vectors.T
        random_pick = pairs[~np.eye(len(flow), dtype=bool)].mean()
        assert steps.mean() > random_pick + 0.1, (steps.mean(), random_pick)
        # ...and smoother than the similarity order itself.
        ranked = self.vectors(by_similarity)
        assert steps.mean() > (ranked[:-1] * ranked[1:]).sum(axis=1).mean()

    def test_the_list_shows_how_alike_each_item_is(self, segments):
        self.add_segments(segments)
        lines = self.similar("-n", "3", SEED)
        found = self.similar_items("-n", "3", SEED)
        (seed,) = self.lib.items(SEED)
        expected = self.vectors(found) @ self.vectors([seed])[0]
        shown = []
        for line, item in zip(lines, found, strict=True):
            similarity, _, rest = line.partition(" ")
            assert rest == f"{item.artist} - {item.album} - {item.title}"
            shown.append(float(similarity))
        assert shown == pytest.approx(expected.tolist(), abs=0.005)
        assert shown == sorted(shown, reverse=True)
        # As a format field too.
        lines = self.similar("-n", "3", "-f", "$title: $musicnn_similarity", SEED)
        assert lines == [
            f"{item.title}: {value:.2f}"
            for item, value in zip(found, shown, strict=True)
        ]

    def test_format_option_like_ls(self, segments):
        self.add_segments(segments)
        lines = self.similar("-n", "2", "-f", "$artist // $title", SEED)
        assert sorted(lines) == ["hsr_rock // hsr_rock 1", "hsr_rock // hsr_rock 2"]


class TestNotAnalysed(RadioHelper):
    def test_empty_store_is_a_clear_error(self, segments):
        self.add_segments(segments[:3], analyse=False)
        with pytest.raises(ui.UserError, match="none of the 1 seeds is analysed"):
            self.similar(SEED)

    def test_no_matching_seed(self, segments):
        with pytest.raises(ui.UserError, match="no item matches 'title:nothing'"):
            self.similar("title:nothing")

    def test_missing_seeds_and_candidates_are_reported_once(self, segments):
        self.add_segments(segments)
        self.add_segments(segments[:3], analyse=False)  # copies, not analysed
        lines = self.similar("-n", "3", "artist:hsr_rock")
        warnings = [line for line in lines if "not analysed" in line]
        assert warnings == [
            "musicnn: 3 of 6 seeds not analysed yet (left out): run `beet musicnn`"
        ]
        lines = self.similar("-n", "3", "artist:kaufman")
        assert [line for line in lines if "not analysed" in line] == [
            "musicnn: 3 candidates not analysed yet (they cannot be suggested): "
            "run `beet musicnn`"
        ]


class TestBadInput(RadioHelper):
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--order", "random", SEED], "unknown order 'random'"),
            (["-n", "0", SEED], "count must be at least 1"),
            (["--max-per-artist", "0", SEED], "max-per-artist must be at least 1"),
            (["year:1990..abc"], "bad seed query"),
            (["--where", "year:x..", SEED], "bad --where query"),
            (["--where", 'title:"open', SEED], "bad query"),
            ([], "give a query"),
        ],
    )
    def test_bad_options_and_queries(self, segments, args, message):
        self.add_segments(segments[:3], analyse=False)
        with pytest.raises(ui.UserError, match=message):
            self.similar(*args)

    def test_unwritable_playlist(self, segments):
        self.add_segments(segments[:3])
        blocker = self.temp_path / "a_file"
        blocker.write_text("")
        with pytest.raises(ui.UserError, match="cannot write the playlist"):
            self.similar("--m3u", str(blocker / "radio.m3u"), "title:hsr_rock 1")

    def test_bad_model_setting(self, segments):
        self.config["musicnn"]["similar_model"] = "xyz"
        self.add_segments(segments[:3])
        with pytest.raises(ui.UserError, match="bad `similar_model` setting"):
            self.similar(SEED)


class TestPlaylists(RadioHelper):
    plugins: ClassVar[tuple[str, ...]] = ("musicnn", "playlist")

    def test_m3u_follows_smartplaylist_and_the_playlist_plugin_reads_it(self, segments):
        self.add_segments(segments)
        self.config["smartplaylist"]["relative_to"] = str(self.lib_path)
        self.config["smartplaylist"]["forward_slash"] = True
        self.config["playlist"]["relative_to"] = str(self.lib_path)
        m3u = self.temp_path / "lists" / "radio.m3u"
        listed = self.similar_items("-n", "5", "--m3u", str(m3u), SEED)
        lines = m3u.read_text().splitlines()
        assert lines == [os.path.basename(os.fsdecode(i.path)) for i in listed]
        # beets' playlist plugin resolves the lines back to the items' files.
        # (Its `playlist:` query then compares them with the stored paths,
        # which beets >= 2.10 keeps relative to the library; with beets
        # 2.14 that query matched nothing here, so the resolved paths are
        # compared instead.)
        from beetsplug.playlist import PlaylistQuery

        read_back = PlaylistQuery("playlist", str(m3u), None).pattern
        assert read_back == [normpath(i.path) for i in listed]

    def test_extm3u_output(self, segments):
        self.add_segments(segments)
        self.config["smartplaylist"]["output"] = "extm3u"
        m3u = self.temp_path / "radio.m3u"
        listed = self.similar_items("-n", "2", "--m3u", str(m3u), SEED)
        lines = m3u.read_text().splitlines()
        assert lines[0] == "#EXTM3U"
        assert lines[1] == f"#EXTINF:6,{listed[0].artist} - {listed[0].title}"
        assert lines[2] == os.fsdecode(listed[0].path)
        assert len(lines) == 5

    def test_named_playlists_follow_each_run_and_the_command(self, segments):
        folder = self.temp_path / "radio"
        self.config["musicnn"]["similar_playlist_dir"] = str(folder)
        self.config["musicnn"]["similar_playlists"] = [
            {"name": "rock.m3u", "seeds": "'title:hsr_rock 0'", "count": 2},
            {
                "name": "calm.m3u",
                "seeds": ["artist:vanherk"],
                "where": "^artist:hsr_rock",
                "count": 4,
                "order": "flow",
                "max_per_artist": 2,
            },
        ]
        items = self.add_segments(segments)  # `beet musicnn` writes them
        path_of = {os.fsdecode(i.path): i for i in items}
        rock = [path_of[p] for p in (folder / "rock.m3u").read_text().split("\n")[:-1]]
        assert {i.title for i in rock} == {"hsr_rock 1", "hsr_rock 2"}
        calm = [path_of[p] for p in (folder / "calm.m3u").read_text().split("\n")[:-1]]
        assert len(calm) == 4
        assert not {i.artist for i in calm} & {"hsr_rock", "vanherk"}
        assert max(sum(i.artist == c.artist for i in calm) for c in calm) == 2

        (folder / "rock.m3u").unlink()
        self.run_command("musicnn-radio", "rock.m3u")
        assert "rock.m3u: 2 tracks" in self.capsys.readouterr().out
        assert (folder / "rock.m3u").exists()
        with pytest.raises(ui.UserError, match=r"no radio playlist named x\.m3u"):
            self.run_command("musicnn-radio", "x.m3u")

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("calm.m3u", "expected a list"),
            ([{"name": "a.m3u"}], "entry 1: missing seeds"),
            (
                [{"name": "a.m3u", "seeds": "x", "size": 3}],
                "unknown option 'size' under entry 1: the options are name, seeds",
            ),
            ([{"name": "a.m3u", "seeds": "x", "count": -1}], "count"),
        ],
    )
    def test_bad_playlist_settings(self, value, message):
        self.config["musicnn"]["similar_playlists"] = value
        with pytest.raises(ui.UserError, match=message):
            self.run_command("musicnn-radio")
