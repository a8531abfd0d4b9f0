"""``beet musicnn``: analyse the items of a query, re-derive their fields, or
fit the calibration to the library.

beets glue: the run is :mod:`..library.runner`'s (with ``selection``,
``saving``, ``rederive``); after it the radio's and the families' playlists are
regenerated. Nothing heavy is imported here: the plugin imports this module on
every ``beet`` start.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

import beets.plugins
from beets import logging, ui

from ..engine.models import MODELS
from ..library.matching import check_matched
from ..library.progress import Progress
from ..library.rederive import rederive, relabel
from ..library.runner import analyse_selection
from ..library.selection import all_item_ids, count_items, max_item_id, select
from ..library.settings import Overrides
from . import families, similar
from .base import Musicnn, subcommand

if TYPE_CHECKING:
    import optparse

    from beets.library import Item, Library

    from ..library.settings import Settings
    from ..library.store import ResultStore

log = logging.getLogger("beets.musicnn")


#: What the progress line says while labels are re-derived from the store.
RELABEL_STEP = "labels from stored results"
#: ``beet musicnn``: its line in ``beet help``, and its ``-h`` usage.
ANALYSE_HELP = "tag items by their sound with the MusicNN networks"
ANALYSE_USAGE = """beet musicnn [options] [QUERY]
Analyse the items matching QUERY (all without one) that are not up to date."""


def analyse_subcommand(plugin: Musicnn) -> ui.Subcommand:
    """``beet musicnn`` and its options."""
    command = subcommand("musicnn", ANALYSE_HELP, ANALYSE_USAGE)
    parser = command.parser
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

    def func(lib: Library, opts: optparse.Values, args: list[str]) -> None:
        run(plugin, lib, opts, args)

    command.func = func
    return command


def run(plugin: Musicnn, lib: Library, opts: optparse.Values, args: list[str]) -> None:
    """``beet musicnn``: analyse, re-derive or calibrate."""
    overrides = Overrides(
        models=opts.models,
        workers=opts.workers,
        fast=opts.fast,
        scheduler=opts.scheduler,
        max_time=opts.max_time,
    )
    settings = plugin.settings(overrides)
    write = ui.should_write(opts.write)
    store = plugin.store(lib)
    if opts.calibrate:
        calibrate(lib, settings, store, args, write)
        return
    options = settings.run_options(write=write, library_path=lib.path)
    if opts.rederive:
        with Progress(count_items(lib, args), what=RELABEL_STEP) as progress:
            counts = rederive(lib, args, options, store, progress)
        check_matched(counts.updated + counts.missing, args)
        ui.print_(
            f"musicnn: updated the fields of {counts.updated:,} items from "
            f"stored results; {counts.missing:,} have none for "
            f"{'+'.join(settings.models)} yet (run `beet musicnn` for them)."
        )
        return

    show = _print_item if opts.pretend else None
    selection = select(lib, args, options, store, force=opts.force, on_selected=show)
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
    # Labels first: it takes seconds (minutes after an upgrade of a large
    # library, hence the progress line), and an interrupted scan keeps them.
    stale = len(selection.stale_labels) + len(selection.results_current)
    with Progress(stale, what=RELABEL_STEP) as progress:
        relabelled = relabel(
            lib, selection.stale_labels, options, store, progress=progress
        ).updated
        relabelled += relabel(
            lib, selection.results_current, options, store,
            version=options.version, progress=progress,
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
    for line in similar.refresh_playlists(plugin, lib):
        ui.print_(f"musicnn radio: {line}")
    for line in families.refresh_family_playlists(plugin, lib):
        ui.print_(f"musicnn families: {line}")
    if summary.exit_status:
        exit_after_cli_exit(lib, summary.exit_status)


def calibrate(
    lib: Library,
    settings: Settings,
    store: ResultStore,
    args: list[str],
    write: bool,
) -> None:
    """``beet musicnn --calibrate``: fit on the stored results of the
    current analysis, save beside the library, re-derive if in force."""
    from ..library.library_calibration import calibration_path, fit_library

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


def exit_after_cli_exit(lib: Library, status: int) -> NoReturn:
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
