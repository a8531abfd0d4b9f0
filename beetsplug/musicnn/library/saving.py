"""Saving a run's outcomes: :class:`ResultSaver` saves them as they arrive in
short batched transactions (beets database and result store), so an
interrupted run keeps all it finished. The fields themselves are
:mod:`item_fields`'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from beets.library import Item

from ..labels import fields
from .item_fields import (
    apply_results,
    error_reason,
    file_snapshot,
    stored_results,
    write_tags,
)
from .options import RunOptions

if TYPE_CHECKING:
    from beets.library import Library

    from ..executors.jobs import Outcome
    from .store import ResultStore, StoredResult

#: Results saved per library transaction, at most...
BATCH_SIZE = 50
#: ...and at least this often (seconds), so a slow run still saves steadily.
BATCH_SECONDS = 10.0

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
