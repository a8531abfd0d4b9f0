"""The beets side of beets-musicnn: configuration, the ``musicnn`` command,
the import stage and the library events.

Only glue lives here: the configuration is checked in ``settings``, a run
over the library is ``runner``'s (with ``selection``, ``saving``,
``rederive`` and ``import_stage``). This module is imported on every ``beet``
invocation, so it and those modules import nothing heavy; the engine (ONNX
Runtime, librosa, the worker pool, the result store) is imported inside the
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
from typing import TYPE_CHECKING, Any, NoReturn

import beets.plugins
import confuse
from beets import logging, ui
from beets.plugins import BeetsPlugin

from . import family_commands, fields, radio, recovery, report_command
from .config_keys import unknown_options
from .import_stage import ImportAnalyser
from .matching import check_matched
from .models import MODELS
from .rederive import rederive, relabel
from .runner import analyse_selection
from .selection import all_item_ids, file_mtime, max_item_id, select
from .settings import DEFAULT_CONFIG, Settings

if TYPE_CHECKING:
    from beets.importer import ImportSession, ImportTask
    from beets.library import Item, Library

    from .store import ResultStore, StoreDamagedError

log = logging.getLogger("beets.musicnn")


class MusicnnPlugin(BeetsPlugin):
    """Tags a library by sound with the MusicNN networks."""

    def __init__(self) -> None:
        super().__init__("musicnn")
        self.config.add(DEFAULT_CONFIG)
        self.config.add(family_commands.DEFAULT_CONFIG)
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

    def settings(
        self,
        models: str | None = None,
        workers: int | None = None,
        fast: bool | None = None,
        scheduler: str | None = None,
        max_time: str | None = None,
    ) -> Settings:
        try:
            return Settings.from_config(
                self.config,
                models=models,
                workers=workers,
                fast=fast,
                scheduler=scheduler,
                max_time=max_time,
            )
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
            from .store import ResultStore, StoreError

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
        from .store import StoreDamagedError, StoreError

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

        def run(lib: Library, opts: Any, args: list[str]) -> Any:
            self.warn_unknown_options()
            try:
                with self._store_errors_reported(lib):
                    return func(lib, opts, args)
            finally:
                self._close_stores(lib)

        return run

    # The command

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand(
            "musicnn", help="tag items by their sound with the MusicNN networks"
        )
        parser = command.parser
        parser.usage = (
            "beet musicnn [options] [QUERY]\n"
            "Analyse the items matching QUERY (all without one) that are not "
            "up to date."
        )
        parser.add_option(
            "-f",
            "--force",
            action="store_true",
            default=False,
            help="analyse again even the items that are up to date",
        )
        parser.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=False,
            help="list the items that would be analysed, and stop",
        )
        parser.add_option(
            "-r",
            "--rederive",
            action="store_true",
            default=False,
            help="recompute the fields of the matching items from stored "
            "results, without audio (every run does it by itself for items "
            "whose labels are out of date)",
        )
        parser.add_option(
            "--calibrate",
            action="store_true",
            default=False,
            help="fit the calibration of strengths to this library's stored "
            "results (no audio decoded), save it beside the library and "
            "re-derive every item's fields against it (unless `calibration: "
            "shipped`)",
        )
        parser.add_option(
            "--fast",
            action="store_true",
            default=None,
            help="analyse `fast_patches` patches spread over each track, not "
            "all of them (an estimate; items already fully analysed are kept)",
        )
        parser.add_option(
            "-j",
            "--workers",
            type="int",
            metavar="N",
            help="worker processes (0: analyse in this process)",
        )
        parser.add_option(
            "--max-time",
            metavar="TIME",
            help="start no new file after TIME (2h, 90m, 45s, 1h30m); "
            "what finished is saved and the next run goes on",
        )
        parser.add_option(
            "--scheduler",
            metavar="tcp://HOST:PORT",
            help="analyse on the workers of this Dask scheduler (executor: dask)",
        )
        parser.add_option(
            "-m",
            "--models",
            metavar="LIST",
            help=f"comma-separated models to run: {', '.join(MODELS)}",
        )
        parser.add_option(
            "-w",
            "--write",
            action="store_true",
            default=None,
            help="write the genre/mood tags to the files (with write_genre/write_mood)",
        )
        parser.add_option(
            "-W",
            "--nowrite",
            action="store_false",
            dest="write",
            help="don't write tags to the files",
        )
        command.func = self.musicnn_command
        commands = [
            command,
            radio.similar_subcommand(self),
            radio.radio_subcommand(self),
            family_commands.families_subcommand(self),
            report_command.report_subcommand(self),
        ]
        for each in commands:
            each.func = self._reporting_store_errors(each.func)
        return commands

    def musicnn_command(self, lib: Library, opts: Any, args: list[str]) -> None:
        settings = self.settings(
            models=opts.models,
            workers=opts.workers,
            fast=opts.fast,
            scheduler=opts.scheduler,
            max_time=opts.max_time,
        )
        write = ui.should_write(opts.write)
        store = self.store(lib)
        if opts.calibrate:
            self.calibrate(lib, settings, store, args, write)
            return
        options = settings.run_options(write=write, library_path=lib.path)
        if opts.rederive:
            counts = rederive(lib, args, options, store)
            check_matched(counts.updated + counts.missing, args)
            ui.print_(
                f"musicnn: updated the fields of {counts.updated:,} items from "
                f"stored results; {counts.missing:,} have none for "
                f"{'+'.join(settings.models)} yet (run `beet musicnn` for them)."
            )
            return

        show = _print_item if opts.pretend else None
        selection = select(
            lib, args, options, store, force=opts.force, on_selected=show
        )
        check_matched(len(selection) + selection.skipped, args)
        if opts.pretend:
            partial = sum(1 for mask in selection.needed if mask)
            stale = len(selection.stale_labels) + len(selection.results_current)
            lacking = f" ({partial:,} only with the models they lack)" * bool(partial)
            ui.print_(
                f"musicnn: would analyse {len(selection):,} items{lacking}; "
                f"{selection.skipped:,} are up to date, of which "
                f"{stale:,} would get their labels re-derived from stored results."
            )
            return
        # Labels first: it takes seconds, and an interrupted scan keeps them.
        relabelled = relabel(lib, selection.stale_labels, options, store).updated
        relabelled += relabel(
            lib, selection.results_current, options, store, version=options.version
        ).updated
        summary = analyse_selection(lib, selection, settings, options, store)
        summary.relabelled = relabelled
        # A nightly run that stops at its time limit still prunes: it may
        # never reach the end of a large library in one night.
        if not args and not (summary.interrupted or summary.error):
            store.prune(all_item_ids(lib))
        ui.print_(summary.text())
        if summary.error:
            # As beets prints an error that stops a command.
            logging.getLogger("beets").error("error: {}", summary.error)
        # New embeddings change what sounds like the seeds.
        for line in radio.refresh_playlists(self, lib):
            ui.print_(f"musicnn radio: {line}")
        for line in family_commands.refresh_family_playlists(self, lib):
            ui.print_(f"musicnn families: {line}")
        if summary.exit_status:
            _exit_after_cli_exit(lib, summary.exit_status)

    def calibrate(
        self,
        lib: Library,
        settings: Settings,
        store: ResultStore,
        args: list[str],
        write: bool,
    ) -> None:
        """``beet musicnn --calibrate``: fit on the stored results of the
        current analysis, save beside the library, re-derive if in force."""
        from .library_calibration import calibration_path, fit_library

        if args:
            raise ui.UserError(
                "musicnn: --calibrate fits on the whole library; it takes no query"
            )
        check_matched(max_item_id(lib), args)
        path = calibration_path(lib.path)
        if path is None:
            raise ui.UserError(
                "musicnn: an in-memory library has nowhere to keep a calibration"
            )
        # The versions to fit on do not depend on the calibration in force.
        shipped = replace(settings, calibration="shipped").run_options(write=write)
        fitted = fit_library(
            store,
            settings.models,
            shipped.current_versions,
            library_name=os.fsdecode(lib.path),
        )
        try:
            fitted.save(path)
        except OSError as exc:
            raise ui.UserError(f"musicnn: cannot save {path}: {exc}") from None
        tracks = fitted.provenance["sources"][0]["tracks"]
        ui.print_(f"musicnn: calibrated on {tracks:,} analysed items; saved {path}.")
        if settings.calibration == "shipped":
            ui.print_(
                "musicnn: strengths still use the shipped calibration, as "
                "`calibration: shipped` says; set `calibration: auto` (the "
                "default) to use this one (the next `beet musicnn` then "
                "re-derives every item's fields from stored results, no audio "
                "decoded)."
            )
            return
        options = settings.run_options(write=write, library_path=lib.path)
        counts = rederive(lib, [], options, store)
        ui.print_(
            f"musicnn: re-derived the fields of {counts.updated:,} items against "
            f"this library; {counts.missing:,} have no stored results yet."
        )

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


def _exit_after_cli_exit(lib: Library, status: int) -> NoReturn:
    """End ``beet`` with exit ``status``, as beets ends a command that
    returns: ``cli_exit`` for every plugin (smartplaylist regenerates its
    playlists then), the library closed, then the exit.

    beets' ``ui.main`` gives every exception from a command the status 1
    (and ^C the status 0) and skips ``cli_exit`` for it, so a status of our
    own must come after doing its end-of-command work here. A
    ``SystemExit`` passes through ``ui.main`` untouched.
    """
    beets.plugins.send("cli_exit", lib=lib)
    lib._close()
    raise SystemExit(status)


def _print_item(item: Item) -> None:
    ui.print_(format(item))


def unprefixed(text: str) -> str:
    """``text`` without its leading ``musicnn: ``: beets puts the plugin's
    name before every message of the plugin's logger (``beets.musicnn``)
    itself, and a message of our own must not say it twice."""
    return text.removeprefix("musicnn: ")
