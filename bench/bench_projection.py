"""Which 2-D projection keeps MusicNN neighbours together: UMAP, openTSNE, PCA.

For the report's map. Measures, on real embeddings, the trustworthiness
(``sklearn.manifold.trustworthiness``: 1.0 when every point's k nearest
neighbours on the map are also among its nearest in the embedding space,
lower when the map puts strangers together) of each method at k = 5 and 15,
and its time; then, with ``--scale N``, the time and peak RSS of each on N
synthetic items (``bench_similar.py``'s structure), each in a fresh process.

Real embeddings, in order of preference:

- ``--cache DIR``: the label corpus cache (``corpora/cache_labels_corpus.py``:
  one ``.npz`` per track with per-patch ``msd_embeddings``): tracks (mean
  embedding, what the map shows) and patches (a fixed sample of 3,000 3-second
  windows: a larger, denser set);
- otherwise the clips of ``../shared/audio`` and ``tests/data/music``: the
  embedding of every 3-second patch (the engine run here).

Vectors are the radio's (centred on the mean, unit length), and every method
gets the same PCA-50 input as the report uses.

    python bench/bench_projection.py [--cache /work/corpus/cache] [--scale 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("pca", "umap", "tsne")
PATCH_SAMPLE = 3000


def clip_patch_embeddings() -> tuple[np.ndarray, str]:
    from beetsplug.musicnn.engine import audio, features
    from beetsplug.musicnn.engine.backends import load_backend

    folders = [
        REPO_ROOT.parent / "shared" / "audio",
        REPO_ROOT / "tests" / "data" / "music",
    ]
    backend = load_backend("onnx", "msd")
    rows = []
    clips = 0
    for folder in folders:
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() not in (".ogg", ".mp3", ".flac"):
                continue
            patches = features.patches(
                features.log_mel_spectrogram(audio.load_audio(path))
            )
            rows.append(backend.predict(patches).embeddings)
            clips += 1
    matrix = np.concatenate(rows)
    return matrix, f"{len(matrix)} 3-second patches of {clips} real clips"


def cache_embeddings(cache: Path) -> list[tuple[np.ndarray, str]]:
    tracks, patches = [], []
    for path in sorted(cache.glob("*.npz")):
        with np.load(path) as data:
            embeddings = np.asarray(data["msd_embeddings"], dtype=np.float32)
        tracks.append(embeddings.mean(axis=0))
        patches.append(embeddings)
    patch_matrix = np.concatenate(patches)
    pick = np.sort(
        np.random.default_rng(0).permutation(len(patch_matrix))[:PATCH_SAMPLE]
    )
    return [
        (np.stack(tracks), f"{len(tracks)} corpus tracks (mean embedding)"),
        (patch_matrix[pick], f"{len(pick)} of {len(patch_matrix)} corpus patches"),
    ]


def unit(matrix: np.ndarray) -> np.ndarray:
    from beetsplug.musicnn.sound.similarity import normalize

    return normalize(matrix, mean=matrix.mean(axis=0))


def project(method: str, vectors: np.ndarray) -> np.ndarray:
    from beetsplug.musicnn.sound import projection

    if method in ("pca", "umap"):
        return projection.project(vectors, method)
    import openTSNE

    reduced = projection.reduce(vectors)
    perplexity = min(30.0, (len(reduced) - 1) / 3.0)
    return np.asarray(
        openTSNE.TSNE(perplexity=perplexity, n_jobs=2, random_state=0).fit(reduced)
    )


def quality(vectors: np.ndarray, label: str) -> None:
    from sklearn.manifold import trustworthiness

    print(f"\n{label}")
    print("| method | trustworthiness k=5 | k=15 | seconds |")
    print("|---|---:|---:|---:|")
    for method in METHODS:
        started = time.perf_counter()
        positions = project(method, vectors)
        seconds = time.perf_counter() - started
        scores = [trustworthiness(vectors, positions, n_neighbors=k) for k in (5, 15)]
        print(f"| {method} | {scores[0]:.3f} | {scores[1]:.3f} | {seconds:.1f} |")


def scale_child(method: str, n_items: int) -> dict:
    rng = np.random.default_rng(7)
    per_artist = 50
    artists = rng.normal(size=(-(-n_items // per_artist), 200))
    matrix = (
        artists[np.arange(n_items) // per_artist]
        + rng.normal(size=(n_items, 200)) * 0.8
    )
    vectors = unit(matrix.astype(np.float32))
    started = time.perf_counter()
    project(method, vectors)
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--scale", type=int, default=0)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(scale_child(args.child, args.scale)))
        return
    if not args.skip_quality:
        if args.cache and any(args.cache.glob("*.npz")):
            sets = cache_embeddings(args.cache)
        else:
            sets = [clip_patch_embeddings()]
        for matrix, label in sets:
            quality(unit(matrix), label)
    if args.scale:
        print(f"\n{args.scale:,} synthetic items, each method in a fresh process")
        print("| method | seconds | peak RSS MB | x PCA |")
        print("|---|---:|---:|---:|")
        results = {}
        for method in METHODS:
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    method,
                    "--scale",
                    str(args.scale),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[method] = json.loads(output.splitlines()[-1])
        for method, result in results.items():
            ratio = result["seconds"] / results["pca"]["seconds"]
            print(
                f"| {method} | {result['seconds']:.1f} | {result['peak_mb']:.0f} | "
                f"{ratio:.0f}x |"
            )


if __name__ == "__main__":
    main()
