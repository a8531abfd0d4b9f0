"""Sonic paths of a beets library: from the track of one query to another's.

beets side of :mod:`paths`: FROM and TO come from beets queries, the vectors
from the radio's embedding index (:func:`radio.open_index`), the stepping
stones from beets in growing batches, as the radio's candidates (so
``--where`` applies as it does to ``musicnn-similar``). The command is in
:mod:`..commands.path`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.dbcore.query import AndQuery, InQuery, TrueQuery

from . import radio

if TYPE_CHECKING:
    from beets.library import Item, Library

    from ..library.store import ResultStore
    from .similarity import EmbeddingIndex

#: Tracks in a path without ``-n``.
DEFAULT_COUNT = 20


@dataclass(frozen=True)
class PathRequest:
    """From where to where, through how many tracks, and which may be on it."""

    start: Sequence[str]
    end: Sequence[str]
    count: int = DEFAULT_COUNT
    #: Tracks between must also match this beets query.
    where: Sequence[str] = ()
    max_per_artist: int | None = None
    max_per_album: int | None = None

    def __post_init__(self) -> None:
        if self.count < 2:
            raise ui.UserError(
                f"musicnn: a path has at least 2 tracks (FROM and TO), "
                f"not -n {self.count}"
            )
        for name in ("max_per_artist", "max_per_album"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ui.UserError(
                    f"musicnn: {name.replace('_', '-')} must be at least 1, not {value}"
                )


@dataclass
class SonicPath:
    """The answer to a :class:`PathRequest`."""

    #: FROM first, TO last, in playing order.
    items: list[Item] = field(default_factory=list)
    #: Distance of each step (``len(items) - 1`` of them), and of FROM to
    #: TO directly (unit vectors: 0 same sound, 1.41 unrelated).
    steps: list[float] = field(default_factory=list)
    direct: float = 0.0
    #: What the user should know (several matches, a shorter path...).
    notes: list[str] = field(default_factory=list)


def make_path(
    lib: Library, store: ResultStore, model: str, request: PathRequest
) -> SonicPath:
    """The tracks from FROM to TO, each a small step from the one before.

    Raises
    ------
    beets.ui.UserError
        On a bad query, FROM or TO matching nothing, being the same track or
        not analysed, caps that FROM and TO break, or a library with fewer
        analysed tracks than the path needs.
    """
    import numpy as np

    from . import paths, similarity

    where = (
        radio._parse(lib, request.where, "--where") if request.where else TrueQuery()
    )
    result = SonicPath()
    start = _endpoint(lib, request.start, "FROM", result.notes)
    end = _endpoint(lib, request.end, "TO", result.notes)
    if start.id == end.id:
        raise ui.UserError(
            f"musicnn: FROM and TO are the same track ({_describe(start)}): "
            "a path needs two"
        )
    index = radio.open_index(store, model)
    rows = []
    for name, item in (("FROM", start), ("TO", end)):
        found = index.rows_of([item.id])
        if not len(found):
            raise ui.UserError(
                f"musicnn: {name} ({_describe(item)}) is not analysed yet "
                f"(by {model}): run `beet musicnn id:{item.id}`"
            )
        rows.append(int(found[0]))
    if len(index) < request.count:
        raise ui.UserError(
            f"musicnn: a path of {request.count} tracks needs {request.count} "
            f"analysed tracks; the library has {len(index):,}"
            + (" (run `beet musicnn`)" if radio._not_analysed(lib, index) else "")
        )
    sim_from = index.similarities(index.vectors[rows[0]])
    sim_to = index.similarities(index.vectors[rows[1]])
    placement = paths.locate(sim_from, sim_to, float(sim_from[rows[1]]))
    caps = _Caps(request.max_per_artist, request.max_per_album)
    for item in (start, end):
        if caps.full(_keys_of(item)):
            raise ui.UserError(_shared_end_message(request, start, end))
        caps.add(_keys_of(item))
    stones = _choose_stones(
        lib,
        index,
        similarity.ranked(paths.stone_scores(placement)),
        where,
        caps,
        paths.pool_size(request.count),
    )
    vectors = np.asarray(
        index.vectors[[*rows, *_rows_of(index, stones)]], dtype=np.float32
    )
    order = paths.find_path(vectors, request.count)
    ids = [start.id, end.id, *stones]
    on_path = [ids[i] for i in order]
    fetched = {start.id: start, end.id: end}
    if len(on_path) > 2:
        fetched.update((i.id, i) for i in lib.items(InQuery("id", on_path[1:-1])))
    result.items = [fetched[item_id] for item_id in on_path]
    steps = paths.step_lengths(vectors[order])
    result.steps = steps.tolist()
    result.direct = float(paths.step_lengths(vectors[:2])[0])
    if len(order) < request.count:
        within = [
            f"--{name.replace('_', '-')} {value}"
            for name in ("max_per_artist", "max_per_album")
            if (value := getattr(request, name)) is not None
        ]
        result.notes.append(
            f"musicnn: only {len(order):,} of the {request.count} tracks fit: "
            "too few tracks lie between FROM and TO (each step must go towards "
            "TO and be no longer than the jump from FROM to TO)"
            + (" that match --where" if request.where else "")
            + (f" within {' and '.join(within)}" if within else "")
        )
    not_analysed = radio._not_analysed(lib, index)
    if not_analysed:
        result.notes.append(
            f"musicnn: {not_analysed:,} tracks not analysed yet (they cannot "
            "be on the path): run `beet musicnn`"
        )
    return result


def _endpoint(lib: Library, query: Sequence[str], name: str, notes: list[str]) -> Item:
    """The first item of ``query`` in ``beet ls`` order; a note if several."""
    parsed = radio._parse(lib, query, name)
    with radio._user_error(name):
        first_two = list(itertools.islice(lib.items(parsed), 2))
    if not first_two:
        raise ui.UserError(f"musicnn: {name} {' '.join(query)!r} matches no item")
    if len(first_two) > 1:
        notes.append(
            f"musicnn: {name} {' '.join(query)!r} matches several items; "
            f"using the first: {_describe(first_two[0])}"
        )
    return first_two[0]


@dataclass
class _Caps:
    """Tracks per artist and per album so far, against the caps."""

    max_per_artist: int | None
    max_per_album: int | None
    artists: dict[str, int] = field(default_factory=dict)
    albums: dict[tuple[str, str], int] = field(default_factory=dict)

    def full(self, keys: tuple[str, tuple[str, str] | None]) -> bool:
        """Would one more track of these (artist, album) keys break a cap?"""
        artist, album = keys
        return bool(
            (artist and self.max_per_artist is not None)
            and self.artists.get(artist, 0) >= self.max_per_artist
        ) or bool(
            (album and self.max_per_album is not None)
            and self.albums.get(album, 0) >= self.max_per_album
        )

    def add(self, keys: tuple[str, tuple[str, str] | None]) -> None:
        artist, album = keys
        if artist:
            self.artists[artist] = self.artists.get(artist, 0) + 1
        if album:
            self.albums[album] = self.albums.get(album, 0) + 1


def _keys(artist: str, albumartist: str, album: str) -> tuple:
    """The (artist, album) keys of the caps, as the radio's
    (``radio._Candidate``): case-folded; no album, no album key."""
    artist = (artist or "").casefold()
    if not album:
        return artist, None
    return artist, ((albumartist or artist).casefold(), album.casefold())


def _keys_of(item: Item) -> tuple:
    return _keys(item.artist, item.albumartist, item.album)


def _choose_stones(
    lib: Library,
    index: EmbeddingIndex,
    rows: Iterator[int],
    where: Any,
    caps: _Caps,
    wanted: int,
) -> list[int]:
    """Item ids of the first ``wanted`` stones of ``rows`` that are in the
    library, match ``where`` and keep the caps (which count them).

    Read in batches that grow fourfold, as the radio's candidates. Unlike
    the radio, no beets item is built for a track the caps already rule
    out: its artist and album come from one SQL query per batch, and only
    the others are checked against ``where`` by beets. With
    ``--max-per-album 1`` on a library of whole albums, most of the tracks
    nearest the way are ruled out so: building them as items made a path
    take seconds.
    """
    chosen: list[int] = []
    batch_size = wanted
    while len(chosen) < wanted:
        batch = [int(index.ids[row]) for row in itertools.islice(rows, batch_size)]
        if not batch:
            break
        keys = _batch_keys(lib, batch)
        possible = [i for i in batch if i in keys and not caps.full(keys[i])]
        if not isinstance(where, TrueQuery) and possible:
            matching = _matching(lib, where, possible)
            possible = [i for i in possible if i in matching]
        for item_id in possible:
            if len(chosen) == wanted:
                break
            if not caps.full(keys[item_id]):
                caps.add(keys[item_id])
                chosen.append(item_id)
        batch_size = min(batch_size * 4, radio._MAX_BATCH)
    return chosen


def _matching(lib: Library, where: Any, ids: Sequence[int]) -> set[int]:
    """Those ``ids`` whose item matches the beets query ``where``.

    A query that SQLite can answer on the items table alone is asked there,
    as beets asks it, without building an item per row (building them is
    what costs: 0.3 ms each). One on flexible or album fields goes through
    beets.
    """
    from beets.library import Item

    clause, values = where.clause()
    if clause is not None and not where.field_names & Item.other_db_fields:
        marks = ",".join("?" * len(ids))
        with lib.transaction() as tx:
            rows = tx.query(
                f"SELECT id FROM items WHERE id IN ({marks}) AND ({clause})",
                [*ids, *values],
            )
        return {row[0] for row in rows}
    with radio._user_error("--where"):
        return {item.id for item in lib.items(AndQuery([where, InQuery("id", ids)]))}


def _batch_keys(lib: Library, ids: Sequence[int]) -> dict[int, tuple]:
    """Item id -> caps keys of those ``ids`` that are in the library."""
    marks = ",".join("?" * len(ids))
    with lib.transaction() as tx:
        found = tx.query(
            f"SELECT id, artist, albumartist, album FROM items WHERE id IN ({marks})",
            list(ids),
        )
    return {row[0]: _keys(row[1], row[2], row[3]) for row in found}


def _shared_end_message(request: PathRequest, start: Item, end: Item) -> str:
    """Why FROM and TO cannot both be on a path with these caps."""
    if request.max_per_artist == 1 and _keys_of(start)[0] == _keys_of(end)[0]:
        what, cap = f"an artist ({start.artist})", "--max-per-artist"
    else:
        what, cap = f"an album ({start.album})", "--max-per-album"
    return f"musicnn: FROM and TO share {what}: {cap} 1 cannot hold"


def _describe(item: Item) -> str:
    return f"{item.artist or '(no artist)'} - {item.title or '(no title)'}"


def _rows_of(index: EmbeddingIndex, item_ids: Sequence[int]) -> list[int]:
    """Index rows of ``item_ids``, in their order (all are in the index)."""
    rows = index.rows_of(item_ids)
    by_id = dict(zip(index.ids[rows].tolist(), rows.tolist(), strict=True))
    return [by_id[item_id] for item_id in item_ids]
