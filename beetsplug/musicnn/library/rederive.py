"""Re-deriving fields from the result store, with no audio decoded: after a
change of ``scores``, ``threshold``, the calibration or the label rules.

``beet musicnn --rederive`` does it for every matching item; every run does
it by itself for the items whose analysis is current but whose labels
revision (``musicnn_labels``) is not (:func:`relabel`), so that neither an
upgrade that changes a label rule nor a new calibration ever costs a
re-analysis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets.library import Item

from ..labels import fields
from .item_fields import (
    file_snapshot,
    label_fields,
    replace_fields,
    set_genres,
    store_item,
)
from .options import RunOptions
from .progress import Progress
from .saving import BATCH_SIZE
from .selection import items_by_id, iter_items

if TYPE_CHECKING:
    from beets.library import Library

    from .store import ResultStore

#: What a rederive leaves alone: it changes interpretation, not analysis.
KEPT_ON_REDERIVE = (fields.VERSION_FIELD, fields.ANALYZED_FIELD, fields.ERROR_FIELD)


@dataclass
class RederiveCounts:
    updated: int = 0
    #: Matching items with no stored results for every configured model.
    missing: int = 0


def rederive(
    lib: Library,
    query: Sequence[str],
    options: RunOptions,
    store: ResultStore,
    progress: Progress | None = None,
) -> RederiveCounts:
    """Recompute the fields of the matching items from the stored results,
    e.g. after a change of ``scores`` or ``threshold``; no audio is decoded."""
    return rederive_items(
        lib, iter_items(lib, query), options, store, progress=progress
    )


def relabel(
    lib: Library,
    ids: Iterable[int],
    options: RunOptions,
    store: ResultStore,
    *,
    version: str | None = None,
    progress: Progress | None = None,
) -> RederiveCounts:
    """Re-derive the fields of the items ``ids`` (their labels are stale,
    see ``selection.select``) from the store; no audio is decoded. With
    ``version``, the items also take that ``musicnn_version``: their stored
    results are all current for it (a model was removed from the run)."""
    return rederive_items(
        lib, items_by_id(lib, ids), options, store, version, progress=progress
    )


def rederive_items(
    lib: Library,
    items: Iterable[Item],
    options: RunOptions,
    store: ResultStore,
    version: str | None = None,
    *,
    progress: Progress | None = None,
) -> RederiveCounts:
    """Re-derive the fields of ``items`` from the store, saved in batches
    (and give them ``version``, if one is given); each item advances
    ``progress``."""
    counts = RederiveCounts()
    batch: list[tuple[Item, tuple]] = []
    for item in items:
        if progress is not None:
            progress.advance()
        stored = store.get(item.id)
        results = {model: stored.get(model) for model in options.models}
        if any(result is None for result in results.values()):
            counts.missing += 1
            continue
        before = file_snapshot(item, options)
        rederive_item(item, results, options)
        if version is not None:
            item[fields.VERSION_FIELD] = version
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
    replace_fields(item, {**label_fields(results, options), **kept})
    set_genres(item, options)


def _store_batch(
    lib: Library, batch: list[tuple[Item, tuple]], options: RunOptions
) -> None:
    with lib.transaction():
        for item, before in batch:
            store_item(item, options, before)
