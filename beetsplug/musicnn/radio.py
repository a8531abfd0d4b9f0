"""The radio: "sounds like this" lists and playlists from a beets library.

beets glue around :mod:`similarity`: the seeds and candidates come from
beets queries, the vectors from the embedding index beside the result store,
and playlists are written the way the ``smartplaylist`` plugin writes them
(its ``relative_to``, ``forward_slash``, ``prefix``, ``urlencode`` and
``output`` settings apply here too), so that players and beets' ``playlist``
plugin read both alike.

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
from collections import ChainMap
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beets import config as beets_config
from beets import logging, ui
from beets.dbcore.query import AndQuery, InQuery, InvalidQueryError, TrueQuery
from beets.util import bytestring_path, normpath, path_as_posix
from beets.util.functemplate import get_template

from . import selection
from .matching import check_matched
from .settings import ConfigError

if TYPE_CHECKING:
    from beets.library import Item, Library

    from .similarity import EmbeddingIndex
    from .store import ResultStore

log = logging.getLogger("beets.musicnn")

ORDERS = ("similarity", "flow")
#: The format field of ``beet musicnn-similar`` with each item's similarity.
SIMILARITY_FIELD = "musicnn_similarity"
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
        _candidates(lib, index, similarity.ranked(scores), where, request.count),
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
class _Candidate:
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


def _candidates(
    lib: Library,
    index: EmbeddingIndex,
    rows: Iterator[int],
    where: Any,
    count: int,
) -> Iterator[_Candidate]:
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
                yield _Candidate(fetched[item_id])
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
class PlaylistFormat:
    """How paths are written, from the ``smartplaylist`` configuration."""

    relative_to: bytes | None = None
    forward_slash: bool = False
    prefix: bytes = b""
    urlencode: bool = False
    extm3u: bool = False

    @classmethod
    def from_config(cls) -> PlaylistFormat:
        """The settings of beets' ``smartplaylist`` section (its defaults
        where the plugin is not configured)."""
        section = beets_config["smartplaylist"]

        def value(key: str, default: Any) -> Any:
            return section[key].get() if section[key].exists() else default

        relative_to = value("relative_to", None)
        output = value("output", "m3u")
        if output not in ("m3u", "extm3u"):
            raise ConfigError(
                "smartplaylist.output", f"{output!r} is not m3u or extm3u"
            )
        return cls(
            relative_to=normpath(relative_to) if relative_to else None,
            forward_slash=bool(value("forward_slash", False)),
            prefix=bytestring_path(str(value("prefix", "") or "")),
            urlencode=bool(value("urlencode", False)),
            extm3u=output == "extm3u",
        )

    def uri(self, lib: Library, item: Item) -> bytes:
        path = os.fsencode(selection.absolute_path(lib, item))
        if self.relative_to:
            path = os.path.relpath(path, self.relative_to)
        if self.forward_slash:
            path = path_as_posix(path)
        if self.urlencode:
            from urllib.request import pathname2url

            path = bytestring_path(pathname2url(os.fsdecode(path)))
        return self.prefix + path


def write_m3u(
    lib: Library, items: Iterable[Item], path: str | bytes, fmt: PlaylistFormat
) -> None:
    """Write ``items`` to the playlist file ``path`` (its folder is created).

    Raises
    ------
    beets.ui.UserError
        If the file cannot be written.
    """
    lines = [b"#EXTM3U\n"] if fmt.extm3u else []
    for item in items:
        if fmt.extm3u:
            lines.append(
                f"#EXTINF:{int(item.length)},{item.artist} - {item.title}\n".encode()
            )
        lines.append(fmt.uri(lib, item) + b"\n")
    target = normpath(path)
    try:
        os.makedirs(os.path.dirname(target) or b".", exist_ok=True)
        with open(target, "wb") as out:
            out.writelines(lines)
    except OSError as exc:
        raise ui.UserError(
            f"musicnn: cannot write the playlist {os.fsdecode(target)}: {exc}"
        ) from None


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


# Commands ---------------------------------------------------------------------


def query_parts(value: str | Sequence[str]) -> list[str]:
    """A query from the configuration, as command-line parts: a string is
    split like a shell would (``'title:"Clair de lune"'``)."""
    import shlex

    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ui.UserError(f"musicnn: bad query {value!r}: {exc}") from None
    return [str(part) for part in value]


def named_playlists(config: Any) -> list[NamedPlaylist]:
    """The ``similar_playlists`` setting, checked."""
    from .settings import parse_similar_playlists

    playlists = []
    for entry in parse_similar_playlists(config["similar_playlists"].get()):
        request = RadioRequest(
            seeds=query_parts(entry["seeds"]),
            count=entry.get("count") or RadioRequest.count,
            where=query_parts(entry.get("where") or ""),
            max_per_artist=entry.get("max_per_artist"),
            max_per_album=entry.get("max_per_album"),
            order=entry.get("order") or RadioRequest.order,
        )
        playlists.append(NamedPlaylist(str(entry["name"]), request))
    return playlists


def playlist_folder(config: Any) -> str:
    """``similar_playlist_dir``, else smartplaylist's ``playlist_dir``."""
    folder = config["similar_playlist_dir"].get()
    if folder is None:
        section = beets_config["smartplaylist"]["playlist_dir"]
        folder = section.get() if section.exists() else "."
    return os.path.expanduser(str(folder))


def radio_model(config: Any) -> str:
    from .settings import parse_similar_model

    return parse_similar_model(config["similar_model"].get(), config["models"].get())


def similar_subcommand(plugin: Any) -> ui.Subcommand:
    """``beet musicnn-similar``: the items that sound most like the seeds."""
    command = ui.Subcommand(
        "musicnn-similar", help="list the items that sound most like QUERY's"
    )
    parser = command.parser
    parser.usage = (
        "beet musicnn-similar [options] QUERY\n"
        "The items matching QUERY are the seeds; list the items nearest to "
        "them in sound (MusicNN embeddings), best first."
    )
    parser.add_option(
        "-n", "--count", type="int", default=20, metavar="N", help="items to list"
    )
    parser.add_option(
        "--where",
        metavar="QUERY",
        help="only suggest items that match this beets query too "
        "(quote it: --where 'year:1990.. ^genres:christmas')",
    )
    parser.add_option(
        "--max-per-artist", type="int", metavar="N", help="at most N per artist"
    )
    parser.add_option(
        "--max-per-album", type="int", metavar="N", help="at most N per album"
    )
    parser.add_option(
        "--order",
        default="similarity",
        metavar="ORDER",
        help="similarity (best first) or flow (each item close to the one "
        "before, for smooth listening)",
    )
    parser.add_option(
        "--m3u", metavar="PATH", help="also write the list to this playlist file"
    )
    parser.add_format_option(target="item")

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        if not args:
            raise ui.UserError("musicnn-similar: give a query for the seed items")
        # How alike each item is comes first, as in the report's lists.
        line_format = opts.format or (
            f"${SIMILARITY_FIELD} {beets_config['format_item'].as_str()}"
        )
        request = RadioRequest(
            seeds=args,
            count=opts.count,
            where=query_parts(opts.where or ""),
            max_per_artist=opts.max_per_artist,
            max_per_album=opts.max_per_album,
            order=opts.order,
        )
        fmt = PlaylistFormat.from_config() if opts.m3u else None
        radio = make_radio(lib, plugin.store(lib), radio_model(plugin.config), request)
        for line in radio.warnings():
            ui.print_(line)
        for item, similarity in zip(radio.items, radio.similarities, strict=True):
            ui.print_(format_with_similarity(item, line_format, similarity))
        if opts.m3u:
            write_m3u(lib, radio.items, opts.m3u, fmt)

    command.func = run
    return command


def format_with_similarity(item: Item, line_format: str, similarity: float) -> str:
    """``item`` in ``line_format``, where ``$musicnn_similarity`` is its
    cosine similarity to the seeds with two decimals (``0.93``).

    The value belongs to this list, not to the item: it is never stored,
    only offered to the template beside the item's own fields.
    """
    values = ChainMap({SIMILARITY_FIELD: f"{similarity:.2f}"}, item.formatted())
    # As Item.evaluate_template, with one more value.
    return get_template(line_format).substitute(values, item._template_funcs())


def radio_subcommand(plugin: Any) -> ui.Subcommand:
    """``beet musicnn-radio``: regenerate the ``similar_playlists``."""
    command = ui.Subcommand(
        "musicnn-radio", help="regenerate the musicnn radio playlists"
    )
    command.parser.usage = (
        "beet musicnn-radio [NAME...]\n"
        "Write the playlists of the `similar_playlists` setting (only those "
        "named, if any)."
    )

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        playlists = named_playlists(plugin.config)
        if not playlists:
            ui.print_("musicnn: no `similar_playlists` configured")
            return
        for line in refresh_playlists(plugin, lib, playlists, args):
            ui.print_(line)

    command.func = run
    return command


def refresh_playlists(
    plugin: Any,
    lib: Library,
    playlists: Sequence[NamedPlaylist] | None = None,
    names: Sequence[str] = (),
) -> list[str]:
    """Regenerate the configured radio playlists (e.g. after a run)."""
    if playlists is None:
        playlists = named_playlists(plugin.config)
    if not playlists:
        return []
    return update_playlists(
        lib,
        plugin.store(lib),
        radio_model(plugin.config),
        playlists,
        playlist_folder(plugin.config),
        names,
    )
