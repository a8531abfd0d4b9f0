"""Labels on a real beets library: lastgenre's genres and their parents,
calibration to the library itself, and label changes that need no decoding.

Real beets, real clips, real models; the libraries are those of
``test_plugin.MusicnnHelper``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
from beets import ui
from beets.library import Item

from beetsplug.musicnn.engine.models import get_model
from beetsplug.musicnn.labels import fields, genres
from beetsplug.musicnn.labels.calibration import Calibration, default_calibration
from beetsplug.musicnn.library import library_calibration
from tests import test_plugin
from tests.test_plugin import MSD_HAPPY, MusicnnHelper

#: The bundled clips' first seconds (a session fixture of test_plugin).
excerpts = test_plugin.excerpts


def break_audio_keeping_mtime(path: str | bytes) -> None:
    """Overwrite a file's audio with garbage but keep its modification time:
    the plugin still sees the analysis as current, and any attempt to decode
    the file would now fail (and leave a ``musicnn_error``)."""
    stat = os.stat(path)
    size = stat.st_size
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


class TestGenresInBeetsVocabulary(MusicnnHelper):
    musicnn_config: ClassVar[dict] = {"write_genre": True}

    def test_a_parent_genre_query_finds_its_children(self, bundled_music):
        techno = self.add_file(bundled_music / "lebidan_frozen_bubble_intro.ogg")
        rock = self.add_file(bundled_music / "hsr_rock.ogg")
        self.musicnn()
        techno, rock = self.item(techno), self.item(rock)
        assert techno[fields.GENRE_FIELD] == "Techno"
        assert techno.genres == ["Techno", "Electronic"]
        assert rock.genres == ["Rock"]

        def titles(query: str) -> set[str]:
            return {item.title for item in self.lib.items(query)}

        # "Electronic" is no substring of "Techno": only the parent finds it.
        assert titles("genres:Electronic") == {techno.title}
        assert titles("genres:Rock") == {rock.title}
        # musicnn_genre is queried case-insensitively as a substring.
        assert titles("musicnn_genre:techno") == {techno.title}
        assert titles("musicnn_genre:=Techno") == {techno.title}


class TestLabelsWithoutDecoding(MusicnnHelper):
    def analysed_and_broken(self, excerpts, count=2):
        """Analyse ``count`` items, then make their audio undecodable."""
        items = [self.add_file(clip) for clip in excerpts[:count]]
        assert f"analysed {count} tracks" in self.musicnn()
        for item in items:
            break_audio_keeping_mtime(item.path)
        return items

    def test_an_upgraded_label_rule_re_derives_without_decoding(
        self, excerpts, monkeypatch
    ):
        rock, *_ = self.analysed_and_broken(excerpts)
        before = self.item(rock)
        assert before[fields.GENRE_FIELD] == "Rock"
        # What an upgrade that maps MusicNN's "rock" elsewhere looks like.
        monkeypatch.setitem(genres.CANONICAL, "rock", "hard rock")

        output = self.musicnn()
        assert "analysed 0 tracks; skipped 2 already up to date" in output
        assert "re-derived the labels of 2 from stored results" in output
        after = self.item(rock)
        assert after[fields.GENRE_FIELD] == "Hard Rock"
        assert after[fields.LABELS_FIELD] != before[fields.LABELS_FIELD]
        assert fields.ERROR_FIELD not in after  # nothing was decoded
        assert after[fields.VERSION_FIELD] == before[fields.VERSION_FIELD]
        assert after[fields.ANALYZED_FIELD] == before[fields.ANALYZED_FIELD]
        # Current now: the next run has nothing to do.
        assert "re-derived" not in self.musicnn()

    def test_a_new_setting_re_derives_by_itself(self, excerpts):
        items = self.analysed_and_broken(excerpts)
        self.config["musicnn"]["threshold"] = 0.05
        output = self.musicnn()
        assert "re-derived the labels of 2" in output
        for item in map(self.item, items):
            assert len(item[fields.TAGS_FIELD].split("; ")) == 10  # all pass 0.05
            assert fields.ERROR_FIELD not in item

    def test_items_of_an_older_release_get_labels_without_a_re_analysis(
        self, excerpts
    ):
        """Items analysed before labels revisions existed have no
        ``musicnn_labels``: they are re-derived, not analysed again."""
        items = self.analysed_and_broken(excerpts)
        for item in map(self.item, items):
            del item[fields.LABELS_FIELD]
            item[fields.GENRE_FIELD] = "rock"  # the old lowercase label
            item.store()
        output = self.musicnn()
        assert "analysed 0 tracks" in output
        assert "re-derived the labels of 2" in output
        assert self.item(items[0])[fields.GENRE_FIELD] == "Rock"

    def test_pretend_counts_the_stale_labels(self, excerpts):
        self.analysed_and_broken(excerpts)
        self.config["musicnn"]["threshold"] = 0.5
        output = self.musicnn("--pretend")
        assert "would analyse 0 items; 2 are up to date, of which 2 would get" in (
            output
        )


class TestListenerMoods(MusicnnHelper):
    """The seven learned mood strengths, typed and queryable, and what an
    upgrade to them costs: nothing decoded."""

    def test_every_analysed_item_has_seven_mood_strengths(self, bundled_music):
        items = [self.add_file(path) for path in sorted(bundled_music.glob("*.ogg"))]
        self.musicnn()
        for item in map(self.item, items):
            felt = {mood: item[name] for mood, name in
                    fields.MOOD_STRENGTH_FIELDS.items()}
            assert all(isinstance(v, float) and 0 <= v <= 1 for v in felt.values())
            clearest = max(felt, key=felt.__getitem__)
            assert item[fields.MOOD_FIELD] in ("", clearest) or (
                item[fields.GENRE_FIELD] in ("Heavy Metal", "Hard Rock"))
        # Typed fields: a range query and a numeric sort, as for the tags.
        calm = fields.MOOD_STRENGTH_FIELDS["calm"]
        values = sorted(self.item(i)[calm] for i in items)
        middle = values[len(values) // 2]
        found = {item.id for item in self.lib.items(f"{calm}:{middle}..")}
        assert found == {i.id for i in items if self.item(i)[calm] >= middle}
        ordered = [item[calm] for item in self.lib.items(f"{calm}-")]
        assert ordered == sorted(values, reverse=True)

    def test_labels_of_the_release_before_the_heads_are_re_derived(self, excerpts):
        """An item labelled by the tag rules alone (labels revision 3, no
        mood strengths) gets the learned labels from the store."""
        items = [self.add_file(clip) for clip in excerpts[:2]]
        self.musicnn()
        for item in map(self.item, items):
            for name in fields.MOOD_STRENGTH_FIELDS.values():
                del item[name]
            item[fields.LABELS_FIELD] = "3:shipped:000000000000"
            item.store()
            break_audio_keeping_mtime(item.path)
        output = self.musicnn()
        assert "analysed 0 tracks" in output
        assert "re-derived the labels of 2 from stored results" in output
        for item in map(self.item, items):
            assert set(fields.MOOD_STRENGTH_FIELDS.values()) <= set(item.keys())
            assert fields.ERROR_FIELD not in item


class TestContent(MusicnnHelper):
    """Spoken word beside music in a real library: what it is, and no music
    words for it."""

    def test_speech_gets_no_genre_and_no_mood(self, bundled_music):
        speech_folder = bundled_music.parent / "speech"
        speech = [self.add_file(p) for p in sorted(speech_folder.glob("*.ogg"))]
        music = [self.add_file(p) for p in sorted(bundled_music.glob("*.ogg"))]
        self.config["musicnn"]["write_genre"] = True
        self.musicnn()
        for item in map(self.item, speech):
            assert item[fields.CONTENT_FIELD] == "speech"
            assert item[fields.GENRE_FIELD] == item[fields.MOOD_FIELD] == ""
            assert item.genres == []
            assert not set(fields.MOOD_STRENGTH_FIELDS.values()) & set(item.keys())
        for item in map(self.item, music):
            assert item[fields.CONTENT_FIELD] == "music"
            assert item[fields.GENRE_FIELD]
        listed = {item.id for item in self.lib.items("musicnn_content:music")}
        assert listed == {item.id for item in music}


class TestLibraryCalibration(MusicnnHelper):
    def calibration_file(self) -> Path:
        return library_calibration.calibration_path(self.lib.path)

    def test_too_few_items_are_refused_with_the_count(self, excerpts):
        for clip in excerpts[:2]:
            self.add_file(clip)
        self.musicnn()
        minimum = library_calibration.MIN_ITEMS
        with pytest.raises(
            ui.UserError,
            match=f"needs at least {minimum:,} analysed items and this library has 2",
        ):
            self.musicnn("--calibrate")
        assert not self.calibration_file().exists()

    def test_library_calibration_without_a_fit_says_to_calibrate(self, excerpts):
        self.add_file(excerpts[0])
        self.config["musicnn"]["calibration"] = "library"
        with pytest.raises(ui.UserError, match="run `beet musicnn --calibrate`"):
            self.musicnn()

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ({"mtt": 0}, "mtt: 0 is not in \\(0, 1\\]"),
            ({"mtt": "half"}, "'half' is not a number"),
            ({"xyz": 0.5}, "unknown MusicNN model"),
            (0.5, "is not a mapping"),
        ],
    )
    def test_a_bad_patch_share_is_refused(self, value, problem):
        self.config["musicnn"]["patch_share"] = value
        message = f"bad `patch_share` setting: .*{problem}"
        with pytest.raises(ui.UserError, match=message):
            self.musicnn()

    def test_an_unknown_calibration_setting_is_refused(self):
        self.config["musicnn"]["calibration"] = "mine"
        with pytest.raises(ui.UserError, match="bad `calibration` setting"):
            self.musicnn()

    def test_calibrate_round_trip(self, excerpts, monkeypatch):
        """Fit on the library, re-derive against it, and back to shipped:
        nothing is decoded after the first analysis."""
        monkeypatch.setattr(library_calibration, "MIN_ITEMS", 4)
        items = [self.add_file(clip) for clip in excerpts[:4]]
        self.musicnn()
        shipped_happy = {i.id: self.item(i)[MSD_HAPPY] for i in items}
        for item in items:
            break_audio_keeping_mtime(item.path)

        # With `calibration: shipped`, --calibrate saves and says how to use it.
        self.config["musicnn"]["calibration"] = "shipped"
        output = self.musicnn("--calibrate")
        assert "calibrated on 4 analysed items" in output
        assert "set `calibration: auto`" in output
        saved = json.loads(self.calibration_file().read_text())
        assert saved["provenance"]["sources"][0]["tracks"] == 4
        assert {i.id: self.item(i)[MSD_HAPPY] for i in items} == shipped_happy

        self.config["musicnn"]["calibration"] = "library"
        output = self.musicnn("--calibrate")
        assert "re-derived the fields of 4 items" in output
        fitted = Calibration.load(self.calibration_file())
        with self.store() as store:
            for item in map(self.item, items):
                scores = store.get(item.id)["msd"].scores
                happy = fitted.strength("msd", scores)[
                    get_model("msd").tags.index("happy")
                ]
                assert item[MSD_HAPPY] == pytest.approx(float(happy), abs=1e-4)
                assert item[fields.LABELS_FIELD].split(":")[1] == "library"
                assert fields.ERROR_FIELD not in item
        # Strengths are now percentiles within these 4 tracks: their mean is
        # near 0.5 whatever the shipped corpus said.
        library_happy = [self.item(i)[MSD_HAPPY] for i in items]
        assert library_happy != list(shipped_happy.values())
        assert "re-derived" not in self.musicnn()  # labels are current

        # Back to the shipped calibration: the next run re-derives by itself.
        self.config["musicnn"]["calibration"] = "shipped"
        output = self.musicnn()
        assert "analysed 0 tracks" in output
        assert "re-derived the labels of 4" in output
        assert {i.id: self.item(i)[MSD_HAPPY] for i in items} == shipped_happy
        assert fitted.fingerprint != default_calibration().fingerprint


class TestAutomaticCalibration(MusicnnHelper):
    """The default, ``calibration: auto``, on a library of the size
    ``--calibrate`` asks for (``library_calibration.MIN_ITEMS``)."""

    def library_of_minimum_size(self, excerpts) -> list:
        """MIN_ITEMS items: the excerpts, analysed by `beet musicnn`, and
        byte-for-byte copies of them (modification time kept) whose stored
        results are the originals' (what analysing them would store), so
        that the library is full size without analysing it 75 times over."""
        originals = [self.add_file(clip) for clip in excerpts[:4]]
        self.musicnn()
        with self.store() as store:
            results = {item.id: store.get(item.id) for item in originals}
            copies = []
            for number in range(library_calibration.MIN_ITEMS - len(originals)):
                original = originals[number % len(originals)]
                source = os.fsdecode(original.path)
                path = self.lib_path / f"copy_{number}{Path(source).suffix}"
                shutil.copy2(source, path)
                copy = Item.from_path(path)
                self.lib.add(copy)
                copies.append(copy)
                store.put_many(
                    replace(stored, item_id=copy.id, mtime=os.stat(path).st_mtime)
                    for stored in results[original.id].values()
                )
        # The copies' fields come from their stored results: nothing decoded.
        output = self.musicnn()
        assert "analysed 0 tracks" in output, output
        return originals + copies

    def test_calibrate_re_derives_at_once_and_a_fit_that_cannot_serve_falls_back(
        self, excerpts, caplog
    ):
        items = self.library_of_minimum_size(excerpts)
        shipped = {i.id: self.item(i)[MSD_HAPPY] for i in items}
        assert {self.item(i)[fields.LABELS_FIELD].split(":")[1] for i in items} == {
            "shipped"
        }

        output = self.musicnn("--calibrate")
        assert f"calibrated on {len(items)} analysed items" in output
        assert f"re-derived the fields of {len(items)} items" in output
        fitted = Calibration.load(self.calibration_file())
        happy = get_model("msd").tags.index("happy")
        with self.store() as store:
            for item in map(self.item, items):
                scores = store.get(item.id)["msd"].scores
                expected = float(fitted.strength("msd", scores)[happy])
                assert item[MSD_HAPPY] == pytest.approx(expected, abs=1e-4)
                assert item[fields.LABELS_FIELD].split(":")[1] == "library"
        assert {i.id: self.item(i)[MSD_HAPPY] for i in items} != shipped
        assert "re-derived" not in self.musicnn()  # current: nothing to do

        # A fit without a model now enabled cannot serve: auto goes back to
        # the shipped calibration, and says to fit again; `library` stops.
        saved = json.loads(self.calibration_file().read_text())
        del saved["models"]["mtt"]
        self.calibration_file().write_text(json.dumps(saved))
        output = self.musicnn()
        assert f"re-derived the labels of {len(items)}" in output
        assert {i.id: self.item(i)[MSD_HAPPY] for i in items} == shipped
        assert (
            "has no statistics for mtt: run `beet musicnn --calibrate` again; "
            "using the shipped calibration until then" in caplog.text
        )
        self.config["musicnn"]["calibration"] = "library"
        with pytest.raises(ui.UserError, match="has no statistics for mtt"):
            self.musicnn()

    def calibration_file(self) -> Path:
        return library_calibration.calibration_path(self.lib.path)


class TestAddedModel(MusicnnHelper):
    def test_an_added_model_analyses_only_that_model(self, excerpts):
        items = [self.add_file(clip) for clip in excerpts[:2]]
        self.musicnn("-m", "msd")
        with self.store() as store:
            msd_before = {i.id: store.get(i.id)["msd"] for i in items}
        happy_before = {i.id: self.item(i)[MSD_HAPPY] for i in items}

        output = self.musicnn()  # the default adds mtt
        assert "analysed 2 tracks (2 only with the models they lacked: mtt)" in output
        with self.store() as store:
            for item in map(self.item, items):
                stored = store.get(item.id)
                assert set(stored) == {"msd", "mtt"}
                # MSD's numbers are the ones kept, not a new analysis.
                assert stored["msd"].analyzed_at == msd_before[item.id].analyzed_at
                assert stored["mtt"].analyzed_at > stored["msd"].analyzed_at
                assert item[fields.VERSION_FIELD] == test_plugin.default_version()
                assert item[MSD_HAPPY] == happy_before[item.id]
                assert test_plugin.MTT_FAST in item
        assert "analysed 0 tracks; skipped 2" in self.musicnn()

    def test_results_kept_from_a_one_model_run_count_for_calibrate(
        self, excerpts, monkeypatch
    ):
        monkeypatch.setattr(library_calibration, "MIN_ITEMS", 2)
        for clip in excerpts[:2]:
            self.add_file(clip)
        self.musicnn("-m", "msd")
        self.musicnn()  # adds mtt; the MSD results are kept
        assert "calibrated on 2 analysed items" in self.musicnn("--calibrate")

    def test_a_changed_file_is_analysed_whole(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn("-m", "msd")
        stat = os.stat(item.path)
        os.utime(item.path, (stat.st_atime, stat.st_mtime + 10))
        output = self.musicnn()
        assert "analysed 1 track;" in output  # both models: MSD's is stale
        assert "lacked" not in output

    def test_a_removed_model_re_derives_without_decoding(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn()
        break_audio_keeping_mtime(item.path)
        output = self.musicnn("-m", "msd")
        assert "analysed 0 tracks; skipped 1" in output
        assert "re-derived the labels of 1" in output
        item = self.item(item)
        assert item[fields.VERSION_FIELD] == fields.analysis_version(["msd"])
        assert test_plugin.MTT_FAST not in item
        assert item[fields.ENERGY_FIELD] == ""  # MTT's
        assert fields.ERROR_FIELD not in item
        assert "analysed 0 tracks; skipped 1" in self.musicnn("-m", "msd")
