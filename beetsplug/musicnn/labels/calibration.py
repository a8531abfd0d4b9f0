"""Calibration: make MusicNN's raw tag scores comparable across tags.

The raw song-level score of a tag (the mean over 3-second patches of a sigmoid
output) reflects how often last.fm or MagnaTagATune listeners used that tag,
not only what the music sounds like: on real recordings MSD ``happy`` rarely
exceeds 0.01 while ``rock`` or ``jazz`` reach 0.8. An argmax over raw scores
therefore almost never answers "happy", and no single threshold suits every
tag.

Method
------
For every tag of every model, the shipped ``calibration.json`` holds the mean
``mu`` and standard deviation ``sigma`` of ``logit(song-level score)`` over a
reference corpus of real music (its provenance is recorded in the file). The
**calibrated strength** of a tag for a track is::

    strength = Phi((logit(score) - mu) / sigma)

with ``Phi`` the standard normal CDF: roughly the share of the reference
corpus that scores *lower* on that tag (0.5 = typical, 0.95 = stronger than
19 tracks in 20). Strengths of different tags, and of different models, are on
the same 0..1 scale, so an argmax over a subset of tags (genre, mood) and one
threshold over all tags are meaningful.

Why these choices:

- *Song-level, not patch-level, distribution.* What gets compared is a song's
  mean score, and a mean over tens of patches varies much less between songs
  than single patches do; a patch-level spread would squash every song towards
  0.5. Patch-level outputs would give more samples, but of the wrong
  distribution.
- *Logit-normal with two numbers per tag, not an empirical quantile table.*
  Sigmoid outputs are logistic regressions on the embedding, so their logits
  are roughly Gaussian across songs; a corpus of a few hundred tracks pins a
  mean and a spread well but a quantile table only coarsely, and a table is
  flat (no ranking) beyond its extreme quantiles, where the interesting songs
  are. The transform is strictly increasing per tag, so sorting a library by
  one tag's strength gives the same order as by its raw score.
- *Refitting is cheap.* :meth:`Calibration.fit` takes song-level score vectors
  from anywhere, e.g. the result store of a user's own library, so a library
  can later be calibrated against itself without decoding audio.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from os import PathLike
from pathlib import Path

import numpy as np

from ..engine.models import get_model

#: The calibration shipped with the package.
DEFAULT_PATH = Path(__file__).resolve().parent / "calibration.json"
#: Scores are clipped to [EPS, 1 - EPS] before the logit.
EPS = 1e-6
#: Smallest spread accepted for a tag, in logits, so that a tag that barely
#: moves on the reference corpus does not turn noise into certainty.
MIN_SIGMA = 0.25
FORMAT_VERSION = 1


def logit(scores: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of scores clipped to ``[EPS, 1 - EPS]``, in float64."""
    p = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF, element-wise (no SciPy needed)."""
    z = np.asarray(z, dtype=np.float64)
    erf = np.frompyfunc(math.erf, 1, 1)
    return (0.5 * (1.0 + erf(z / math.sqrt(2.0)).astype(np.float64))).reshape(
        z.shape
    )


@dataclass(frozen=True)
class TagStats:
    """Mean and spread of ``logit(score)`` of each tag of one model."""

    model: str
    mu: np.ndarray  # (n_tags,) float64
    sigma: np.ndarray  # (n_tags,) float64
    n_tracks: int


@dataclass(frozen=True)
class Calibration:
    """Per-tag reference statistics of every model, and where they come from."""

    stats: dict[str, TagStats]
    provenance: dict = field(default_factory=dict, compare=False)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.stats)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the statistics (not the provenance): two calibrations
        with one fingerprint give every track the same strengths."""
        import hashlib  # here: only runs need it, not every `beet` start

        digest = hashlib.sha256()
        for key in sorted(self.stats):
            stats = self.stats[key]
            digest.update(key.encode())
            for values in (stats.mu, stats.sigma):
                digest.update(np.round(values, 5).astype("<f8").tobytes())
        return digest.hexdigest()[:16]

    def z_scores(self, model: str, scores: np.ndarray) -> np.ndarray:
        """How many reference spreads each tag's logit lies above the mean."""
        stats = self._stats(model)
        scores = np.asarray(scores)
        if scores.shape[-1] != len(stats.mu):
            raise ValueError(
                f"{model}: expected {len(stats.mu)} scores, got {scores.shape[-1]}"
            )
        return (logit(scores) - stats.mu) / stats.sigma

    def strength(self, model: str, scores: np.ndarray) -> np.ndarray:
        """Calibrated strength (0..1) of each tag, in model order.

        Parameters
        ----------
        model : str
            Model key.
        scores : np.ndarray, shape (..., n_tags)
            Raw song-level scores in model order (several songs may be stacked).
        """
        return normal_cdf(self.z_scores(model, scores))

    def _stats(self, model: str) -> TagStats:
        key = get_model(model).key
        try:
            return self.stats[key]
        except KeyError:
            raise ValueError(f"the calibration has no statistics for {key!r}") from None

    # -- fitting and (de)serialisation ---------------------------------------

    @classmethod
    def fit(
        cls,
        samples: Mapping[str, Iterable[np.ndarray]],
        provenance: dict | None = None,
    ) -> Calibration:
        """Fit the statistics from song-level score vectors.

        Parameters
        ----------
        samples : mapping model key -> iterable of (n_tags,) arrays
            Song-level scores of each reference track, e.g. from
            ``(r.scores for r in store.iter_results(model))``. Consumed in one
            streaming pass (sums of logits and of their squares).
        provenance : dict, optional
            What the corpus was; stored with the statistics.
        """
        stats = {}
        for model, vectors in samples.items():
            spec = get_model(model)
            n_tags = len(spec.tags)
            total = np.zeros(n_tags)
            total_sq = np.zeros(n_tags)
            count = 0
            for vector in vectors:
                values = logit(vector)
                if values.shape != (n_tags,):
                    raise ValueError(f"{model}: expected {n_tags} scores per track")
                total += values
                total_sq += values * values
                count += 1
            if count < 2:
                raise ValueError(f"{model}: need at least 2 tracks, got {count}")
            mu = total / count
            variance = np.maximum(total_sq / count - mu * mu, 0.0) * count / (count - 1)
            sigma = np.maximum(np.sqrt(variance), MIN_SIGMA)
            stats[spec.key] = TagStats(spec.key, mu, sigma, count)
        return cls(stats, dict(provenance or {}))

    def to_json(self) -> dict:
        models = {}
        for key, stats in self.stats.items():
            tags = get_model(key).tags
            models[key] = {
                "n_tracks": stats.n_tracks,
                "tags": {
                    tag: {"mu": round(float(m), 5), "sigma": round(float(s), 5)}
                    for tag, m, s in zip(tags, stats.mu, stats.sigma, strict=True)
                },
            }
        return {
            "format": FORMAT_VERSION,
            "method": "song-level logit(score): mean and std per tag; "
            "strength = normal CDF of the z-score",
            "provenance": self.provenance,
            "models": models,
        }

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported calibration format {data.get('format')!r}")
        stats = {}
        for key, entry in data["models"].items():
            spec = get_model(key)
            by_tag = entry["tags"]
            missing = [t for t in spec.tags if t not in by_tag]
            if missing:
                raise ValueError(f"{key}: calibration lacks tags {missing}")
            mu = np.array([by_tag[t]["mu"] for t in spec.tags], dtype=np.float64)
            sigma = np.array([by_tag[t]["sigma"] for t in spec.tags], dtype=np.float64)
            stats[spec.key] = TagStats(
                spec.key, mu, np.maximum(sigma, MIN_SIGMA), int(entry["n_tracks"])
            )
        return cls(stats, data.get("provenance", {}))

    def save(self, path: str | PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | PathLike) -> Calibration:
        return cls.from_json(json.loads(Path(path).read_text()))


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    """The calibration shipped in ``calibration.json`` (read once)."""
    return Calibration.load(DEFAULT_PATH)
