"""A damaged result store, or a full disk, never strands a command.

Real libraries, real analyses and real damage: the store is written by a real
``beet musicnn`` and then damaged on disk the ways files get damaged (garbage,
another file in its place, a truncated copy, a destroyed header, a bad page
in the middle). The full disk is a real tmpfs of a few hundred kilobytes,
holding the library and the store, filled up before a real ``beet musicnn``
subprocess runs on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import test_plugin
from beets import ui
from beets.library import Item, Library
from beets.logging import LegacyFormatter
from beets.test.helper import ImportHelper
from test_plugin import REPO_ROOT, MusicnnHelper
from test_store import record

from beetsplug.musicnn.labels import fields
from beetsplug.musicnn.library.store import ResultStore

#: test_plugin's audio fixture: short excerpts of the bundled clips.
excerpts = test_plugin.excerpts

#: Rows of other items added to the real ones, so that the store spans many
#: pages and its damage can be anywhere (as in a real library).
PADDING_ROWS = 3000
PADDING_FIRST_ID = 100_001


# Damaging a store, for real ---------------------------------------------------


def checkpoint(path: Path) -> None:
    """Move what the WAL holds into the store's file, as a finished run's
    last connection does, so that damaging the file damages the data."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def pad(path: Path) -> None:
    with ResultStore(path) as store:
        store.put_many(
            record(PADDING_FIRST_ID + n, seed=n) for n in range(PADDING_ROWS)
        )


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(64 * 1024))


def not_sqlite(path: Path) -> None:
    """Another file saved under the store's name (here: a song)."""
    shutil.copy(sorted((REPO_ROOT / "tests" / "data" / "music").glob("*.ogg"))[0], path)


def truncated(path: Path) -> None:
    """A copy cut short (a full disk during a copy, a sync tool)."""
    os.truncate(path, path.stat().st_size // 2)


def header(path: Path) -> None:
    with path.open("r+b") as file:
        file.write(b"\xff" * 100)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": garbage,
    "not_sqlite": not_sqlite,
    "truncated": truncated,
    "header": header,
}


def page_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:18], "big")


def break_page_of(path: Path, item_id: int) -> None:
    """Overwrite the page that holds ``item_id``'s row with garbage: found by
    the bytes of its scores, which only that row holds."""
    with ResultStore(path) as store:
        scores = next(iter(store.get(item_id).values())).scores.tobytes()
    content = path.read_bytes()
    offset = content.index(scores)
    size = page_size(path)
    start = offset - offset % size
    assert start > 0, "not on the first page"
    with path.open("r+b") as file:
        file.seek(start)
        file.write(np.random.default_rng(2).bytes(size))


def set_aside_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.musicnn.damaged-*"))


# Through the beets commands ---------------------------------------------------


class RecoveryHelper(MusicnnHelper):
    def analysed_library(self, clips: list[Path]) -> list[Item]:
        items = [self.add_file(clip) for clip in clips]
        assert f"analysed {len(items)} track" in self.musicnn()
        return items

    @property
    def store_path(self) -> Path:
        return Path(ResultStore.path_for_library(self.lib.path))

    def damage(self, how: Callable[[Path], None]) -> bytes:
        """Damage the store; returns the damaged bytes."""
        pad(self.store_path)
        checkpoint(self.store_path)
        how(self.store_path)
        return self.store_path.read_bytes()

    def assert_set_aside(self, damaged: bytes) -> None:
        (aside,) = [p for p in set_aside_files(self.store_path.parent)
                    if p.suffix == ".sqlite"]
        assert aside.read_bytes() == damaged  # renamed, not changed
        assert aside.name.startswith("library.musicnn.damaged-")

    def assert_consistent(self) -> None:
        """Every item with stored results has the fields of an analysis, and
        the reverse."""
        with self.store() as store:
            stored = set(store.item_ids())
        analysed = {
            item.id for item in self.lib.items() if fields.VERSION_FIELD in item
        }
        assert stored == analysed


@contextlib.contextmanager
def warnings(caplog) -> Iterator[list[str]]:
    lines: list[str] = []
    with caplog.at_level(logging.WARNING, logger="beets"):
        yield lines
    # As the user reads them: beets' formatter puts the logger's name
    # ("musicnn: ") before each message of the plugin's logger.
    shown = LegacyFormatter("%(legacy_prefix)s%(message)s")
    lines += [shown.format(r) for r in caplog.records if r.levelno >= logging.WARNING]


class TestDamagedAtOpen(RecoveryHelper):
    @pytest.mark.parametrize("kind", DAMAGE)
    def test_the_store_is_set_aside_and_the_run_analyses_again(
        self, kind, excerpts, caplog
    ):
        items = self.analysed_library(excerpts[:3])
        damaged = self.damage(DAMAGE[kind])

        with warnings(caplog) as said:
            output = self.musicnn()

        # The run went on, with a new store, and analysed what lost its results.
        assert "analysed 3 tracks" in output
        (message,) = [line for line in said if "result store" in line]
        assert message.startswith(
            f"musicnn: the result store {self.store_path} was damaged ("
        )
        reason = message.split("(", 1)[1].split(")", 1)[0]
        assert reason in ("file is not a database", "database disk image is malformed")
        assert "set aside as " in message and ".musicnn.damaged-" in message
        assert "The 3 items analysed before keep their fields" in message
        self.assert_set_aside(damaged)
        self.assert_consistent()
        with self.store() as store:
            assert set(store.item_ids()) == {item.id for item in items}
        assert "analysed 0 tracks; skipped 3" in self.musicnn()

    def test_each_command_goes_on(self, excerpts, caplog, tmp_path):
        self.analysed_library(excerpts[:2])
        folder = tmp_path / "radio"
        self.config["musicnn"]["similar_playlist_dir"] = str(folder)
        self.config["musicnn"]["similar_playlists"] = [
            {"name": "radio.m3u", "seeds": f"'title:{excerpts[0].stem}'"}
        ]
        for command, expected in (
            # The new store is empty: the radio says how to fill it.
            (["musicnn-similar", f"title:{excerpts[0].stem}"], "seeds is analysed yet"),
            (["musicnn-radio"], "radio.m3u: not written: musicnn: none of the 1 seeds"),
            (["musicnn", "-p"], "would analyse 2 items; 0 are up to date"),
            (["musicnn", "--rederive"], "updated the fields of 0 items"),
        ):
            damaged = self.damage(garbage)
            caplog.clear()
            with warnings(caplog) as said:
                try:
                    self.run_command(*command)
                    answer = self.capsys.readouterr().out
                except ui.UserError as error:
                    answer = str(error)
            assert any("was damaged (file is not a database)" in s for s in said), (
                command,
                said,
                answer,
            )
            assert expected in answer, (command, answer)
            self.assert_set_aside(damaged)
            for aside in set_aside_files(self.store_path.parent):
                aside.unlink()

    def test_an_index_of_the_old_store_is_not_taken_for_the_new_one(self, excerpts):
        seed, second, third = self.analysed_library(excerpts[:3])
        assert self.similar_ids(seed) == {second.id, third.id}  # index built
        self.damage(garbage)
        # A new store, and two of the three analysed again: the radio must
        # not take the index of the old store for the new store's.
        self.musicnn(f"title:{seed.title}", ",", f"title:{second.title}")
        assert self.similar_ids(seed) == {second.id}

    def similar_ids(self, seed: Item) -> set[int]:
        self.run_command("musicnn-similar", "-f", "$id", f"title:{seed.title}")
        lines = self.capsys.readouterr().out.splitlines()
        return {int(line) for line in lines if line.isdigit()}


class TestImportWithADamagedStore(RecoveryHelper, ImportHelper):
    def test_the_import_analyses_into_a_new_store(self, excerpts, caplog):
        self.analysed_library(excerpts[:1])
        damaged = self.damage(garbage)
        shutil.copy(excerpts[1], self.import_path / excerpts[1].name)
        with warnings(caplog) as said:
            self.run_command("import", "-A", "-q", str(self.import_path))
        assert any("was damaged (file is not a database)" in s for s in said)
        self.assert_set_aside(damaged)
        imported = [i for i in self.lib.items() if i.title == excerpts[1].stem]
        with self.store() as store:
            assert set(store.item_ids()) == {imported[0].id}
        assert "analysed 1 track; skipped 1" in self.musicnn()
        self.assert_consistent()


class TestDamagedMidRun(RecoveryHelper):
    def test_damage_found_while_saving_stops_the_run_and_the_next_repairs(
        self, excerpts
    ):
        items = self.analysed_library(excerpts[:3])
        fields_before = {i.id: dict(self.item(i)) for i in items}
        pad(self.store_path)
        checkpoint(self.store_path)
        # The page of the second item: opening does not read it, a forced run
        # (which skips the selection's reads) first does when saving.
        break_page_of(self.store_path, items[1].id)
        damaged = self.store_path.read_bytes()

        with pytest.raises(ui.UserError) as error:
            self.musicnn("--force", "-m", "msd,mtt")  # a new analysis version

        message = str(error.value)
        assert message.startswith(
            f"musicnn: the result store {self.store_path} is damaged "
            "(database disk image is malformed), so the command stopped. "
            "The file was set aside as "
        )
        assert "the next command starts a new store" in message
        assert "\n" not in message
        self.assert_set_aside(damaged)
        # The batch that failed changed nothing in the library: the store is
        # saved first, so no item got the new version's fields without its
        # results.
        for item in items:
            assert dict(self.item(item)) == fields_before[item.id]
        # The next run starts a new store and analyses everything again.
        assert "analysed 3 tracks" in self.musicnn("-m", "msd,mtt")
        self.assert_consistent()


# A full disk ------------------------------------------------------------------

#: Size of the test's filesystem: the library and the store of a few items.
DISK_SIZE = "1m"


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of ``DISK_SIZE`` mounted for the test (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Write a file until ``folder``'s filesystem has ``leave`` bytes free."""
    filler = folder / "filler"
    with filler.open("wb") as file:
        while (free := shutil.disk_usage(folder).free) > leave:
            file.write(b"\0" * min(free - leave, 64 * 1024))
            file.flush()
    return filler


def beet(config_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import beets.ui; beets.ui.main()", *args],
        env={**os.environ, "BEETSDIR": str(config_dir), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("free", "expected"),
    [
        # No room to open the store (its 32 KiB shared-memory file).
        (0, ["cannot open the result store", "disk I/O error", "Nothing was changed"]),
        # Room to open it, not to save the rest of the library: which of the
        # library and the store fills it first depends on the amount.
        (64 * 1024, ["database or disk is full", "The command stopped"]),
        (128 * 1024, ["database or disk is full", "The command stopped"]),
    ],
)
def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_was_stored(
    small_disk, excerpts, tmp_path, free, expected
):
    music = tmp_path / "music"
    music.mkdir()
    library_path = small_disk / "library.db"
    (tmp_path / "config.yaml").write_text(
        f"directory: {music}\nlibrary: {library_path}\nplugins: musicnn\n"
        "musicnn:\n  workers: 0\n"
    )
    library = Library(str(library_path), str(music))
    items = []
    for copy in range(12):
        for clip in excerpts:
            path = music / f"{copy}_{clip.name}"
            shutil.copy(clip, path)
            items.append(Item.from_path(path))
            library.add(items[-1])
    library._close()
    first = beet(tmp_path, "musicnn", f"id:1..{len(excerpts)}")
    assert "analysed" in first.stdout, first
    store_path = Path(ResultStore.path_for_library(library_path))
    with ResultStore(store_path) as store:
        kept = {r.item_id: r.scores.tobytes() for r in store.iter_results()}
    assert len(kept) == len(excerpts)

    filler = fill(small_disk, leave=free)
    full = beet(tmp_path, "musicnn")

    assert full.returncode == 1, full
    assert "Traceback" not in full.stderr, full.stderr
    (message,) = [line for line in full.stderr.splitlines() if "musicnn:" in line]
    for phrase in [*expected, "(its disk has ", " kB free)", "free some space"]:
        assert phrase in message, message

    filler.unlink()
    with ResultStore(store_path) as store:
        after = {r.item_id: r.scores.tobytes() for r in store.iter_results()}
    assert {i: after[i] for i in kept} == kept  # what was stored survives
    # Every item with the fields of an analysis has its stored results (the
    # store is saved first); results whose item lacks the fields are analysed
    # again by the next run.
    assert analysed_ids(library_path, music) <= set(after)
    # Once there is room again, the next run finishes the library, and the
    # library and the store agree.
    rerun = beet(tmp_path, "musicnn")
    assert rerun.returncode == 0, rerun
    with ResultStore(store_path) as store:
        assert set(store.item_ids()) == analysed_ids(library_path, music)
    assert analysed_ids(library_path, music) == {i.id for i in items}


def analysed_ids(library_path: Path, music: Path) -> set[int]:
    library = Library(str(library_path), str(music))
    try:
        return {i.id for i in library.items() if fields.VERSION_FIELD in i}
    finally:
        library._close()
