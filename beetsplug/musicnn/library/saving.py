"""From results to item fields, and saving them: the fields of one track's
analysis, and :class:`ResultSaver`, which saves outcomes as they arrive in
short batched transactions (beets database and result store), so an
interrupted run keeps all it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from beets.library import Item

from ..labels import fields, genres
from .options import RunOptions
from .selection import file_mtime

if TYPE_CHECKING:
    from beets.library import Library

    from ..executors.jobs import Outcome
    from .store import ResultStore, StoredResult

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
        fields.ENERGY_FIELD,
        fields.TAGS_FIELD,
        fields.VERSION_FIELD,
        fields.LABELS_FIELD,
        fields.ANALYZED_FIELD,
        fields.ERROR_FIELD,
    }
)


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


def label_fields(results: Mapping[str, Any], options: RunOptions) -> dict[str, Any]:
    """The fields derived from one track's numbers (scores, genre, mood,
    energy, tags) and the labels revision they were derived under."""
    derived = dict(
        fields.derive_fields(
            scores_by_model(results), options.field_settings, options.calibration
        )
    )
    derived[fields.LABELS_FIELD] = options.labels
    return derived


def derived_fields(
    results: Mapping[str, Any], options: RunOptions, analyzed_at: float
) -> dict[str, Any]:
    """All the item fields for one track's results."""
    derived = label_fields(results, options)
    derived[fields.VERSION_FIELD] = options.version
    derived[fields.ANALYZED_FIELD] = analyzed_at
    return derived


def apply_results(
    item: Item, results: Mapping[str, Any], options: RunOptions, analyzed_at: float
) -> None:
    """Give ``item`` the fields of its results (and its genre, if configured)."""
    replace_fields(item, derived_fields(results, options, analyzed_at))
    set_genres(item, options)


def set_genres(item: Item, options: RunOptions) -> None:
    """With ``write_genre``, ``genres`` = the genre and its parents in
    lastgenre's tree (``["Heavy Metal", "Rock"]``), so that ``beet ls
    genres:Rock`` finds heavy metal."""
    genre = item.get(fields.GENRE_FIELD, with_album=False)
    if options.write_genre and genre:
        item.genres = genres.lineage(genre)


def file_snapshot(item: Item, options: RunOptions) -> tuple:
    return tuple(item.get(key) for key in options.file_fields)


def store_item(item: Item, options: RunOptions, before: tuple) -> None:
    """Save ``item``; write its file too if a tag that lives there changed."""
    write_tags(item, options, before)
    item.store()


def write_tags(item: Item, options: RunOptions, before: tuple) -> None:
    """Write ``item``'s file if a tag that lives there changed."""
    if options.write and file_snapshot(item, options) != before:
        item.try_write()


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
        """Save the pending outcomes: the result store first, then the items.

        In that order, a save that fails halfway (a full disk, a damaged
        store) leaves nothing a run takes for current without being so: the
        items keep their old fields, or the store has results whose items
        lack the fields that match them, and the next run analyses both kinds
        again. The other order could leave new fields (a new model set) over
        old stored results, which ``is_current`` would accept.
        """
        outcomes, self.pending = self.pending, []
        self.last_save = self.clock()
        if not outcomes:
            return
        started = time.perf_counter()
        prepared = [self._prepare(outcome) for outcome in outcomes]
        self.store.put_many(record for _, records in prepared for record in records)
        with self.lib.transaction():
            for item, _ in prepared:
                if item is not None:
                    item.store()
        self.seconds += time.perf_counter() - started

    def _prepare(self, outcome: Outcome) -> tuple[Item | None, list[StoredResult]]:
        """The item with its new fields (not stored yet, but its file written
        if a tag there changed), and its records for the store."""
        item_id = outcome.job.item_id
        item = self.items.get(item_id) or self.lib.get_item(item_id)
        if item is None:  # removed from the library meanwhile
            return None, []
        if outcome.analysis is None:
            item[fields.ERROR_FIELD] = error_reason(outcome.error)
            return item, []
        before = file_snapshot(item, self.options)
        analyzed_at = time.time()
        results = dict(outcome.analysis.results)
        # A job for the models an item lacked: the others' stored results
        # are current and complete the item's fields.
        kept = {
            model: stored
            for model, stored in self.store.get(item_id).items()
            if model in self.options.models and model not in results
        } if outcome.job.models is not None else {}
        apply_results(item, {**kept, **results}, self.options, analyzed_at)
        write_tags(item, self.options, before)
        new = stored_results(
            item.id, outcome.analysis, self.options, outcome.job.path, analyzed_at
        )
        # Writing tags moved the file's mtime; the kept results follow it.
        return item, new + [
            replace(stored, mtime=new[0].mtime) for stored in kept.values()
        ]

    def __enter__(self) -> ResultSaver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.save()
