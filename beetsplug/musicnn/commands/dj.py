"""``beet musicnn-dj``: follow MPD and keep its queue topped up.

beets glue around :mod:`..player.dj`: the options become a
:class:`DJSettings`, MPD's address comes from beets' ``mpd:`` section, the
embeddings from the radio's index; the DJ runs in the foreground until
Ctrl-C, which ends it with exit status 0 (its normal end: nothing is left
half done).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from beets import ui

from ..player.dj import DJ, DJSettings, SoundPicker
from ..player.mpd import MPDAddress, MusicRoot, Player
from ..sound import radio
from ..sound.playlists import query_parts
from .base import Musicnn
from .similar import radio_model

if TYPE_CHECKING:
    from beets.library import Item, Library


def open_dj(
    plugin: Musicnn,
    lib: Library,
    settings: DJSettings,
    say: Callable[[str], None] = ui.print_,
    describe: Callable[[Item], str] = format,
) -> DJ:
    """The DJ of ``beet musicnn-dj``, connected to beets' MPD.

    Raises
    ------
    beets.ui.UserError
        For a bad ``--where``, or when MPD cannot be reached or refuses.
    """
    model = radio_model(plugin.config)
    picker = SoundPicker(
        lib, lambda: radio.open_index(plugin.store(lib), model), settings
    )
    player = Player(MPDAddress.from_config())
    player.connect()
    try:
        root = MusicRoot.choose(plugin.config, lib, player.music_directory())
    except BaseException:
        player.close()
        raise
    return DJ(player, root, picker, settings, say, describe)


def dj_subcommand(plugin: Musicnn) -> ui.Subcommand:
    """``beet musicnn-dj``: follow MPD and keep its queue topped up."""
    command = ui.Subcommand(
        "musicnn-dj",
        help="keep MPD's queue topped up with tracks that sound like what plays",
    )
    parser = command.parser
    parser.usage = (
        "beet musicnn-dj [options]\n"
        "Follow what MPD plays and keep --ahead tracks queued after it that "
        "sound like the current track and the last few played; Ctrl-C stops."
    )
    parser.add_option(
        "--ahead",
        type="int",
        default=DJSettings.ahead,
        metavar="N",
        help=f"tracks to keep queued after the current one (default "
        f"{DJSettings.ahead}; tracks queued by hand count)",
    )
    parser.add_option(
        "--seeds",
        type="int",
        default=DJSettings.seeds,
        metavar="N",
        help="tracks played before the current one that also guide the choice "
        f"(default {DJSettings.seeds})",
    )
    parser.add_option(
        "--no-repeat",
        type="int",
        default=DJSettings.no_repeat,
        metavar="N",
        help="never queue a track played or queued within the last N tracks "
        f"(default {DJSettings.no_repeat})",
    )
    parser.add_option(
        "--where",
        metavar="QUERY",
        help="only queue items that match this beets query too",
    )
    parser.add_option(
        "--max-per-artist",
        type="int",
        metavar="N",
        help="at most N of one artist among the current and queued tracks",
    )
    parser.add_option(
        "--max-per-album",
        type="int",
        metavar="N",
        help="at most N of one album among the current and queued tracks",
    )
    parser.add_format_option(target="item")

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        if args:
            raise ui.UserError(
                "musicnn-dj: it takes no query (it follows MPD); use --where "
                f"to limit what it queues, not {' '.join(args)!r}"
            )
        settings = DJSettings(
            ahead=opts.ahead,
            seeds=opts.seeds,
            no_repeat=opts.no_repeat,
            where=tuple(query_parts(opts.where or "")),
            max_per_artist=opts.max_per_artist,
            max_per_album=opts.max_per_album,
        )
        dj = open_dj(
            plugin, lib, settings, describe=lambda item: format(item, opts.format or "")
        )
        ui.print_(
            f"musicnn-dj: following MPD at {dj.player.address} (music directory "
            f"{dj.root}), {settings.ahead} tracks ahead; Ctrl-C stops."
        )
        try:
            dj.run()
        except KeyboardInterrupt:
            # The normal end of a foreground follower: nothing is left
            # half done, so the exit status is 0.
            ui.print_(f"musicnn-dj: stopped; it queued {dj.queued} tracks.")
        finally:
            dj.player.close()

    command.func = run
    return command
