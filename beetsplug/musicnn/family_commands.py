"""``beet musicnn-families``: automatic playlists of sound-alike families.

beets glue around :mod:`families`: the items come from a beets query, their
vectors from the radio's embedding index, their labels from
:mod:`catalog`; playlists are written with the radio's writer, so
smartplaylist's path settings (``relative_to``, ``prefix``, ``output``...)
apply. The ``family_playlists`` setting regenerates sets of family playlists
after every ``beet musicnn`` run, like the radio's ``similar_playlists``.

scikit-learn (the ``report`` extra) is imported only when families are made.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.dbcore.query import InQuery

from . import radio
from .config_keys import unknown_entry_key
from .matching import check_matched
from .settings import ConfigError

if TYPE_CHECKING:
    from beets.library import Item, Library

    from .catalog import AnalysedSelection
    from .families import Family, Partition
    from .store import ResultStore

#: Settings of this module, added to the plugin's configuration.
DEFAULT_CONFIG: dict[str, Any] = {
    # Sets of family playlists rewritten after every `beet musicnn` run:
    # [{name: families, query: '', k: null}], each in a folder `name` of
    # `similar_playlist_dir` (or smartplaylist's `playlist_dir`).
    "family_playlists": [],
}
#: Keys of one `family_playlists` entry, and whether each must be there.
FAMILY_PLAYLIST_KEYS = {"name": True, "query": False, "k": False}
#: Lists the playlists a set wrote, so that the next run removes those of
#: families that no longer exist, and nothing else.
MANIFEST = ".musicnn-families"
#: What the report extra brings, and the command that installs it.
REPORT_EXTRA = "pip install 'beets-musicnn[report]'"


def require_extra(*modules: str) -> None:
    """Fail with a clear message if a module of the ``report`` extra is missing.

    Raises
    ------
    beets.ui.UserError
        Naming the missing module and the ``pip install`` that brings it.
    """
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ui.UserError(
            f"musicnn: this needs {', '.join(missing)}, which is not installed: "
            f"{REPORT_EXTRA}"
        )


@dataclass(frozen=True)
class FamilySet:
    """Families of the analysed items of a query."""

    families: list[Family]
    partition: Partition
    selection: AnalysedSelection

    @property
    def outliers(self) -> int:
        return int((self.partition.labels < 0).sum())

    def warnings(self) -> list[str]:
        """Items of the query that are in no family, and why."""
        lines = []
        if self.selection.not_analysed:
            lines.append(
                f"musicnn: {self.selection.not_analysed:,} of "
                f"{self.selection.matched:,} items not analysed yet (left out): "
                "run `beet musicnn`"
            )
        if self.outliers:
            tracks = "track fits" if self.outliers == 1 else "tracks fit"
            lines.append(f"musicnn: {self.outliers:,} {tracks} no family (left out)")
        return lines


def analysed_or_fail(
    lib: Library, store: ResultStore, model: str, query: Sequence[str]
) -> AnalysedSelection:
    """The analysed items of ``query``; a clear error if there are none.

    Raises
    ------
    beets.ui.UserError
        For an empty library, a query matching nothing, or no analysed item.
    """
    from .catalog import load_analysed

    selection = load_analysed(lib, store, model, query)
    check_matched(selection.matched, query)
    if not len(selection.catalog):
        raise ui.UserError(
            f"musicnn: none of the {selection.matched:,} items is analysed yet "
            f"(by {model}): run `beet musicnn {' '.join(query)}`".rstrip()
        )
    return selection


def make_families(
    lib: Library,
    store: ResultStore,
    model: str,
    query: Sequence[str] = (),
    k: int | None = None,
) -> FamilySet:
    """Cluster and name the analysed items of ``query``.

    Raises
    ------
    beets.ui.UserError
        Without the extra, without analysed items, or with a bad ``k``.
    """
    require_extra("sklearn")
    return families_of(analysed_or_fail(lib, store, model, query), k)


def families_of(selection: AnalysedSelection, k: int | None = None) -> FamilySet:
    """The named families of an :class:`AnalysedSelection`.

    Raises
    ------
    beets.ui.UserError
        With a ``k`` that does not fit the items.
    """
    from . import families
    from .catalog import split_energy

    catalog = selection.catalog
    try:
        partition = families.cluster(selection.vectors, catalog.ids, k)
    except ValueError as exc:
        raise ui.UserError(f"musicnn: cannot make families: {exc}") from None
    found = families.families(
        partition,
        catalog.ids,
        catalog.genre,
        catalog.mood,
        [split_energy(value) for value in catalog.energy],
        catalog.tags,
    )
    return FamilySet(found, partition, selection)


def iter_items(lib: Library, item_ids: Sequence[int]) -> Iterator[Item]:
    """The items of ``item_ids``, in that order, fetched a batch at a time."""
    batch_size = 5000
    for start in range(0, len(item_ids), batch_size):
        batch = list(item_ids[start : start + batch_size])
        fetched = {item.id: item for item in lib.items(InQuery("id", batch))}
        yield from (fetched[i] for i in batch if i in fetched)


def playlist_file_name(name: str) -> str:
    """A family's playlist file: its name, safe on every file system."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "-", name).strip(" .") or "family"
    return f"{safe}.m3u"


def write_family_playlists(
    lib: Library, family_set: FamilySet, folder: str
) -> list[str]:
    """One playlist per family in ``folder``; playlists that an earlier run
    wrote there for families that are gone are removed. Returns the files."""
    fmt = radio.PlaylistFormat.from_config()
    written = []
    for family in family_set.families:
        name = playlist_file_name(family.name)
        radio.write_m3u(
            lib, iter_items(lib, family.item_ids), os.path.join(folder, name), fmt
        )
        written.append(name)
    manifest = os.path.join(folder, MANIFEST)
    try:
        with open(manifest, encoding="utf-8") as previous:
            stale = {line.strip() for line in previous} - set(written) - {""}
    except FileNotFoundError:
        stale = set()
    for name in sorted(stale):
        if os.path.basename(name) == name:  # only files this module wrote
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))
    try:
        with open(manifest, "w", encoding="utf-8") as out:
            out.writelines(f"{name}\n" for name in written)
    except OSError as exc:
        raise ui.UserError(f"musicnn: cannot write {manifest}: {exc}") from None
    return written


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
            FamilyPlaylists(name, tuple(radio.query_parts(entry.get("query") or "")), k)
        )
    return entries


def refresh_family_playlists(plugin: Any, lib: Library) -> list[str]:
    """Rewrite every configured set of family playlists (after a run); one
    line per set. A set that cannot be made is reported, the others written."""
    entries = parse_family_playlists(plugin.config["family_playlists"].get())
    if not entries:
        return []
    lines = []
    model = radio.radio_model(plugin.config)
    for entry in entries:
        folder = os.path.join(radio.playlist_folder(plugin.config), entry.name)
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
            radio.PlaylistFormat.from_config()
        family_set = make_families(
            lib, plugin.store(lib), radio.radio_model(plugin.config), args, opts.k
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
