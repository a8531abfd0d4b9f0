"""Families: the library's embeddings clustered into named groups of
sound-alike tracks.

Pure computation (NumPy, scikit-learn imported when called); the beets side
is :mod:`family_sets`. The method, and why (figures in
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
5. Each family is named from the labels its tracks share: every word of a
   name is carried by at least :data:`NAME_SHARE` of its tracks
   (:func:`name_words`), and a track whose labels contradict its family's
   name (a quiet track in a "Loud" family, techno in a "Classical" one)
   leaves it (:func:`settle`). Families are numbered by size and list their
   tracks nearest the centre first (:func:`families`).

A library of fewer than :data:`MIN_TRACKS` analysed tracks gets no
automatic families (:class:`TooFewTracks`): a grouping of so few tracks
says nothing (the figures are in ``docs/report.md``).

Determinism: rows are put in item-id order before anything else, the sample
is chosen by a hash of the ids, and every random step has a fixed seed, so
the same library gives the same families and names on every run, whatever
order its items came in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..labels import genres as genre_tree
from ..labels.moods import ENERGY_AXES

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

#: Share of a family's tracks that must carry each word of its name.
NAME_SHARE = 0.7
#: Fewest analysed tracks for automatic families. On random libraries drawn
#: from 240 recordings of four genres (``corpora/eval_families.py``), the
#: families of 10 tracks agree with the record labels' genres as well as
#: those of larger libraries (adjusted Rand index 0.53; 24 tracks: 0.51, 48:
#: 0.56), those of 6 or 8 half as well (0.31, 0.32), and 4 tracks make one
#: family of everything, which groups nothing.
MIN_TRACKS = 10
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
    #: Tracks taken out of their family because their labels contradict its
    #: name, or because their family dissolved when those left (:func:`families`).
    misfits: int = 0


class TooFewTracks(ValueError):
    """Too few tracks for automatic families: not an error, a fact to say."""


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
    """Raise if ``n_items`` cannot make (``k``) families.

    Raises
    ------
    TooFewTracks
        Without ``k``, for fewer than :data:`MIN_TRACKS` tracks.
    ValueError
        For a ``k`` that does not fit the tracks.
    """
    if k is None and n_items < MIN_TRACKS:
        tracks = "track is" if n_items == 1 else "tracks are"
        raise TooFewTracks(
            f"{n_items} analysed {tracks} too few for families "
            f"(they need at least {MIN_TRACKS})"
        )
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
    TooFewTracks
        Without ``k``, for fewer than :data:`MIN_TRACKS` items.
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
) -> tuple[Partition, list[Family]]:
    """The named families of a :class:`Partition`, largest first.

    ``ids`` and the label sequences are by row, like the partition. Each
    cluster keeps the tracks that do not contradict its name
    (:func:`settle`); a cluster left with fewer than
    :data:`MIN_FAMILY_SIZE` tracks dissolves. Returns the partition with
    those tracks out of every family (``misfits`` counts them) and the
    families.
    """
    ids = np.asarray(ids)
    labels = TrackLabels(genres, moods, energies, tags)
    settled = []
    for j in range(partition.k):
        rows, _ = settle(np.flatnonzero(partition.labels == j).tolist(), labels)
        if len(rows) >= MIN_FAMILY_SIZE:
            settled.append((-len(rows), j, np.array(rows, dtype=np.int64)))
    settled.sort(key=lambda entry: entry[:2])  # largest first; ties: as clustered
    numbers = np.full(len(partition.labels), -1, dtype=np.int64)
    members = []
    for number, (_, _, rows) in enumerate(settled):
        numbers[rows] = number
        # nearest the centre first; ties by id
        members.append(rows[np.lexsort((ids[rows], -partition.closeness[rows]))])
    misfits = int((partition.labels >= 0).sum() - (numbers >= 0).sum())
    names = name_families(members, genres, moods, energies, tags)
    found = [
        Family(name, tuple(int(i) for i in ids[rows]))
        for name, rows in zip(names, members, strict=True)
    ]
    return replace(partition, labels=numbers, k=len(found), misfits=misfits), found


# Names ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackLabels:
    """The labels of the tracks, by row (``""`` / empty: none)."""

    #: ``musicnn_genre``.
    genres: Sequence[str]
    #: ``musicnn_mood``.
    moods: Sequence[str]
    #: ``musicnn_energy``, split into words.
    energies: Sequence[Sequence[str]]
    #: ``musicnn_tags``, strongest first.
    tags: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Word:
    """One word of a family's name and the label it stands for."""

    #: ``"energy"``, ``"mood"``, ``"genre"`` or ``"tag"``.
    kind: str
    #: The label, as the track fields hold it (a genre as lastgenre names it).
    value: str

    def carried_by(self, row: int, labels: TrackLabels) -> bool:
        """Whether the track at ``row`` has this label (a genre: the track's
        genre or one of its parents, so "Rock" is carried by heavy metal)."""
        if self.kind == "energy":
            return self.value in labels.energies[row]
        if self.kind == "mood":
            return labels.moods[row].casefold() == self.value.casefold()
        if self.kind == "genre":
            return self.value.casefold() in _lineage(labels.genres[row])
        return self.value in labels.tags[row]

    def contradicted_by(self, row: int, labels: TrackLabels) -> bool:
        """Whether the track at ``row`` says the opposite: the other pole of
        an energy axis, another mood, a genre outside this one. An empty
        label is "unsure" and contradicts nothing; tags never do (a track
        holds only its strongest few)."""
        if self.kind == "energy":
            return _OPPOSITE.get(self.value, "") in labels.energies[row]
        if self.kind == "mood":
            mood = labels.moods[row]
            return bool(mood) and mood.casefold() != self.value.casefold()
        if self.kind == "genre":
            genre = labels.genres[row]
            return bool(genre) and self.value.casefold() not in _lineage(genre)
        return False


#: The other pole of each energy word ("loud" -> "quiet").
_OPPOSITE = {
    **{axis.high_label: axis.low_label for axis in ENERGY_AXES},
    **{axis.low_label: axis.high_label for axis in ENERGY_AXES},
}


def _lineage(genre: str) -> list[str]:
    """A genre and its parents, casefolded (empty for no genre)."""
    return [g.casefold() for g in genre_tree.lineage(genre)] if genre else []


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


def support(word: Word, rows: Sequence[int], labels: TrackLabels) -> float:
    """The share of the tracks at ``rows`` that carry ``word``."""
    rows = list(rows)
    return sum(word.carried_by(i, labels) for i in rows) / max(len(rows), 1)


def _best(candidates: Sequence[Word], rows: Sequence[int], labels: TrackLabels):
    """The candidate carried by the most tracks if it reaches
    :data:`NAME_SHARE` (ties: the first), else ``None``."""
    best, best_share = None, NAME_SHARE
    for word in candidates:
        share = support(word, rows, labels)
        if share >= best_share and (best is None or share > best_share):
            best, best_share = word, share
    return best


def name_words(rows: Sequence[int], labels: TrackLabels) -> list[Word]:
    """The words of the name of the tracks at ``rows``: each carried by at
    least :data:`NAME_SHARE` of them.

    Energy words (loudness, then tempo), then the mood, then the genre that
    the most tracks carry (a parent genre counts: eight heavy metal and two
    rock tracks are "Rock"; of equal shares the most specific); without one,
    the tag the most tracks hold. Empty labels count against a word: they
    are "unsure", not agreement.
    """
    rows = list(rows)
    words: list[Word] = []
    energy = sorted(
        {word for i in rows for word in labels.energies[i]},
        key=lambda w: (ENERGY_ORDER.index(w) if w in ENERGY_ORDER else 99, w),
    )
    for value in energy:
        word = Word("energy", value)
        if support(word, rows, labels) >= NAME_SHARE:
            words.append(word)
    moods = sorted({labels.moods[i] for i in rows if labels.moods[i]})
    mood = _best([Word("mood", m) for m in moods], rows, labels)
    if mood:
        words.append(mood)
    # Most specific first, so that equal shares keep "Heavy Metal" over "Rock".
    candidates = sorted(
        {
            g
            for i in rows
            if labels.genres[i]
            for g in genre_tree.lineage(labels.genres[i])
        },
        key=lambda g: (-len(genre_tree.lineage(g)), g),
    )
    genre = _best([Word("genre", g) for g in candidates], rows, labels)
    if genre is None:  # no shared genre: a shared tag may say what they are
        tags = sorted({tag for i in rows for tag in labels.tags[i]})
        genre = _best([Word("tag", t) for t in tags], rows, labels)
    if genre:
        words.append(genre)
    unique: list[Word] = []
    for word in words:  # "Loud" once, even if it is the mood too
        if word.value.casefold() not in (w.value.casefold() for w in unique):
            unique.append(word)
    return unique


def contradicting(rows: Sequence[int], words: Sequence[Word], labels: TrackLabels):
    """The rows whose labels contradict one of ``words``."""
    return [i for i in rows if any(w.contradicted_by(i, labels) for w in words)]


def settle(rows: Sequence[int], labels: TrackLabels) -> tuple[list[int], list[Word]]:
    """A family's tracks and name words once the tracks that contradict the
    name are out: name, take out, name the rest again, until none
    contradicts (each round takes one track at least, so it ends)."""
    rows = list(rows)
    while True:
        words = name_words(rows, labels)
        out = set(contradicting(rows, words, labels))
        if not out:
            return rows, words
        rows = [i for i in rows if i not in out]


def title_of(words: Sequence[Word]) -> str:
    """A family's name from its words; "Mixed" where no genre or tag is
    shared by enough of its tracks."""
    shown = [display(w.value) for w in words]
    if not words or words[-1].kind not in ("genre", "tag"):
        return " ".join(shown) + " (mixed genres)" if shown else "Mixed Genres"
    return " ".join(shown)


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
        ``[energy...] [mood] genre`` (:func:`name_words`), e.g. "Loud Fast
        Heavy Metal"; families that would share a name get a tag that sets
        each apart and that most of its tracks hold ("Mellow Rock · Piano"),
        then a number.
    """
    labels = TrackLabels(genres, moods, energies, tags)
    words = [name_words(rows.tolist(), labels) for rows in members]
    names = [title_of(w) for w in words]
    for name in sorted(set(names)):
        clash = [j for j, other in enumerate(names) if other == name]
        if len(clash) < 2:
            continue
        for j in clash:
            others = [i for c in clash if c != j for i in members[c].tolist()]
            used = [w.value for w in words[j]]
            extra = _distinctive_tag(members[j].tolist(), others, tags, used)
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
    """The tag most common among ``rows`` relative to ``other_rows``, of
    those that at least :data:`NAME_SHARE` of ``rows`` hold."""
    used_words = {w.casefold() for w in used}
    inside = Counter(tag for i in rows for tag in set(tags[i]))
    outside = Counter(tag for i in other_rows for tag in set(tags[i]))
    best, best_score = "", 0.0
    for tag in sorted(inside):
        if tag.casefold() in used_words or inside[tag] / len(rows) < NAME_SHARE:
            continue
        score = inside[tag] / len(rows) - outside[tag] / max(len(other_rows), 1)
        if score > best_score:
            best, best_score = tag, score
    return best
