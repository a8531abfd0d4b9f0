"""``beet musicnn-families``: automatic playlists of sound-alike families.

beets glue around :mod:`..sound.family_sets`: the items come from a beets
query; playlists are written with :mod:`..sound.playlists`, so smartplaylist's
path settings (``relative_to``, ``prefix``, ``output``...) apply. The
``family_playlists`` setting regenerates sets of family playlists after every
``beet musicnn`` run, like the radio's ``similar_playlists``.

scikit-learn (the ``report`` extra) is imported only when families are made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import ui

from ..library.config_keys import unknown_entry_key
from ..library.settings import ConfigError
from ..sound.family_sets import iter_items, make_families, write_family_playlists
from ..sound.playlists import PlaylistFormat, query_parts
from .similar import playlist_folder, radio_model

if TYPE_CHECKING:
    from beets.library import Library

#: Settings of this module, added to the plugin's configuration.
DEFAULT_CONFIG: dict[str, Any] = {
    # Sets of family playlists rewritten after every `beet musicnn` run:
    # [{name: families, query: '', k: null}], each in a folder `name` of
    # `similar_playlist_dir` (or smartplaylist's `playlist_dir`).
    "family_playlists": [],
}
#: Keys of one `family_playlists` entry, and whether each must be there.
FAMILY_PLAYLIST_KEYS = {"name": True, "query": False, "k": False}

# The `family_playlists` setting --------------------------------------------------


@dataclass(frozen=True)
class FamilyPlaylists:
    """One entry of ``family_playlists``: a folder of family playlists."""

    name: str
    query: tuple[str, ...] = ()
    k: int | None = None


def parse_family_playlists(value: Any) -> list[FamilyPlaylists]:
    """The ``family_playlists`` setting, checked.

    Raises
    ------
    ConfigError
        Naming the entry and what is wrong with it.
    """
    key = "family_playlists"
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(key, "expected a list of {name: ..., query: ...} entries")
    entries = []
    for number, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise ConfigError(key, f"entry {number} is not a mapping")
        unknown = unknown_entry_key(entry, FAMILY_PLAYLIST_KEYS, f"entry {number}")
        if unknown:
            raise ConfigError(key, unknown)
        name = str(entry.get("name") or "").strip()
        if not name or os.path.basename(name) != name or name in (".", ".."):
            raise ConfigError(
                key, f"entry {number}: `name` must be a folder name, not {name!r}"
            )
        k = entry.get("k")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ConfigError(key, f"entry {number}: k must be a whole number >= 1")
        entries.append(
            FamilyPlaylists(name, tuple(query_parts(entry.get("query") or "")), k)
        )
    return entries


def refresh_family_playlists(plugin: Any, lib: Library) -> list[str]:
    """Rewrite every configured set of family playlists (after a run); one
    line per set. A set that cannot be made is reported, the others written."""
    entries = parse_family_playlists(plugin.config["family_playlists"].get())
    if not entries:
        return []
    lines = []
    model = radio_model(plugin.config)
    for entry in entries:
        folder = os.path.join(playlist_folder(plugin.config), entry.name)
        try:
            family_set = make_families(
                lib, plugin.store(lib), model, entry.query, entry.k
            )
            written = write_family_playlists(lib, family_set, folder)
        except ui.UserError as exc:
            lines.append(f"{entry.name}: not written: {exc}")
            continue
        lines.append(f"{entry.name}: {len(written)} family playlists")
    return lines


# The command ------------------------------------------------------------------


def families_subcommand(plugin: Any) -> ui.Subcommand:
    """``beet musicnn-families``: the library's sound-alike families."""
    command = ui.Subcommand(
        "musicnn-families", help="group items into named families of sound-alike tracks"
    )
    parser = command.parser
    parser.usage = (
        "beet musicnn-families [options] [QUERY]\n"
        "Cluster the analysed items matching QUERY (all without one) into "
        "families by sound, name each from its labels, and list them."
    )
    parser.add_option(
        "-k",
        "--families",
        dest="k",
        type="int",
        metavar="N",
        help="make N families (default: chosen automatically)",
    )
    parser.add_option(
        "--m3u",
        metavar="DIR",
        help="also write one playlist per family into this folder",
    )
    parser.add_format_option(target="item")

    def run(lib: Library, opts: Any, args: list[str]) -> None:
        if opts.k is not None and opts.k < 1:
            raise ui.UserError(f"musicnn: -k must be at least 1, not {opts.k}")
        if opts.m3u:  # a bad smartplaylist setting fails before the work
            PlaylistFormat.from_config()
        family_set = make_families(
            lib, plugin.store(lib), radio_model(plugin.config), args, opts.k
        )
        for line in family_set.warnings():
            ui.print_(line)
        for family in family_set.families:
            ui.print_(f"== {family.name} ({len(family.item_ids):,} tracks)")
            for item in iter_items(lib, family.item_ids):
                ui.print_(format(item, opts.format or ""))
        if opts.m3u:
            written = write_family_playlists(
                lib, family_set, os.path.expanduser(opts.m3u)
            )
            ui.print_(f"musicnn: wrote {len(written)} playlists to {opts.m3u}")

    command.func = run
    return command
