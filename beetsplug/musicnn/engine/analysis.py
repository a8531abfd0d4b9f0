"""The analysis of one file: decode -> log-mel patches -> each model -> song level.

This is the public Python API; it needs no beets library::

    from beetsplug.musicnn.engine.analysis import analyze

    result = analyze("song.flac", models=("msd", "mtt"))
    result["msd"].top(5)  # [("rock", 0.61), ...]

Models are loaded once per process (see :func:`backends.load_backend`) and
reused by every later call. ``analyze(path, patch_budget=48)`` is fast mode:
it listens to 48 patches spread over the track instead of all of them, and
decodes only their audio (see :mod:`sampling`). ``analyze(path,
patch_shares={"mtt": 0.34})`` lets MTT listen to a third of the patches
(:func:`sampling.share_patches`) while MSD hears them all; the log-mel
spectrogram is computed once for both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from os import PathLike

import numpy as np

from . import audio, features, sampling
from .backends import load_backend
from .models import PATCH_FRAMES, SAMPLE_RATE, get_model

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
    patch_shares: Mapping[str, float] | None = None,
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
    patch_shares : mapping model key -> float in (0, 1], optional
        Share of the patches each model listens to (default 1: all), see
        :func:`sampling.share_patches`.
    timings : dict, optional
        If given, seconds spent in ``features`` and ``inference`` are added to it.
    """
    timings = {} if timings is None else timings
    with _timed(timings, "features"):
        batch = features.patches(
            features.log_mel_spectrogram(y), features.patch_hop(overlap)
        )
    return analyze_patches(
        batch,
        models,
        backend=backend,
        threads=threads,
        patch_shares=patch_shares,
        timings=timings,
    )


def analyze_patches(
    batch: np.ndarray,
    models: Iterable[str] = DEFAULT_MODELS,
    *,
    backend: str = "onnx",
    threads: int = 1,
    patch_shares: Mapping[str, float] | None = None,
    timings: dict[str, float] | None = None,
    rows: Mapping[str, np.ndarray] | None = None,
) -> dict[str, ModelResult]:
    """Run the models on log-mel patches and average their outputs.

    Parameters
    ----------
    batch : np.ndarray, shape (n, 187, 96)
        Log-mel patches (:func:`features.patches`) of one track.
    models, backend, threads, patch_shares, timings
        As for :func:`analyze_signal`.
    rows : mapping model key -> array of int, optional
        The rows of ``batch`` each model hears (fast mode's
        :func:`sampling.model_patches`), instead of ``patch_shares``.
    """
    timings = {} if timings is None else timings
    shares = {get_model(m).key: share for m, share in (patch_shares or {}).items()}
    results = {}
    for key in models:
        spec = get_model(key)
        share = shares.get(spec.key, 1.0)
        if rows is not None:
            heard = batch[rows[spec.key]]
        elif share == 1.0:
            heard = batch
        else:
            heard = batch[sampling.share_patches(len(batch), share)]
        with _timed(timings, "inference"):
            prediction = load_backend(backend, spec.key, threads).predict(heard)
        results[spec.key] = ModelResult(
            model=spec.key,
            scores=prediction.scores.mean(axis=0),
            embedding=prediction.embeddings.mean(axis=0),
            n_patches=len(heard),
        )
    return results


def analyze(
    path: str | PathLike,
    models: Iterable[str] = DEFAULT_MODELS,
    *,
    backend: str = "onnx",
    overlap: float = 0.0,
    threads: int = 1,
    patch_budget: int | None = None,
    patch_shares: Mapping[str, float] | None = None,
) -> Analysis:
    """Analyse one audio file with MusicNN.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file in any format :func:`audio.load_audio` reads.
    models, backend, overlap, threads
        As for :func:`analyze_signal`.
    patch_budget : int >= 1 or None
        Fast mode: each model hears this many patches spread over the track
        (a model with a share, ``ceil(budget * share)`` of its own patches:
        :func:`sampling.model_patches`), and only their audio is decoded.
        ``None``, or a budget with which every model would hear all of its
        patches anyway, is the faithful analysis.
    patch_shares : mapping model key -> float in (0, 1], optional
        Share of the patches each model listens to; default 1 (all). See
        :func:`sampling.share_patches`.

    Raises
    ------
    audio.AudioError
        If the file cannot be read or decoded (the message names the file).
    backends.BackendError
        If the inference runtime or a model cannot be loaded.
    """
    timings: dict[str, float] = {}
    hop = features.patch_hop(overlap)
    keys = [get_model(m).key for m in models]
    shares = {get_model(m).key: share for m, share in (patch_shares or {}).items()}
    sampled = None
    if patch_budget is not None:
        sampled = _sampled_patches(path, keys, shares, patch_budget, hop, timings)
    rows = None
    if sampled is None:
        with _timed(timings, "decode"):
            y = audio.load_audio(path, sr=SAMPLE_RATE)
        duration = len(y) / SAMPLE_RATE
        with _timed(timings, "features"):
            batch = features.patches(features.log_mel_spectrogram(y), hop)
        # An hour of 16 kHz audio is 230 MB that inference does not need.
        del y
    else:
        batch, rows, duration = sampled
    results = analyze_patches(
        batch,
        keys,
        backend=backend,
        threads=threads,
        patch_shares=shares,
        timings=timings,
        rows=rows,
    )
    return Analysis(
        path=str(path),
        duration=duration,
        results=results,
        timings=timings,
    )


def _sampled_patches(
    path: str | PathLike,
    models: list[str],
    shares: Mapping[str, float],
    budget: int,
    hop: int,
    timings: dict[str, float],
) -> tuple[np.ndarray, dict[str, np.ndarray], float] | None:
    """Fast mode's patches of a file, the rows of them each model hears,
    and the file's duration in seconds.

    Returns ``None`` where fast mode would analyse every patch anyway (or
    none: a header that promised more audio than the file holds), so that
    the caller runs the faithful analysis.
    """
    if budget < 1:
        raise ValueError(f"patch_budget must be >= 1, not {budget}")
    with _timed(timings, "decode"):
        info = audio.probe(path)
    n_samples = audio.resampled_length(info.frames, info.sample_rate, SAMPLE_RATE)
    n_patches = sampling.patch_count(n_samples, hop)
    wanted = {
        key: sampling.model_patches(n_patches, shares.get(key, 1.0), budget)
        for key in models
    }
    in_full = [
        len(sampling.model_patches(n_patches, shares.get(key, 1.0))) for key in models
    ]
    if [len(wanted[key]) for key in models] == in_full:
        return None  # every model would hear all of its patches anyway
    chosen = np.unique(np.concatenate(list(wanted.values())))
    reads = sampling.plan_reads(chosen, n_samples, info.sample_rate, hop=hop)
    decoded = {}
    for read in reads:
        with _timed(timings, "decode"):
            try:
                y = _decode_read(path, read, info.sample_rate, n_samples)
            except audio.AudioError:
                continue  # past the real end of a file whose header guessed long
        with _timed(timings, "features"):
            mel = features.log_mel_spectrogram(y)
        for patch in read.patches:
            frames = mel[read.patch_frames(patch, hop)]
            # A read cut short by the end of the file drops its partial
            # patches, as the faithful analysis drops the last partial patch.
            if len(frames) == PATCH_FRAMES:
                decoded[patch] = frames
    row_of = {patch: row for row, patch in enumerate(sorted(decoded))}
    rows = {
        key: np.array([row_of[p] for p in patches.tolist() if p in row_of], dtype=int)
        for key, patches in wanted.items()
    }
    if not all(len(heard) for heard in rows.values()):
        return None
    batch = np.stack([decoded[patch] for patch in sorted(decoded)])
    return batch, rows, n_samples / SAMPLE_RATE


def _decode_read(
    path: str | PathLike, read: sampling.Read, native_rate: int, n_samples: int
) -> np.ndarray:
    """Decode the 16 kHz samples ``[read.start, read.stop)`` of a file.

    The read's ends fall on whole native frames (``sampling.read_alignment``);
    half a frame more keeps ``load_audio``'s ``int(seconds * rate)`` from
    rounding down to the frame before.
    """
    first = read.start * native_rate // SAMPLE_RATE
    offset = (first + 0.5) / native_rate
    if read.stop >= n_samples:
        # To the end of the file, where the faithful analysis also stops.
        return audio.load_audio(path, SAMPLE_RATE, offset=offset)
    last = read.stop * native_rate // SAMPLE_RATE
    return audio.load_audio(
        path, SAMPLE_RATE, offset=offset, duration=(last - first + 0.5) / native_rate
    )
