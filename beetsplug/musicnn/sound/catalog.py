"""What the report and the families need to know of each library item.

One streaming pass over beets' tables (``items`` and the flexible
``item_attributes``) in pages of ids, so reading 50,000 items costs about a
second and holds no beets ``Item`` object: artist, title, album, the
``musicnn_`` labels (genre, mood, energy, tags), the error of a failed
analysis and every stored strength field (:func:`is_strength`: the seven
listener moods' and the tags'). Items are chosen with a beets
query as ``beet ls`` parses it.

Labels are read through :mod:`fields`' names, and an empty label is
"unknown", never a category of its own: moods abstain when unsure, and a
library analysed by an older version has no energy field at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..labels import fields
from ..library.selection import iter_pages, parse_query

if TYPE_CHECKING:
    from beets.library import Library

#: The energy label ("loud", "quiet", "fast", "slow"), where the fields
#: module defines it; older libraries simply lack the field.
ENERGY_FIELD = getattr(fields, "ENERGY_FIELD", f"{fields.PREFIX}energy")
#: Label fields, read as strings.
LABEL_FIELDS = (fields.GENRE_FIELD, fields.MOOD_FIELD, ENERGY_FIELD, fields.TAGS_FIELD)
#: Ids per SQL query (below SQLite's parameter limit).
_PAGE = 5000
#: A tag's strength field: ``musicnn_<model>_<tag slug>``.
_TAG_STRENGTH = re.compile(rf"^{fields.PREFIX}(?:msd|mtt)_[0-9a-z_]+$")
#: The listener moods' strength fields (``musicnn_mood_joyful``...), field
#: name -> mood, in :data:`fields.MOOD_STRENGTH_FIELDS`' order.
MOOD_STRENGTHS: dict[str, str] = {
    name: mood for mood, name in fields.MOOD_STRENGTH_FIELDS.items()
}


def is_strength(name: str) -> bool:
    """Whether the field ``name`` holds a strength (0..1): a listener mood's
    (:data:`MOOD_STRENGTHS`) or a tag's (``musicnn_msd_happy``)."""
    return name in MOOD_STRENGTHS or bool(_TAG_STRENGTH.match(name))


def strength_order(name: str) -> tuple[int, str]:
    """Sort key of strength fields: the listener moods first, in their
    order, then the tags' by name."""
    moods = list(MOOD_STRENGTHS)
    return (moods.index(name), "") if name in MOOD_STRENGTHS else (len(moods), name)


@dataclass
class Catalog:
    """Labels and text of some library items, as parallel lists by item id.

    Attributes
    ----------
    ids : np.ndarray, int64, ascending
    artist, title, album : list of str
    genre, mood, energy : list of str
        ``""`` where the item has no such label.
    tags : list of list of str
        ``musicnn_tags`` split, strongest first.
    error : list of str
        ``musicnn_error``: why the item's last analysis failed, or ``""``.
    strengths : dict of field name -> np.ndarray, float32
        Every stored strength field (:func:`is_strength`), NaN where an item
        has none; the listener moods first (:func:`strength_order`).
    """

    ids: np.ndarray
    artist: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    album: list[str] = field(default_factory=list)
    genre: list[str] = field(default_factory=list)
    mood: list[str] = field(default_factory=list)
    energy: list[str] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    strengths: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: np.ndarray) -> Catalog:
        """The catalog of the items at ``rows`` (ascending)."""
        pick = rows.tolist()
        return Catalog(
            ids=self.ids[rows],
            **{
                name: [getattr(self, name)[i] for i in pick]
                for name in (
                    "artist",
                    "title",
                    "album",
                    "genre",
                    "mood",
                    "energy",
                    "tags",
                    "error",
                )
            },
            strengths={name: values[rows] for name, values in self.strengths.items()},
        )


def matching_ids(lib: Library, query: Sequence[str]) -> np.ndarray:
    """Ids of the items matching ``query`` (every item without one), ascending.

    Raises
    ------
    beets.dbcore.query.InvalidQueryError
        For a query beets cannot parse.
    """
    if not query:
        with lib.transaction() as tx:
            rows = tx.query("SELECT id FROM items ORDER BY id")
        return np.array([row[0] for row in rows], dtype=np.int64)
    parse_query(lib, query)  # a bad query fails before any work
    ids: list[int] = []
    for _, items in iter_pages(lib, query):
        ids.extend(item.id for item in items)
    return np.array(ids, dtype=np.int64)


def read_catalog(lib: Library, item_ids: np.ndarray) -> Catalog:
    """The :class:`Catalog` of the items ``item_ids`` (ascending)."""
    ids = np.asarray(item_ids, dtype=np.int64)
    catalog = Catalog(ids=ids)
    n = len(ids)
    text = {name: [""] * n for name in ("artist", "title", "album")}
    labels = {name: [""] * n for name in (*LABEL_FIELDS, fields.ERROR_FIELD)}
    strengths: dict[str, np.ndarray] = {}
    position = {int(item_id): row for row, item_id in enumerate(ids.tolist())}
    with lib.transaction() as tx:
        for start in range(0, n, _PAGE):
            page = ids[start : start + _PAGE].tolist()
            marks = ",".join("?" * len(page))
            for item_id, artist, title, album in tx.query(
                f"SELECT id, artist, title, album FROM items WHERE id IN ({marks})",
                page,
            ):
                row = position[item_id]
                text["artist"][row] = artist or ""
                text["title"][row] = title or ""
                text["album"][row] = album or ""
            for item_id, key, value in tx.query(
                "SELECT entity_id, key, value FROM item_attributes "
                f"WHERE entity_id IN ({marks}) AND key LIKE 'musicnn^_%' ESCAPE '^'",
                page,
            ):
                row = position[item_id]
                if key in labels:
                    labels[key][row] = str(value or "").strip()
                elif is_strength(key):
                    try:
                        number = float(value)
                    except (TypeError, ValueError):
                        continue  # a hand-edited field: not a strength
                    if key not in strengths:
                        strengths[key] = np.full(n, np.nan, dtype=np.float32)
                    strengths[key][row] = number
    catalog.artist, catalog.title, catalog.album = (
        text["artist"],
        text["title"],
        text["album"],
    )
    catalog.genre = labels[fields.GENRE_FIELD]
    catalog.mood = labels[fields.MOOD_FIELD]
    catalog.energy = labels[ENERGY_FIELD]
    catalog.tags = [split_tags(value) for value in labels[fields.TAGS_FIELD]]
    catalog.error = labels[fields.ERROR_FIELD]
    catalog.strengths = {
        name: strengths[name] for name in sorted(strengths, key=strength_order)
    }
    return catalog


def split_tags(value: str) -> list[str]:
    """``musicnn_tags`` as a list (``"rock; guitar"`` -> ``["rock", "guitar"]``)."""
    return [
        tag.strip() for tag in value.split(fields.TAGS_SEPARATOR.strip()) if tag.strip()
    ]


def split_energy(value: str) -> list[str]:
    """Energy words of one item: the field may hold one (``"loud"``) or
    several (``"loud, fast"``, ``"loud; fast"``)."""
    return [word for word in re.split(r"[;,/\s]+", value.lower()) if word]


@dataclass
class AnalysedSelection:
    """The items of a query that have an embedding, with their labels.

    Attributes
    ----------
    vectors : np.ndarray, shape (n, d), float32
        The radio's unit vectors (centred, scaled), by row of ``catalog``.
    catalog : Catalog
        The analysed items, ascending ids.
    matched : int
        Items the query matched, analysed or not.
    failed : Catalog
        The matched items without an embedding whose last analysis failed.
    not_analysed : int
        Matched items without an embedding (failed ones included).
    """

    vectors: np.ndarray
    catalog: Catalog
    matched: int
    failed: Catalog
    not_analysed: int


def load_analysed(
    lib: Library, store, model: str, query: Sequence[str]
) -> AnalysedSelection:
    """What the report and the families work on: the items matching
    ``query``, split into those with an embedding of ``model`` and the others.

    Raises
    ------
    beets.ui.UserError
        For a bad query.
    """
    from beets.dbcore.query import InvalidQueryError
    from beets.ui import UserError

    from .radio import open_index

    try:
        ids = matching_ids(lib, query)
    except InvalidQueryError as exc:
        raise UserError(f"musicnn: bad query: {exc}") from None
    index = open_index(store, model)
    rows = index.rows_of(ids) if len(index) else np.empty(0, dtype=np.int64)
    analysed_ids = np.asarray(index.ids[rows], dtype=np.int64)
    vectors = np.asarray(index.vectors[rows], dtype=np.float32)
    others = np.setdiff1d(ids, analysed_ids, assume_unique=True)
    rest = read_catalog(lib, others)
    failed = rest.subset(np.flatnonzero([bool(e) for e in rest.error]))
    return AnalysedSelection(
        vectors=vectors,
        catalog=read_catalog(lib, analysed_ids),
        matched=len(ids),
        failed=failed,
        not_analysed=len(others),
    )
