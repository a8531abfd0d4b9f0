"""The beets side of beets-musicnn: the plugin class, its configuration and
result stores, the import stage and the library events.

Only glue lives here: the configuration is checked in ``library.settings``,
the commands are in ``commands`` (one module each), a run over the library
is ``library.runner``'s (with ``selection``, ``saving``, ``rederive`` and
``import_stage``). This module is imported on every ``beet`` invocation, so
it and those modules import nothing heavy; the engine (ONNX Runtime,
librosa, the worker pool, the result store) is imported inside the
functions that run an analysis.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import confuse
from beets import logging, ui
from beets.plugins import BeetsPlugin

from .commands import analyse, dj, families, path, report, similar
from .labels import fields
from .library import recovery
from .library.config_keys import unknown_options
from .library.import_stage import ImportAnalyser
from .library.selection import file_mtime
from .library.settings import DEFAULT_CONFIG, Settings
from .player import mpd

if TYPE_CHECKING:
    import optparse

    from beets.importer import ImportSession, ImportTask
    from beets.library import Item, Library

    from .library.settings import Overrides
    from .library.store import ResultStore, StoreDamagedError

log = logging.getLogger("beets.musicnn")


class MusicnnPlugin(BeetsPlugin):
    """Tags a library by sound with the MusicNN networks."""

    def __init__(self) -> None:
        super().__init__("musicnn")
        self.config.add(DEFAULT_CONFIG)
        self.config.add(families.DEFAULT_CONFIG)
        self.config.add(mpd.DEFAULT_CONFIG)
        # Typed fields make `musicnn_msd_happy:0.4..` and numeric sorts work.
        self.item_types = fields.item_types()
        #: Open result stores by library and thread: an SQLite connection
        #: belongs to its thread, and a threaded import runs the stage and
        #: the file events in different threads.
        self._stores: dict[tuple[bytes | str, int], ResultStore] = {}
        self._importer: ImportAnalyser | None = None
        #: File mtimes just before beets writes tags, by item id (see
        #: `_before_write`).
        self._mtimes_before_write: dict[int, float] = {}
        self._removed_ids: set[int] = set()
        #: Unknown option names are reported once per run, not per command.
        self._options_checked = False

        if self.config["write_mood"].get() is True:
            self._add_mood_media_field()
        self.import_stages = [self.analyse_imported]
        self.register_listener("import_task_files", self._imported_files_settled)
        self.register_listener("import", self._end_import)
        self.register_listener("item_removed", self._item_removed)
        self.register_listener("write", self._before_write)
        self.register_listener("after_write", self._after_write)
        self.register_listener("cli_exit", self._cli_exit)

    def settings(self, overrides: Overrides | None = None) -> Settings:
        """The configuration, checked, with the command line's ``overrides``."""
        try:
            return Settings.from_config(self.config, overrides)
        except confuse.ConfigError as exc:
            raise ui.UserError(f"musicnn: configuration error: {exc}") from None

    def warn_unknown_options(self) -> None:
        """Warn, once per run, about every key under ``musicnn:`` that no
        code declared (a typo like ``threshhold`` would pass in silence)."""
        if self._options_checked:
            return
        self._options_checked = True
        for line in unknown_options(self.config):
            log.warning("{}", line)

    def store(self, lib: Library) -> ResultStore:
        """The result store next to ``lib``'s database, opened once per thread.

        A store found damaged is set aside and a new one started, with a
        warning that says what the next run analyses again.
        """
        key = (lib.path, threading.get_ident())
        if key not in self._stores:
            from .library.store import ResultStore, StoreError

            try:
                store = ResultStore.for_library(lib.path, recover=True)
            except StoreError as exc:
                raise ui.UserError(recovery.cannot_open(exc)) from None
            except (OSError, RuntimeError) as exc:
                raise ui.UserError(
                    f"musicnn: cannot open the result store next to "
                    f"{os.fsdecode(lib.path)}: {exc}"
                ) from None
            if store.recovery is not None:
                log.warning("{}", unprefixed(recovery.recovered(lib, store.recovery)))
            self._stores[key] = store
        return self._stores[key]

    def _set_aside_damaged(self, lib: Library, damage: StoreDamagedError) -> str:
        """Set the damaged store of ``lib`` aside, so that the next use starts
        a new store, then close every connection to it (a threaded import has
        one per thread), and say so. Renamed first: SQLite deletes the -wal
        and -shm files of a file it cannot read when a connection closes."""
        try:
            aside = damage.set_aside()
        except OSError as problem:
            return recovery.not_set_aside(damage, problem)
        finally:
            self._close_stores(lib)
        return recovery.stopped_by_damage(lib, aside)

    @contextmanager
    def _store_errors_reported(self, lib: Library) -> Iterator[None]:
        """Turn what can go wrong with the store or the library database
        while a command runs (damage, a full disk) into a UserError."""
        from .library.store import StoreDamagedError, StoreError

        try:
            yield
        except StoreDamagedError as damage:
            raise ui.UserError(self._set_aside_damaged(lib, damage)) from None
        except StoreError as error:
            raise ui.UserError(recovery.stopped_by_store(error)) from None
        except sqlite3.Error as error:  # the store's are StoreErrors: beets'
            raise ui.UserError(recovery.stopped_by_library(lib, error)) from None

    @contextmanager
    def _store_errors_logged(self, lib: Library, doing: str) -> Iterator[None]:
        """For event handlers of other commands and of imports, which must not
        fail because of this plugin: log what a command would report."""
        try:
            with self._store_errors_reported(lib):
                yield
        except ui.UserError as error:
            log.error("could not {}: {}", doing, unprefixed(str(error)))

    def _reporting_store_errors(self, func: Callable) -> Callable:
        """``func``, a command's function, with store errors reported and
        the store closed at the end, whatever happened."""

        def run(lib: Library, opts: optparse.Values, args: list[str]) -> Any:
            self.warn_unknown_options()
            try:
                with self._store_errors_reported(lib):
                    return func(lib, opts, args)
            finally:
                self._close_stores(lib)

        return run

    # The commands

    def commands(self) -> list[ui.Subcommand]:
        commands = [
            analyse.analyse_subcommand(self),
            similar.similar_subcommand(self),
            similar.radio_subcommand(self),
            path.path_subcommand(self),
            families.families_subcommand(self),
            report.report_subcommand(self),
            dj.dj_subcommand(self),
        ]
        for each in commands:
            each.func = self._reporting_store_errors(each.func)
        return commands

    # Import

    def analyse_imported(self, session: ImportSession, task: ImportTask) -> None:
        """Import stage: analyse the task's items before files are written."""
        self.warn_unknown_options()
        if task.skip or not self.config["auto"].get(bool):
            return
        items = [item for item in task.imported_items() if item.id is not None]
        if not items:
            return
        if self._importer is None:
            lib = session.lib
            self._importer = ImportAnalyser(
                lib, self.settings(), lambda: self.store(lib)
            )
        with self._import_goes_on(session.lib, "analyse the imported items"):
            self._importer.analyse(items)

    def _imported_files_settled(self, session: ImportSession, task: ImportTask) -> None:
        if self._importer is not None:
            with self._import_goes_on(session.lib, "update the stored results"):
                self._importer.files_settled(task.imported_items())

    @contextmanager
    def _import_goes_on(self, lib: Library, doing: str) -> Iterator[None]:
        """Log, rather than raise, an unexpected error: whatever goes wrong in
        this plugin must not cost the user their import. A damaged store is
        set aside, so the import's next items go to a new one."""
        try:
            with self._store_errors_logged(lib, doing):
                yield
        except Exception as exc:
            log.error("could not {}: {}", doing, unprefixed(str(exc)))
            log.debug("{}", traceback.format_exc())

    def _end_import(self, **_: Any) -> None:
        if self._importer is not None:
            self._importer.close()
            self._importer = None

    # Keeping the store in step with the library

    def _item_removed(self, item: Item) -> None:
        # Deleted in one go at exit: `beet rm` of a whole artist sends one
        # event per item.
        if item.id is not None:
            self._removed_ids.add(item.id)

    def _before_write(
        self, item: Item, path: bytes, tags: dict | None = None, **_: Any
    ) -> None:
        if tags is not None and tags.get(fields.MOOD_FIELD) == "":
            # The mood rules abstained: remove the file's MOOD tag (None
            # deletes it) rather than write an empty one or keep an old mood.
            tags[fields.MOOD_FIELD] = None
        if item.id is not None and fields.VERSION_FIELD in item:
            self._mtimes_before_write[item.id] = file_mtime(os.fsdecode(path))

    def _after_write(self, item: Item, path: bytes, **_: Any) -> None:
        """beets rewrote the tags, not the sound: carry the stored results
        over to the new modification time so they stay current."""
        before = self._mtimes_before_write.pop(item.id, None)
        if before is None or item._db is None:
            return
        with self._store_errors_logged(item._db, "keep the stored results current"):
            store = self.store(item._db)
            after = file_mtime(os.fsdecode(path))
            moved = [
                replace(stored, mtime=after)
                for stored in store.get(item.id).values()
                if stored.mtime == before
            ]
            if moved:
                store.put_many(moved)

    def _cli_exit(self, lib: Library, **_: Any) -> None:
        self._end_import()
        if self._removed_ids:
            with self._store_errors_logged(lib, "drop the removed items' results"):
                self.store(lib).delete(self._removed_ids)
            self._removed_ids.clear()
        self._close_stores(lib)

    def _close_stores(self, lib: Library) -> None:
        """Close every connection to ``lib``'s store (a threaded import has
        one per thread): the last one to close folds the WAL into the file."""
        for key in [key for key in self._stores if key[0] == lib.path]:
            with contextlib.suppress(sqlite3.Error):
                self._stores.pop(key).close()

    def _add_mood_media_field(self) -> None:
        """Make musicnn_mood a file tag (MOOD), so beets writes it."""
        import mediafile

        if fields.MOOD_FIELD in mediafile.MediaFile.fields():
            return  # already added by an earlier instance (tests)
        self.add_media_field(
            fields.MOOD_FIELD,
            mediafile.MediaField(
                mediafile.MP3DescStorageStyle("MOOD"),
                mediafile.MP4StorageStyle("----:com.apple.iTunes:MOOD"),
                mediafile.StorageStyle("MOOD"),
                mediafile.ASFStorageStyle("WM/Mood"),
            ),
        )


def unprefixed(text: str) -> str:
    """``text`` without its leading ``musicnn: ``: beets puts the plugin's
    name before every message of the plugin's logger (``beets.musicnn``)
    itself, and a message of our own must not say it twice."""
    return text.removeprefix("musicnn: ")
