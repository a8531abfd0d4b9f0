"""Families of a beets query: sound-alike groups of tracks, and their playlists.

beets side of :mod:`families`: the items come from a beets query, their
vectors from the radio's embedding index, their labels from
:mod:`catalog`; playlists are written with :mod:`playlists`, so
smartplaylist's path settings (``relative_to``, ``prefix``, ``output``...)
apply.

scikit-learn (the ``report`` extra) is imported only when families are made.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from beets import ui

from ..library.matching import check_matched
from ..library.selection import items_by_id
from .playlists import PlaylistFormat, write_m3u

if TYPE_CHECKING:
    from beets.library import Library

    from ..library.store import ResultStore
    from .catalog import AnalysedSelection
    from .families import Family, Partition

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
    #: Why there are no families (too few tracks), or ``""``.
    note: str = ""

    @property
    def outliers(self) -> int:
        """Tracks in no family (those of :attr:`misfits` included)."""
        return 0 if self.note else int((self.partition.labels < 0).sum())

    @property
    def misfits(self) -> int:
        """Tracks out of their family because they contradict its name."""
        return self.partition.misfits

    def warnings(self) -> list[str]:
        """Items of the query that are in no family, and why."""
        lines = []
        if self.selection.not_analysed:
            lines.append(
                f"musicnn: {self.selection.not_analysed:,} of "
                f"{self.selection.matched:,} items not analysed yet (left out): "
                "run `beet musicnn`"
            )
        if self.note:
            lines.append(f"musicnn: no families: {self.note}")
        elif self.outliers:
            tracks = "track fits" if self.outliers == 1 else "tracks fit"
            why = (
                f" ({self.misfits:,} contradict the name of their family)"
                if self.misfits
                else ""
            )
            lines.append(
                f"musicnn: {self.outliers:,} {tracks} no family{why} (left out)"
            )
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

    Too few tracks for automatic families give none, and a
    :attr:`FamilySet.note` that says so.

    Raises
    ------
    beets.ui.UserError
        With a ``k`` that does not fit the items.
    """
    import numpy as np

    from . import families
    from .catalog import split_energy

    catalog = selection.catalog
    try:
        partition = families.cluster(selection.vectors, catalog.ids, k)
    except families.TooFewTracks as exc:
        n = len(catalog)
        nobody = families.Partition(
            np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float32), 0, {}
        )
        return FamilySet([], nobody, selection, note=str(exc))
    except ValueError as exc:
        raise ui.UserError(f"musicnn: cannot make families: {exc}") from None
    partition, found = families.families(
        partition,
        catalog.ids,
        catalog.genre,
        catalog.mood,
        [split_energy(value) for value in catalog.energy],
        catalog.tags,
    )
    return FamilySet(found, partition, selection)


def playlist_file_name(name: str) -> str:
    """A family's playlist file: its name, safe on every file system."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "-", name).strip(" .") or "family"
    return f"{safe}.m3u"


def write_family_playlists(
    lib: Library, family_set: FamilySet, folder: str
) -> list[str]:
    """One playlist per family in ``folder``; playlists that an earlier run
    wrote there for families that are gone are removed. Returns the files."""
    fmt = PlaylistFormat.from_config()
    written = []
    for family in family_set.families:
        name = playlist_file_name(family.name)
        write_m3u(
            lib, items_by_id(lib, family.item_ids), os.path.join(folder, name), fmt
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
