"""Families: real beets, real audio, real model, real scikit-learn.

The library holds consecutive segments of each bundled clip (artist and
album: the clip), analysed with ``beet musicnn``; segments of one recording
sound alike, so the families have something real to find. The naming rules
are checked on label lists directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from beets import ui
from test_plugin import MusicnnHelper

from beetsplug.musicnn.sound import families

SEGMENT_SECONDS = 6.0
SEGMENTS = 4


@pytest.fixture(scope="session")
def family_segments(write_segments, tmp_path_factory) -> list[Path]:
    """Ogg files of consecutive segments of each bundled clip, tagged with
    the clip as artist and album."""
    return write_segments(
        tmp_path_factory.mktemp("family_segments"), SEGMENT_SECONDS, SEGMENTS
    )


class FamilyHelper(MusicnnHelper):
    def families(self, *args: str) -> str:
        self.run_command("musicnn-families", *args)
        return self.capsys.readouterr().out

    @staticmethod
    def parse(output: str) -> dict[str, list[str]]:
        """``{family header: [item lines]}`` of the command's output."""
        found: dict[str, list[str]] = {}
        current = None
        for line in output.splitlines():
            if line.startswith("== "):
                current = line
                found[current] = []
            elif current is not None and not line.startswith("musicnn:"):
                found[current].append(line)
        return found


class TestFamiliesCommand(FamilyHelper):
    def test_lists_named_families_of_the_analysed_items(self, family_segments):
        items = self.add_segments(family_segments)
        output = self.families("-f", "$title")
        found = self.parse(output)
        assert len(found) >= 2
        names = [header[3 : header.rindex(" (")] for header in found]
        assert len(set(names)) == len(names)  # unique names
        for header, lines in found.items():
            assert header.endswith(f"({len(lines)} tracks)")
        listed = [line for lines in found.values() for line in lines]
        assert len(listed) == len(set(listed))  # no track in two families
        outliers = len(items) - len(listed)
        if outliers:
            tracks = "track fits" if outliers == 1 else "tracks fit"
            assert f"{outliers} {tracks} no family" in output
        assert set(listed) <= {item.title for item in items}

    def test_segments_of_one_recording_mostly_share_a_family(self, family_segments):
        self.add_segments(family_segments)
        found = self.parse(self.families("-f", "$artist"))
        # For each recording, the share of its segments in its commonest
        # family: real embeddings of one recording are close.
        by_artist: dict[str, list[int]] = {}
        for number, lines in enumerate(found.values()):
            for artist in lines:
                by_artist.setdefault(artist, []).append(number)
        shares = [
            max(np.bincount(numbers)) / SEGMENTS for numbers in by_artist.values()
        ]
        assert np.mean(shares) >= 0.7, shares

    def test_same_library_same_families_whatever_the_import_order(
        self, family_segments
    ):
        self.add_segments(family_segments)
        first = self.families("-f", "$title")
        assert self.families("-f", "$title") == first
        # The same tracks added in reverse order (other ids) to a new library.
        for item in self.lib.items():
            item.remove()
        self.run_command("ls")  # at its exit the store forgets the removed items
        self.capsys.readouterr()
        self.add_segments(list(reversed(family_segments)))
        again = self.parse(self.families("-f", "$title"))
        assert {h: sorted(v) for h, v in again.items()} == {
            h: sorted(v) for h, v in self.parse(first).items()
        }

    def test_a_library_too_small_for_families_is_told_so(self, family_segments):
        # The demo's library: one track of each of the four bundled clips.
        self.add_segments(family_segments[::SEGMENTS])
        output = self.families()
        assert "==" not in output
        assert (
            "musicnn: no families: 4 analysed tracks are too few for families "
            f"(they need at least {families.MIN_TRACKS})"
        ) in output
        # Asked for, one family is made, and named only by what all share.
        found = self.parse(self.families("-k", "1"))
        assert len(found) <= 1

    def test_k_sets_the_number_of_families(self, family_segments):
        self.add_segments(family_segments)
        assert len(self.parse(self.families("-k", "2"))) == 2
        with pytest.raises(ui.UserError, match="at most 5"):
            self.families("-k", "9")

    def test_query_limits_the_families(self, family_segments):
        self.add_segments(family_segments)
        stem = family_segments[0].stem.rsplit("_", 1)[0]
        found = self.parse(self.families("-f", "$artist", "^artist:" + stem))
        assert stem not in {a for lines in found.values() for a in lines}

    def test_m3u_writes_one_playlist_per_family_and_removes_stale_ones(
        self, family_segments, tmp_path
    ):
        items = self.add_segments(family_segments)
        folder = tmp_path / "families"
        folder.mkdir()
        (folder / "mine.m3u").write_text("kept\n")
        found = self.parse(self.families("--m3u", str(folder), "-k", "4"))
        playlists = sorted(p for p in folder.glob("*.m3u") if p.name != "mine.m3u")
        assert len(playlists) == len(found) == 4
        paths = {str(item.filepath) for item in items}
        for playlist in playlists:
            lines = playlist.read_text().splitlines()
            assert lines and set(lines) <= paths
        self.families("--m3u", str(folder), "-k", "2")
        assert len([p for p in folder.glob("*.m3u") if p.name != "mine.m3u"]) == 2
        assert (folder / "mine.m3u").read_text() == "kept\n"

    def test_items_not_analysed_are_counted_not_dropped_silently(self, family_segments):
        self.add_segments(family_segments[:-2])
        self.add_segments(family_segments[-2:], analyse=False)
        output = self.families()
        assert "2 of 16 items not analysed yet" in output


class TestFamilyPlaylistsAfterARun(FamilyHelper):
    musicnn_config = {  # noqa: RUF012
        "family_playlists": [{"name": "families", "k": 3}],
    }

    def test_a_run_rewrites_the_configured_family_playlists(
        self, family_segments, tmp_path
    ):
        self.config["musicnn"]["similar_playlist_dir"] = str(tmp_path)
        self.add_file(family_segments[0])
        output = self.musicnn()  # one item: too few for families, reported
        assert "musicnn families: families: not written" in output
        for path in family_segments[1:]:
            self.add_file(path)
        output = self.musicnn()
        assert "musicnn families: families: 3 family playlists" in output
        assert len(list((tmp_path / "families").glob("*.m3u"))) == 3


class TestFamilyPlaylistsSetting(FamilyHelper):
    musicnn_config = {"family_playlists": [{"name": "../up"}]}  # noqa: RUF012

    def test_a_bad_entry_is_a_clear_error(self, family_segments):
        self.add_segments(family_segments[:4], analyse=False)
        with pytest.raises(ui.UserError, match=r"family_playlists.*folder name"):
            self.musicnn()


class TestFamiliesErrors(FamilyHelper):
    def test_an_empty_library(self):
        with pytest.raises(ui.UserError, match="the library is empty"):
            self.families()

    def test_a_query_that_matches_nothing(self, family_segments):
        self.add_segments(family_segments[:4])
        with pytest.raises(ui.UserError, match="no item matches 'title:nothing'"):
            self.families("title:nothing")

    def test_an_unanalysed_library(self, family_segments):
        self.add_segments(family_segments[:4], analyse=False)
        with pytest.raises(ui.UserError, match="none of the 4 items is analysed yet"):
            self.families()

    def test_a_bad_query(self, family_segments):
        self.add_segments(family_segments[:4], analyse=False)
        with pytest.raises(ui.UserError, match="bad query"):
            self.families("musicnn_msd_happy:x..y")

    def test_without_the_extra_the_message_names_it(self, family_segments, monkeypatch):
        self.add_segments(family_segments[:4])
        # As if scikit-learn were not installed: the import system finds
        # nothing for a module set to None in sys.modules.
        monkeypatch.setitem(sys.modules, "sklearn", None)
        extra = r"pip install 'beets-musicnn\[report\]'"
        with pytest.raises(ui.UserError, match=extra):
            self.families()


# Naming -------------------------------------------------------------------------


def _name(genres, moods=None, energies=None, tags=None, groups=None):
    n = len(genres)
    groups = groups or [np.arange(n)]
    return families.name_families(
        groups,
        genres,
        moods or [""] * n,
        energies or [[]] * n,
        tags or [[]] * n,
    )


def test_a_name_is_energy_then_mood_then_genre():
    names = _name(
        ["Heavy Metal"] * 4,
        moods=["aggressive"] * 3 + [""],
        energies=[["loud", "fast"]] * 4,
    )
    assert names == ["Loud Fast Aggressive Heavy Metal"]


def test_empty_labels_are_unknown_not_a_word():
    # an empty genre is "unsure": it counts against the genre, not for another
    assert _name(["Folk", "Folk", "Folk", ""]) == ["Folk"]
    assert _name(["Folk", "Folk", "", ""]) == ["Mixed Genres"]
    # no genre at all: a tag most tracks hold stands in
    assert _name(["", "", ""], tags=[["piano"], ["piano", "slow"], ["piano"]]) == [
        "Piano"
    ]
    assert _name(["", "", ""], tags=[["piano"], ["piano", "slow"], []]) == [
        "Mixed Genres"
    ]
    assert _name(["", ""]) == ["Mixed Genres"]


def test_every_word_of_a_name_is_carried_by_most_tracks():
    # 0.7 of the tracks at least: 3 of 4 carry "mellow", 2 of 4 do not
    assert _name(["Rock"] * 4, moods=["sad", "", "", ""]) == ["Rock"]
    assert _name(["Rock"] * 4, moods=["mellow"] * 3 + [""]) == ["Mellow Rock"]
    assert _name(["Rock"] * 4, moods=["mellow"] * 2 + ["", ""]) == ["Rock"]
    assert _name(["Rock"] * 4, energies=[["loud"]] * 2 + [[]] * 2) == ["Rock"]
    # a parent genre is carried by its children: heavy metal is rock
    assert _name(["Heavy Metal"] * 2 + ["Rock"] * 2) == ["Rock"]
    assert _name(["Heavy Metal"] * 4) == ["Heavy Metal"]
    assert _name(["Techno"] * 2 + ["Classical"] * 2, energies=[["quiet"]] * 4) == [
        "Quiet (mixed genres)"
    ]


def _settled(genres, moods=None, energies=None):
    """The families of one cluster of all the rows."""
    n = len(genres)
    partition = families.Partition(
        np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.float32), 1, {}
    )
    return families.families(
        partition,
        np.arange(1, n + 1),
        genres,
        moods or [""] * n,
        energies or [[]] * n,
        [[]] * n,
    )


def test_a_track_that_contradicts_the_name_leaves_the_family():
    # The "Loud Fast Heavy Metal" that held a quiet slow ambient track.
    partition, found = _settled(
        ["Heavy Metal"] * 8 + ["Ambient"],
        energies=[["loud", "fast"]] * 8 + [["quiet", "slow"]],
    )
    assert [f.name for f in found] == ["Loud Fast Heavy Metal"]
    assert 9 not in found[0].item_ids and len(found[0].item_ids) == 8
    assert partition.labels.tolist() == [0] * 8 + [-1]
    assert partition.misfits == 1
    # Unsure labels contradict nothing: an empty energy stays in "Loud".
    partition, found = _settled(["Rock"] * 4, energies=[["loud"]] * 3 + [[]])
    assert [f.name for f in found] == ["Loud Rock"] and partition.misfits == 0
    # Another mood contradicts the name's mood.
    partition, found = _settled(["Rock"] * 8, moods=["sad"] * 7 + ["happy"])
    assert found[0].name == "Sad Rock" and partition.misfits == 1


def test_a_family_left_too_small_dissolves():
    # Techno and rock leave "Classical"; then "Quiet" is shared by enough.
    partition, found = _settled(
        ["Techno", "Rock"] + ["Classical"] * 5,
        energies=[["loud"], ["loud"], []] + [["quiet"]] * 4,
    )
    assert [f.name for f in found] == ["Quiet Classical"]
    assert partition.misfits == 2 and partition.labels.tolist()[:2] == [-1, -1]
    # No word shared: a name that claims nothing, so nothing contradicts it.
    partition, found = _settled(["Techno", "Rock", "Classical", "Pop"])
    assert [f.name for f in found] == ["Mixed Genres"] and partition.misfits == 0
    # Three techno tracks and a classical one: the classical one leaves.
    partition, found = _settled(
        ["Techno", "Techno", "Techno", "Classical"], energies=[["loud"]] * 4
    )
    assert [f.name for f in found] == ["Loud Techno"] and partition.misfits == 1
    # "Loud Techno": the quiet techno and the rock track leave, and two
    # tracks are too few for a family.
    partition, found = _settled(
        ["Techno"] * 3 + ["Rock"], energies=[["loud"], ["loud"], ["quiet"], ["loud"]]
    )
    assert found == [] and partition.misfits == 4 and partition.k == 0
    assert partition.labels.tolist() == [-1] * 4


def test_too_few_tracks_make_no_families():
    vectors = np.eye(families.MIN_TRACKS, dtype=np.float32)[1:]
    with pytest.raises(families.TooFewTracks, match="too few for families"):
        families.cluster(vectors, np.arange(len(vectors)))
    families.cluster(vectors, np.arange(len(vectors)), k=1)  # asked for: made


def test_a_word_appears_once():
    assert _name(["rock"] * 2, moods=["loud"] * 2, energies=[["loud"]] * 2) == [
        "Loud Rock"
    ]


def test_names_are_unique():
    genres = ["rock"] * 9
    tags = [["piano"]] * 3 + [["guitar"]] * 3 + [["guitar"]] * 3
    names = _name(
        genres, tags=tags, groups=[np.arange(0, 3), np.arange(3, 6), np.arange(6, 9)]
    )
    assert len(set(names)) == 3
    assert names[0] == "Rock · Piano"


def test_display_keeps_canonical_capitals():
    assert families.display("heavy metal") == "Heavy Metal"
    assert families.display("hip-hop") == "Hip-Hop"
    assert families.display("R&B") == "R&B"


def test_cluster_is_deterministic_and_ignores_row_order():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 20))
    vectors = np.repeat(centres, 30, axis=0) + rng.normal(size=(120, 20)) * 0.3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 121)
    first = families.cluster(vectors, ids)
    assert first.k == 4  # the silhouette finds the four groups
    shuffle = rng.permutation(120)
    again = families.cluster(vectors[shuffle], ids[shuffle] + 1000)
    assert (again.labels == first.labels[shuffle]).all()


def test_beet_start_up_imports_nothing_of_the_report_extra(python_output):
    code = (
        "import sys, beetsplug.musicnn.plugin; "
        "print(sorted({'sklearn', 'plotly', 'umap', 'numba'} & set(sys.modules)))"
    )
    assert python_output(code) == "[]"
