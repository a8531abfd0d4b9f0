"""Nearest neighbours of MusicNN embeddings: the numeric core of the radio.

Pure NumPy, no beets. An item's *vector* is its 200-d embedding, centred on
the mean embedding of the library and scaled to unit length; the similarity
of two items is the dot product of their vectors (cosine similarity).
Centring removes the large component that all MusicNN embeddings share
(raw cosine similarities of different tracks average 0.59, centred 0.00, in
``docs/radio.md``), so that 0 means "unrelated"; it did not change the
measured neighbour precision.

The vectors of a whole library live in an :class:`EmbeddingIndex`: a
float32 ``.npy`` matrix beside the result store, memory-mapped, so a query
reads it from the page cache instead of decoding 500,000 SQLite rows, and
holds no per-item Python object. It is rebuilt (streaming, in bounded
memory) when the store's generation counter says the store changed.

Why float32 on disk when the store keeps float16: NumPy has no fast float16
product, and converting 500,000 x 200 halves to float32 took 1-2 s per query
on the 2-core test machine, against 0.15 s for the float32 product itself
(``bench/bench_similar.py``). The file is twice as large (0.8 kB per item),
but a query reads it through the page cache chunk by chunk and releases each
chunk's pages from the process, so its memory stays a few tens of MB.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Dtype of the index matrix (see the module docstring).
VECTOR_DTYPE = np.dtype("<f4")
#: Dtype of the embeddings in the store.
STORED_DTYPE = np.dtype("<f2")
#: Rows scored at a time (about 50 MB of float32 at 200-d).
_CHUNK_ROWS = 65536
#: Layout of the index files; bump to force a rebuild after a change.
_INDEX_FORMAT = 2


def normalize(
    vectors: np.ndarray, mean: np.ndarray | None = None, axis: int = -1
) -> np.ndarray:
    """Centre vectors on ``mean`` and scale them to unit length.

    Parameters
    ----------
    vectors : np.ndarray, shape (..., d)
        Embeddings, any float dtype.
    mean : np.ndarray, shape (d,), optional
        Subtracted first (the library's mean embedding).
    axis : int
        The axis of the vector components.

    Returns
    -------
    np.ndarray, float32, same shape
        Unit vectors; an all-zero vector stays zero (it is similar to
        nothing) instead of becoming NaN.
    """
    out = np.asarray(vectors, dtype=np.float32)
    if mean is not None:
        out = out - np.asarray(mean, dtype=np.float32)
    norms = np.linalg.norm(out, axis=axis, keepdims=True)
    return out / np.maximum(norms, np.finfo(np.float32).tiny)


def seed_profile(seed_vectors: np.ndarray) -> np.ndarray:
    """The direction that several seeds share.

    Parameters
    ----------
    seed_vectors : np.ndarray, shape (n_seeds, d)
        Unit vectors of the seeds (:func:`normalize`).

    Returns
    -------
    np.ndarray, shape (d,), float32
        The normalised mean of the seeds. A candidate's dot product with it
        is proportional to its *mean* cosine similarity to the seeds, so
        every seed counts equally and what they have in common ranks first.

    Raises
    ------
    ValueError
        With no seed at all.
    """
    seeds = np.asarray(seed_vectors, dtype=np.float32)
    if seeds.ndim != 2 or len(seeds) == 0:
        raise ValueError("at least one seed vector is needed")
    return normalize(seeds.mean(axis=0))


def scores(matrix: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``matrix`` with ``profile``.

    Parameters
    ----------
    matrix : np.ndarray or np.memmap, shape (n, d)
        Unit row vectors, float16 or float32.
    profile : np.ndarray, shape (d,)
        A unit vector (:func:`seed_profile`).

    Returns
    -------
    np.ndarray, shape (n,), float32

    Notes
    -----
    Rows are scored in chunks of ``_CHUNK_ROWS``, so a float16 matrix never
    needs a whole float32 copy in memory.
    """
    profile = np.asarray(profile, dtype=np.float32)
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), _CHUNK_ROWS):
        chunk = np.asarray(matrix[start : start + _CHUNK_ROWS], dtype=np.float32)
        np.dot(chunk, profile, out=out[start : start + len(chunk)])
    return out


def ranked(similarities: np.ndarray, first: int = 256) -> Iterator[int]:
    """Row indices, most similar first, sorted lazily.

    Parameters
    ----------
    similarities : np.ndarray, shape (n,)
        From :func:`scores`; ``-inf`` marks rows never to return.
    first : int
        Rows sorted before the first one is yielded; each further block is
        four times larger. A radio of 40 items with caps usually needs a
        few hundred, so sorting all 500,000 rows would be wasted.

    Yields
    ------
    int
        Row indices in decreasing similarity (ties in row order), without
        the ``-inf`` rows.
    """
    order = (
        np.argsort(-similarities, kind="stable") if len(similarities) <= first else None
    )
    if order is not None:
        yield from (int(i) for i in order if similarities[i] != -np.inf)
        return
    done = 0
    remaining = np.arange(len(similarities))
    block = first
    while len(remaining):
        values = similarities[remaining]
        if block < len(remaining):
            top = np.argpartition(-values, block)[:block]
            rest = np.ones(len(remaining), dtype=bool)
            rest[top] = False
        else:
            top = np.arange(len(remaining))
            rest = np.zeros(len(remaining), dtype=bool)
        top = top[np.lexsort((remaining[top], -values[top]))]
        for row, value in zip(remaining[top], values[top], strict=True):
            if value == -np.inf:
                return
            yield int(row)
        done += len(top)
        remaining = remaining[rest]
        block *= 4


@dataclass(frozen=True)
class Candidate:
    """What the caps need to know of a candidate item."""

    item_id: int
    artist: Hashable
    album: Hashable


def capped(
    candidates: Iterable[Candidate],
    count: int,
    *,
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
) -> list[Candidate]:
    """The first ``count`` candidates that keep every artist and album
    within their caps.

    Parameters
    ----------
    candidates : iterable of Candidate
        Best first; consumed only as far as needed (it may be lazy). Any
        object with hashable ``artist`` and ``album`` attributes will do.
    count : int
        How many to keep.
    max_per_artist, max_per_album : int or None
        At most this many of one artist / album; ``None`` for no cap.
        Empty artists or albums (``""`` or ``None``) are not capped:
        unknown is not one artist.
    """
    chosen: list[Candidate] = []
    per_artist: dict[Hashable, int] = {}
    per_album: dict[Hashable, int] = {}
    for candidate in candidates:
        if len(chosen) >= count:
            break
        if _full(per_artist, candidate.artist, max_per_artist) or _full(
            per_album, candidate.album, max_per_album
        ):
            continue
        chosen.append(candidate)
        for counts, key in (
            (per_artist, candidate.artist),
            (per_album, candidate.album),
        ):
            if key:
                counts[key] = counts.get(key, 0) + 1
    return chosen


def _full(counts: dict[Hashable, int], key: Hashable, cap: int | None) -> bool:
    return bool(key) and cap is not None and counts.get(key, 0) >= cap


def flow_order(vectors: np.ndarray, start: np.ndarray | None = None) -> list[int]:
    """An order for smooth listening: each item close to the one before.

    Greedy nearest-neighbour path: begin with the item most similar to
    ``start`` (the seeds' profile), then always move to the most similar
    item not yet played.

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        Unit vectors of the chosen items.
    start : np.ndarray, shape (d,), optional
        Where the path begins; without it, at item 0.

    Returns
    -------
    list of int
        A permutation of ``range(n)``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n == 0:
        return []
    similarity = vectors @ vectors.T
    current = 0 if start is None else int(np.argmax(vectors @ start))
    path = [current]
    played = np.zeros(n, dtype=bool)
    played[current] = True
    for _ in range(n - 1):
        row = np.where(played, -np.inf, similarity[current])
        current = int(np.argmax(row))
        path.append(current)
        played[current] = True
    return path


def neighbour_precision(vectors: np.ndarray, labels: Sequence, k: int) -> np.ndarray:
    """Share of each item's ``k`` nearest other items that have its label.

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        Unit vectors (:func:`normalize`).
    labels : sequence of length n
        The group of each item (e.g. its source).
    k : int
        Neighbours per item, fewer than ``n``.

    Returns
    -------
    np.ndarray, shape (n,)
        Precision@k of each item; chance level for an item is
        ``(size of its group - 1) / (n - 1)``.
    """
    labels = np.asarray(labels)
    similarity = (
        np.asarray(vectors, dtype=np.float32) @ np.asarray(vectors, dtype=np.float32).T
    )
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return (labels[nearest] == labels[:, None]).mean(axis=1)


def nearest_neighbours(
    vectors: np.ndarray, k: int, chunk_rows: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar other rows of every row (cosine, as the radio).

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        Unit vectors (:func:`normalize`).
    k : int
        Neighbours per row; fewer if there are not ``k`` other rows.
    chunk_rows : int
        Rows compared with all the others at a time: memory is about
        ``chunk_rows * n`` float32 and as many int64 for the partition
        (512 x 50,000: 300 MB).

    Returns
    -------
    (np.ndarray, np.ndarray), shapes (n, k)
        Row indices (int32), most similar first (ties: lower row first), and
        their similarities (float32).
    """
    data = np.asarray(vectors, dtype=np.float32)
    n = len(data)
    k = max(min(k, n - 1), 0)
    rows = np.empty((n, k), dtype=np.int32)
    values = np.empty((n, k), dtype=np.float32)
    if k == 0:
        return rows, values
    for start in range(0, n, chunk_rows):
        block = data[start : start + chunk_rows] @ data.T
        own = np.arange(start, start + len(block))
        block[own - start, own] = -np.inf
        top, top_values = _top_k(block, k)
        rows[start : start + len(block)] = top
        values[start : start + len(block)] = top_values
    return rows, values


#: Columns per group in :func:`_top_k`'s first pass.
_GROUP = 64


def _top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest values of each row of ``block`` and their columns,
    largest first (ties: lower column first).

    Two passes, five times faster than ``argpartition`` over whole rows of
    50,000: the maximum of each group of :data:`_GROUP` columns, then, as
    candidates, only the values at least as large as the k-th largest group
    maximum (at least k values reach it, so every one of the k largest is
    among them: about k candidates per row).
    """
    m, n = block.shape
    full = n - n % _GROUP
    maxima = block[:, :full].reshape(m, -1, _GROUP).max(axis=2)
    if full < n:  # the last columns count as groups of one
        maxima = np.concatenate([maxima, block[:, full:]], axis=1)
    if maxima.shape[1] <= k:  # a small block: partition whole rows
        columns = np.argpartition(-block, k - 1, axis=1)[:, :k]
        chosen = np.take_along_axis(block, columns, axis=1)
        order = np.lexsort((columns, -chosen), axis=1)
        return (
            np.take_along_axis(columns, order, axis=1),
            np.take_along_axis(chosen, order, axis=1),
        )
    groups = maxima.shape[1]
    floor = np.partition(maxima, groups - k, axis=1)[:, groups - k]
    # Only the groups whose maximum reaches the floor hold candidates.
    pair_rows, pair_groups = np.nonzero(maxima >= floor[:, None])
    tail = pair_groups >= full // _GROUP  # a last column, a group of one
    offsets = np.arange(_GROUP)
    columns = np.where(
        tail[:, None],
        (full + pair_groups - full // _GROUP)[:, None] + 0 * offsets,
        pair_groups[:, None] * _GROUP + offsets,
    )
    candidate_rows = np.repeat(pair_rows, _GROUP)
    candidate_columns = columns.ravel()
    candidate_values = block[candidate_rows, candidate_columns]
    keep = candidate_values >= floor[candidate_rows]
    keep &= ~np.repeat(tail, _GROUP) | (np.tile(offsets, len(tail)) == 0)
    candidate_rows = candidate_rows[keep]
    candidate_columns = candidate_columns[keep]
    candidate_values = candidate_values[keep]
    order = np.lexsort((candidate_columns, -candidate_values, candidate_rows))
    first = np.searchsorted(candidate_rows[order], np.arange(m))
    pick = order[first[:, None] + np.arange(k)]
    return candidate_columns[pick], candidate_values[pick]


# The index of a library ------------------------------------------------------


class EmbeddingIndex:
    """Unit vectors of one model's embeddings of every analysed item.

    Three files beside the store, ``<store stem>.<model>.vectors.npy``
    (float32, (n, d), rows centred and normalised), ``.ids.npy`` (int64,
    ascending item ids, one per row) and ``.json`` (the store generation
    they were built from, and the mean that was subtracted). Open with
    :meth:`load`, which rebuilds them if the store changed since.

    Attributes
    ----------
    ids : np.ndarray, shape (n,), int64
        Item ids, ascending.
    vectors : np.ndarray, shape (n, d), float32
        One unit vector per id, memory-mapped from the file.
    mean : np.ndarray, shape (d,), float32
        The mean embedding subtracted before normalising.
    """

    def __init__(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        mean: np.ndarray,
        mapping: mmap.mmap | None = None,
    ):
        self.ids = ids
        self.vectors = vectors
        self.mean = mean
        #: The mapping of the vectors file, if any (see :meth:`similarities`).
        self._mapping = mapping

    def similarities(self, profile: np.ndarray) -> np.ndarray:
        """:func:`scores` of every row, releasing the pages of each chunk of
        the mapped file once scored: the file stays in the page cache for
        the next query, but not in this process's memory."""
        if self._mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
            return scores(self.vectors, profile)  # in memory, or not on Linux/macOS
        profile = np.asarray(profile, dtype=np.float32)
        out = np.empty(len(self.vectors), dtype=np.float32)
        row_bytes = self.vectors.shape[1] * VECTOR_DTYPE.itemsize
        start_byte = self.vectors.ctypes.data - _address(self._mapping)
        released = 0
        for start in range(0, len(self.vectors), _CHUNK_ROWS):
            chunk = self.vectors[start : start + _CHUNK_ROWS]
            np.dot(chunk, profile, out=out[start : start + len(chunk)])
            end = start_byte + (start + len(chunk)) * row_bytes
            end -= end % mmap.PAGESIZE
            if end > released:
                self._mapping.madvise(mmap.MADV_DONTNEED, released, end - released)
                released = end
        return out

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def paths(store_path: str | os.PathLike, model: str) -> tuple[Path, Path, Path]:
        """The (vectors, ids, metadata) files of ``model`` beside the store."""
        store = Path(store_path)
        stem = store.with_name(f"{store.stem}.{model}")
        return (
            stem.with_name(stem.name + ".vectors.npy"),
            stem.with_name(stem.name + ".ids.npy"),
            stem.with_name(stem.name + ".json"),
        )

    @classmethod
    def load(
        cls,
        store_path: str | os.PathLike,
        model: str,
        generation: int,
        rows: Callable[[], tuple[int, Iterator[tuple[int, bytes]]]],
    ) -> EmbeddingIndex:
        """The index of ``model``, memory-mapped; rebuilt first if stale.

        Parameters
        ----------
        store_path : path
            The result store; the index files go beside it.
        model : str
            Model key.
        generation : int
            The store's current change counter
            (:meth:`ResultStore.generation`).
        rows : callable
            Returns (number of rows, iterator of ``(item_id, float16 embedding
            bytes)`` in ascending id order), e.g.
            ``lambda: store.iter_embeddings(model)``; called only to rebuild.
        """
        vectors_path, ids_path, meta_path = cls.paths(store_path, model)
        try:
            meta = json.loads(meta_path.read_text())
            fresh = meta["format"] == _INDEX_FORMAT and meta["generation"] == generation
        except (OSError, ValueError, KeyError, TypeError):
            fresh = False
        while True:
            if not fresh:
                count, stream = rows()
                meta = cls._build(vectors_path, ids_path, meta_path, count, stream)
                meta["generation"] = generation
                _write_atomic(meta_path, json.dumps(meta).encode())
            mean = np.asarray(meta["mean"], dtype=np.float32)
            if not meta["count"]:
                return cls(np.empty(0, np.int64), np.empty((0, 0), VECTOR_DTYPE), mean)
            try:
                mapping, vectors = _map_npy(vectors_path)
                ids = np.load(ids_path, mmap_mode="r")
            except (OSError, ValueError):
                if not fresh:
                    raise  # just built: not a stale file but a real problem
                fresh = False  # damaged or replaced files: build them again
                continue
            return cls(ids, vectors, mean, mapping)

    @staticmethod
    def _build(
        vectors_path: Path,
        ids_path: Path,
        meta_path: Path,
        count: int,
        stream: Iterator[tuple[int, bytes]],
    ) -> dict:
        """Write the index files from the store's rows in two passes over a
        memory-mapped file: raw embeddings (summing them), then centring and
        normalising in place. Memory stays a few chunks, whatever ``count``."""
        meta_path.unlink(missing_ok=True)  # an interrupted build is stale
        first = next(stream, None)
        if first is None:
            for path in (vectors_path, ids_path):
                path.unlink(missing_ok=True)
            return {"format": _INDEX_FORMAT, "count": 0, "mean": []}
        dim = len(first[1]) // STORED_DTYPE.itemsize
        tmp_vectors = vectors_path.with_name(vectors_path.name + ".tmp")
        tmp_ids = ids_path.with_name(ids_path.name + ".tmp")
        vectors = np.lib.format.open_memmap(
            tmp_vectors, mode="w+", dtype=VECTOR_DTYPE, shape=(count, dim)
        )
        ids = np.lib.format.open_memmap(
            tmp_ids, mode="w+", dtype=np.int64, shape=(count,)
        )
        total = np.zeros(dim, dtype=np.float64)
        row = 0
        for item_id, blob in _chain_one(first, stream):
            if row == count:
                break  # rows added while building: the next load sees them
            vectors[row] = np.frombuffer(blob, dtype=STORED_DTYPE)
            ids[row] = item_id
            row += 1
        for start in range(0, row, _CHUNK_ROWS):
            total += vectors[start : min(row, start + _CHUNK_ROWS)].sum(
                axis=0, dtype=np.float64
            )
        mean = (total / row).astype(np.float32)
        for start in range(0, row, _CHUNK_ROWS):
            stop = min(row, start + _CHUNK_ROWS)
            vectors[start:stop] = normalize(vectors[start:stop], mean=mean)
        del vectors, ids
        if row < count:  # rows deleted while building
            _truncate(tmp_vectors, row, dim, VECTOR_DTYPE)
            _truncate(tmp_ids, row, None, np.dtype(np.int64))
        os.replace(tmp_vectors, vectors_path)
        os.replace(tmp_ids, ids_path)
        return {"format": _INDEX_FORMAT, "count": row, "mean": mean.tolist()}

    def in_memory(self) -> EmbeddingIndex:
        """A copy held in memory, independent of the index files."""
        return EmbeddingIndex(np.array(self.ids), np.array(self.vectors), self.mean)

    def rows_of(self, item_ids: Iterable[int]) -> np.ndarray:
        """Row numbers of those ``item_ids`` that are in the index."""
        return _present(self.ids, np.fromiter(item_ids, dtype=np.int64))


def _map_npy(path: Path) -> tuple[mmap.mmap, np.ndarray]:
    """A read-only mapping of an ``.npy`` file and the array it holds."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(file)
        offset = file.tell()
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if fortran or dtype != VECTOR_DTYPE or len(shape) != 2:
        mapping.close()
        raise ValueError(f"{path} is not a C-ordered {VECTOR_DTYPE} matrix")
    array = np.frombuffer(
        mapping, dtype=dtype, count=shape[0] * shape[1], offset=offset
    )
    return mapping, array.reshape(shape)


def _address(mapping: mmap.mmap) -> int:
    """Address of the first byte of ``mapping``."""
    return np.frombuffer(mapping, dtype=np.uint8, count=1).ctypes.data


def _present(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Rows of ``ids`` (ascending) holding a value of ``wanted``."""
    rows = np.searchsorted(ids, wanted)
    inside = rows < len(ids)
    rows, wanted = rows[inside], wanted[inside]
    return np.unique(rows[ids[rows] == wanted])


def _chain_one(first, rest: Iterator):
    yield first
    yield from rest


def _truncate(path: Path, rows: int, dim: int | None, dtype: np.dtype) -> None:
    """Rewrite an ``.npy`` file keeping its first ``rows`` rows."""
    source = np.load(path, mmap_mode="r")
    shape = (rows,) if dim is None else (rows, dim)
    smaller = path.with_name(path.name + ".part")
    out = np.lib.format.open_memmap(smaller, mode="w+", dtype=dtype, shape=shape)
    out[:] = source[:rows]
    del out, source
    os.replace(smaller, path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
