"""What the report and the families cost on a 50,000-item library.

Requirements: ``beet musicnn-report`` in <= 2 minutes and <= 1.5 GB peak
RSS on 2 cores, an HTML file <= 20 MB whose first render in headless
Chromium takes <= 5 s, and ``beet musicnn-families`` in <= 1 minute.

The library and store are ``bench_similar.py``'s (N items, one ``msd``
result each, synthetic embeddings with one direction per artist), plus the
labels a real run stores (genre and tags by artist, mood and energy with
some left empty, the ten default strengths) and some items that were never
analysed or failed, so that every chart has something to show.

Each measurement runs in a fresh child process (its peak RSS is its own):

- ``report``: :func:`report_command.write_report` end to end (UMAP map);
- ``report-pca``: the same with the PCA map, the baseline that shows what
  the projection costs;
- ``families``: ``beet musicnn-families`` (clustering, naming, and printing
  every item in beets' list format to /dev/null);
- ``families-k``: the same with ``-k 12``: the cost of choosing k;
- ``render``: headless Chromium (Selenium) opens the report; the time from
  navigation to the map drawn (``body[data-ready]``), median of ``--runs``.

    python bench/bench_report.py [--items 50000] [--runs 3] [--keep DIR]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

GENRES = [
    "Rock",
    "Pop",
    "Electronic",
    "Jazz",
    "Classical",
    "Heavy Metal",
    "Folk",
    "Hip-Hop",
    "Ambient",
    "Blues",
    "Country",
    "Soul",
    "Punk",
    "Techno",
    "Reggae",
    "Funk",
    "House",
    "Indie Rock",
    "Opera",
    "Chillout",
]
MOODS = ["happy", "sad", "mellow", "party", "chill", "", ""]
ENERGIES = ["loud", "quiet", "fast", "slow", ""]
TAGS = [
    "guitar",
    "piano",
    "male vocalists",
    "female vocalists",
    "beat",
    "strings",
    "drums",
    "synth",
    "instrumental",
    "acoustic",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_labels(folder: Path, n_items: int) -> None:
    """The fields a run stores, and 2 % more items never analysed (a
    quarter of them failed)."""
    from beetsplug.musicnn.labels import fields

    rng = np.random.default_rng(11)
    per_artist = 50
    strengths = [fields.score_field(m, t) for m, t in fields.DEFAULT_SCORES]
    with sqlite3.connect(folder / "library.db") as db:
        rows = []
        for i in range(1, n_items + 1):
            artist = (i - 1) // per_artist
            rows.append((i, fields.GENRE_FIELD, GENRES[artist % len(GENRES)]))
            rows.append((i, fields.MOOD_FIELD, MOODS[int(rng.integers(len(MOODS)))]))
            energy = ENERGIES[(artist + int(rng.integers(2))) % len(ENERGIES)]
            if energy:
                rows.append((i, "musicnn_energy", energy))
            tags = [TAGS[(artist + j) % len(TAGS)] for j in range(3)]
            rows.append((i, fields.TAGS_FIELD, "; ".join(tags)))
            for name, value in zip(strengths, rng.random(len(strengths)), strict=True):
                rows.append((i, name, f"{value:.4f}"))
        extra = max(n_items // 50, 4)
        for i in range(n_items + 1, n_items + extra + 1):
            db.execute(
                "INSERT INTO items (id, path, title, artist, album, format) "
                "VALUES (?, ?, ?, 'never analysed', 'unanalysed', 'MP3')",
                (i, f"x/{i}.mp3".encode(), f"title {i}"),
            )
            if i % 4 == 0:
                reason = [
                    "no such file",
                    "file is empty",
                    "damaged audio data, nothing decodable",
                ][i % 3]
                rows.append((i, fields.ERROR_FIELD, reason))
        db.executemany(
            "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)", rows
        )


def child(folder: Path, what: str) -> dict:
    """One measurement, in this (fresh) process."""
    from beets import config
    from beets.library import Library

    from beetsplug.musicnn.commands import report as report_command
    from beetsplug.musicnn.library.store import ResultStore
    from beetsplug.musicnn.sound import family_sets as family_commands

    config.read(user=False, defaults=True)
    lib = Library(str(folder / "library.db"), str(folder / "music"))
    store = ResultStore(folder / "library.musicnn.sqlite")
    before = peak_rss_mb()
    started = time.perf_counter()
    result: dict = {}
    if what in ("report", "report-pca"):
        summary = report_command.write_report(
            lib,
            store,
            "msd",
            [],
            str(folder / f"{what}.html"),
            projection="pca" if what == "report-pca" else "umap",
        )
        result = {
            "bytes": summary["bytes"],
            "families": summary["families"],
            "timings": summary["timings"],
        }
    else:
        k = 12 if what == "families-k" else None
        family_set = family_commands.make_families(lib, store, "msd", [], k)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            for family in family_set.families:
                print(f"== {family.name} ({len(family.item_ids):,} tracks)")
                for item in family_commands.iter_items(lib, family.item_ids):
                    print(format(item, ""))
        result = {
            "families": len(family_set.families),
            "names": [family.name for family in family_set.families],
            "outliers": family_set.outliers,
            "k_scores": family_set.partition.silhouettes,
        }
    result["seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_mb"] = peak_rss_mb()
    result["before_mb"] = before
    return result


def measure(folder: Path, what: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", what, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def render_seconds(path: Path, runs: int) -> list[float]:
    """Seconds from navigation to the map drawn, in a fresh headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from browser import open_browser

    times = []
    for _ in range(runs):
        with open_browser() as driver:
            started = time.perf_counter()
            driver.get(path.as_uri())
            driver.implicitly_wait(0)
            ready = "return document.body.dataset.ready === '1'"
            while not driver.execute_script(ready):
                if time.perf_counter() - started > 120:
                    raise RuntimeError("the report did not render in 120 s")
                time.sleep(0.05)
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build here (reused if present)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.folder, args.child)))
        return

    import bench_similar

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        if not (folder / "library.musicnn.sqlite").exists():
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                bench_similar.build(folder, args.items)
            add_labels(folder, args.items)
            seconds = time.perf_counter() - started
            print(f"built {args.items:,} items in {seconds:.0f} s")
        measure(folder, "families-k")  # builds the embedding index once
        report = measure(folder, "report")
        pca = measure(folder, "report-pca")
        print(
            f"report (UMAP map): {report['seconds']:.1f} s "
            f"(CPU {report['cpu_seconds']:.0f} s), peak RSS "
            f"{report['peak_mb']:.0f} MB, HTML {report['bytes'] / 2**20:.1f} MB, "
            f"{report['families']} families; stages {report['timings']}"
        )
        print(
            f"baseline, PCA map: {pca['seconds']:.1f} s "
            f"(CPU {pca['cpu_seconds']:.0f} s), peak RSS "
            f"{pca['peak_mb']:.0f} MB: UMAP costs "
            f"{report['seconds'] / pca['seconds']:.1f}x the whole PCA report"
        )
        families = measure(folder, "families")
        fixed = measure(folder, "families-k")
        print(
            f"families (automatic k = {families['families']}, printing every item): "
            f"{families['seconds']:.1f} s (CPU {families['cpu_seconds']:.0f} s), "
            f"peak RSS {families['peak_mb']:.0f} MB, "
            f"{families['outliers']:,} outliers"
        )
        print(
            f"baseline, -k 12: {fixed['seconds']:.1f} s "
            f"(CPU {fixed['cpu_seconds']:.0f} s): choosing k costs "
            f"{families['seconds'] / fixed['seconds']:.2f}x"
        )
        print("family names:", "; ".join(families["names"]))
        renders = render_seconds(folder / "report.html", args.runs)
        print(
            f"first render in headless Chromium, median of {args.runs}: "
            f"{statistics.median(renders):.2f} s (worst {max(renders):.2f} s)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
