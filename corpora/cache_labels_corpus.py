"""Analyse every track of the genre corpus once and cache what the label study needs.

For each row of ``corpora/labels_corpus.tsv`` this writes
``/work/corpus/cache/<key>.npz`` (``key`` = :func:`track_key` of the manifest
path) holding:

- ``msd_scores``, ``mtt_scores``: per-patch sigmoid outputs, float32
  (n_patches, 50), from the plugin's own decoder
  (:func:`beetsplug.musicnn.engine.audio.load_audio`), log-mel patches
  (:mod:`beetsplug.musicnn.engine.features`) and ONNX backend (every patch, no
  overlap: the faithful analysis);
- ``msd_embeddings``, ``mtt_embeddings``: per-patch 200-d embeddings, float16;
- ``duration`` (s, of the 16 kHz decode) and ``n_patches``;
- ``loudness_lufs``: ITU-R BS.1770-4 integrated loudness (pyloudnorm,
  K-weighting, gated), measured on the file decoded at its native rate with
  all its channels (soundfile/libsndfile; a file libsndfile cannot read falls
  back to the plugin's mono decode at the native rate, flagged in
  ``loudness_decode``);
- ``tempo_bpm`` (``librosa.beat.beat_track``) and ``onset_rate`` (onsets per
  second, ``librosa.onset.onset_detect``), both on the 16 kHz mono decode the
  models hear;
- ``seconds_*``: time spent decoding, on features, and on each model.

Two worker processes (spawned, one ONNX thread each), resumable: a key whose
file exists is skipped. Run it under ``nice``, the machine is shared::

    nice -n 10 python corpora/cache_labels_corpus.py [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_labels_corpus import CORPUS, EMOTIFY, resolve

MANIFEST = Path(__file__).with_name("labels_corpus.tsv")
CACHE = CORPUS / "cache"
MODELS = ("msd", "mtt")


def track_key(manifest_path: str) -> str:
    """The cache file name of a manifest path (16 hex digits of its SHA-1)."""
    return hashlib.sha1(manifest_path.encode()).hexdigest()[:16]


def read_manifest(manifest: Path = MANIFEST) -> list[dict]:
    """The manifest's rows, as dicts of strings.

    Emotify's manifest (``file`` below its folder) reads as one of ours:
    ``path`` = ``emotify:<file>``, ``package`` = the artist (the group of
    grouped cross-validation), ``split`` = ``dev`` (the held-out part of
    Emotify is not here).
    """
    with manifest.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if manifest.resolve() == (EMOTIFY / "manifest.tsv").resolve():
        for row in rows:
            row.update(
                path=f"emotify:{row['file']}",
                package=row["artist"],
                split="dev",
                doubtful="1" if row["doubtful"] == "yes" else "0",
            )
    return rows


def _native_loudness(path: Path) -> tuple[float, str]:
    """Integrated loudness in LUFS of the native-rate decode, and which decode."""
    import pyloudnorm
    import soundfile

    from beetsplug.musicnn.engine import audio

    try:
        signal, rate = soundfile.read(path, dtype="float64", always_2d=True)
        decode = "soundfile, all channels"
    except Exception:
        rate = audio.probe(path).sample_rate
        signal = audio.load_audio(path, sr=rate).astype(np.float64)[:, None]
        decode = "plugin decoder, mono"
    meter = pyloudnorm.Meter(rate)  # BS.1770-4, 400 ms blocks
    return float(meter.integrated_loudness(signal)), decode


def analyse_track(task: tuple[str, str]) -> tuple[str, str]:
    """Analyse one track and write its cache file; return (key, status)."""
    manifest_path, target = task
    import librosa

    from beetsplug.musicnn.engine import audio, features
    from beetsplug.musicnn.engine.backends import load_backend
    from beetsplug.musicnn.engine.models import SAMPLE_RATE

    path = resolve(manifest_path)
    out: dict[str, np.ndarray] = {}
    try:
        start = time.perf_counter()
        y = audio.load_audio(path, sr=SAMPLE_RATE)
        out["seconds_decode"] = np.float64(time.perf_counter() - start)
        start = time.perf_counter()
        batch = features.patches(features.log_mel_spectrogram(y))
        out["seconds_features"] = np.float64(time.perf_counter() - start)
        for key in MODELS:
            start = time.perf_counter()
            prediction = load_backend("onnx", key, 1).predict(batch)
            out[f"seconds_{key}"] = np.float64(time.perf_counter() - start)
            out[f"{key}_scores"] = prediction.scores.astype(np.float32)
            out[f"{key}_embeddings"] = prediction.embeddings.astype(np.float16)
        out["duration"] = np.float64(len(y) / SAMPLE_RATE)
        out["n_patches"] = np.int64(len(batch))
        tempo, _ = librosa.beat.beat_track(y=y, sr=SAMPLE_RATE)
        out["tempo_bpm"] = np.float64(np.atleast_1d(tempo)[0])
        onsets = librosa.onset.onset_detect(y=y, sr=SAMPLE_RATE)
        out["onset_rate"] = np.float64(len(onsets) / max(out["duration"], 1e-9))
        del y
        lufs, decode = _native_loudness(path)
        out["loudness_lufs"] = np.float64(lufs)
        out["loudness_decode"] = np.array(decode)
        out["path"] = np.array(manifest_path)
    except Exception as error:
        return manifest_path, f"error: {error}"
    tmp = target + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, target)
    return manifest_path, f"{int(out['n_patches'])} patches"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    tasks = []
    for row in read_manifest(args.manifest):
        target = args.cache / f"{track_key(row['path'])}.npz"
        if not target.exists():
            tasks.append((row["path"], str(target)))
    # Longest first, so the pool does not end waiting on one long track.
    tasks.sort(key=lambda t: -resolve(t[0]).stat().st_size)
    print(f"{len(tasks)} tracks to analyse, cache {args.cache}", flush=True)
    start = time.perf_counter()
    failures = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        for done, (path, status) in enumerate(
            pool.imap_unordered(analyse_track, tasks), 1
        ):
            failures += status.startswith("error")
            elapsed = time.perf_counter() - start
            print(f"[{done}/{len(tasks)} {elapsed:.0f}s] {path}: {status}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
