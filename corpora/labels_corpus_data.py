"""Load the genre corpus: manifest rows joined with their cached analyses.

Shared by ``corpora/eval_labels.py`` and anyone measuring on the corpus (the
families/map study: cluster purity, ARI of song-level embeddings)::

    from labels_corpus_data import load_corpus, song_embeddings

    tracks = load_corpus()                      # manifest + cache, in order
    X, families = song_embeddings(tracks, "msd")  # (n, 200) float32, labels
    X, families = song_embeddings(tracks, "mtt", share=1/3, doubtful=False)

Song level is what the plugin computes: a model with patch share ``s``
listens to ``sampling.choose_patches(n, max(1, ceil(n * s)))`` of the
track's ``n`` patches and averages their outputs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_labels_corpus import CACHE, MANIFEST, read_manifest, track_key

from beetsplug.musicnn.engine import sampling


@dataclass(frozen=True)
class Track:
    """One corpus track: its manifest row and its cached per-patch outputs."""

    path: str
    package: str
    family: str
    split: str
    doubtful: bool
    #: model key -> (n_patches, 50) float32 per-patch sigmoid outputs
    patch_scores: dict[str, np.ndarray]
    #: model key -> (n_patches, 200) float16 per-patch embeddings
    patch_embeddings: dict[str, np.ndarray]
    duration: float
    loudness_lufs: float
    tempo_bpm: float
    onset_rate: float
    #: seconds spent in ``decode``, ``features``, ``msd``, ``mtt`` (cache run)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_patches(self) -> int:
        return len(next(iter(self.patch_scores.values())))

    def chosen_patches(self, share: float) -> np.ndarray:
        """Indices of the patches a model with patch share ``share`` listens
        to: the analysis' own rule (:func:`sampling.share_patches`)."""
        return sampling.share_patches(self.n_patches, share)

    def song_scores(self, model: str, share: float = 1.0) -> np.ndarray:
        """Song-level scores of ``model`` at patch share ``share`` (float64)."""
        chosen = self.chosen_patches(share)
        return self.patch_scores[model][chosen].astype(np.float64).mean(axis=0)

    def song_embedding(self, model: str, share: float = 1.0) -> np.ndarray:
        """Song-level 200-d embedding of ``model`` at patch share ``share``."""
        chosen = self.chosen_patches(share)
        return self.patch_embeddings[model][chosen].astype(np.float32).mean(axis=0)


def load_corpus(
    manifest: Path = MANIFEST, cache: Path = CACHE, *, require_all: bool = False
) -> list[Track]:
    """Every manifest track whose analysis is cached, in manifest order.

    Parameters
    ----------
    require_all : bool
        Raise ``FileNotFoundError`` if a manifest track has no cache file
        (otherwise it is left out, and a note goes to stderr).
    """
    tracks, missing = [], []
    for row in read_manifest(manifest):
        file = cache / f"{track_key(row['path'])}.npz"
        if not file.exists():
            missing.append(row["path"])
            continue
        with np.load(file) as data:
            tracks.append(
                Track(
                    path=row["path"],
                    package=row["package"],
                    family=row["family"],
                    split=row["split"],
                    doubtful=row["doubtful"] == "1",
                    patch_scores={m: data[f"{m}_scores"] for m in ("msd", "mtt")},
                    patch_embeddings={
                        m: data[f"{m}_embeddings"] for m in ("msd", "mtt")
                    },
                    duration=float(data["duration"]),
                    loudness_lufs=float(data["loudness_lufs"]),
                    tempo_bpm=float(data["tempo_bpm"]),
                    onset_rate=float(data["onset_rate"]),
                    seconds={
                        stage: float(data[f"seconds_{stage}"])
                        for stage in ("decode", "features", "msd", "mtt")
                    },
                )
            )
    if missing:
        if require_all:
            raise FileNotFoundError(
                f"{len(missing)} corpus tracks have no cache in {cache}; run "
                "corpora/cache_labels_corpus.py"
            )
        print(f"note: {len(missing)} tracks not cached yet, left out", file=sys.stderr)
    return tracks


def song_embeddings(
    tracks: list[Track],
    model: str,
    share: float = 1.0,
    *,
    doubtful: bool = True,
    split: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Song-level embeddings and families of the corpus.

    Parameters
    ----------
    tracks : list of Track
        From :func:`load_corpus`.
    model : {"msd", "mtt"}
    share : float in (0, 1]
        Patch share, as in the plugin.
    doubtful : bool
        Keep tracks whose family is flagged doubtful.
    split : {"dev", "test"} or None
        Only one split; None keeps both.

    Returns
    -------
    (np.ndarray of shape (n, 200), list of n family names)
    """
    kept = [
        t
        for t in tracks
        if (doubtful or not t.doubtful) and (split is None or t.split == split)
    ]
    if not kept:
        return np.zeros((0, 200), dtype=np.float32), []
    matrix = np.stack([t.song_embedding(model, share) for t in kept])
    return matrix, [t.family for t in kept]
