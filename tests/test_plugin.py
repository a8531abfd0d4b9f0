"""The beets plugin end to end: real beets, real audio, real models, no mocks.

Libraries are temporary, on disk, and hold short excerpts of the bundled
clips (cut at test time) so that each analysis takes a fraction of a second;
most tests analyse in-process (``workers: 0``), one goes through the pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import beets.plugins
import mediafile
import mutagen
import numpy as np
import psutil
import pytest
import soundfile
import yaml
from beets import ui
from beets.library import Item
from beets.test.helper import ImportHelper, PluginMixin, TestHelper
from beets.util import cached_classproperty

from beetsplug.musicnn.labels import fields
from beetsplug.musicnn.library import selection
from beetsplug.musicnn.library.store import ResultStore

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Seconds of each bundled clip used in the test libraries.
EXCERPT_SECONDS = 4.0
MSD_HAPPY = fields.score_field("msd", "happy")
MSD_SAD = fields.score_field("msd", "sad")
MSD_ROCK = fields.score_field("msd", "rock")
MTT_FAST = fields.score_field("mtt", "fast")
#: The default: both models, MTT on a share of the patches.
DEFAULT_MODELS = ["msd", "mtt"]
DEFAULT_SHARES = {"mtt": 0.34}


def default_version(**options) -> str:
    return fields.analysis_version(
        DEFAULT_MODELS, patch_shares=DEFAULT_SHARES, **options
    )


# Audio fixtures -------------------------------------------------------------


def write_clip(path: Path, signal: np.ndarray, rate: int, title: str) -> Path:
    """Write ``signal`` as Ogg Vorbis with a title tag beets can read."""
    with soundfile.SoundFile(
        path,
        "w",
        samplerate=rate,
        channels=signal.shape[1] if signal.ndim > 1 else 1,
        format="OGG",
        subtype="VORBIS",
    ) as sound:
        sound.title = title
        sound.artist = "musicnn tests"
        sound.write(signal)
    return path


@pytest.fixture(scope="session")
def excerpts(bundled_music, tmp_path_factory) -> list[Path]:
    """The first seconds of each bundled clip, as small Ogg files."""
    folder = tmp_path_factory.mktemp("excerpts")
    clips = []
    for source in sorted(bundled_music.glob("*.ogg")):
        signal, rate = soundfile.read(source, frames=int(EXCERPT_SECONDS * 44100))
        clips.append(write_clip(folder / source.name, signal, rate, source.stem))
    assert len(clips) >= 3, f"expected the bundled clips in {bundled_music}"
    return clips


@pytest.fixture(scope="session")
def odd_but_valid(excerpts, tmp_path_factory) -> list[Path]:
    """Audio that is unusual yet analysable: a 0.5 s clip and pure silence."""
    folder = tmp_path_factory.mktemp("odd")
    signal, rate = soundfile.read(excerpts[0])
    short = write_clip(folder / "half_second.ogg", signal[: rate // 2], rate, "short")
    silence = write_clip(
        folder / "silence.ogg", np.zeros(5 * 16000, np.float32), 16000, "silence"
    )
    return [short, silence]


# Helpers -----------------------------------------------------------------------


class MusicnnHelper(PluginMixin, TestHelper):
    """A temporary on-disk library with the musicnn plugin (and others) loaded."""

    plugins: ClassVar[tuple[str, ...]] = ("musicnn",)
    db_on_disk: ClassVar[bool] = True
    preload_plugin: ClassVar[bool] = False
    #: Settings of the musicnn plugin in place before it loads.
    musicnn_config: ClassVar[dict] = {}

    @pytest.fixture(autouse=True)
    def setup(self, request):
        # Item._types is cached per class across tests; it must see this
        # test's plugins.
        cached_classproperty.cache.clear()
        # beets logs to the stderr of the first command it ran; make it this
        # test's (captured) stderr rather than an earlier test's closed one.
        beets_log = logging.getLogger("beets")
        saved_handlers, beets_log.handlers = beets_log.handlers, []
        self.setup_beets()
        self.config["musicnn"]["workers"] = 0  # in-process: fast and enough
        self.config["musicnn"].set(self.musicnn_config)
        self.config["import"]["write"] = False
        self.load_plugins(*self.plugins)
        try:
            yield
        finally:
            self.teardown_beets()
            cached_classproperty.cache.clear()
            beets_log.handlers = saved_handlers

    def load_plugins(self, *names: str) -> None:
        self.config["plugins"] = list(names)
        beets.plugins.load_plugins()

    def add_file(self, source: Path, name: str | None = None) -> Item:
        """Copy ``source`` into the library folder and add it as an item."""
        destination = self.lib_path / (name or source.name)
        shutil.copy(source, destination)
        item = Item.from_path(destination)
        self.lib.add(item)
        return item

    def add_segments(self, segments: list[Path], analyse: bool = True) -> list[Item]:
        """Add the files ``segments`` as items; with ``analyse``, run the analysis."""
        items = [self.add_file(path) for path in segments]
        if analyse:
            self.musicnn()
        return items

    def add_broken(self, name: str, content: bytes | None) -> Item:
        """An item whose file cannot be analysed (``None``: no file at all)."""
        path = self.lib_path / name
        if content is not None:
            path.write_bytes(content)
        return self.add_item(path=str(path), title=name, format="MP3")

    def musicnn(self, *args: str) -> str:
        self.run_command("musicnn", *args)
        return self.capsys.readouterr().out

    def item(self, item: Item) -> Item:
        return self.lib.get_item(item.id)

    def store(self) -> ResultStore:
        return ResultStore.for_library(self.lib.path)

    @pytest.fixture(autouse=True)
    def _capsys(self, capsys):
        self.capsys = capsys


def non_musicnn_fields(item: Item) -> dict:
    return {
        key: item.get(key)
        for key in item.keys(with_album=False)
        if not key.startswith("musicnn_")
    }


# The command -------------------------------------------------------------------


class TestCommand(MusicnnHelper):
    def test_analyses_items_and_stores_fields_and_results(self, excerpts):
        items = [self.add_file(clip) for clip in excerpts[:2]]
        output = self.musicnn()
        assert "analysed 2 tracks" in output
        assert "0 failed" in output
        for item in map(self.item, items):
            assert item[fields.VERSION_FIELD] == default_version()
            assert 0.0 <= item[MSD_HAPPY] <= 1.0
            assert 0.0 <= item[MTT_FAST] <= 1.0
            assert item[fields.GENRE_FIELD]
            assert fields.MOOD_FIELD in item  # "" where the evidence is weak
            assert fields.ENERGY_FIELD in item
            assert fields.TAGS_FIELD in item
            assert item[fields.LABELS_FIELD].startswith(
                f"{fields.LABELS_VERSION}:shipped:"
            )
            assert item[fields.ANALYZED_FIELD] > 0
            assert fields.ERROR_FIELD not in item
        with self.store() as store:
            assert set(store.item_ids()) == {item.id for item in items}

    def test_skips_up_to_date_items_until_forced_or_the_file_changes(self, excerpts):
        changed, unchanged = (self.add_file(clip) for clip in excerpts[:2])
        self.musicnn()
        first_date = self.item(unchanged)[fields.ANALYZED_FIELD]

        assert "analysed 0 tracks; skipped 2" in self.musicnn()
        stat = os.stat(changed.path)
        os.utime(changed.path, (stat.st_atime, stat.st_mtime + 10))
        assert "analysed 1 track; skipped 1" in self.musicnn()
        assert self.item(unchanged)[fields.ANALYZED_FIELD] == first_date
        assert "analysed 2 tracks; skipped 0" in self.musicnn("--force")

    def test_a_new_model_set_is_a_new_version(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn("-m", "msd")
        assert MTT_FAST not in self.item(item)
        assert "analysed 1 track" in self.musicnn()
        item = self.item(item)
        assert item[fields.VERSION_FIELD] == default_version()
        assert MTT_FAST in item  # in the default scores once mtt runs

    def test_a_new_patch_share_is_a_new_version(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn()
        self.config["musicnn"]["patch_share"] = {"mtt": 1}
        assert "analysed 1 track" in self.musicnn()
        assert self.item(item)[fields.VERSION_FIELD] == fields.analysis_version(
            DEFAULT_MODELS
        )

    def test_fast_mode_samples_and_a_full_analysis_supersedes_it(self, bundled_music):
        item = self.add_file(sorted(bundled_music.glob("*.ogg"))[0])
        self.config["musicnn"]["fast_patches"] = 2
        fast_version = default_version(patch_budget=2)

        assert "analysed 1 track" in self.musicnn("--fast")
        assert self.item(item)[fields.VERSION_FIELD] == fast_version
        with self.store() as store:
            assert store.get(item.id)["msd"].n_patches == 2
            assert store.get(item.id)["mtt"].n_patches == 1  # its share of 2
        assert "analysed 0 tracks; skipped 1" in self.musicnn("--fast")

        # A full run replaces the estimate; fast runs then keep the full one.
        assert "analysed 1 track" in self.musicnn()
        assert self.item(item)[fields.VERSION_FIELD] == default_version()
        self.config["musicnn"]["fast"] = True
        assert "analysed 0 tracks; skipped 1" in self.musicnn()

    def test_query_limits_the_run(self, excerpts):
        first, second = (self.add_file(clip) for clip in excerpts[:2])
        self.musicnn(f"title:{first.title}")
        assert fields.VERSION_FIELD in self.item(first)
        assert fields.VERSION_FIELD not in self.item(second)

    def test_query_with_alternatives(self, excerpts, monkeypatch):
        # One item per page: every alternative must be limited to the page.
        monkeypatch.setattr(selection, "PAGE_SIZE", 1)
        first, second, third = (self.add_file(clip) for clip in excerpts[:3])
        output = self.musicnn(f"title:{first.title}", ",", f"title:{second.title}")
        assert "analysed 2 tracks" in output
        assert fields.VERSION_FIELD not in self.item(third)

    def test_pretend_lists_and_changes_nothing(self, excerpts):
        item = self.add_file(excerpts[0])
        output = self.musicnn("-p")
        assert item.title in output
        assert "would analyse 1 items" in output
        assert fields.VERSION_FIELD not in self.item(item)

    def test_typed_fields_give_range_queries_and_numeric_sorts(self, excerpts):
        items = [self.add_file(clip) for clip in excerpts[:3]]
        self.musicnn()
        happy = sorted(self.item(i)[MSD_HAPPY] for i in items)
        middle = happy[1]
        matched = self.lib.items(f"{MSD_HAPPY}:{middle}..")
        assert sorted(i[MSD_HAPPY] for i in matched) == happy[1:]
        by_sadness = [i[MSD_SAD] for i in self.lib.items(f"{MSD_SAD}-")]
        assert by_sadness == sorted(by_sadness, reverse=True)
        assert len(by_sadness) == 3

    def test_rederive_follows_a_new_selection_without_audio(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn()
        analysed_at = self.item(item)[fields.ANALYZED_FIELD]
        os.remove(item.path)  # proves no audio is read
        self.config["musicnn"]["scores"] = ["rock"]
        self.config["musicnn"]["threshold"] = 0.0
        output = self.musicnn("--rederive")
        assert "updated the fields of 1 items" in output
        item = self.item(item)
        assert MSD_ROCK in item
        assert MSD_HAPPY not in item  # no longer selected: removed
        assert item[fields.ANALYZED_FIELD] == analysed_at
        # Threshold 0: every MSD tag (aliases merged), capped at max_tags.
        assert len(item[fields.TAGS_FIELD].split("; ")) == fields.DEFAULT_MAX_TAGS

    def test_reanalysis_drops_scores_no_longer_selected(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn()
        self.config["musicnn"]["scores"] = ["sad"]
        self.musicnn("-f")
        item = self.item(item)
        assert MSD_SAD in item
        assert MSD_HAPPY not in item

    def test_removed_items_leave_the_store(self, excerpts):
        kept, removed = (self.add_file(clip) for clip in excerpts[:2])
        self.musicnn()
        self.run_command("remove", "-f", f"title:{removed.title}")
        with self.store() as store:
            assert set(store.item_ids()) == {kept.id}

    def test_a_full_run_prunes_results_of_vanished_items(self, excerpts):
        kept, vanished = (self.add_file(clip) for clip in excerpts[:2])
        self.musicnn()
        vanished.remove()  # no event reaches the store: a plain library call
        with self.store() as store:
            assert vanished.id in set(store.item_ids())
        self.musicnn()
        with self.store() as store:
            assert set(store.item_ids()) == {kept.id}

    def test_pool_of_workers(self, excerpts, caplog):
        items = [self.add_file(clip) for clip in excerpts[:3]]
        with caplog.at_level(logging.DEBUG, logger="beets"):
            assert "analysed 3 tracks" in self.musicnn("-j", "2")
        assert all(fields.GENRE_FIELD in self.item(i) for i in items)
        # `beet -v musicnn` says where the workers' time went.
        assert "time in the analyses: decode" in caplog.text


class TestInterrupt(MusicnnHelper):
    def test_ctrl_c_keeps_what_finished_and_the_next_run_goes_on(self, excerpts):
        """A real Ctrl-C (SIGINT to the process group) in a real `beet`."""
        # Long files, so that the run is surely interrupted midway.
        signal_, rate = soundfile.read(excerpts[0])
        long = np.tile(signal_, (int(45 / EXCERPT_SECONDS), 1))
        for number in range(3):
            path = self.lib_path / f"long_{number}.flac"
            soundfile.write(path, long, rate)
            self.lib.add(Item.from_path(path))
        beet = self.start_beet("musicnn", "-j", "1")
        worker = wait_for(lambda: worker_of(beet))
        # The worker reads the second file once it is done with the first.
        wait_for(lambda: reading(worker, "long_1.flac"), timeout=60)
        time.sleep(0.3)  # for the first result to reach the main process
        children = psutil.Process(beet.pid).children()
        os.killpg(beet.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        output, errors = beet.communicate(timeout=20)

        assert "Interrupted: what finished is saved" in output, (output, errors)
        assert beet.returncode == 130  # after saving; 128 + SIGINT, as shells say
        # The worker and multiprocessing's resource tracker are gone too.
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, alive
        done = int(re.search(r"analysed (\d+) track", output)[1])
        assert 1 <= done < 3, output
        analysed = [i for i in self.lib.items() if fields.VERSION_FIELD in i]
        assert len(analysed) == done
        with self.store() as store:
            assert set(store.item_ids()) == {i.id for i in analysed}
        rerun = self.musicnn()
        assert f"analysed {3 - done} track" in rerun
        assert f"skipped {done} already up to date" in rerun

    def start_beet(self, *args: str) -> subprocess.Popen:
        """``beet ARGS`` in its own process group, on this test's library."""
        # Workers at normal priority: on a busy test machine nice ones crawl
        # (priority itself is tested in test_long_runs).
        (self.temp_path / "config.yaml").write_text(
            f"directory: {self.lib_path}\nlibrary: {os.fsdecode(self.lib.path)}\n"
            "plugins: musicnn\nmusicnn:\n  nice: no\n"
        )
        return subprocess.Popen(
            [sys.executable, "-c", "import beets.ui; beets.ui.main()", *args],
            env={
                **os.environ,
                "BEETSDIR": str(self.temp_path),
                "PYTHONPATH": str(REPO_ROOT),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def worker_of(process: subprocess.Popen) -> psutil.Process | None:
    """The analysis worker started by ``process``, once there is one."""
    for child in psutil.Process(process.pid).children():
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if "multiprocessing" in command and "resource_tracker" not in command:
                return child
    return None


def reading(process: psutil.Process, name: str) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(f.path.endswith(name) for f in process.open_files())
    return False


def wait_for(condition, timeout: float = 30.0, interval: float = 0.01):
    """The first truthy value of ``condition()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)
    return value


class TestWriteGenre(MusicnnHelper):
    def test_genre_goes_to_the_file_and_the_analysis_stays_current(self, excerpts):
        self.config["musicnn"]["write_genre"] = True
        item = self.add_file(excerpts[0])
        self.musicnn("--write")
        item = self.item(item)
        assert item.genres == [item[fields.GENRE_FIELD]]
        assert Item.from_path(item.path).genres == item.genres
        # beets rewrote the tags, not the sound: nothing to analyse again.
        assert "analysed 0 tracks; skipped 1" in self.musicnn("--write")
        self.run_command("write", "-f")
        assert "analysed 0 tracks; skipped 1" in self.musicnn()

    def test_nowrite_leaves_files_alone(self, excerpts):
        self.config["musicnn"]["write_genre"] = True
        item = self.add_file(excerpts[0])
        mtime = os.stat(item.path).st_mtime
        self.musicnn("--nowrite")
        assert self.item(item).genres  # in the database only
        assert os.stat(item.path).st_mtime == mtime
        assert Item.from_path(item.path).genres == []


class TestWriteMood(MusicnnHelper):
    musicnn_config: ClassVar[dict] = {"write_mood": True}

    @pytest.fixture(autouse=True)
    def forget_mood_tag(self):
        """The MOOD tag is added to beets' media fields for the process;
        other tests must not see it."""
        yield
        if fields.MOOD_FIELD in mediafile.MediaFile.fields():
            delattr(mediafile.MediaFile, fields.MOOD_FIELD)
        Item._media_fields.discard(fields.MOOD_FIELD)

    def test_mood_goes_to_a_mood_tag(self, excerpts):
        item = self.add_file(excerpts[0])
        self.musicnn("--write")
        mood = self.item(item)[fields.MOOD_FIELD]
        assert mood
        assert mediafile.MediaFile(item.path).musicnn_mood == mood
        assert mutagen.File(item.path).tags["MOOD"] == [mood]  # the raw Vorbis tag
        assert "analysed 0 tracks; skipped 1" in self.musicnn()

    def test_no_mood_removes_the_mood_tag(self, bundled_music):
        # Spoken word gets no mood; the library and the file say "happy"
        # (what an earlier release's argmax wrote).
        speech = bundled_music.parent / "speech" / "espeak_en_narration.ogg"
        item = self.add_file(speech)
        item[fields.MOOD_FIELD] = "happy"
        item.store()
        item.write()
        assert mutagen.File(item.path).tags["MOOD"] == ["happy"]
        self.musicnn("--write")
        assert self.item(item)[fields.MOOD_FIELD] == ""
        assert "MOOD" not in mutagen.File(item.path).tags
        assert "analysed 0 tracks; skipped 1" in self.musicnn()


class TestBadFiles(MusicnnHelper):
    def test_bad_files_get_an_error_and_nothing_else_changes(
        self, excerpts, odd_but_valid
    ):
        good = [self.add_file(clip) for clip in [*excerpts[:2], *odd_but_valid]]
        clip_bytes = excerpts[0].read_bytes()
        bad = {
            "file is empty": self.add_broken("empty.mp3", b""),
            "truncated": self.add_broken("truncated.ogg", clip_bytes[:100]),
            "not audio": self.add_broken("notes.mp3", b"just some text\n" * 50),
            "missing": self.add_broken("missing.mp3", None),
        }
        directory = self.lib_path / "folder.mp3"
        directory.mkdir()
        bad["directory"] = self.add_item(path=str(directory), title="folder")
        if os.geteuid() != 0:  # root reads anything: chmod proves nothing
            locked = self.add_file(excerpts[2], "locked.ogg")
            os.chmod(locked.path, 0)
            bad["unreadable"] = locked
        before = {i.id: non_musicnn_fields(i) for i in self.lib.items()}

        output = self.musicnn()

        assert f"analysed {len(good)} tracks" in output
        assert f"{len(bad)} failed" in output
        assert "musicnn_error::." in output
        for item in map(self.item, good):
            assert item[fields.VERSION_FIELD], item.path
            assert fields.ERROR_FIELD not in item
        for case, item in bad.items():
            item = self.item(item)
            reason = item.get(fields.ERROR_FIELD)
            assert reason, case
            assert "\n" not in reason and "Traceback" not in reason
            assert fields.VERSION_FIELD not in item, case
        if "missing" in bad:
            assert self.item(bad["missing"])[fields.ERROR_FIELD] == "no such file"
        after = {i.id: non_musicnn_fields(i) for i in self.lib.items()}
        assert after == before
        listed = self.lib.items("musicnn_error::.")
        assert {i.id for i in listed} == {i.id for i in bad.values()}

    def test_every_bad_file_has_a_documented_reason(self, bad_audio_files):
        """Random bytes, text, a header cut short and a stream with no sample,
        named as every format the decoders take: each item's error is one
        that docs/troubleshooting.md explains, never an internal error."""
        items = {
            key: self.add_broken(path.name, path.read_bytes())
            for key, path in bad_audio_files.items()
        }
        output = self.musicnn()
        assert f"{len(items)} failed" in output
        documented = documented_errors()
        for key, item in items.items():
            reason = self.item(item)[fields.ERROR_FIELD]
            assert reason in documented, (key, reason)

    def test_a_later_success_clears_the_error(self, excerpts):
        item = self.add_broken("later.ogg", b"")
        self.musicnn()
        assert fields.ERROR_FIELD in self.item(item)
        shutil.copy(excerpts[0], item.path)
        self.musicnn()
        assert fields.ERROR_FIELD not in self.item(item)
        assert fields.VERSION_FIELD in self.item(item)


def documented_errors() -> set[str]:
    """The ``musicnn_error`` values docs/troubleshooting.md explains (the
    first cell of each row of its table of them)."""
    text = (REPO_ROOT / "docs" / "troubleshooting.md").read_text()
    section = text.split("## Files that could not be analysed")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


class TestConfiguration(MusicnnHelper):
    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("workers", -2, "bad `workers` setting"),
            ("workers", "many", "bad `workers` setting"),
            ("models", ["msd", "nope"], "unknown MusicNN model 'nope'"),
            ("backend", "tensorflow", "bad `backend` setting"),
            ("overlap", 1.0, "bad `overlap` setting"),
            ("threshold", "high", "bad `threshold` setting"),
            ("scores", ["hapy"], "did you mean"),
            ("write_genre", "perhaps", "bad `write_genre` setting"),
            ("fast", "sometimes", "bad `fast` setting"),
            ("fast_patches", 0, "bad `fast_patches` setting"),
            ("fast_patches", 2.5, "bad `fast_patches` setting"),
        ],
    )
    def test_bad_values_are_user_errors(self, key, value, message):
        self.config["musicnn"][key] = value
        with pytest.raises(ui.UserError, match=message):
            self.musicnn()

    def test_bad_models_option(self):
        with pytest.raises(ui.UserError, match="unknown MusicNN model"):
            self.musicnn("-m", "msd,xyz")


# Start-up ----------------------------------------------------------------------

#: What no `beet` start may import for this plugin: the numeric stack, the
#: decoders and the runtime load with a run, not with every `beet ls`.
NUMERIC_MODULES = {"numpy", "scipy", "soundfile", "soxr", "av", "onnxruntime"}

LOAD_PLUGIN = """
import os, sys
import beets, beets.plugins
from beets.library import Item
beets.config.read(user=False)
beets.config["plugins"] = ["musicnn"]
beets.plugins.load_plugins()
(plugin,) = beets.plugins.find_plugins()
plugin.commands()
beets.plugins.types(Item)
print(sorted(set(sys.modules) & {modules!r}))
"""


def test_loading_the_plugin_imports_nothing_numeric(python_output):
    """beets imports every enabled plugin, makes its commands and reads its
    field types on every invocation, whatever the command."""
    modules = NUMERIC_MODULES
    assert python_output("import sys, beetsplug.musicnn.plugin; "
                         f"print(sorted(set(sys.modules) & {modules!r}))") == "[]"
    assert python_output(LOAD_PLUGIN.format(modules=modules)) == "[]"


# Import ------------------------------------------------------------------------


class TestImport(MusicnnHelper, ImportHelper):
    def test_auto_analyses_imported_items_and_survives_a_bad_file(
        self, bundled_music, excerpts, odd_but_valid
    ):
        for clip in [*excerpts[:2], odd_but_valid[0]]:
            shutil.copy(clip, self.import_path / clip.name)
        # Its tags are whole, so beets imports it, but its audio is cut off.
        clip = sorted(bundled_music.glob("*.ogg"))[-1]
        (self.import_path / "cut.ogg").write_bytes(clip.read_bytes()[:8000])
        cut_title = mediafile.MediaFile(self.import_path / "cut.ogg").title

        self.run_command("import", "-A", "-q", str(self.import_path))

        items = list(self.lib.items())
        assert len(items) == 4
        (broken,) = [item for item in items if item.title == cut_title]
        assert broken[fields.ERROR_FIELD] == "file is truncated"
        good = [item for item in items if item.id != broken.id]
        for item in good:
            assert item[fields.VERSION_FIELD] == default_version()
            assert fields.ERROR_FIELD not in item
            assert os.path.isabs(item.path)
        with self.store() as store:
            assert set(store.item_ids()) == {item.id for item in good}
        # Up to date afterwards, although the importer moved the files; the
        # broken file is tried again.
        assert "analysed 0 tracks; skipped 3 already up to date; 1 failed" in (
            self.musicnn()
        )

    def test_genre_set_on_import_and_written_by_beets_later(self, excerpts):
        self.config["musicnn"]["write_genre"] = True
        shutil.copy(excerpts[0], self.import_path / excerpts[0].name)
        self.run_command("import", "-A", "-q", str(self.import_path))
        (item,) = self.lib.items()
        assert item.genres == [item[fields.GENRE_FIELD]]
        # An as-is import writes no tags; `beet write` does, and the sound
        # (so the analysis) stays the same.
        self.run_command("write")
        assert Item.from_path(item.path).genres == item.genres
        assert "analysed 0 tracks; skipped 1" in self.musicnn()

    def test_threaded_import(self, excerpts):
        """beets' default: stages and file events in different threads."""
        self.config["threaded"] = True
        for clip in excerpts[:2]:
            shutil.copy(clip, self.import_path / clip.name)
        self.run_command("import", "-A", "-q", "-s", str(self.import_path))
        assert all(fields.VERSION_FIELD in item for item in self.lib.items())
        assert "analysed 0 tracks; skipped 2" in self.musicnn()

    def test_reimport_does_not_analyse_again(self, excerpts):
        shutil.copy(excerpts[0], self.import_path / excerpts[0].name)
        self.run_command("import", "-A", "-q", str(self.import_path))
        (item,) = self.lib.items()
        analysed_at = item[fields.ANALYZED_FIELD]
        self.run_command("import", "-A", "-q", "-L")
        (item,) = self.lib.items()
        assert item[fields.ANALYZED_FIELD] == analysed_at

    def test_no_analysis_without_auto(self, excerpts):
        self.config["musicnn"]["auto"] = False
        shutil.copy(excerpts[0], self.import_path / excerpts[0].name)
        self.run_command("import", "-A", "-q", str(self.import_path))
        (item,) = self.lib.items()
        assert fields.VERSION_FIELD not in item


# Other plugins -----------------------------------------------------------------


class TestSmartPlaylist(MusicnnHelper):
    plugins = ("musicnn", "smartplaylist")

    def test_playlist_from_a_musicnn_query(self, excerpts):
        items = [self.add_file(clip) for clip in excerpts[:3]]
        self.musicnn()
        happiest = max(map(self.item, items), key=lambda i: i[MSD_HAPPY])
        threshold = happiest[MSD_HAPPY]
        playlists = self.temp_path / "playlists"
        self.config["smartplaylist"]["playlist_dir"] = str(playlists)
        self.config["smartplaylist"]["playlists"] = [
            {"name": "happy.m3u", "query": f"{MSD_HAPPY}:{threshold}.."},
            {
                "name": "by_genre.m3u",
                # Quoted: genres like "alternative rock" have spaces.
                "query": f'musicnn_genre:"{happiest.musicnn_genre}"',
            },
        ]
        self.run_command("splupdate")
        happy = (playlists / "happy.m3u").read_text().split()
        assert happy == [os.fsdecode(happiest.path)]
        assert os.fsdecode(happiest.path) in (playlists / "by_genre.m3u").read_text()


class TestCookbook(MusicnnHelper):
    """The playlists of docs/cookbook.md, as written, on the bundled music."""

    plugins = ("musicnn", "smartplaylist")

    def test_cookbook_playlists_work_on_real_music(self, bundled_music):
        blocks = yaml_blocks(REPO_ROOT / "docs" / "cookbook.md")
        setup = blocks[0]
        more = [p for block in blocks[1:] for p in block if isinstance(block, list)]
        for clip in sorted(bundled_music.glob("*.ogg")):
            self.add_file(clip)
        self.config["musicnn"]["models"] = setup["musicnn"]["models"]
        self.musicnn()
        playlists = self.temp_path / "playlists"
        self.config["smartplaylist"]["playlist_dir"] = str(playlists)
        self.config["smartplaylist"]["playlists"] = [
            *setup["smartplaylist"]["playlists"],
            *more,
        ]
        self.run_command("splupdate")
        written = {
            path.name: path.read_text().split("\n") for path in playlists.iterdir()
        }
        # Four clips are too few for every playlist (joyful, calm) to fill.
        for name in (
            "sad.m3u", "party.m3u", "instrumental.m3u", "classical.m3u",
            "loud-fast.m3u",
        ):
            assert written[name][0], f"{name} is empty"
        per_genre = [name for name in written if name.startswith("genre-")]
        assert len(per_genre) >= 3


def yaml_blocks(markdown: Path) -> list:
    """The parsed ```yaml blocks of a Markdown file (an indented block of
    playlist items comes back as a list)."""
    blocks = re.findall(r"```yaml\n(.*?)```", markdown.read_text(), flags=re.DOTALL)
    return [yaml.safe_load(textwrap.dedent(block)) for block in blocks]
