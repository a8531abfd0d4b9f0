"""A run of MusicNN over a beets library: choose the items, feed the pool,
turn what comes back into item fields and stored results.

Everything here works on a library of any size in bounded memory: items are
read from the database page by page, the pool is fed lazily, and results are
saved in short batched transactions as they arrive, so an interrupted run
keeps all it finished. Nothing heavy is imported at module level; the engine
modules are imported by the functions that need them.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from beets import context, logging, util
from beets.dbcore.query import (
    AndQuery,
    InvalidQueryArgumentValueError,
    InvalidQueryError,
    NumericQuery,
    Query,
)
from beets.dbcore.sort import FixedFieldSort
from beets.library import Item, parse_query_parts
from beets.ui import UserError

from . import fields
from .progress import Progress, RunSummary

if TYPE_CHECKING:
    from beets.library import Library

    from .dask_pool import DaskPool
    from .pool import AnalysisPool, Job, Outcome
    from .settings import Settings
    from .store import ResultStore, StoredResult

log = logging.getLogger("beets.musicnn")

#: Items read from the database at a time while selecting.
PAGE_SIZE = 1000
#: Pages in id order; the order of a run does not matter otherwise.
BY_ID = FixedFieldSort("id")
#: Results saved per library transaction, at most...
BATCH_SIZE = 50
#: ...and at least this often (seconds), so a slow run still saves steadily.
BATCH_SECONDS = 10.0

#: Fields this plugin owns besides the per-tag scores; every other
#: ``musicnn_`` field found on an item is a stale score and gets removed.
FIXED_FIELDS = frozenset(
    {
        fields.GENRE_FIELD,
        fields.MOOD_FIELD,
        fields.TAGS_FIELD,
        fields.VERSION_FIELD,
        fields.ANALYZED_FIELD,
        fields.ERROR_FIELD,
    }
)

#: What a rederive leaves alone: it changes interpretation, not analysis.
KEPT_ON_REDERIVE = (fields.VERSION_FIELD, fields.ANALYZED_FIELD, fields.ERROR_FIELD)


@dataclass(frozen=True)
class RunOptions:
    """What a run needs to know besides the library and the query."""

    models: tuple[str, ...]
    backend: str
    overlap: float
    field_settings: Any  # fields.FieldSettings
    #: Set ``item.genres`` (and so the file's genre tag) from musicnn_genre.
    write_genre: bool = False
    #: Write musicnn_mood to the files too (it is then a media field).
    write_mood: bool = False
    #: Write changed tags to the files (``ui.should_write``).
    write: bool = False
    #: Fast mode: patches analysed per track; ``None`` analyses them all.
    patch_budget: int | None = None

    @property
    def version(self) -> str:
        return fields.analysis_version(self.models, self.overlap, self.patch_budget)

    @property
    def current_versions(self) -> frozenset[str]:
        """The analyses that count as up to date for this run: its own, and
        in fast mode also the full analysis, which a sampled one estimates."""
        full = fields.analysis_version(self.models, self.overlap)
        return frozenset({self.version, full})

    @property
    def file_fields(self) -> tuple[str, ...]:
        """The item fields this plugin changes that end up in the files."""
        return ("genres",) * self.write_genre + (fields.MOOD_FIELD,) * self.write_mood


# Reading the library ------------------------------------------------------


def iter_pages(
    lib: Library, query: Sequence[str] = ()
) -> Iterator[tuple[range, list[Item]]]:
    """The items matching ``query``, a page of ids at a time: ``(ids, items)``.

    ``lib.items(query)`` fetches every matching row, and keeps every item it
    builds, at once; on a library of 500,000 tracks with a hundred score
    fields each that is gigabytes. Slicing the query by id keeps one page in
    memory however large the library, and lets callers fetch what else they
    need about a page (stored results) in one query too.
    """
    user_query = parse_query(lib, query)
    last_id = max_item_id(lib)
    for start in range(1, last_id + 1, PAGE_SIZE):
        ids = range(start, start + PAGE_SIZE)
        page = NumericQuery("id", f"{ids.start}..{ids[-1]}")
        items = list(lib.items(AndQuery([user_query, page]), sort=BY_ID))
        if items:
            yield ids, items


def iter_items(lib: Library, query: Sequence[str] = ()) -> Iterator[Item]:
    """The items matching ``query``, read ``PAGE_SIZE`` at a time."""
    for _, items in iter_pages(lib, query):
        yield from items


def parse_query(lib: Library, query: Sequence[str]) -> Query:
    """``query`` as beets parses it for ``beet ls`` (its sort is irrelevant
    here). Parsed whole, so that an id range added later applies to every
    alternative of a query with ``,``."""
    with context.music_dir(lib.directory):  # path queries are relative to it
        try:
            return parse_query_parts(list(query), Item)[0]
        except InvalidQueryArgumentValueError as exc:
            raise InvalidQueryError(list(query), exc) from None


def max_item_id(lib: Library) -> int:
    with lib.transaction() as tx:
        rows = tx.query("SELECT MAX(id) FROM items")
    return rows[0][0] or 0


def all_item_ids(lib: Library) -> set[int]:
    with lib.transaction() as tx:
        return {row[0] for row in tx.query("SELECT id FROM items")}


def absolute_path(lib: Library, item: Item) -> str:
    """The item's file as an absolute ``str`` path, for another process.

    beets >= 2.10 stores paths relative to the library directory and expands
    them when rows are read in a thread that knows the directory; a worker
    process knows nothing of it, so it gets the path resolved here.
    """
    path = item.path
    if not os.path.isabs(path):
        path = os.path.join(lib.directory, path)
    return os.fsdecode(util.syspath(util.normpath(path)))


def file_mtime(path: str) -> float:
    """Modification time of ``path``, or 0 when it cannot be read."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


# Choosing what to analyse -------------------------------------------------


@dataclass
class Selection:
    """The ids of the items to analyse, and how many matched but are current."""

    #: A compact array: 8 bytes per item even for a whole library.
    ids: array = field(default_factory=lambda: array("q"))
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)


def is_up_to_date(
    lib: Library, item: Item, options: RunOptions, store: ResultStore
) -> bool:
    """Was ``item`` analysed by this model set and pipeline, since the file
    last changed?"""
    stored = store.get(item.id).get(options.models[0])
    mtime = None if stored is None else stored.mtime
    return is_current(lib, item, options.current_versions, mtime)


def is_current(
    lib: Library, item: Item, versions: frozenset[str], stored_mtime: float | None
) -> bool:
    """Does ``item`` carry one of ``versions``, from an analysis of the file
    as it is now (its stored modification time is the file's)?"""
    return (
        item.get(fields.VERSION_FIELD, with_album=False) in versions
        and stored_mtime is not None
        and stored_mtime == file_mtime(absolute_path(lib, item))
    )


def select(
    lib: Library,
    query: Sequence[str],
    options: RunOptions,
    store: ResultStore,
    *,
    force: bool = False,
    on_selected: Callable[[Item], None] | None = None,
) -> Selection:
    """Find the matching items that need an analysis (all of them if ``force``)."""
    selection = Selection()
    versions = options.current_versions
    for ids, items in iter_pages(lib, query):
        mtimes = {} if force else store.mtimes(options.models[0], ids)
        for item in items:
            if not force and is_current(lib, item, versions, mtimes.get(item.id)):
                selection.skipped += 1
                continue
            selection.ids.append(item.id)
            if on_selected is not None:
                on_selected(item)
    return selection


def iter_jobs(lib: Library, ids: Iterable[int]) -> Iterator[Job]:
    """A pool job per id, read from the library only when the pool asks."""
    from .pool import Job

    for item_id in ids:
        item = lib.get_item(item_id)
        if item is not None:  # removed while the run went on
            yield Job(item_id, absolute_path(lib, item))


# From results to fields ---------------------------------------------------


def error_reason(error: object) -> str:
    """One line for ``musicnn_error`` from whatever a worker reported."""
    reason = getattr(error, "reason", None) or str(error) or type(error).__name__
    return " ".join(str(reason).split())


def replace_fields(item: Item, new_fields: Mapping[str, Any]) -> None:
    """Set ``new_fields`` and drop every other ``musicnn_`` field.

    Dropping is what removes a score that the ``scores`` setting no longer
    selects, and the error of a file that now analyses fine.
    """
    for key in list(item.keys(with_album=False)):
        if key.startswith("musicnn_") and key not in new_fields:
            del item[key]
    item.update(new_fields)


def scores_by_model(results: Mapping[str, Any]) -> dict[str, Any]:
    """``{model: scores in model order}`` of model results or stored results."""
    return {model: result.scores for model, result in results.items()}


def derived_fields(
    results: Mapping[str, Any], options: RunOptions, analyzed_at: float
) -> dict[str, Any]:
    """All the item fields for one track's results."""
    derived = dict(
        fields.derive_fields(scores_by_model(results), options.field_settings)
    )
    derived[fields.VERSION_FIELD] = options.version
    derived[fields.ANALYZED_FIELD] = analyzed_at
    return derived


def apply_results(
    item: Item, results: Mapping[str, Any], options: RunOptions, analyzed_at: float
) -> None:
    """Give ``item`` the fields of its results (and its genre, if configured)."""
    replace_fields(item, derived_fields(results, options, analyzed_at))
    _set_genres(item, options)


def _set_genres(item: Item, options: RunOptions) -> None:
    genre = item.get(fields.GENRE_FIELD, with_album=False)
    if options.write_genre and genre:
        item.genres = [genre]


def file_snapshot(item: Item, options: RunOptions) -> tuple:
    return tuple(item.get(key) for key in options.file_fields)


def store_item(item: Item, options: RunOptions, before: tuple) -> None:
    """Save ``item``; write its file too if a tag that lives there changed."""
    if options.write and file_snapshot(item, options) != before:
        item.try_write()
    item.store()


def stored_results(
    item_id: int, analysis: Any, options: RunOptions, path: str, analyzed_at: float
) -> list[StoredResult]:
    """Records for the store; the file's mtime is taken after any tag
    writing, so that writing does not make the analysis look stale."""
    from .store import StoredResult

    return StoredResult.from_analysis(
        item_id,
        analysis.results,
        version=options.version,
        duration=analysis.duration,
        mtime=file_mtime(path),
        analyzed_at=analyzed_at,
    )


class ResultSaver:
    """Saves outcomes as they arrive, in batches of one transaction each.

    A batch is saved every ``BATCH_SIZE`` outcomes or ``BATCH_SECONDS``, and
    on exit from the ``with`` block, also when it is left by an exception
    (Ctrl-C), so an interrupted run keeps what it finished.
    """

    def __init__(
        self,
        lib: Library,
        store: ResultStore,
        options: RunOptions,
        *,
        items: Mapping[int, Item] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lib = lib
        self.store = store
        self.options = options
        #: Item objects to update in place (the importer's), by id; others
        #: are read from the library.
        self.items = items or {}
        self.clock = clock
        self.pending: list[Outcome] = []
        self.last_save = clock()
        #: Seconds spent saving, on ``time.perf_counter``.
        self.seconds = 0.0

    def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)
        if (
            len(self.pending) >= BATCH_SIZE
            or self.clock() - self.last_save >= BATCH_SECONDS
        ):
            self.save()

    def save(self) -> None:
        outcomes, self.pending = self.pending, []
        self.last_save = self.clock()
        if not outcomes:
            return
        started = time.perf_counter()
        results: list[StoredResult] = []
        with self.lib.transaction():
            for outcome in outcomes:
                results += self._save_one(outcome)
        self.store.put_many(results)
        self.seconds += time.perf_counter() - started

    def _save_one(self, outcome: Outcome) -> list[StoredResult]:
        item_id = outcome.job.item_id
        item = self.items.get(item_id) or self.lib.get_item(item_id)
        if item is None:  # removed from the library meanwhile
            return []
        before = file_snapshot(item, self.options)
        if outcome.analysis is None:
            item[fields.ERROR_FIELD] = error_reason(outcome.error)
            item.store()
            return []
        analyzed_at = time.time()
        apply_results(item, outcome.analysis.results, self.options, analyzed_at)
        store_item(item, self.options, before)
        return stored_results(
            item.id, outcome.analysis, self.options, outcome.job.path, analyzed_at
        )

    def __enter__(self) -> ResultSaver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.save()


# Re-deriving fields from the store ----------------------------------------


@dataclass
class RederiveCounts:
    updated: int = 0
    #: Matching items with no stored results for every configured model.
    missing: int = 0


def rederive(
    lib: Library, query: Sequence[str], options: RunOptions, store: ResultStore
) -> RederiveCounts:
    """Recompute the fields of the matching items from the stored results,
    e.g. after a change of ``scores`` or ``threshold``; no audio is decoded."""
    counts = RederiveCounts()
    batch: list[tuple[Item, tuple]] = []
    for item in iter_items(lib, query):
        stored = store.get(item.id)
        results = {model: stored.get(model) for model in options.models}
        if any(result is None for result in results.values()):
            counts.missing += 1
            continue
        before = file_snapshot(item, options)
        rederive_item(item, results, options)
        batch.append((item, before))
        if len(batch) >= BATCH_SIZE:
            _store_batch(lib, batch, options)
            batch = []
        counts.updated += 1
    _store_batch(lib, batch, options)
    return counts


def rederive_item(item: Item, results: Mapping[str, Any], options: RunOptions) -> None:
    """Fields from stored results; when and how the item was analysed (or
    why its last analysis failed) stays as it is."""
    kept = {key: item[key] for key in KEPT_ON_REDERIVE if key in item}
    derived = fields.derive_fields(scores_by_model(results), options.field_settings)
    replace_fields(item, {**derived, **kept})
    _set_genres(item, options)


def _store_batch(
    lib: Library, batch: list[tuple[Item, tuple]], options: RunOptions
) -> None:
    with lib.transaction():
        for item, before in batch:
            store_item(item, options, before)


# Analysing through the pool ----------------------------------------------


def analyse_selection(
    lib: Library,
    selection: Selection,
    settings: Settings,
    options: RunOptions,
    store: ResultStore,
) -> RunSummary:
    """Analyse the selected items through the pool, with a progress line."""
    from .backends import BackendError
    from .dask_pool import ClusterError

    summary = RunSummary(skipped=selection.skipped)
    started = time.monotonic()
    if len(selection):
        jobs = iter_jobs(lib, selection.ids)
        saver = ResultSaver(lib, store, options)
        try:
            with (
                open_pool(settings, len(selection)) as pool,
                saver,
                Progress(len(selection)) as progress,
            ):
                for outcome in pool.imap_unordered(jobs):
                    saver.add(outcome)
                    _count(summary, progress, outcome)
        except BackendError as exc:
            raise UserError(f"musicnn: cannot load the models: {exc}") from None
        except ClusterError as exc:
            raise UserError(f"musicnn: {exc}") from None
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.saving_seconds = saver.seconds
        log.debug("{}", summary.time_text())
    summary.wall_seconds = time.monotonic() - started
    return summary


def open_pool(settings: Settings, jobs: int) -> AnalysisPool | DaskPool:
    if settings.executor == "dask":
        from .dask_pool import DaskPool

        return DaskPool(
            settings.analysis_settings(),
            settings.dask_scheduler,
            path_map=settings.path_map,
        )
    from .pool import AnalysisPool

    return AnalysisPool(settings.analysis_settings(), settings.worker_count(jobs))


def _count(summary: RunSummary, progress: Progress, outcome: Outcome) -> None:
    if outcome.analysis is not None:
        summary.analysed += 1
        summary.audio_seconds += outcome.analysis.duration
        summary.add_stage_seconds(outcome.analysis.timings)
        progress.advance()
    else:
        summary.failed += 1
        progress.advance(outcome.job.path, error_reason(outcome.error))


#: Sizes the import pool: as many workers as allowed, whatever the task size.
IMPORT_JOBS = 1 << 30


class ImportAnalyser:
    """Analyses each import task's items through one pool for the import."""

    def __init__(
        self, lib: Library, settings: Settings, store: Callable[[], ResultStore]
    ) -> None:
        self.lib = lib
        self.settings = settings
        # The importer writes the files itself after the plugin stages.
        self.options = settings.run_options(write=False)
        self.store = store
        self.pool: AnalysisPool | DaskPool | None = None
        self.broken = False
        #: Items analysed whose files the importer has not placed yet.
        self.analysed: set[int] = set()

    def analyse(self, items: list[Item]) -> None:
        if self.broken:
            return
        from .backends import BackendError
        from .dask_pool import ClusterError

        store = self.store()
        # A re-import of files already analysed need not wait for them again.
        jobs = [
            self._job(item)
            for item in items
            if not is_up_to_date(self.lib, item, self.options, store)
        ]
        if not jobs:
            return
        try:
            if self.pool is None:
                self.pool = open_pool(self.settings, IMPORT_JOBS).__enter__()
            outcomes = list(self.pool.imap_unordered(jobs))
        except (BackendError, ClusterError) as exc:
            # An import must go on without tags rather than stop.
            self.broken = True
            cause = (
                "cannot load the models"
                if isinstance(exc, BackendError)
                else "cannot use the Dask cluster"
            )
            log.warning("musicnn: {}, not analysing: {}", cause, exc)
            return
        saver = ResultSaver(
            self.lib,
            store,
            self.options,
            items={item.id: item for item in items},
        )
        with saver:
            for outcome in outcomes:
                saver.add(outcome)
        self.analysed.update(o.job.item_id for o in outcomes if o.analysis)

    def files_settled(self, items: list[Item]) -> None:
        """The importer has copied or moved the files and written their tags:
        the stored results belong to the files as they are now."""
        for item in items:
            if item.id not in self.analysed:
                continue
            self.analysed.discard(item.id)
            mtime = file_mtime(absolute_path(self.lib, item))
            store = self.store()  # this thread's
            stored = store.get(item.id).values()
            store.put_many(replace(result, mtime=mtime) for result in stored)

    def _job(self, item: Item):
        from .pool import Job

        return Job(item.id, absolute_path(self.lib, item))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.__exit__(None, None, None)
            self.pool = None
