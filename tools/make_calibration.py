"""Build ``beetsplug/musicnn/labels/calibration.json`` from a reference corpus of music.

The calibration (see :mod:`beetsplug.musicnn.labels.calibration`) is, for every tag of
every model, the mean and standard deviation of ``logit(song-level score)`` over
a corpus of real recordings. This tool analyses every audio file under the
folders it is given, caches each track's song-level scores in a JSON-lines file
(so an interrupted or extended run only analyses new files), fits the
statistics and writes the JSON with the corpus' provenance.

The shipped file is fitted on the label corpus and a per-package sample of
the other music of free-licensed Debian packages (Debian main: GPL, CC
BY(-SA), CC0 and BSD-like licences; unpacked under ``/work/corpus`` by
``corpora/make_labels_corpus.py``, never committed), plus the project's clips::

    python corpora/calibration_corpus.py      # -> corpora/calibration_corpus.tsv
    nice -n 10 python tools/make_calibration.py \
        --tracks corpora/calibration_corpus.tsv \
        --cache /work/corpus/calibration_scores.jsonl --max-seconds 90 --jobs 2 \
        --note "..." shared-audio=../shared/audio tests-data-music=tests/data/music

(its provenance and ``docs/labels.md`` say what it holds). The release before
used ten game-music folders (wesnoth, hedgewars, supertux, ...) as positional
sources, one folder (or symlink) per source holding only its music.

Each positional folder is one *source* in the provenance (its name, number of
tracks, seconds analysed). ``--max-seconds`` bounds the audio read per track.

The numbers are those of the plugin's default analysis: both models, each on
its default patch share (``patch_share``, MTT on a third of the patches);
``--patch-share MODEL=SHARE`` sets others. ``--tracks FILE`` adds the tracks of
a TSV (columns ``source``, ``family``, ``path``, ``patch_cache``; written for
the label corpus by ``corpora/calibration_corpus.py``): a track with a
``patch_cache`` (an ``.npz`` of ``corpora/cache_labels_corpus.py`` holding every
patch's outputs) is taken from it at the same shares, without decoding; the
others are analysed. The provenance then counts tracks per source and per
family. A folder's file already listed in ``--tracks`` is counted once.
How the shipped file was made is recorded in its ``provenance.note`` and in
``docs/labels.md``.

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

from beetsplug.musicnn.engine import sampling
from beetsplug.musicnn.engine.analysis import DEFAULT_MODELS
from beetsplug.musicnn.labels import calibration
from beetsplug.musicnn.labels.fields import analysis_version
from beetsplug.musicnn.library.settings import DEFAULT_CONFIG

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


def _analyse(job: tuple[str, tuple[str, ...], float, dict]) -> dict:
    """Worker: one file -> its song-level scores, or the error."""
    path, models, max_seconds, shares = job
    from beetsplug.musicnn.engine.analysis import analyze_signal
    from beetsplug.musicnn.engine.audio import load_audio

    try:
        y = load_audio(path, duration=max_seconds)
    except Exception as error:  # any undecodable file is just left out
        return {"path": path, "error": str(error)}
    duration = len(y) / 16000
    if duration < MIN_SECONDS:
        return {"path": path, "error": f"shorter than {MIN_SECONDS:g} s"}
    results = analyze_signal(y, models, patch_shares=shares)
    return {
        "path": path,
        "duration": duration,
        "shares": shares,
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
    max_seconds: float, shares: dict[str, float] | None = None,
) -> dict[str, dict]:
    """Song-level results of every path, from the cache or by analysing.

    A cached record counts only if it has every model at the same patch
    shares (records of earlier runs without shares were full analyses).
    """
    shares = dict(shares or {})
    records = read_cache(cache)

    def current(record: dict | None) -> bool:
        if record is None:
            return False
        if "results" not in record:
            return True  # an error: the file is not tried again
        return (set(models) <= set(record["results"])
                and record.get("shares", {}) == shares)

    todo = [
        (str(p), models, max_seconds, shares)
        for p in paths
        if not current(records.get(str(p)))
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


def read_tracks(path: Path) -> list[dict]:
    """Rows of a ``--tracks`` TSV (source, family, path, patch_cache)."""
    import csv

    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def cached_record(row: dict, models: tuple[str, ...], shares: dict) -> dict:
    """A record like :func:`_analyse`'s from a label-corpus patch cache."""
    with np.load(row["patch_cache"]) as data:
        results = {}
        for model in models:
            patches = data[f"{model}_scores"].astype(np.float64)
            chosen = sampling.share_patches(len(patches), shares.get(model, 1.0))
            results[model] = {"scores": patches[chosen].mean(axis=0).tolist(),
                              "n_patches": len(chosen)}
        return {"path": row["path"], "duration": float(data["duration"]),
                "results": results}


def fit_store(path: Path, models: tuple[str, ...], out: Path) -> int:
    """Calibrate against the song-level scores kept in a result store."""
    from beetsplug.musicnn.library.store import ResultStore

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
    parser.add_argument("--patch-share", action="append", default=None,
                        metavar="MODEL=SHARE",
                        help="share of the patches MODEL hears (default: the "
                        "plugin's patch_share); repeatable")
    parser.add_argument("--tracks", type=Path, action="append", default=[],
                        help="a TSV of tracks (source, family, path, "
                        "patch_cache); repeatable")
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if args.store:
        return fit_store(args.store, models, args.out)
    if not (args.folders or args.tracks) or not args.cache:
        parser.error("give folders of music or --tracks, and --cache; or --store")
    if args.patch_share is None:
        shares = {m: float(s) for m, s in DEFAULT_CONFIG["patch_share"].items()
                  if m in models}
    else:
        shares = {}
        for spec in args.patch_share:
            model, _, value = spec.partition("=")
            shares[model] = float(value)

    # source -> [(path, family, patch cache)]
    sources: dict[str, list[tuple[str, str, str]]] = {}
    listed = set()
    for table in args.tracks:
        for row in read_tracks(table):
            sources.setdefault(row["source"], []).append(
                (row["path"], row.get("family", ""), row.get("patch_cache", ""))
            )
            listed.add(str(Path(row["path"]).resolve()))
    for spec in args.folders:
        name, _, path = spec.rpartition("=")
        folder = Path(path)
        name = name or folder.name or folder.resolve().name
        if name in sources:
            parser.error(f"two sources are called {name!r}: use NAME=PATH")
        sources[name] = [(str(p), "", "") for p in find_audio(folder)
                         if str(p.resolve()) not in listed]
    to_analyse = [Path(p) for entries in sources.values()
                  for p, _, cache in entries if not cache]
    records = analyse_all(
        to_analyse, models, args.cache, args.jobs, args.max_seconds, shares
    )
    for entries in sources.values():
        for path, _, cache in entries:
            if cache:
                records[path] = cached_record(
                    {"path": path, "patch_cache": cache}, models, shares
                )

    samples: dict[str, list[np.ndarray]] = {m: [] for m in models}
    provenance_sources = []
    families: dict[str, int] = {}
    for name, entries in sources.items():
        used = [(records[p], family) for p, family, _ in entries
                if "results" in records.get(p, {})]
        for record, family in used:
            for model in models:
                samples[model].append(
                    np.asarray(record["results"][model]["scores"], dtype=np.float32)
                )
            families[family or "(unlabelled)"] = (
                families.get(family or "(unlabelled)", 0) + 1
            )
        source = {
            "name": name,
            "tracks": len(used),
            "seconds": round(sum(r["duration"] for r, _ in used), 1),
        }
        labelled = {}
        for _, family in used:
            if family:
                labelled[family] = labelled.get(family, 0) + 1
        if labelled:
            source["families"] = dict(sorted(labelled.items()))
        provenance_sources.append(source)
        print(f"{name}: {len(used)} tracks of {len(entries)} files", file=sys.stderr)
    provenance = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pipeline": analysis_version(models, patch_shares=shares),
        "max_seconds_per_track": args.max_seconds,
        "min_seconds_per_track": MIN_SECONDS,
        "tracks": sum(s["tracks"] for s in provenance_sources),
        "families": dict(sorted(families.items())),
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
