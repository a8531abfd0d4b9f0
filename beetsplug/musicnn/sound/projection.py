"""The map: a 2-D projection of the embeddings that keeps neighbours together.

Pure computation (the projection library is imported when called). The
method is UMAP (``umap-learn``) on the radio's unit vectors reduced to
:data:`PCA_DIMENSIONS` principal components; ``docs/report.md`` has the
measurements behind the choice (trustworthiness of UMAP, openTSNE and PCA
on real embeddings, and their times on 50,000 items:
``bench/bench_projection.py``). PCA stands in for libraries too small for
a neighbour graph.
"""

from __future__ import annotations

import numpy as np

#: Principal components kept before the neighbour graph: 50 keep the
#: neighbours of 200-d MusicNN embeddings and halve UMAP's graph time.
PCA_DIMENSIONS = 50
#: UMAP's neighbours per point and the tightness of its clumps.
N_NEIGHBORS = 15
MIN_DIST = 0.1
#: Below this many items a neighbour graph means little: PCA instead.
MIN_UMAP_ITEMS = 16
#: Training epochs of UMAP's layout by library size: its default (200 above
#: 10,000 items, else 500) with fewer for the largest libraries, whose layout
#: settles sooner because every epoch moves more points.
LARGE_LIBRARY = 20000
LARGE_LIBRARY_EPOCHS = 120
SEED = 0
METHODS = ("umap", "pca")


def reduce(vectors: np.ndarray, dimensions: int = PCA_DIMENSIONS) -> np.ndarray:
    """The first ``dimensions`` principal components of ``vectors``
    (deterministic: the full SVD, signs fixed by scikit-learn)."""
    from sklearn.decomposition import PCA

    data = np.asarray(vectors, dtype=np.float32)
    dimensions = min(dimensions, data.shape[0], data.shape[1])
    return PCA(dimensions, svd_solver="full", random_state=SEED).fit_transform(data)


def project(vectors: np.ndarray, method: str = "umap") -> np.ndarray:
    """2-D positions of unit vectors, scaled into [0, 1] x [0, 1].

    Parameters
    ----------
    vectors : np.ndarray, shape (n, d)
        The radio's unit vectors, rows in a fixed order (item ids).
    method : {"umap", "pca"}

    Returns
    -------
    np.ndarray, shape (n, 2), float32
        The same input gives the same map (fixed seeds).
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}: use {' or '.join(METHODS)}")
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n < 3:
        positions = np.array([[0.0, 0.5], [1.0, 0.5]][:n])
    elif method == "pca" or n < MIN_UMAP_ITEMS:
        positions = reduce(vectors, 2)
    else:
        positions = _umap(reduce(vectors))
    return _unit_square(np.asarray(positions, dtype=np.float64))


def import_libraries() -> None:
    """Import what :func:`project` needs (umap-learn, scikit-learn) now.

    Python's import system is not safe for two threads importing the same
    package at once: a caller that projects in a second thread imports here
    first.
    """
    import warnings

    import sklearn.decomposition  # noqa: F401

    with warnings.catch_warnings():
        # umap-learn warns at import that its TensorFlow variant is unavailable
        warnings.simplefilter("ignore", ImportWarning)
        import umap  # noqa: F401


def _umap(reduced: np.ndarray) -> np.ndarray:
    import warnings

    import_libraries()
    import umap

    n = len(reduced)
    with warnings.catch_warnings():
        # umap warns that a seed means one thread: that is the point here.
        warnings.filterwarnings(
            "ignore", message=".*random_state.*", category=UserWarning
        )
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        model = umap.UMAP(
            n_neighbors=min(N_NEIGHBORS, n - 1),
            min_dist=MIN_DIST,
            n_components=2,
            random_state=SEED,
            n_epochs=LARGE_LIBRARY_EPOCHS if n > LARGE_LIBRARY else None,
            init="spectral" if n > 2 * N_NEIGHBORS else "random",
        )
        return model.fit_transform(reduced)


def _unit_square(positions: np.ndarray) -> np.ndarray:
    low = positions.min(axis=0)
    span = np.maximum(positions.max(axis=0) - low, 1e-12)
    return ((positions - low) / span).astype(np.float32)
