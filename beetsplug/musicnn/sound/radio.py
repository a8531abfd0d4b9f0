"""The radio: "sounds like this" lists and playlists from a beets library.

beets glue around :mod:`similarity`: the seeds and candidates come from
beets queries, the vectors from the embedding index beside the result store,
and playlists are written by :mod:`playlists`, the way the ``smartplaylist``
plugin writes them.

Nothing here builds an object per library item: seeds are read by id pages,
the whole-library scoring is one pass over the memory-mapped index, and
only the best-ranked candidates are fetched from beets, in growing batches,
to apply ``--where`` and the per-artist and per-album caps.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from beets import logging, ui
from beets.dbcore.query import (
    AndQuery,
    InQuery,
    InvalidQueryError,
    Query,
    TrueQuery,
)

from ..library import selection
from ..library.matching import check_matched
from .playlists import PlaylistFormat, write_m3u

if TYPE_CHECKING:
    from beets.library import Item, Library

    from ..library.store import ResultStore
    from .similarity import EmbeddingIndex

log = logging.getLogger("beets.musicnn")

ORDERS = ("similarity", "flow")
#: Candidates fetched from beets in the first batch, per item wanted; later
#: batches grow fourfold, so a selective ``--where`` needs few queries.
_BATCH_PER_ITEM = 4
#: Largest batch: below SQLite's default limit of 32,766 query parameters.
_MAX_BATCH = 30000


@dataclass(frozen=True)
class RadioRequest:
    """What to play: the seeds, and how to choose and order the rest."""

    seeds: Sequence[str]
    count: int = 20
    #: Candidates must also match this beets query.
    where: Sequence[str] = ()
    max_per_artist: int | None = None
    max_per_album: int | None = None
    order: str = "similarity"

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ui.UserError(
                f"musicnn: unknown order {self.order!r}: use {' or '.join(ORDERS)}"
            )
        for name in ("count", "max_per_artist", "max_per_album"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ui.UserError(
                    f"musicnn: {name.replace('_', '-')} must be at least 1, not {value}"
                )


@dataclass
class Radio:
    """The answer to a :class:`RadioRequest`."""

    items: list[Item] = field(default_factory=list)
    #: Cosine similarity of each item to the seeds (same order as ``items``).
    similarities: list[float] = field(default_factory=list)
    #: Seeds found by the query, and how many of them have no embedding.
    seeds: int = 0
    seeds_not_analysed: int = 0
    #: Library items that could not be candidates: no embedding yet.
    candidates_not_analysed: int = 0

    def warnings(self) -> list[str]:
        """What the user should know: items left out for want of analysis."""
        lines = []
        if self.seeds_not_analysed:
            lines.append(
                f"musicnn: {self.seeds_not_analysed:,} of {self.seeds:,} seeds "
                "not analysed yet (left out): run `beet musicnn`"
            )
        if self.candidates_not_analysed:
            lines.append(
                f"musicnn: {self.candidates_not_analysed:,} candidates not "
                "analysed yet (they cannot be suggested): run `beet musicnn`"
            )
        return lines


def open_index(store: ResultStore, model: str) -> EmbeddingIndex:
    """The embedding index of ``model`` beside ``store``, current with it."""
    from .similarity import EmbeddingIndex

    def rows():
        return store.iter_embeddings(model)

    if store.path == ":memory:":  # no folder to keep it in: build, then read
        with tempfile.TemporaryDirectory() as folder:
            index = EmbeddingIndex.load(
                os.path.join(folder, "store"), model, store.generation(), rows
            )
            return index.in_memory()
    try:
        return EmbeddingIndex.load(store.path, model, store.generation(), rows)
    except OSError as exc:
        raise ui.UserError(
            f"musicnn: cannot write the embedding index beside {store.path}: {exc}"
        ) from None


def make_radio(
    lib: Library, store: ResultStore, model: str, request: RadioRequest
) -> Radio:
    """The items that sound most like the seeds, chosen and ordered.

    Raises
    ------
    beets.ui.UserError
        On a bad query, no seed, or no analysed seed.
    """
    import numpy as np

    from . import similarity

    where = _parse(lib, request.where, "--where") if request.where else TrueQuery()
    seed_ids = _seed_ids(lib, request.seeds)
    check_matched(len(seed_ids), request.seeds)
    index = open_index(store, model)
    radio = Radio(seeds=len(seed_ids))
    seed_rows = index.rows_of(seed_ids)
    radio.seeds_not_analysed = len(seed_ids) - len(seed_rows)
    radio.candidates_not_analysed = _not_analysed(lib, index) - (
        radio.seeds_not_analysed
    )
    if not len(seed_rows):
        raise ui.UserError(
            f"musicnn: none of the {len(seed_ids):,} seeds is analysed yet "
            f"(by {model}): run `beet musicnn {' '.join(request.seeds)}`"
        )
    profile = similarity.seed_profile(index.vectors[seed_rows])
    scores = index.similarities(profile)
    scores[seed_rows] = -np.inf
    found = similarity.capped(
        library_candidates(
            lib, index, similarity.ranked(scores), where, request.count
        ),
        request.count,
        max_per_artist=request.max_per_artist,
        max_per_album=request.max_per_album,
    )
    items = [candidate.item for candidate in found]
    rows = index.rows_of(item.id for item in items)
    row_of_id = dict(zip(index.ids[rows].tolist(), rows.tolist(), strict=True))
    rows = np.array([row_of_id[item.id] for item in items], dtype=np.int64)
    if request.order == "flow" and len(items) > 1:
        path = similarity.flow_order(
            np.asarray(index.vectors[rows], dtype=np.float32), start=profile
        )
        items, rows = [items[i] for i in path], rows[path]
    radio.items = items
    radio.similarities = scores[rows].tolist() if len(rows) else []
    return radio


@dataclass(frozen=True)
class ItemCandidate:
    """A :class:`similarity.Candidate` that carries its beets item."""

    item: Item

    @property
    def item_id(self) -> int:
        return self.item.id

    @property
    def artist(self) -> str:
        return (self.item.artist or "").casefold()

    @property
    def album(self) -> tuple[str, str] | None:
        item = self.item
        if not item.album:
            return None
        return ((item.albumartist or item.artist).casefold(), item.album.casefold())


def library_candidates(
    lib: Library,
    index: EmbeddingIndex,
    rows: Iterator[int],
    where: Query,
    count: int,
) -> Iterator[ItemCandidate]:
    """The items of ``rows`` that are in the library and match ``where``,
    in the order of ``rows``, fetched from beets a batch at a time."""
    batch_size = max(count * _BATCH_PER_ITEM, 64)
    while True:
        batch = [int(index.ids[row]) for row in itertools.islice(rows, batch_size)]
        if not batch:
            return
        query = AndQuery([where, InQuery("id", batch)])
        with _user_error("--where"):
            fetched = {item.id: item for item in lib.items(query)}
        for item_id in batch:
            if item_id in fetched:
                yield ItemCandidate(fetched[item_id])
        batch_size = min(batch_size * 4, _MAX_BATCH)


def _seed_ids(lib: Library, seeds: Sequence[str]) -> array:
    _parse(lib, seeds, "seed")  # a bad query fails here, before any work
    ids = array("q")
    with _user_error("seed"):
        ids.extend(item.id for item in selection.iter_items(lib, seeds))
    return ids


def _not_analysed(lib: Library, index: EmbeddingIndex) -> int:
    """Library items without a row in the index, from counts.

    Counting is instant where comparing 500,000 ids is not (0.7 s just to
    read them from SQLite); it is exact because the store follows the
    library (``item_removed`` deletes an item's rows, a full run prunes).
    """
    with lib.transaction() as tx:
        library_items = tx.query("SELECT COUNT(*) FROM items")[0][0]
    return max(library_items - len(index), 0)


def _parse(lib: Library, query: Sequence[str], what: str):
    with _user_error(what):
        return selection.parse_query(lib, query)


@contextmanager
def _user_error(what: str) -> Iterator[None]:
    """Turn a beets query error into a :class:`beets.ui.UserError`."""
    try:
        yield
    except InvalidQueryError as exc:
        raise ui.UserError(f"musicnn: bad {what} query: {exc}") from None


# Playlists --------------------------------------------------------------------


@dataclass(frozen=True)
class NamedPlaylist:
    """One entry of the ``similar_playlists`` setting."""

    name: str
    request: RadioRequest


def update_playlists(
    lib: Library,
    store: ResultStore,
    model: str,
    playlists: Sequence[NamedPlaylist],
    folder: str,
    names: Sequence[str] = (),
) -> list[str]:
    """Regenerate the named radio playlists (only ``names`` if given) in
    ``folder``; returns one line per playlist saying what was written.

    A playlist whose seeds are missing or not analysed is reported and
    skipped; the others are still written.
    """
    unknown = set(names) - {playlist.name for playlist in playlists}
    if unknown:
        raise ui.UserError(
            f"musicnn: no radio playlist named {', '.join(sorted(unknown))} "
            "in `similar_playlists`"
        )
    fmt = PlaylistFormat.from_config()
    report = []
    for playlist in playlists:
        if names and playlist.name not in names:
            continue
        try:
            radio = make_radio(lib, store, model, playlist.request)
        except ui.UserError as exc:
            report.append(f"{playlist.name}: not written: {exc}")
            continue
        write_m3u(lib, radio.items, os.path.join(folder, playlist.name), fmt)
        report.extend(f"{playlist.name}: {line}" for line in radio.warnings())
        report.append(f"{playlist.name}: {len(radio.items)} tracks")
    return report
