"""What the plugin's default fields cost ``beet ls``.

Requirement: with the default ``scores`` selection, ``beet ls`` over a
50,000-item library must cost at most 1.5x the wall time and peak memory of
the same library without musicnn data.

This builds two throw-away SQLite libraries of N items (albums of 10 tracks)
with the same realistic fixed fields (title, artist, album, year, genres,
path, length, bitrate...). In the second one every item also carries what a
default analysis stores (see ``saving.derived_fields``): the ten default score
fields, ``musicnn_genre``, ``musicnn_mood``, ``musicnn_tags``,
``musicnn_version`` and ``musicnn_analyzed``. Those values are computed the
way the plugin computes them, with ``fields.derive_fields`` and the default
``FieldSettings``, from synthetic raw scores drawn so that each tag's logit
follows the shipped calibration (``sigmoid(mu + sigma * N(0, 1))``), i.e.
plausible reference-like tracks, not real audio.

Both configurations enable ``plugins: musicnn``, so the only difference is the
data. Each ``beet -c CONFIG ls`` runs in a fresh subprocess (output to
/dev/null); its wall time and peak RSS (``ru_maxrss`` of that child, from
``os.wait4``) are recorded, and the medians of ``--runs`` runs are compared.
``beet ls musicnn_msd_happy:0.5..`` on the musicnn library is timed as extra
information.

    python bench/bench_ls.py [--items 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from beets.library import Item, Library  # noqa: E402

from beetsplug.musicnn.labels import fields  # noqa: E402
from beetsplug.musicnn.labels.calibration import default_calibration  # noqa: E402

BUDGET_RATIO = 1.5
TRACKS_PER_ALBUM = 10
GENRES = (
    "Rock",
    "Pop",
    "Jazz",
    "Electronic",
    "Hip-Hop",
    "Classical",
    "Folk",
    "Metal",
    "Soul",
    "Blues",
    "Ambient",
    "Country",
    "Punk",
    "Reggae",
)
WORDS = (
    "night",
    "river",
    "light",
    "heart",
    "dream",
    "fire",
    "city",
    "blue",
    "road",
    "summer",
    "ghost",
    "golden",
    "silent",
    "wild",
    "electric",
    "paper",
    "glass",
    "storm",
    "morning",
    "echo",
    "velvet",
    "stone",
    "winter",
    "shadow",
    "ocean",
)


def words(rng: np.random.Generator, low: int, high: int) -> str:
    count = int(rng.integers(low, high + 1))
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), count)).title()


def musicnn_values(
    rng: np.random.Generator, settings: fields.FieldSettings, version: str
) -> dict[str, object]:
    """The fields a default analysis stores, from reference-like raw scores."""
    calibration = default_calibration()
    results = {}
    for key in settings.models:
        stats = calibration.stats[key]
        logits = stats.mu + stats.sigma * rng.standard_normal(len(stats.mu))
        results[key] = 1.0 / (1.0 + np.exp(-logits))
    values = fields.derive_fields(results, settings, calibration)
    values[fields.VERSION_FIELD] = version
    values[fields.ANALYZED_FIELD] = time.time() - float(rng.uniform(0, 30 * 86400))
    return values


def build_library(db_path: Path, music: Path, n_items: int, musicnn: bool) -> float:
    """Fill a library with ``n_items`` items; returns the seconds it took."""
    # What loading the plugin does in ``beet``: declare its field types, so the
    # values are stored as the plugin stores them (floats as REAL...).
    Item._types = {**Item._types, **fields.item_types()}
    settings = fields.FieldSettings()
    version = fields.analysis_version(settings.models)
    rng = np.random.default_rng(1234)  # same fixed fields in both libraries
    flex_rng = np.random.default_rng(5678)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # migration "backup" chatter
        lib = Library(str(db_path), str(music))
    with lib.transaction():
        for first in range(0, n_items, TRACKS_PER_ALBUM):
            n_tracks = min(TRACKS_PER_ALBUM, n_items - first)
            artist = words(rng, 1, 3)
            album = words(rng, 1, 4)
            year = int(rng.integers(1960, 2026))
            genre = GENRES[int(rng.integers(0, len(GENRES)))]
            items = []
            for track in range(1, n_tracks + 1):
                title = words(rng, 1, 5)
                path = music / artist / album / f"{track:02d} {title}.mp3"
                item = Item(
                    path=str(path).encode(),
                    title=title,
                    artist=artist,
                    albumartist=artist,
                    album=album,
                    year=year,
                    month=int(rng.integers(1, 13)),
                    day=int(rng.integers(1, 29)),
                    track=track,
                    tracktotal=n_tracks,
                    disc=1,
                    disctotal=1,
                    genres=[genre],
                    length=float(rng.uniform(90, 420)),
                    bitrate=320000,
                    samplerate=44100,
                    bitdepth=16,
                    channels=2,
                    format="MP3",
                    label=words(rng, 1, 2) + " Records",
                    mb_trackid=f"{first + track:08x}-0000-4000-8000-000000000000",
                    mtime=time.time(),
                    added=time.time(),
                )
                if musicnn:
                    item.update(musicnn_values(flex_rng, settings, version))
                items.append(item)
            lib.add_album(items)
    lib._close()
    return time.perf_counter() - start


def write_config(folder: Path, db_path: Path, music: Path) -> Path:
    config = folder / "config.yaml"
    config.write_text(f"directory: {music}\nlibrary: {db_path}\nplugins: [musicnn]\n")
    return config


def run_beet(folder: Path, config: Path, args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one ``beet -c config ...`` process."""
    env = {
        **os.environ,
        "BEETSDIR": str(folder),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable,
        "-c",
        "import sys, beets.ui; beets.ui.main(sys.argv[1:])",
        "-c",
        str(config),
        *args,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(
            f"beet {' '.join(args)} failed ({process.returncode}):\n{stderr}"
        )
    return elapsed, usage.ru_maxrss  # KiB on Linux


def count_rows(db_path: Path) -> tuple[int, int]:
    import sqlite3

    with sqlite3.connect(db_path) as db:
        items = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        flex = db.execute("SELECT COUNT(*) FROM item_attributes").fetchone()[0]
    return items, flex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_ls_") as tmp:
        libraries = {}
        for name, musicnn in (("without musicnn", False), ("with musicnn", True)):
            folder = Path(tmp) / ("with" if musicnn else "without")
            folder.mkdir()
            db_path, music = folder / "library.db", folder / "music"
            seconds = build_library(db_path, music, args.items, musicnn)
            items, flex = count_rows(db_path)
            print(
                f"built {name!r}: {items} items, {flex} flexible attribute rows "
                f"({flex / items:.1f}/item), {db_path.stat().st_size / 2**20:.1f} MiB,"
                f" in {seconds:.1f} s",
                flush=True,
            )
            libraries[name] = (folder, write_config(folder, db_path, music))

        for folder, config in libraries.values():  # warm caches and bytecode
            run_beet(folder, config, ["ls", "id:1"])

        cases = [
            ("without musicnn", ["ls"]),
            ("with musicnn", ["ls"]),
            ("with musicnn", ["ls", "musicnn_msd_happy:0.5.."]),
        ]
        results: dict[int, tuple[list[float], list[int]]] = {
            i: ([], []) for i in range(len(cases))
        }
        for _ in range(args.runs):  # interleaved, so drift hits all cases alike
            for i, (name, beet_args) in enumerate(cases):
                seconds, rss = run_beet(*libraries[name], beet_args)
                results[i][0].append(seconds)
                results[i][1].append(rss)

    medians = [
        (statistics.median(times), statistics.median(rss))
        for times, rss in results.values()
    ]
    print()
    print(
        f"beet ls, {args.items} items, median of {args.runs} runs (fresh process each)"
    )
    header = (
        f"{'library':<17} {'command':<32} {'wall s':>8} {'peak RSS MiB':>13}  runs (s)"
    )
    print(header)
    print("-" * len(header))
    for (name, beet_args), (seconds, rss), (times, _) in zip(
        cases, medians, results.values(), strict=True
    ):
        runs = ", ".join(f"{t:.2f}" for t in times)
        command = "beet " + " ".join(beet_args)
        print(f"{name:<17} {command:<32} {seconds:>8.2f} {rss / 1024:>13.1f}  {runs}")
    time_ratio = medians[1][0] / medians[0][0]
    rss_ratio = medians[1][1] / medians[0][1]
    print()
    for label, ratio in (("wall time", time_ratio), ("peak RSS", rss_ratio)):
        verdict = "OK" if ratio <= BUDGET_RATIO else "OVER BUDGET"
        print(
            f"ratio with/without, {label:<9}: {ratio:.2f}x  "
            f"(budget {BUDGET_RATIO}x: {verdict})"
        )
    if not (math.isfinite(time_ratio) and math.isfinite(rss_ratio)):
        raise SystemExit("no measurement")


if __name__ == "__main__":
    main()
