"""Analyse the content corpus (and music the label corpora's cache lacks) once.

Writes ``/work/content-corpus/cache/<key>.npz`` for every row of
``corpora/content_corpus.tsv`` and for the music sources of
:data:`MUSIC_SOURCES` (the shared clips, the bundled test clips, Emotify),
in the label corpus's cache format (``corpora/cache_labels_corpus.py``):
``msd_scores``/``mtt_scores`` (per-patch sigmoid outputs, float32),
``msd_embeddings``/``mtt_embeddings`` (per-patch ``model/dense/BiasAdd``,
float16), ``n_patches``, ``duration`` and ``path``. The plugin's own engine
does the work: its decoder, its log-mel patches (short audio repeat-padded to
one patch) and its ONNX backend, every patch, no overlap; the mean of a
model's per-patch rows is the song-level ``scores``/``embedding`` the result
store keeps (checked against :func:`beetsplug.musicnn.engine.analysis.analyze`
on the first file of each run).

``key`` is :func:`cache_labels_corpus.track_key` of the source path:
``content:<manifest path>``, ``shared:<file>``, ``bundled:<file>`` and
``emotify:<file>`` (the label corpus's own key for Emotify, so a file the lead's
cache already holds in ``/work/corpus/cache`` is not analysed again).
Resumable; one process (the machine is shared)::

    nice -n 10 python corpora/cache_content_corpus.py [--music] [--content]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROOT = Path("/work/content-corpus")
CACHE = ROOT / "cache"
#: The label corpora's cache (read only here).
LABELS_CACHE = Path("/work/corpus/cache")
MANIFEST = Path(__file__).with_name("content_corpus.tsv")
SHARED_AUDIO = Path("/work/shared/audio")
BUNDLED_MUSIC = REPO / "tests" / "data" / "music"
EMOTIFY = Path("/work/shared/emotify")
MODELS = ("msd", "mtt")
HERE = Path(__file__).resolve().parent
#: Most patches analysed of a calibration-corpus track (spread evenly).
CALIBRATION_PATCHES = 48
AUDIO_SUFFIXES = (".ogg", ".mp3", ".flac", ".wav", ".opus")


def track_key(source: str) -> str:
    """The cache file name of a source path (16 hex digits of its SHA-1)."""
    return hashlib.sha1(source.encode()).hexdigest()[:16]


def content_sources(manifest: Path = MANIFEST) -> list[tuple[str, Path]]:
    """(source, file) of every content manifest row."""
    with manifest.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(f"content:{row['path']}", ROOT / row["path"]) for row in rows]


def music_sources(emotify: bool = False) -> list[tuple[str, Path]]:
    """(source, file) of the music outside the label corpora's manifests.

    Emotify only with ``emotify``: the label corpora's cache holds it
    (``cache_labels_corpus.py --manifest /work/shared/emotify/manifest.tsv``).
    """
    sources = []
    for prefix, folder in (("shared", SHARED_AUDIO), ("bundled", BUNDLED_MUSIC)):
        if folder.is_dir():
            sources += [
                (f"{prefix}:{path.name}", path)
                for path in sorted(folder.iterdir())
                if path.suffix.lower() in AUDIO_SUFFIXES
            ]
    manifest = EMOTIFY / "manifest.tsv"
    if emotify and manifest.exists():
        with manifest.open() as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                sources.append((f"emotify:{row['file']}", EMOTIFY / row["file"]))
    return sources


def calibration_sources() -> list[tuple[str, Path]]:
    """(source, file) of the calibration corpus's tracks outside the genre corpus.

    The genre corpus's tracks are cached by ``cache_labels_corpus.py``; the
    others (game music of the calibration corpus) are analysed here with at
    most :data:`CALIBRATION_PATCHES` patches spread over the track (as
    ``--fast`` does), interleaved by package so that a partial run covers
    every package.
    """
    with (HERE / "calibration_corpus.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    by_source: dict[str, list[tuple[str, Path]]] = {}
    for row in rows:
        cache = row["patch_cache"]
        if cache and Path(cache).is_file():
            continue
        by_source.setdefault(row["source"], []).append(
            (f"calibration:{row['path']}", Path(row["path"]))
        )
    queues = [by_source[name] for name in sorted(by_source)]
    out = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def labels_extra_sources() -> list[tuple[str, Path]]:
    """(manifest path, file) of ``labels_corpus_extra.tsv``'s tracks on disk.

    Keyed as ``cache_labels_corpus.py`` keys them (the manifest path), so
    either cache serves; rows whose audio is not built yet are left out.
    """
    sys.path.insert(0, str(HERE))
    from make_labels_corpus import resolve

    with (HERE / "labels_corpus_extra.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        (row["path"], resolve(row["path"]))
        for row in rows
        if resolve(row["path"]).is_file()
    ]


def cached(source: str) -> Path | None:
    """The cache file of ``source`` here or in the label corpora's cache."""
    for folder in (CACHE, LABELS_CACHE):
        path = folder / f"{track_key(source)}.npz"
        if path.exists():
            return path
    return None


def analyse(
    source: str, path: Path, check: bool = False, budget: int | None = None
) -> str:
    """Analyse one file and write its cache file; return a status.

    ``budget``: analyse at most that many patches, spread evenly
    (:func:`sampling.choose_patches`), instead of all of them.
    """
    from beetsplug.musicnn.engine import audio, features, sampling
    from beetsplug.musicnn.engine.backends import load_backend
    from beetsplug.musicnn.engine.models import SAMPLE_RATE

    y = audio.load_audio(path, sr=SAMPLE_RATE)
    batch = features.patches(features.log_mel_spectrogram(y))
    out: dict[str, np.ndarray] = {}
    if budget is not None and len(batch) > budget:
        out["patches_of"] = np.int64(len(batch))
        batch = batch[sampling.choose_patches(len(batch), budget)]
        check = False
    for key in MODELS:
        prediction = load_backend("onnx", key, 1).predict(batch)
        out[f"{key}_scores"] = prediction.scores.astype(np.float32)
        out[f"{key}_embeddings"] = prediction.embeddings.astype(np.float16)
    out["duration"] = np.float64(len(y) / SAMPLE_RATE)
    out["n_patches"] = np.int64(len(batch))
    out["path"] = np.array(source)
    if check:
        from beetsplug.musicnn.engine.analysis import analyze

        reference = analyze(path, MODELS)
        for key in MODELS:
            gap = np.abs(out[f"{key}_scores"].mean(0) - reference[key].scores).max()
            if gap > 1e-5:
                raise RuntimeError(
                    f"{source}: {key} scores differ from analyze() by {gap}"
                )
    target = CACHE / f"{track_key(source)}.npz"
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, target)
    return f"{int(out['n_patches'])} patches"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", action="store_true", help="the content corpus")
    parser.add_argument("--music", action="store_true", help="shared, bundled clips")
    parser.add_argument("--emotify", action="store_true", help="Emotify, if uncached")
    parser.add_argument(
        "--labels-extra", action="store_true", help="labels_corpus_extra.tsv's tracks"
    )
    parser.add_argument(
        "--calibration", action="store_true", help="calibration tracks, 48 patches"
    )
    args = parser.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    sources = (content_sources() if args.content else []) + (
        music_sources(args.emotify) if args.music else []
    )
    sources += labels_extra_sources() if args.labels_extra else []
    sources += calibration_sources() if args.calibration else []
    todo = [(source, path) for source, path in sources if cached(source) is None]
    print(f"{len(sources)} sources, {len(todo)} to analyse", flush=True)
    for number, (source, path) in enumerate(todo, 1):
        try:
            budget = CALIBRATION_PATCHES if source.startswith("calibration:") else None
            status = analyse(source, path, check=number == 1, budget=budget)
        except Exception as error:
            status = f"error: {error}"
        print(f"[{number}/{len(todo)}] {source}: {status}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
