"""``beet musicnn-path FROM TO``: a sonic path from one track to another.

beets glue around :mod:`..sound.sonic_path`: FROM, TO and the options come
from the command line; the list is printed, or written as a playlist the
radio's way (:mod:`..sound.playlists`). :func:`path_subcommand`'s ``run``
makes the list with :func:`..sound.sonic_path.make_path` (``path.items``,
in playing order): an option that plays it elsewhere takes that list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beets import ui

from ..player import mpd
from ..sound.playlists import PlaylistFormat, query_parts, write_m3u
from ..sound.sonic_path import DEFAULT_COUNT, PathRequest, make_path
from .base import Musicnn
from .similar import add_candidate_options, radio_model

if TYPE_CHECKING:
    from beets.library import Library


def path_subcommand(plugin: Musicnn) -> ui.Subcommand:
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
    add_candidate_options(parser)
    parser.add_option(
        "--m3u", metavar="PATH", help="also write the list to this playlist file"
    )
    mpd.add_play_options(parser)
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
            start=query_parts(args[0]),
            end=query_parts(args[1]),
            count=opts.count,
            where=query_parts(opts.where or ""),
            max_per_artist=opts.max_per_artist,
            max_per_album=opts.max_per_album,
        )
        fmt = PlaylistFormat.from_config() if opts.m3u else None
        path = make_path(lib, plugin.store(lib), radio_model(plugin.config), request)
        for line in path.notes:
            ui.print_(line)
        for item in path.items:
            ui.print_(format(item, opts.format or ""))
        if opts.m3u:
            write_m3u(lib, path.items, opts.m3u, fmt)
        mpd.play_or_queue(plugin.config, lib, opts, path.items)

    command.func = run
    return command
