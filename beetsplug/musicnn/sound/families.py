"""Families: the library's embeddings clustered into named groups of
sound-alike tracks.

Pure computation (NumPy, scikit-learn imported when called); the beets side
is :mod:`family_commands`. The method, and why (figures in
``docs/report.md``):

1. The unit vectors of the radio (centred, so cosine is a dot product) are
   reduced to :data:`REDUCED_DIMENSIONS` principal components: k-means on 32
   dimensions is several times faster than on 200 and finds the same groups.
2. Unless the caller says how many, the number of families is the one with
   the best silhouette, from :data:`MIN_FAMILIES` to :data:`MAX_FAMILIES`
   (fewer for a small library: every family needs :data:`MIN_FAMILY_SIZE`
   tracks), scored on a sample of at most :data:`SAMPLE_SIZE` items.
3. k-means (k-means++ with a fixed seed, several starts) on every item.
4. Tracks that fit nowhere stay out: those much farther from their family's
   centre than the family's own members are (:data:`OUTLIER_Z`).
5. Families are numbered by size, each lists its tracks nearest the centre
   first, and is named from the labels its tracks share most
   (:func:`name_families`).

Determinism: rows are put in item-id order before anything else, the sample
is chosen by a hash of the ids, and every random step has a fixed seed, so
the same library gives the same families and names on every run, whatever
order its items came in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Dimensions kept before clustering.
REDUCED_DIMENSIONS = 32
#: Range searched for the number of families.
MIN_FAMILIES = 3
MAX_FAMILIES = 16
#: A family smaller than this is not worth a playlist.
MIN_FAMILY_SIZE = 3
#: Items used to choose the number of families.
SAMPLE_SIZE = 4000
#: A track whose distance to its family's centre exceeds the family's mean
#: distance by this many standard deviations stays out of every family.
OUTLIER_Z = 2.5
#: Starts of k-means (the best is kept).
N_INIT = 4
SEED = 0

#: Shares of a family's tracks a label needs to enter its name.
MOOD_SHARE = 0.35
ENERGY_SHARE = 0.4
#: Order of energy words in a name ("Loud Fast Metal").
ENERGY_ORDER = ("loud", "quiet", "soft", "fast", "slow")


@dataclass(frozen=True)
class Family:
    """One family of sound-alike tracks."""

    name: str
    #: Item ids, nearest the family's centre first.
    item_ids: tuple[int, ...]


@dataclass(frozen=True)
class Partition:
    """The result of :func:`cluster`, by row of the input."""

    #: Family number of each row (0 = the largest), -1 for an outlier.
    labels: np.ndarray
    #: Similarity (dot product of unit vectors) of each row to its family's
    #: centre.
    closeness: np.ndarray
    #: Number of families.
    k: int
    #: Silhouette of each number of families tried (empty if k was given).
    silhouettes: dict[int, float]


def family_range(n_items: int) -> range:
    """Numbers of families worth trying for ``n_items`` tracks."""
    largest = min(MAX_FAMILIES, n_items // MIN_FAMILY_SIZE)
    return range(min(MIN_FAMILIES, max(largest, 1)), max(largest, 1) + 1)


def import_libraries() -> None:
    """Import scikit-learn's parts used here now (see
    :func:`projection.import_libraries`)."""
    import sklearn.cluster
    import sklearn.decomposition
    import sklearn.metrics  # noqa: F401


def check_size(n_items: int, k: int | None = None) -> None:
    """Raise ``ValueError`` if ``n_items`` cannot make (``k``) families."""
    if n_items < MIN_FAMILY_SIZE:
        raise ValueError(
            f"{n_items} analysed items: families need at least {MIN_FAMILY_SIZE}"
        )
    if k is not None and not 1 <= k <= n_items // MIN_FAMILY_SIZE:
        raise ValueError(
            f"{k} families of {n_items} items: at most "
            f"{n_items // MIN_FAMILY_SIZE} (each needs {MIN_FAMILY_SIZE} tracks)"
        )


def cluster(vectors: np.ndarray, ids: np.ndarray, k: int | None = None) -> Partition:
    """Cluster unit vectors into families.

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        Unit vectors (:func:`similarity.normalize`), one per item.
    ids : np.ndarray, shape (n,)
        The items' ids: they only order equal vectors. Rows are put in an
        order of their content first, so the result depends neither on the
        order of the rows nor on the ids of the tracks.
    k : int, optional
        Number of families; chosen by silhouette without it.

    Returns
    -------
    Partition
        By row of the input.

    Raises
    ------
    ValueError
        With fewer items than one family needs, or a ``k`` that does not
        fit them.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    n = len(vectors)
    check_size(n, k)
    data = np.asarray(vectors, dtype=np.float32)
    order = canonical_order(data, np.asarray(ids))
    data = data[order]
    dimensions = min(REDUCED_DIMENSIONS, data.shape[1], n)
    reduced = PCA(dimensions, svd_solver="full", random_state=SEED).fit_transform(data)
    silhouettes: dict[int, float] = {}
    distinct = len(np.unique(_content_keys(data), axis=0))
    if k is None:
        k, silhouettes = _choose_k(reduced, data, distinct)
    k = min(k, distinct)  # k-means cannot make more groups than points
    model = KMeans(k, n_init=N_INIT, random_state=SEED).fit(reduced)
    labels = model.labels_.astype(np.int64)
    centres = _unit(np.stack([data[labels == j].mean(axis=0) for j in range(k)]))
    closeness = np.einsum("ij,ij->i", data, centres[labels])
    labels = _drop_outliers(labels, closeness, k)
    labels = _number_by_size(labels, np.arange(n))
    # back to the caller's row order
    out_labels = np.empty(n, dtype=np.int64)
    out_closeness = np.empty(n, dtype=np.float32)
    out_labels[order] = labels
    out_closeness[order] = closeness
    return Partition(out_labels, out_closeness, int(labels.max() + 1), silhouettes)


def _content_keys(vectors: np.ndarray) -> np.ndarray:
    """The vectors rounded to 1e-3 (float noise of the index's mean does
    not move them), as integers."""
    return np.rint(np.asarray(vectors, dtype=np.float64) * 1000).astype(np.int64)


def canonical_order(vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows sorted by their content (ties: by id): the same tracks give the
    same order whatever their ids, so importing a library in another order
    gives the same families."""
    keys = _content_keys(vectors)
    return np.lexsort((ids, *keys.T[::-1]))


def _choose_k(
    reduced: np.ndarray, vectors: np.ndarray, distinct: int
) -> tuple[int, dict[int, float]]:
    """The number of families with the best silhouette on a sample."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    sample = _sample(vectors, SAMPLE_SIZE)
    points = reduced[sample]
    scores: dict[int, float] = {}
    candidates = family_range(len(vectors))
    for k in candidates:
        if k < 2 or k > min(distinct, len(points) - 1):
            continue
        labels = KMeans(k, n_init=1, random_state=SEED).fit_predict(points)
        if len(set(labels.tolist())) < 2:
            continue
        scores[k] = float(silhouette_score(points, labels))
    if not scores:
        return max(candidates.start, 1), scores
    return max(scores, key=lambda k: (round(scores[k], 4), -k)), scores


def _sample(vectors: np.ndarray, size: int) -> np.ndarray:
    """Rows of at most ``size`` items chosen by a hash of their content (the
    same tracks whatever their ids or order; adding tracks changes few)."""
    if len(vectors) <= size:
        return np.arange(len(vectors))
    weights = np.random.default_rng(SEED).integers(1, 2**31, size=vectors.shape[1])
    with np.errstate(over="ignore"):
        hashed = (_content_keys(vectors) * weights).sum(axis=1)
        hashed = hashed * np.int64(0x9E3779B97F4A7C1)
    return np.sort(np.argsort(hashed, kind="stable")[:size])


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _drop_outliers(labels: np.ndarray, closeness: np.ndarray, k: int) -> np.ndarray:
    """-1 for the tracks far outside their family (see :data:`OUTLIER_Z`)."""
    labels = labels.copy()
    distance = 1.0 - closeness
    for j in range(k):
        members = labels == j
        if members.sum() < 2 * MIN_FAMILY_SIZE:
            continue
        mean, spread = distance[members].mean(), distance[members].std()
        labels[members & (distance > mean + OUTLIER_Z * spread)] = -1
    return labels


def _number_by_size(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Renumber families largest first (ties: first row first);
    families left with fewer than :data:`MIN_FAMILY_SIZE` tracks dissolve
    into outliers."""
    keys = []
    for j in set(labels.tolist()) - {-1}:
        members = labels == j
        keys.append((-int(members.sum()), int(ids[members].min()), j))
    number = {}
    for key in sorted(keys):
        if -key[0] >= MIN_FAMILY_SIZE:
            number[key[2]] = len(number)
    return np.array([number.get(j, -1) for j in labels.tolist()], dtype=np.int64)


def families(
    partition: Partition,
    ids: np.ndarray,
    genres: Sequence[str],
    moods: Sequence[str],
    energies: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
) -> list[Family]:
    """The named families of a :class:`Partition`, largest first.

    ``ids`` and the label sequences are by row, like the partition.
    """
    ids = np.asarray(ids)
    members = []
    for j in range(partition.k):
        rows = np.flatnonzero(partition.labels == j)
        # nearest the centre first; ties by id
        rows = rows[np.lexsort((ids[rows], -partition.closeness[rows]))]
        members.append(rows)
    names = name_families(members, genres, moods, energies, tags)
    return [
        Family(name, tuple(int(i) for i in ids[rows]))
        for name, rows in zip(names, members, strict=True)
    ]


# Names ------------------------------------------------------------------------


def display(label: str) -> str:
    """A label as a title word: ``"heavy metal"`` -> ``"Heavy Metal"``,
    ``"hip-hop"`` -> ``"Hip-Hop"``; a label with capitals (a canonical genre
    such as ``"R&B"``) is kept as it is."""
    if label != label.lower():
        return label
    return " ".join(
        "-".join(part[:1].upper() + part[1:] for part in word.split("-"))
        for word in label.split()
    )


def _dominant(values: Sequence[str]) -> tuple[str, float]:
    """The most frequent non-empty value (ties: alphabetical) and its share
    of *all* the values (empty ones count against it)."""
    counts = Counter(v for v in values if v)
    if not counts:
        return "", 0.0
    value = min(counts, key=lambda v: (-counts[v], v))
    return value, counts[value] / len(values)


def _base_name(
    rows: np.ndarray,
    genres: Sequence[str],
    moods: Sequence[str],
    energies: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
) -> list[str]:
    """The words of a family's name, before making names unique."""
    pick = rows.tolist()
    genre, _ = _dominant([genres[i] for i in pick])
    if not genre:  # no genre label at all: the commonest tag stands in
        genre, _ = _dominant([tags[i][0] if tags[i] else "" for i in pick])
    mood, mood_share = _dominant([moods[i] for i in pick])
    words = []
    energy_counts = Counter(word for i in pick for word in set(energies[i]))
    for word in sorted(
        energy_counts,
        key=lambda w: (ENERGY_ORDER.index(w) if w in ENERGY_ORDER else 99, w),
    ):
        if energy_counts[word] / len(pick) >= ENERGY_SHARE and len(words) < 2:
            words.append(word)
    if mood and mood_share >= MOOD_SHARE:
        words.append(mood)
    words.append(genre or "mixed")
    unique: list[str] = []
    for word in words:  # "Loud" once, even if it is the mood too
        if word.casefold() not in (w.casefold() for w in unique):
            unique.append(word)
    return [display(word) for word in unique]


def name_families(
    members: Sequence[np.ndarray],
    genres: Sequence[str],
    moods: Sequence[str],
    energies: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
) -> list[str]:
    """A unique name for each family, from the labels its tracks share.

    Parameters
    ----------
    members : sequence of np.ndarray
        Rows of each family's tracks.
    genres, moods : sequence of str
        ``musicnn_genre`` and ``musicnn_mood`` by row (``""``: none).
    energies : sequence of sequence of str
        Energy words by row (``musicnn_energy``; empty where absent).
    tags : sequence of sequence of str
        ``musicnn_tags`` by row, strongest first.

    Returns
    -------
    list of str
        ``[energy...] [mood] genre``, e.g. "Loud Fast Metal"; families that
        would share a name get the tag that sets each apart ("Mellow Rock ·
        Piano"), then a number.
    """
    words = [_base_name(rows, genres, moods, energies, tags) for rows in members]
    names = [" ".join(w) for w in words]
    for name in sorted(set(names)):
        clash = [j for j, other in enumerate(names) if other == name]
        if len(clash) < 2:
            continue
        for j in clash:
            others = [i for c in clash if c != j for i in members[c].tolist()]
            extra = _distinctive_tag(members[j].tolist(), others, tags, words[j])
            if extra:
                names[j] = f"{name} · {display(extra)}"
    seen: Counter[str] = Counter()
    final = []
    for name in names:  # still equal: number them, largest first
        seen[name] += 1
        final.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    if len(set(final)) < len(final):  # "X 2" was a name already
        final = [f"{name} ({j + 1})" for j, name in enumerate(final)]
    return final


def _distinctive_tag(
    rows: list[int],
    other_rows: list[int],
    tags: Sequence[Sequence[str]],
    used: Sequence[str],
) -> str:
    """The tag most common among ``rows`` relative to ``other_rows``."""
    used_words = {w.casefold() for w in used}
    inside = Counter(tag for i in rows for tag in set(tags[i]))
    outside = Counter(tag for i in other_rows for tag in set(tags[i]))
    best, best_score = "", 0.0
    for tag in sorted(inside):
        if tag.casefold() in used_words:
            continue
        score = inside[tag] / len(rows) - outside[tag] / max(len(other_rows), 1)
        if score > best_score:
            best, best_score = tag, score
    return best
