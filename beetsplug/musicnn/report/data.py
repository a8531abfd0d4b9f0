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

from ..labels import fields

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


def _strength_label(name: str) -> str:
    model, _, tag = name[len(fields.PREFIX) :].partition("_")
    return f"{tag.replace('_', ' ')} ({model})"


def _default_strengths(available: Sequence[str]) -> list[str]:
    defaults = [fields.score_field(m, t) for m, t in fields.DEFAULT_SCORES]
    chosen = [name for name in defaults if name in available]
    return chosen or list(available)


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
    n = len(catalog)
    neighbour_rows, neighbour_similarity = neighbours

    tag_names = sorted({tag for tags in catalog.tags for tag in tags[:TOP_TAGS]})
    tag_code = {tag: i for i, tag in enumerate(tag_names)}
    top_tags = np.full((n, TOP_TAGS), 65535, dtype=np.uint16)
    for row, tags in enumerate(catalog.tags):
        for j, tag in enumerate(tags[:TOP_TAGS]):
            top_tags[row, j] = tag_code[tag]

    labels = family_set.partition.labels
    family_entries = []
    for number, family in enumerate(family_set.families):
        members = labels == number
        family_entries.append(
            {
                "name": family.name,
                "size": len(family.item_ids),
                "x": round(float(np.median(positions[members, 0])), 4),
                "y": round(float(np.median(positions[members, 1])), 4),
            }
        )
    strength_names = list(catalog.strengths)
    defaults = _default_strengths(strength_names)
    ordered = defaults + [name for name in strength_names if name not in defaults]

    failed = selection.failed
    reasons = Counter(failure_reason(message) for message in failed.error)
    failure_groups = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(failure_groups) > FAILURE_GROUPS:
        rest = sum(count for _, count in failure_groups[FAILURE_GROUPS:])
        failure_groups = [*failure_groups[:FAILURE_GROUPS], ("other reasons", rest)]

    bins = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    histograms = []
    for name in defaults:
        values = catalog.strengths[name]
        values = values[~np.isnan(values)]
        histograms.append(
            {
                "field": name,
                "label": _strength_label(name),
                "counts": np.histogram(np.clip(values, 0, 1), bins)[0].tolist(),
            }
        )

    return {
        "title": title,
        "library": library,
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "model": model,
        "query": query,
        "n": n,
        "ids": pack(catalog.ids, "<i4"),
        "x": pack(positions[:, 0], "<f4"),
        "y": pack(positions[:, 1], "<f4"),
        "title_text": catalog.title,
        "artist": encode_strings(catalog.artist),
        "album": encode_strings(catalog.album),
        "categories": {
            "genre": encode_strings(catalog.genre),
            "mood": encode_strings(catalog.mood),
            "energy": encode_strings(catalog.energy),
            "family": {
                "names": [family.name for family in family_set.families],
                "codes": pack(labels, "<i2"),
                "dtype": "i2",
            },
        },
        "tags": {
            "names": tag_names,
            "codes": pack(top_tags, "<u2"),
            "per_item": TOP_TAGS,
        },
        "strengths": [
            {
                "field": name,
                "label": _strength_label(name),
                "values": pack(quantise(catalog.strengths[name]), "<u1"),
            }
            for name in ordered
        ],
        "neighbours": {
            "k": int(neighbour_rows.shape[1]),
            "rows": pack(neighbour_rows, "<i4"),
            "similarity": pack(quantise(neighbour_similarity, -1.0, 1.0), "<u1"),
        },
        "families": family_entries,
        "outliers": family_set.outliers,
        "charts": {
            "genre": counts(catalog.genre),
            "mood": counts(catalog.mood),
            "energy": counts(catalog.energy) if any(catalog.energy) else [],
            "histograms": histograms,
            "bins": bins.round(3).tolist(),
            "coverage": {
                "analysed": n,
                "failed": len(failed),
                "not_analysed": selection.not_analysed - len(failed),
            },
            "failures": [list(group) for group in failure_groups],
        },
        "similar_command": {
            "count": NEIGHBOURS,
            "where": query,
        },
        "timings": {name: round(value, 2) for name, value in (timings or {}).items()},
    }
