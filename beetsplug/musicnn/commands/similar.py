"""``beet musicnn-similar`` and ``beet musicnn-radio``: the radio's commands.

beets glue around :mod:`..sound.radio`: the seeds and options come from the
command line or the ``similar_playlists`` setting; the playlists are written
by :mod:`..sound.playlists`.
"""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from beets import config as beets_config
from beets import ui
from beets.util.functemplate import get_template

from ..player import mpd
from ..sound.playlists import PlaylistFormat, query_parts, write_m3u
from ..sound.radio import NamedPlaylist, RadioRequest, make_radio, update_playlists
from .base import Musicnn, subcommand

if TYPE_CHECKING:
    import optparse

    import confuse
    from beets.library import Item, Library

#: The format field of ``beet musicnn-similar`` with each item's similarity.
SIMILARITY_FIELD = "musicnn_similarity"


def named_playlists(config: confuse.ConfigView) -> list[NamedPlaylist]:
    """The ``similar_playlists`` setting, checked."""
    from ..library.settings import parse_similar_playlists

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


def playlist_folder(config: confuse.ConfigView) -> str:
    """``similar_playlist_dir``, else smartplaylist's ``playlist_dir``."""
    folder = config["similar_playlist_dir"].get()
    if folder is None:
        section = beets_config["smartplaylist"]["playlist_dir"]
        folder = section.get() if section.exists() else "."
    return os.path.expanduser(str(folder))


def radio_model(config: confuse.ConfigView) -> str:
    from ..library.settings import parse_similar_model

    return parse_similar_model(config["similar_model"].get(), config["models"].get())


#: ``beet musicnn-similar``: its line in ``beet help``, and its ``-h`` usage.
def add_candidate_options(parser: optparse.OptionParser) -> None:
    """``--where``, ``--max-per-artist`` and ``--max-per-album``: which
    library tracks may be suggested (``musicnn-similar``, ``musicnn-path``)."""
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


SIMILAR_HELP = "list the items that sound most like QUERY's"
SIMILAR_USAGE = """beet musicnn-similar [options] QUERY
The items matching QUERY are the seeds; list the items nearest to them in \
sound (MusicNN embeddings), best first."""

#: ``beet musicnn-radio``: its line in ``beet help``, and its ``-h`` usage.
RADIO_HELP = "regenerate the musicnn radio playlists"
RADIO_USAGE = """beet musicnn-radio [NAME...]
Write the playlists of the `similar_playlists` setting (only those named, if \
any)."""


def similar_subcommand(plugin: Musicnn) -> ui.Subcommand:
    """``beet musicnn-similar``: the items that sound most like the seeds."""
    command = subcommand("musicnn-similar", SIMILAR_HELP, SIMILAR_USAGE)
    parser = command.parser
    parser.add_option(
        "-n", "--count", type="int", default=20, metavar="N", help="items to list"
    )
    add_candidate_options(parser)
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
    mpd.add_play_options(parser)
    parser.add_format_option(target="item")

    def run(lib: Library, opts: optparse.Values, args: list[str]) -> None:
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
        mpd.play_or_queue(plugin.config, lib, opts, radio.items)

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


def radio_subcommand(plugin: Musicnn) -> ui.Subcommand:
    """``beet musicnn-radio``: regenerate the ``similar_playlists``."""
    command = subcommand("musicnn-radio", RADIO_HELP, RADIO_USAGE)

    def run(lib: Library, opts: optparse.Values, args: list[str]) -> None:
        playlists = named_playlists(plugin.config)
        if not playlists:
            ui.print_("musicnn: no `similar_playlists` configured")
            return
        for line in refresh_playlists(plugin, lib, playlists, args):
            ui.print_(line)

    command.func = run
    return command


def refresh_playlists(
    plugin: Musicnn,
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
