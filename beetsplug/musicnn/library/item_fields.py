"""From one track's results to its beets fields: derived, replaced, written.

Used by the saving of a run (:mod:`saving`) and the re-deriving of fields
from stored results (:mod:`rederive`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from beets.library import Item

from ..labels import fields, genres
from .options import RunOptions
from .selection import file_mtime

if TYPE_CHECKING:
    from ..engine.analysis import Analysis
    from .store import StoredResult

#: Fields this plugin owns besides the per-tag scores; every other
#: ``musicnn_`` field found on an item is a stale score and gets removed.
FIXED_FIELDS = frozenset(
    {
        fields.GENRE_FIELD,
        fields.CONTENT_FIELD,
        fields.MOOD_FIELD,
        fields.ENERGY_FIELD,
        fields.TAGS_FIELD,
        *fields.MOOD_STRENGTH_FIELDS.values(),
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
            scores_by_model(results),
            options.field_settings,
            options.calibration,
            embeddings={model: result.embedding for model, result in results.items()},
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
    item_id: int,
    analysis: Analysis,
    options: RunOptions,
    path: str,
    analyzed_at: float,
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
