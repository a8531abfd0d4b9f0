"""What one radio query costs on a 500,000-item library.

Requirement: one ``beet musicnn-similar`` query in under 1 s and under 500
MB of extra memory on a 500,000-item store.

This builds, in a throw-away folder, a beets library of N items (raw SQL
rows with title, artist, album, year, path: enough for queries and caps;
albums of 10 tracks, 5 albums per artist) and a result store holding an
``msd`` result (50 scores, 200-d float16 embedding) for every item.
Embeddings are synthetic but structured like real ones: a large common
component shared by all items (as MusicNN's), plus one direction per
artist, plus noise, so that neighbours exist and the ranking is not
degenerate.

Then, each in a fresh child process (so that RSS is that query's alone):

- ``index``: the first query, which builds the float16 memory-mapped index
  from the store (after every change of the store this cost recurs once);
- ``radio``: :func:`radio.make_radio` end to end on the built index: the seeds'
  beets query, scoring every item, ranking, the candidates' beets lookups
  with ``--where`` and per-artist/album caps, and the count of items not
  analysed; median wall time of ``--runs`` different seeds in one process,
  and the extra peak RSS (``ru_maxrss`` minus the RSS after imports and
  opening the library);
- ``sqlite``: the baseline without the index: every embedding read from the
  store into a float32 matrix, then the same scoring and ranking.

    python bench/bench_similar.py [--items 500000] [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRACKS_PER_ALBUM = 10
ALBUMS_PER_ARTIST = 5
DIM = 200


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder: Path, n_items: int) -> None:
    """The library and its result store, both filled with raw SQL."""
    from beets.library import Library

    from beetsplug.musicnn.library.store import ResultStore

    music = folder / "music"
    with contextlib.redirect_stdout(io.StringIO()):  # migration "backup" chatter
        lib = Library(str(folder / "library.db"), str(music))
    lib._close()
    per_artist = TRACKS_PER_ALBUM * ALBUMS_PER_ARTIST
    rng = np.random.default_rng(7)
    n_artists = -(-n_items // per_artist)
    common = rng.normal(size=DIM) * 3.0
    artist_directions = rng.normal(size=(n_artists, DIM))
    with sqlite3.connect(folder / "library.db") as db:
        db.executemany(
            "INSERT INTO items (id, path, title, artist, albumartist, album, "
            "year, track, format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'MP3')",
            (
                (
                    i,
                    f"a{i // per_artist}/b{i // TRACKS_PER_ALBUM}/{i}.mp3".encode(),
                    f"title {i}",
                    f"artist {i // per_artist}",
                    f"artist {i // per_artist}",
                    f"album {i // TRACKS_PER_ALBUM}",
                    1960 + (i // TRACKS_PER_ALBUM) % 65,
                    i % TRACKS_PER_ALBUM + 1,
                )
                for i in range(1, n_items + 1)
            ),
        )
    scores = np.zeros(50, "<f4").tobytes()
    with ResultStore(folder / "library.musicnn.sqlite") as store:
        store._db.execute("BEGIN")
        for start in range(1, n_items + 1, 10000):
            ids = np.arange(start, min(start + 10000, n_items + 1))
            artists = (ids - 1) // per_artist
            embeddings = (
                common
                + artist_directions[artists]
                + rng.normal(size=(len(ids), DIM)) * 0.8
            ).astype("<f2")
            store._db.executemany(
                "INSERT INTO results VALUES (?, 'msd', 'v', ?, ?, 10, 30.0, 1.0, 1.0)",
                (
                    (int(i), scores, e.tobytes())
                    for i, e in zip(ids, embeddings, strict=True)
                ),
            )
        store._db.execute("COMMIT")


def child(folder: Path, what: str, runs: int) -> dict:
    """One measurement, in this (fresh) process."""
    from beets.library import Library

    from beetsplug.musicnn.library.store import ResultStore
    from beetsplug.musicnn.sound import radio, similarity

    lib = Library(str(folder / "library.db"), str(folder / "music"))
    store = ResultStore(folder / "library.musicnn.sqlite")
    before = rss_mb()
    n_items = len(store)
    seeds = np.random.default_rng(3).integers(1, n_items, runs)
    times = []
    if what == "index":
        started = time.perf_counter()
        index = radio.open_index(store, "msd")
        times.append(time.perf_counter() - started)
        assert len(index) == n_items
    elif what == "radio":
        for seed in seeds:
            request = radio.RadioRequest(
                seeds=[f"id:{seed}"],
                count=40,
                where=["year:1970..2010"],
                max_per_artist=3,
                max_per_album=1,
            )
            started = time.perf_counter()
            found = radio.make_radio(lib, store, "msd", request)
            times.append(time.perf_counter() - started)
            assert len(found.items) == 40, len(found.items)
            assert found.candidates_not_analysed == 0
    else:  # the baseline: no index, every embedding from SQLite each query
        for seed in seeds:
            started = time.perf_counter()
            count, rows = store.iter_embeddings("msd")
            ids = np.empty(count, np.int64)
            matrix = np.empty((count, DIM), np.float32)
            for row, (item_id, blob) in enumerate(rows):
                ids[row] = item_id
                matrix[row] = np.frombuffer(blob, "<f2")
            unit = similarity.normalize(matrix, mean=matrix.mean(axis=0))
            scores = unit @ unit[np.searchsorted(ids, seed)]
            top = list(zip(range(200), similarity.ranked(scores), strict=False))
            times.append(time.perf_counter() - started)
            assert len(top) == 200
            del matrix, unit
    return {
        "seconds": statistics.median(times),
        "worst": max(times),
        "extra_mb": peak_rss_mb() - before,
        "before_mb": before,
    }


def measure(folder: Path, what: str, runs: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", what, "--runs", str(runs), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build here (reused if present)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.folder, args.child, args.runs)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_similar_"))
    try:
        if not (folder / "library.musicnn.sqlite").exists():
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            build(folder, args.items)
            print(
                f"built {args.items:,} items in {time.perf_counter() - started:.0f} s"
            )
        for path in folder.glob("library.musicnn.msd.*"):
            path.unlink()  # measure the index build too
        index = measure(folder, "index", 1)
        files = sum(p.stat().st_size for p in folder.glob("library.musicnn.msd.*"))
        print(
            f"index build (first query after a change): {index['seconds']:.1f} s, "
            f"extra peak RSS {index['extra_mb']:.0f} MB, files {files / 2**20:.0f} MB"
        )
        query = measure(folder, "radio", args.runs)
        print(
            f"radio query (count 40, --where, caps), median of {args.runs}: "
            f"{query['seconds']:.3f} s (worst {query['worst']:.3f} s), extra peak "
            f"RSS {query['extra_mb']:.0f} MB (process {query['before_mb']:.0f} MB "
            "before)"
        )
        baseline = measure(folder, "sqlite", min(args.runs, 2))
        print(
            f"baseline, embeddings read from SQLite per query: "
            f"{baseline['seconds']:.2f} s, extra peak RSS "
            f"{baseline['extra_mb']:.0f} MB; the index is "
            f"{baseline['seconds'] / query['seconds']:.0f}x faster"
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
