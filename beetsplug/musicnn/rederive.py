"""Re-deriving fields from the result store, with no audio decoded: after a
change of ``scores`` or ``threshold`` (``beet musicnn --rederive``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets.library import Item

from . import fields
from .options import RunOptions
from .saving import (
    BATCH_SIZE,
    file_snapshot,
    replace_fields,
    scores_by_model,
    set_genres,
    store_item,
)
from .selection import iter_items

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
    set_genres(item, options)


def _store_batch(
    lib: Library, batch: list[tuple[Item, tuple]], options: RunOptions
) -> None:
    with lib.transaction():
        for item, before in batch:
            store_item(item, options, before)
