"""The numbers of the report page, computed in Python and packed compactly.

Everything the page shows is computed in Python, once: the map positions
(:mod:`projection`), each point's nearest tracks (:func:`similarity.
nearest_neighbours`, cosine, as the radio ranks) and the families come in;
counts and histograms are made here. The page's script only draws.

The payload is compact so that 50,000 points stay well under 20 MB: numbers
travel as base64 typed arrays (little-endian), not one object per point;
strings that repeat (artists, albums, labels, tags) as a list of distinct
values and one code per point; strengths and similarities as bytes (1/254
steps, far finer than a colour scale shows).
"""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..labels import fields, moods
from ..sound import similarity
from ..sound.catalog import MOOD_STRENGTHS

if TYPE_CHECKING:
    from ..sound.family_sets import FamilySet

#: Nearest tracks listed for a selected point.
NEIGHBOURS = 10
#: Top tags shown when hovering over a point.
TOP_TAGS = 3
#: Bins of the strength histograms (0..1).
HISTOGRAM_BINS = 20
#: Byte that marks "no value" in quantised arrays.
MISSING = 255
#: Failure reasons listed (the rest are counted as "other").
FAILURE_GROUPS = 20
#: A fixed colour for each listener mood (``musicnn_mood``), on the map and
#: in the moods chart, however many tracks carry it: warm for joyful,
#: cool for calm and sad, red for powerful... Other labels take the
#: palette's colours in order of size, and tracks without a mood are grey.
MOOD_COLOURS: dict[str, str] = {
    "joyful": "#F29E0C",
    "calm": "#3DBFAE",
    "sad": "#2456A6",
    "powerful": "#D7263D",
    "tense": "#7B3FB5",
    "tender": "#F07AB4",
    "nostalgic": "#9C6B30",
}
#: The histograms' axis, by kind of strength.
STRENGTH_AXES = {
    "mood": "mood strength (share of the fitting corpus below)",
    "tag": "calibrated strength (share of the reference below)",
}
#: Bytes of sound vectors the page may hold for its sonic paths (see
#: :func:`path_vectors`): every dimension up to 13,750 tracks of 200-d
#: vectors, the 55 leading ones at 50,000 tracks.
PATH_VECTOR_BYTES = 5_500_000


def pack(values: np.ndarray, dtype: str) -> str:
    """``values`` as base64 of a little-endian array of ``dtype``."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode(
        "ascii"
    )


def quantise(values: np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Values in [low, high] as bytes 0..254; NaN as :data:`MISSING`."""
    values = np.asarray(values, dtype=np.float64)
    scaled = np.rint((np.clip(values, low, high) - low) / (high - low) * 254)
    return np.where(np.isnan(values), MISSING, scaled).astype(np.uint8)


def encode_strings(values: Sequence[str]) -> dict[str, Any]:
    """Repeating strings as ``{"names": distinct sorted, "codes": base64}``."""
    names = sorted(set(values))
    code = {name: i for i, name in enumerate(names)}
    dtype = "<u1" if len(names) < 256 else "<u2" if len(names) < 65536 else "<i4"
    return {
        "names": names,
        "codes": pack(np.array([code[v] for v in values]), dtype),
        "dtype": dtype[1:],
    }


def failure_reason(message: str) -> str:
    """A failure message with what differs between files taken out (paths,
    numbers), so that equal causes group together."""
    reason = re.sub(r"'[^']*[/\\][^']*'|\"[^\"]*[/\\][^\"]*\"", "'…'", message)
    reason = re.sub(r"(?<![\w.])/\S+", "…", reason)
    reason = re.sub(r"\d+", "N", reason)
    return " ".join(reason.split()) or "unknown error"


def counts(values: Sequence[str], empty: str = "(none)") -> list[list[Any]]:
    """``[[value, count], ...]``, most frequent first (ties alphabetical)."""
    counter = Counter(v or empty for v in values)
    return [[v, n] for v, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _strength_kind(name: str) -> str:
    """``"mood"`` for a listener mood's strength, ``"tag"`` for a tag's."""
    return "mood" if name in MOOD_STRENGTHS else "tag"


def _strength_label(name: str) -> str:
    """``joyful (listeners)`` for a listener mood (fitted on what listeners
    felt), ``happy (msd)`` for a tag of a model."""
    if name in MOOD_STRENGTHS:
        return f"{MOOD_STRENGTHS[name]} (listeners)"
    model, _, tag = name[len(fields.PREFIX) :].partition("_")
    return f"{tag.replace('_', ' ')} ({model})"


def _default_strengths(available: Sequence[str]) -> list[str]:
    """The strengths with a histogram, in the order of the menus: the
    listener moods stored, then the default tags stored (every tag stored
    when none of the defaults is)."""
    listener = [name for name in MOOD_STRENGTHS if name in available]
    tags = [name for name in available if name not in MOOD_STRENGTHS]
    defaults = [fields.score_field(m, t) for m, t in fields.DEFAULT_SCORES]
    chosen = [name for name in defaults if name in tags]
    return listener + (chosen or tags)


def path_vectors(
    vectors: np.ndarray, budget: int = PATH_VECTOR_BYTES
) -> dict[str, Any]:
    """The sound vectors of the page's sonic paths, compact.

    The page computes a path between any two tracks with the algorithm of
    ``beet musicnn-path`` (:mod:`..sound.paths`, ported to ``report.js``), so it
    needs every track's vector. They are turned onto their principal axes
    (an orthogonal rotation: dot products, hence the path, unchanged),
    then stored as 16-bit integers, one scale per axis (a step of 1/32,767
    of the axis's largest value). Only if all the axes would exceed
    ``budget`` bytes are the trailing ones (least variance) left out: MusicNN
    embeddings are nearly low-dimensional (the 50 leading axes of the
    emotify recordings' 3-second windows hold 99.7 % of their variance), and
    the page then says its path may differ from the command's by a track.

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        The radio's unit vectors.
    budget : int
        Largest size of the integers, in bytes.

    Returns
    -------
    dict
        ``dims`` (axes kept), ``full_dims`` (d), ``scale`` (one float per
        axis) and ``codes`` (n x dims little-endian int16, base64). The page
        multiplies each code by its axis's scale and scales each row back to
        unit length.
    """
    data = np.asarray(vectors, dtype=np.float64)
    n, d = data.shape
    dims = int(min(d, max(budget // max(2 * n, 1), 1)))
    # Principal axes from the d x d scatter matrix: cheap for any n.
    values, axes = np.linalg.eigh(data.T @ data)
    axes = axes[:, np.argsort(-values, kind="stable")[:dims]]
    # Each axis's sign fixed (largest entry positive): the same library
    # gives the same page.
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(dims)] < 0, -1.0, 1.0)
    turned = data @ axes
    largest = np.abs(turned).max(axis=0) if n else np.zeros(dims)
    scale = np.where(largest > 0, largest / 32767, 1.0)
    codes = np.rint(turned / scale).astype("<i2")
    return {
        "dims": dims,
        "full_dims": d,
        "scale": scale.tolist(),
        "codes": pack(codes, "<i2"),
    }


def default_path_count() -> int:
    """Tracks in the page's paths unless the reader picks another number:
    ``beet musicnn-path``'s default."""
    from ..sound.sonic_path import DEFAULT_COUNT

    return DEFAULT_COUNT


def pool_settings() -> dict[str, int]:
    """How many stepping stones a path considers (:func:`paths.pool_size`),
    so that the page and the command consider the same."""
    from ..sound import paths

    return {
        "per_track": paths.POOL_PER_TRACK,
        "min": paths.MIN_POOL,
        "max": paths.MAX_POOL,
    }


def build(
    family_set: FamilySet,
    positions: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray],
    *,
    model: str,
    query: str = "",
    title: str = "your library",
    library: str = "",
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The report's payload (JSON-ready) for a :class:`FamilySet`.

    Parameters
    ----------
    family_set : FamilySet
        The analysed items, their vectors and families.
    positions : np.ndarray, shape (n, 2)
        The map (:func:`projection.project`), by row of the catalog.
    neighbours : (np.ndarray, np.ndarray), shapes (n, k)
        Each row's nearest rows and their similarities
        (:func:`similarity.nearest_neighbours`).
    model : str
        The model whose embeddings place the points.
    query : str
        The beets query of the report, shell-quoted (``""``: all items).
    title : str
        Shown at the top of the page.
    library : str
        The library database's path, shown under the title.
    timings : dict, optional
        Seconds of the stages, kept in the payload.
    """
    selection = family_set.selection
    catalog = selection.catalog
    neighbour_rows, neighbour_similarity = neighbours
    defaults = _default_strengths(list(catalog.strengths))
    ordered = defaults + [name for name in catalog.strengths if name not in defaults]
    return {
        "title": title,
        "library": library,
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "model": model,
        "query": query,
        "n": len(catalog),
        "ids": pack(catalog.ids, "<i4"),
        "x": pack(positions[:, 0], "<f4"),
        "y": pack(positions[:, 1], "<f4"),
        "title_text": catalog.title,
        "artist": encode_strings(catalog.artist),
        "album": encode_strings(catalog.album),
        "categories": _categories(family_set),
        "tags": _top_tags(catalog.tags),
        "strengths": [
            {
                "field": name,
                "label": _strength_label(name),
                "kind": _strength_kind(name),
                # the mood's own name (``joyful``) for a listener mood
                "name": MOOD_STRENGTHS.get(name, ""),
                "values": pack(quantise(catalog.strengths[name]), "<u1"),
            }
            for name in ordered
        ],
        "neighbours": {
            "k": int(neighbour_rows.shape[1]),
            "rows": pack(neighbour_rows, "<i4"),
            "similarity": pack(quantise(neighbour_similarity, -1.0, 1.0), "<u1"),
            # nearest first: the related ones are each row's first ones
            "related": similarity.RELATED,
            "related_count": pack(
                (neighbour_similarity >= similarity.RELATED).sum(axis=1), "<u1"
            ),
        },
        "families": _family_entries(family_set, positions),
        "family_note": family_set.note,
        "outliers": family_set.outliers,
        "misfits": family_set.misfits,
        "charts": _charts(family_set, defaults),
        # -n of the command is the number of related neighbours listed
        "similar_command": {"where": query},
        "path": {
            **path_vectors(selection.vectors),
            "count": default_path_count(),
            "pool": pool_settings(),
            "where": query,
        },
        "timings": {name: round(value, 2) for name, value in (timings or {}).items()},
    }


def _categories(family_set: FamilySet) -> dict[str, Any]:
    """The labels a point can be coloured by, each a code per point."""
    catalog = family_set.selection.catalog
    mood = encode_strings(catalog.mood)
    return {
        "genre": encode_strings(catalog.genre),
        "mood": {
            **mood,
            "colours": {
                name: colour
                for name, colour in MOOD_COLOURS.items()
                if name in mood["names"]
            },
        },
        "energy": encode_strings(catalog.energy),
        "family": {
            "names": [family.name for family in family_set.families],
            "codes": pack(family_set.partition.labels, "<i2"),
            "dtype": "i2",
        },
    }


def _top_tags(tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Each point's first :data:`TOP_TAGS` tags as codes into one name list
    (65535: no tag)."""
    names = sorted({tag for item_tags in tags for tag in item_tags[:TOP_TAGS]})
    code = {tag: i for i, tag in enumerate(names)}
    top = np.full((len(tags), TOP_TAGS), 65535, dtype=np.uint16)
    for row, item_tags in enumerate(tags):
        for j, tag in enumerate(item_tags[:TOP_TAGS]):
            top[row, j] = code[tag]
    return {"names": names, "codes": pack(top, "<u2"), "per_item": TOP_TAGS}


def _family_entries(
    family_set: FamilySet, positions: np.ndarray
) -> list[dict[str, Any]]:
    """Each family's name, size and place on the map (its members' median)."""
    labels = family_set.partition.labels
    entries = []
    for number, family in enumerate(family_set.families):
        members = labels == number
        entries.append(
            {
                "name": family.name,
                "size": len(family.item_ids),
                "x": round(float(np.median(positions[members, 0])), 4),
                "y": round(float(np.median(positions[members, 1])), 4),
            }
        )
    return entries


def _charts(family_set: FamilySet, histogram_fields: Sequence[str]) -> dict[str, Any]:
    """The charts' numbers: label counts, strength histograms, coverage and
    the reasons of failures."""
    selection = family_set.selection
    catalog = selection.catalog
    failed = selection.failed
    bins = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    return {
        "genre": counts(catalog.genre),
        "mood": _mood_counts(catalog),
        "mood_colours": MOOD_COLOURS,
        "energy": counts(catalog.energy) if any(catalog.energy) else [],
        "histograms": [
            _histogram(name, catalog.strengths[name], bins) for name in histogram_fields
        ],
        "bins": bins.round(3).tolist(),
        "coverage": {
            "analysed": len(catalog),
            "failed": len(failed),
            "not_analysed": selection.not_analysed - len(failed),
        },
        "failures": [list(group) for group in _failure_groups(failed.error)],
    }


def _mood_counts(catalog) -> list[list[Any]]:
    """:func:`counts` of ``musicnn_mood``; where the library has the
    listener moods' strengths, each of the seven moods listed, with 0
    tracks if none is called so."""
    rows = counts(catalog.mood)
    if any(name in MOOD_STRENGTHS for name in catalog.strengths):
        named = {row[0] for row in rows}
        rows += [[mood, 0] for mood in moods.LISTENER_MOODS if mood not in named]
    return rows


def _histogram(name: str, values: np.ndarray, bins: np.ndarray) -> dict[str, Any]:
    values = values[~np.isnan(values)]
    return {
        "field": name,
        "label": _strength_label(name),
        "axis": STRENGTH_AXES[_strength_kind(name)],
        "counts": np.histogram(np.clip(values, 0, 1), bins)[0].tolist(),
    }


def _failure_groups(errors: Sequence[str]) -> list[tuple[str, int]]:
    """Failures counted by :func:`failure_reason`, most frequent first; past
    :data:`FAILURE_GROUPS` the rest as ``other reasons``."""
    reasons = Counter(failure_reason(message) for message in errors)
    groups = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(groups) > FAILURE_GROUPS:
        rest = sum(count for _, count in groups[FAILURE_GROUPS:])
        groups = [*groups[:FAILURE_GROUPS], ("other reasons", rest)]
    return groups
