"""Sonic paths: from one track to another through the library's own tracks.

Pure NumPy, no beets: the numeric core of ``beet musicnn-path``, ported
line for line to the report's script (``report.js``, ``sonicPath``), so the
page draws the path the command lists. Vectors are the radio's unit vectors
(:func:`similarity.normalize`: centred on the library's mean, unit length);
the distance of two tracks is the Euclidean distance of their vectors,
``sqrt(2 - 2 * cosine)``, 0 for the same sound and 1.41 for unrelated ones.

A path goes in two stages.

1. **Stepping stones** (:func:`locate`, :func:`stone_scores`). Every track
   is placed against the great circle through FROM and TO: its *progress*,
   the angle of its projection on the plane of FROM and TO, from FROM, as a
   share of the angle from FROM to TO (0 at FROM, 1 at TO), and how *far*
   it lies off that plane. Only tracks strictly *between* (progress in
   (0, 1), and nearer to each end than the ends are to each other) can be
   on the path; of those, the ones nearest the plane come first, and the
   first :func:`pool_size` of them are the stepping stones. A track's score
   depends on that track alone, so filtering tracks out (``--where``, the
   report's query) never changes the order of the others: the command and
   the page choose the same stones from the same tracks.
2. **The path** (:func:`find_path`): a dynamic programme over the stones.
   A step may only go towards TO (to a track more similar to TO than the
   one before), and never be longer than the direct jump from FROM to TO.
   Among the paths of exactly ``count`` tracks, it takes one whose
   *largest* step is the smallest possible, and among those, the one with
   the smallest sum of squared steps (which spreads the way evenly over the
   steps). Both are exact
   (two layered programmes, ``count * stones**2`` each). When no path of
   ``count`` tracks fits those rules (FROM and TO so alike that few tracks
   lie between), the longest one that does is returned.

Why this design, and what it was measured against (the straight-line
baseline, random order, greedy walks): ``docs/radio.md``, from
``corpora/eval_paths.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Stepping stones per track of the path, and at least :data:`MIN_POOL`:
#: more made no path measurably smoother (``corpora/eval_paths.py``), and the
#: programme costs ``count * stones**2``.
POOL_PER_TRACK = 25
MIN_POOL = 300
#: Largest pool: bounds the time of long paths (``-n 200``).
MAX_POOL = 1000


@dataclass(frozen=True)
class Placement:
    """Where tracks lie between FROM and TO (:func:`locate`).

    Attributes
    ----------
    progress : np.ndarray, float64
        Angle of the track's projection on the plane of FROM and TO, from
        FROM towards TO, as a share of the angle from FROM to TO.
    off : np.ndarray, float64
        Distance of the track's direction from that plane: ``sqrt(1 - p)``,
        ``p`` the squared length of its projection; 0 on the great circle
        through FROM and TO.
    between : np.ndarray, bool
        Progress strictly between 0 and 1 and cosine similarity to each end
        above the ends' similarity to each other: the track may be on a path.
    """

    progress: np.ndarray
    off: np.ndarray
    between: np.ndarray


def pool_size(count: int) -> int:
    """How many stepping stones a path of ``count`` tracks considers."""
    return int(min(max(POOL_PER_TRACK * count, MIN_POOL), MAX_POOL))


def locate(
    sim_from: np.ndarray, sim_to: np.ndarray, ends_similarity: float
) -> Placement:
    """Place tracks against FROM and TO from their similarities to them.

    Parameters
    ----------
    sim_from, sim_to : np.ndarray, shape (n,)
        Cosine similarity of each track (a unit vector) to FROM and to TO.
    ends_similarity : float
        Cosine similarity of FROM and TO.

    Returns
    -------
    Placement

    Notes
    -----
    With ``c`` the ends' similarity and ``s = sqrt(1 - c**2)``, a track's
    projection on the plane of FROM and TO has the coordinates
    ``(sim_from, (sim_to - c * sim_from) / s)`` in the orthonormal basis
    (FROM, the part of TO orthogonal to FROM): nothing but the two
    similarities is needed, so one pass over the library (two dot products
    per track) places every track.
    """
    a = np.asarray(sim_from, dtype=np.float64)
    b = np.asarray(sim_to, dtype=np.float64)
    c = float(np.clip(ends_similarity, -1.0, 1.0))
    sine = np.sqrt(max(1.0 - c * c, 0.0))
    angle = np.arccos(c)
    if sine < 1e-9:  # FROM and TO sound the same: nothing lies between
        nothing = np.zeros(len(a), dtype=bool)
        return Placement(np.zeros(len(a)), np.ones(len(a)), nothing)
    across = (b - c * a) / sine
    progress = np.arctan2(across, a) / angle
    off = np.sqrt(np.clip(1.0 - a * a - across * across, 0.0, None))
    between = (progress > 0) & (progress < 1) & (a > c) & (b > c)
    return Placement(progress, off, between)


def stone_scores(placement: Placement) -> np.ndarray:
    """Scores that rank the stepping stones, best first.

    Returns
    -------
    np.ndarray, float64
        ``-off`` for the tracks between FROM and TO, ``-inf`` for the
        others (never stones): :func:`similarity.ranked` walks them best
        first, lazily.
    """
    return np.where(placement.between, -placement.off, -np.inf)


def find_path(vectors: np.ndarray, count: int) -> list[int]:
    """The smoothest path of ``count`` tracks from row 0 to row 1.

    Parameters
    ----------
    vectors : np.ndarray, shape (m, d)
        Unit vectors: row 0 is FROM, row 1 is TO, the other rows the
        stepping stones (any order; ties are broken by row).
    count : int
        Tracks in the path, FROM and TO included; at least 2.

    Returns
    -------
    list of int
        Row numbers: 0 first, 1 last, each row at most once, in playing
        order. Fewer than ``count`` when no path of ``count`` tracks
        keeps every step towards TO and no longer than the direct jump.

    Raises
    ------
    ValueError
        If ``count`` is below 2.

    Notes
    -----
    Per-artist and per-album caps are not its business: the command
    chooses the stones within the caps (at most so many of one artist among
    FROM, TO and the stones), so that every path through them keeps them.
    """
    if count < 2:
        raise ValueError(f"a path has at least 2 tracks, not {count}")
    distance, forwards = step_graph(np.asarray(vectors, dtype=np.float64))
    return _plan(distance, forwards & (distance <= distance[0, 1]), count)


def step_graph(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances between all rows, and which steps go towards TO.

    Parameters
    ----------
    data : np.ndarray, shape (m, d), float64
        Unit vectors, FROM in row 0, TO in row 1.

    Returns
    -------
    distance : np.ndarray, shape (m, m)
        Euclidean distance of the unit vectors.
    forwards : np.ndarray, shape (m, m), bool
        ``forwards[i, j]``: row ``j`` is more similar to TO than row ``i``
        (no step leaves TO or enters FROM).
    """
    gram = data @ data.T
    distance = np.sqrt(np.clip(2.0 - 2.0 * gram, 0.0, None))
    to_end = gram[1]
    forwards = to_end[None, :] > to_end[:, None]
    forwards[1, :] = False
    forwards[:, 0] = False
    return distance, forwards


def _plan(distance: np.ndarray, allowed: np.ndarray, count: int) -> list[int]:
    """The path of :func:`find_path` on a graph of allowed steps.

    First the smallest largest step over paths of exactly ``k`` steps, for
    every ``k`` up to ``count - 1`` (a bottleneck programme); the longest
    feasible ``k`` is kept; then, using only steps no longer than that
    bottleneck, the path of ``k`` steps with the smallest sum of squares.
    """
    m = len(distance)
    blocked = np.where(allowed, distance, np.inf)
    worst = np.full(m, np.inf)
    worst[0] = 0.0
    bottleneck, steps = np.inf, 0
    for k in range(1, count):
        worst = np.maximum(worst[:, None], blocked).min(axis=0)
        if np.isfinite(worst[1]):
            bottleneck, steps = worst[1], k
    if steps == 0:  # not even the direct jump (it is always allowed)
        return [0, 1]
    squares = np.where(allowed & (distance <= bottleneck), distance**2, np.inf)
    total = np.full(m, np.inf)
    total[0] = 0.0
    came_from = np.empty((steps, m), dtype=np.int64)
    for k in range(steps):
        through = total[:, None] + squares
        came_from[k] = np.argmin(through, axis=0)
        total = through[came_from[k], np.arange(m)]
    path = [1]
    for k in range(steps - 1, -1, -1):
        path.append(int(came_from[k, path[-1]]))
    return path[::-1]


def step_lengths(vectors: np.ndarray) -> np.ndarray:
    """Distances between consecutive rows (the steps of a path).

    Parameters
    ----------
    vectors : np.ndarray, shape (k, d)
        Unit vectors of the tracks in playing order.

    Returns
    -------
    np.ndarray, shape (k - 1,), float64
    """
    data = np.asarray(vectors, dtype=np.float64)
    return np.linalg.norm(np.diff(data, axis=0), axis=1)
