"""The analysis of one file: decode -> log-mel patches -> each model -> song level.

This is the public Python API; it needs no beets library::

    from beetsplug.musicnn.analysis import analyze

    result = analyze("song.flac", models=("msd", "mtt"))
    result["msd"].top(5)  # [("rock", 0.61), ...]

Models are loaded once per process (see :func:`backends.load_backend`) and
reused by every later call.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike

import numpy as np

from . import audio, features
from .backends import load_backend
from .models import SAMPLE_RATE, get_model

DEFAULT_MODELS = ("msd", "mtt")


@dataclass(frozen=True)
class ModelResult:
    """Song-level outputs of one model for one track."""

    model: str
    #: Mean over patches of the sigmoid output of each tag, in model order.
    scores: np.ndarray
    #: Mean over patches of the 200-d ``model/dense/BiasAdd`` activations.
    embedding: np.ndarray
    n_patches: int

    @property
    def tags(self) -> tuple[str, ...]:
        return get_model(self.model).tags

    def as_dict(self) -> dict[str, float]:
        """Tag name -> score, in model order."""
        return dict(zip(self.tags, self.scores.tolist(), strict=True))

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` best tags with their scores, best first."""
        best = np.argsort(-self.scores, kind="stable")[:k]
        return [(self.tags[i], float(self.scores[i])) for i in best]


@dataclass(frozen=True)
class Analysis(Mapping[str, ModelResult]):
    """Everything MusicNN heard in one file, by model key."""

    path: str
    #: Length of the decoded audio, in seconds.
    duration: float
    results: dict[str, ModelResult]
    #: Seconds spent in each stage (``decode``, ``features``, ``inference``).
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def __getitem__(self, model: str) -> ModelResult:
        return self.results[model]

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the seconds spent in the ``with`` body to ``timings[stage]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def analyze_signal(
    y: np.ndarray,
    models: Iterable[str] = DEFAULT_MODELS,
    *,
    backend: str = "onnx",
    overlap: float = 0.0,
    threads: int = 1,
    timings: dict[str, float] | None = None,
) -> dict[str, ModelResult]:
    """Run the models on a 16 kHz mono signal.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono float audio at 16 kHz; any length, silence included.
    models : iterable of str
        Model keys (``"msd"``, ``"mtt"``).
    backend : str
        ``"onnx"`` or ``"essentia"``.
    overlap : float in [0, 1)
        Share of each 3-second patch shared with the next; 0 is the reference.
    threads : int
        Intra-op threads of the runtime.
    timings : dict, optional
        If given, seconds spent in ``features`` and ``inference`` are added to it.
    """
    timings = {} if timings is None else timings
    with _timed(timings, "features"):
        batch = features.patches(
            features.log_mel_spectrogram(y), features.patch_hop(overlap)
        )
    results = {}
    for key in models:
        spec = get_model(key)
        with _timed(timings, "inference"):
            prediction = load_backend(backend, spec.key, threads).predict(batch)
        results[spec.key] = ModelResult(
            model=spec.key,
            scores=prediction.scores.mean(axis=0),
            embedding=prediction.embeddings.mean(axis=0),
            n_patches=len(batch),
        )
    return results


def analyze(
    path: str | PathLike,
    models: Iterable[str] = DEFAULT_MODELS,
    *,
    backend: str = "onnx",
    overlap: float = 0.0,
    threads: int = 1,
) -> Analysis:
    """Analyse one audio file with MusicNN.

    Raises
    ------
    audio.AudioError
        If the file cannot be read or decoded (the message names the file).
    backends.BackendError
        If the inference runtime or a model cannot be loaded.
    """
    timings: dict[str, float] = {}
    with _timed(timings, "decode"):
        y = audio.load_audio(path, sr=SAMPLE_RATE)
    results = analyze_signal(
        y, models, backend=backend, overlap=overlap, threads=threads, timings=timings
    )
    return Analysis(
        path=str(path),
        duration=len(y) / SAMPLE_RATE,
        results=results,
        timings=timings,
    )
