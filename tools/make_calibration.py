"""Build ``beetsplug/musicnn/calibration.json`` from a reference corpus of music.

The calibration (see :mod:`beetsplug.musicnn.calibration`) is, for every tag of
every model, the mean and standard deviation of ``logit(song-level score)`` over
a corpus of real recordings. This tool analyses every audio file under the
folders it is given, caches each track's song-level scores in a JSON-lines file
(so an interrupted or extended run only analyses new files), fits the
statistics and writes the JSON with the corpus' provenance.

The shipped file was made with the clips of ``../shared/audio`` (the 5 s
trumpet loop is too short and left out) and the music of free-licensed Debian
game packages (Debian main: GPL, CC BY(-SA), CC0 and BSD-like licences),
unpacked (never committed) into ``/tmp/corpus``::

    mkdir -p /tmp/corpus/debs && cd /tmp/corpus/debs
    apt-get download wesnoth-1.16-music hedgewars-data supertux-data \\
        freedroidrpg-data colobot-common-sounds lincity-ng-data \\
        drascula-music asc-music fretsonfire-songs-muldjord \\
        fretsonfire-songs-sectoid
    for f in *.deb; do dpkg -x "$f" "../x/${f%%_*}"; done
    # then one folder (or symlink) per source holding only its music, e.g.
    # /tmp/corpus/music/wesnoth-1.16-music -> .../wesnoth/1.16/data/core/music
    # and fretsonfire's song.ogg files (not guitar.ogg, the isolated guitar)

    cd /work/main
    /work/venv/bin/python tools/make_calibration.py \\
        --cache /tmp/corpus/scores.jsonl --jobs 2 --note "..." \\
        shared-audio=../shared/audio tests-data-music=tests/data/music \\
        /tmp/corpus/music/*

Each positional folder is one *source* in the provenance (its name, number of
tracks, seconds analysed). ``--max-seconds`` bounds the audio read per track.

The same fit runs on a user's own library without decoding audio: every
song-level score is kept in the result store beside the library database, so::

    python tools/make_calibration.py --store ~/.config/beets/library.musicnn.sqlite \
        --out my-calibration.json

calibrates against that library instead (results of every analysis version in
the store are used).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug.musicnn import calibration
from beetsplug.musicnn.analysis import DEFAULT_MODELS
from beetsplug.musicnn.fields import analysis_version

AUDIO_SUFFIXES = {".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus", ".m4a", ".aiff"}
#: Tracks shorter than this are skipped: sound effects, jingles, stingers.
MIN_SECONDS = 10.0


def find_audio(folder: Path) -> Iterator[Path]:
    """Audio files under ``folder`` (symlinks followed), in a stable order."""
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() in AUDIO_SUFFIXES:
                yield path


def _analyse(job: tuple[str, tuple[str, ...], float]) -> dict:
    """Worker: one file -> its song-level scores, or the error."""
    path, models, max_seconds = job
    from beetsplug.musicnn.analysis import analyze_signal
    from beetsplug.musicnn.audio import load_audio

    try:
        y = load_audio(path, duration=max_seconds)
    except Exception as error:  # any undecodable file is just left out
        return {"path": path, "error": str(error)}
    duration = len(y) / 16000
    if duration < MIN_SECONDS:
        return {"path": path, "error": f"shorter than {MIN_SECONDS:g} s"}
    results = analyze_signal(y, models)
    return {
        "path": path,
        "duration": duration,
        "results": {
            key: {"scores": r.scores.tolist(), "n_patches": r.n_patches}
            for key, r in results.items()
        },
    }


def read_cache(cache: Path) -> dict[str, dict]:
    records = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["path"]] = record
    return records


def analyse_all(
    paths: Iterable[Path], models: tuple[str, ...], cache: Path, jobs: int,
    max_seconds: float,
) -> dict[str, dict]:
    """Song-level results of every path, from the cache or by analysing."""
    records = read_cache(cache)
    todo = [
        (str(p), models, max_seconds)
        for p in paths
        if str(p) not in records
        or ("results" in records[str(p)]
            and not set(models) <= set(records[str(p)]["results"]))
    ]
    print(f"{len(records)} cached, {len(todo)} to analyse", file=sys.stderr)
    start = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs) as pool, cache.open("a") as out:
        for done, record in enumerate(pool.imap_unordered(_analyse, todo), 1):
            records[record["path"]] = record
            out.write(json.dumps(record) + "\n")
            out.flush()
            if done % 10 == 0 or done == len(todo):
                rate = done / (time.monotonic() - start)
                print(f"  {done}/{len(todo)} ({rate:.2f} files/s)", file=sys.stderr)
    return records


def fit_store(path: Path, models: tuple[str, ...], out: Path) -> int:
    """Calibrate against the song-level scores kept in a result store."""
    from beetsplug.musicnn.store import ResultStore

    with ResultStore(path) as store:
        samples = {m: (r.scores for r in store.iter_results(m)) for m in models}
        fitted = calibration.Calibration.fit(
            samples,
            provenance={
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sources": [{"name": f"result store {path.name}",
                             "tracks": len(list(store.item_ids()))}],
            },
        )
    fitted.save(out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*",
                        help="one folder of music per corpus source, as PATH or "
                        "NAME=PATH (NAME defaults to the folder's name)")
    parser.add_argument("--store", type=Path,
                        help="fit from this result store instead of folders")
    parser.add_argument("--out", type=Path, default=calibration.DEFAULT_PATH,
                        help="JSON to write (default: the shipped file)")
    parser.add_argument("--cache", type=Path,
                        help="JSON-lines cache of per-track scores")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--note", default="",
                        help="what the corpus is (licences...), kept in the JSON")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="analyse at most this much of each track")
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if args.store:
        return fit_store(args.store, models, args.out)
    if not args.folders or not args.cache:
        parser.error("give folders of music and --cache, or --store")

    sources = {}
    for spec in args.folders:
        name, _, path = spec.rpartition("=")
        folder = Path(path)
        name = name or folder.name or folder.resolve().name
        if name in sources:
            parser.error(f"two sources are called {name!r}: use NAME=PATH")
        sources[name] = list(find_audio(folder))
    every_path = [p for paths in sources.values() for p in paths]
    records = analyse_all(every_path, models, args.cache, args.jobs, args.max_seconds)

    samples: dict[str, list[np.ndarray]] = {m: [] for m in models}
    provenance_sources = []
    for name, paths in sources.items():
        used = [records[str(p)] for p in paths if "results" in records.get(str(p), {})]
        for record in used:
            for model in models:
                samples[model].append(
                    np.asarray(record["results"][model]["scores"], dtype=np.float32)
                )
        provenance_sources.append({
            "name": name,
            "tracks": len(used),
            "seconds": round(sum(r["duration"] for r in used), 1),
        })
        print(f"{name}: {len(used)} tracks of {len(paths)} files", file=sys.stderr)
    provenance = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pipeline": analysis_version(models),
        "max_seconds_per_track": args.max_seconds,
        "min_seconds_per_track": MIN_SECONDS,
        "sources": provenance_sources,
    }
    if args.note:
        provenance["note"] = args.note
    fitted = calibration.Calibration.fit(samples, provenance=provenance)
    fitted.save(args.out)
    print(f"wrote {args.out} ({sum(s['tracks'] for s in provenance_sources)} tracks)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
