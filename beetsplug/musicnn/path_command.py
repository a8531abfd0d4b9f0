"""``beet musicnn-path FROM TO``: a sonic path from one track to another.

beets glue around :mod:`paths`: FROM and TO come from beets queries, the
vectors from the radio's embedding index (:func:`radio.open_index`), the
stepping stones are fetched from beets in the radio's growing batches
(so ``--where`` applies as it does to ``musicnn-similar``), and the list is
printed or written as a playlist the radio's way (:func:`radio.write_m3u`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.dbcore.query import TrueQuery

from . import radio

if TYPE_CHECKING:
    from beets.library import Item, Library

    from .similarity import EmbeddingIndex
    from .store import ResultStore

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
    wanted = paths.pool_size(request.count)
    # The radio fetches a few candidates per item wanted (its caps skip
    # some); every stone is used here (the caps act in the path), so the
    # first batch is the pool itself and only --where makes more needed.
    per_batch = max(wanted // radio._BATCH_PER_ITEM, 1)
    stones = list(
        itertools.islice(
            radio._candidates(
                lib,
                index,
                similarity.ranked(paths.stone_scores(placement)),
                where,
                per_batch,
            ),
            wanted,
        )
    )
    candidates = [radio._Candidate(start), radio._Candidate(end), *stones]
    vectors = np.asarray(
        index.vectors[[*rows, *_rows_of(index, [c.item for c in stones])]],
        dtype=np.float32,
    )
    try:
        order = paths.find_path(
            vectors,
            request.count,
            artist=_codes(c.artist for c in candidates),
            album=_codes(c.album for c in candidates),
            max_per_artist=request.max_per_artist,
            max_per_album=request.max_per_album,
        )
    except ValueError as exc:
        raise ui.UserError(f"musicnn: {exc}") from None
    result.items = [candidates[i].item for i in order]
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


def _describe(item: Item) -> str:
    return f"{item.artist or '(no artist)'} - {item.title or '(no title)'}"


def _rows_of(index: EmbeddingIndex, items: Sequence[Item]) -> list[int]:
    """Index rows of ``items``, in their order (all are in the index)."""
    rows = index.rows_of(item.id for item in items)
    by_id = dict(zip(index.ids[rows].tolist(), rows.tolist(), strict=True))
    return [by_id[item.id] for item in items]


def _codes(keys) -> list[int]:
    """A code per key for the caps: equal keys equal codes, none -1."""
    codes: dict[Any, int] = {}
    return [codes.setdefault(key, len(codes)) if key else -1 for key in keys]


def path_subcommand(plugin: Any) -> ui.Subcommand:
    """``beet musicnn-path``: the tracks from FROM to TO, step by step."""
    command = ui.Subcommand(
        "musicnn-path", help="list a sonic path of tracks from FROM to TO"
    )
    parser = command.parser
    parser.usage = (
        "beet musicnn-path [options] FROM TO\n"
        "FROM and TO are beets queries (quote one of several words: "
        "'artist:Miles Davis' 'title:Blue in green'); the first item of each "
        "is used. List N tracks from FROM to TO whose sound changes a "
        "little at each step."
    )
    parser.add_option(
        "-n",
        "--count",
        type="int",
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"tracks in the path, FROM and TO included (default {DEFAULT_COUNT})",
    )
    parser.add_option(
        "--where",
        metavar="QUERY",
        help="only tracks between that match this beets query too "
        "(quote it: --where 'year:1990.. ^genres:christmas')",
    )
    parser.add_option(
        "--max-per-artist", type="int", metavar="N", help="at most N per artist"
    )
    parser.add_option(
        "--max-per-album", type="int", metavar="N", help="at most N per album"
    )
    parser.add_option(
        "--m3u", metavar="PATH", help="also write the list to this playlist file"
    )
    parser.add_format_option(target="item")

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        if len(args) != 2:
            raise ui.UserError(
                "musicnn-path: give two queries, FROM and TO (quote each one "
                f"of several words), not {len(args)}: {' '.join(args)!r}"
                if args
                else "musicnn-path: give two queries, FROM and TO"
            )
        request = PathRequest(
            start=radio.query_parts(args[0]),
            end=radio.query_parts(args[1]),
            count=opts.count,
            where=radio.query_parts(opts.where or ""),
            max_per_artist=opts.max_per_artist,
            max_per_album=opts.max_per_album,
        )
        fmt = radio.PlaylistFormat.from_config() if opts.m3u else None
        path = make_path(
            lib, plugin.store(lib), radio.radio_model(plugin.config), request
        )
        for line in path.notes:
            ui.print_(line)
        for item in path.items:
            ui.print_(format(item, opts.format or ""))
        if opts.m3u:
            radio.write_m3u(lib, path.items, opts.m3u, fmt)

    command.func = run
    return command
