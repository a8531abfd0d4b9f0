"""Which items a run works on: the library read a page at a time, the
files' absolute paths, and the items that need an analysis.

Items are read from the database page by page, so choosing from a library
of any size takes bounded memory; the pool's jobs are made from the chosen
ids only when the pool asks for them.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from beets import context, util
from beets.dbcore.query import (
    AndQuery,
    InQuery,
    InvalidQueryArgumentValueError,
    InvalidQueryError,
    NumericQuery,
    Query,
)
from beets.dbcore.sort import FixedFieldSort
from beets.library import Item, parse_query_parts

from ..labels import fields
from .options import RunOptions

if TYPE_CHECKING:
    from beets.library import Library

    from ..executors.jobs import Job
    from .store import ResultStore

#: Items read from the database at a time while selecting.
PAGE_SIZE = 1000
#: Pages in id order; the order of a run does not matter otherwise.
BY_ID = FixedFieldSort("id")


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


def count_items(lib: Library, query: Sequence[str] = ()) -> int:
    """How many items match ``query``, counted a page at a time:
    ``len(lib.items(query))`` would hold every matching row at once."""
    if not query:
        with lib.transaction() as tx:
            return tx.query("SELECT COUNT(*) FROM items")[0][0]
    return sum(len(items) for _, items in iter_pages(lib, query))


def items_by_id(
    lib: Library, item_ids: Iterable[int], batch_size: int = 5000
) -> Iterator[Item]:
    """The items of ``item_ids``, in that order, fetched a batch at a time
    (one query per batch, below SQLite's limit of query parameters); ids of
    items that are gone are skipped."""
    ids = iter(item_ids)
    while batch := [int(item_id) for item_id in itertools.islice(ids, batch_size)]:
        fetched = {item.id: item for item in lib.items(InQuery("id", batch))}
        yield from (fetched[i] for i in batch if i in fetched)


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
    #: Current items whose labels revision is stale: their fields are
    #: derived again from the store, without decoding (among ``skipped``).
    stale_labels: array = field(default_factory=lambda: array("q"))
    #: For each of ``ids``, which of the run's models it needs, as a bit mask
    #: over ``options.models`` (bit ``i``: model ``i``); 0 means all of them.
    #: An item analysed by some of the models, whose results are current,
    #: needs only the others (a model was added).
    needed: array = field(default_factory=lambda: array("q"))
    #: Items none of whose models need analysing, although the item's
    #: version is another run's (a model was removed): their fields are
    #: derived again from the store, and they take this run's version.
    results_current: array = field(default_factory=lambda: array("q"))

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
    """Find the matching items that need an analysis (all of them if
    ``force``), which of the models each needs, and among the others those
    whose labels are stale."""
    selection = Selection()
    versions = options.current_versions
    for ids, items in iter_pages(lib, query):
        mtimes = {} if force else store.mtimes(options.models[0], ids)
        for item in items:
            if not force and is_current(lib, item, versions, mtimes.get(item.id)):
                selection.skipped += 1
                if item.get(fields.LABELS_FIELD, with_album=False) != options.labels:
                    selection.stale_labels.append(item.id)
                continue
            needed = 0 if force else needed_models(lib, item, options, store)
            if needed == NOTHING_NEEDED:
                selection.skipped += 1
                selection.results_current.append(item.id)
                continue
            selection.ids.append(item.id)
            selection.needed.append(needed)
            if on_selected is not None:
                on_selected(item)
    return selection


#: :func:`needed_models` of an item whose every model's results are current.
NOTHING_NEEDED = -1


def needed_models(
    lib: Library, item: Item, options: RunOptions, store: ResultStore
) -> int:
    """Which of the run's models ``item`` needs, as a bit mask over
    ``options.models``: 0 for all of them, :data:`NOTHING_NEEDED` for none.

    A model is not needed when its stored result is of the file as it is
    now and its part of the stored version (``fields.model_versions``) is
    one this run counts as current: adding a model to ``models`` analyses
    only that model.
    """
    stored = store.get(item.id)
    if not stored:
        return 0
    mtime = file_mtime(absolute_path(lib, item))
    current = {
        model: {fields.model_versions(v).get(model) for v in options.current_versions}
        for model in options.models
    }
    mask = 0
    for bit, model in enumerate(options.models):
        result = stored.get(model)
        if (
            result is None
            or result.mtime != mtime
            or fields.model_versions(result.version).get(model) not in current[model]
        ):
            mask |= 1 << bit
    if mask == 0:
        return NOTHING_NEEDED
    return 0 if mask == (1 << len(options.models)) - 1 else mask


def models_of(mask: int, models: Sequence[str]) -> tuple[str, ...] | None:
    """The models a :func:`needed_models` mask names; ``None`` for all."""
    if mask == 0:
        return None
    return tuple(model for bit, model in enumerate(models) if mask >> bit & 1)


def iter_jobs(
    lib: Library,
    ids: Iterable[int],
    needed: Iterable[int] | None = None,
    models: Sequence[str] = (),
) -> Iterator[Job]:
    """A pool job per id, read from the library only when the pool asks;
    ``needed`` masks (:func:`needed_models`, over ``models``) limit a job to
    the models its item lacks."""
    from itertools import repeat

    from ..executors.jobs import Job

    masks = repeat(0) if needed is None else needed
    for item_id, mask in zip(ids, masks, strict=False):  # repeat() is endless
        item = lib.get_item(item_id)
        if item is not None:  # removed while the run went on
            yield Job(item_id, absolute_path(lib, item), models_of(mask, models))
