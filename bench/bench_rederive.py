"""The upgrade path: re-deriving every item's labels from the result store.

Requirement (issue 15): after an upgrade that changes the labels (the learned
heads), re-deriving them for 50,000 items from the store -- no audio decoded
-- takes at most 5 minutes, with a progress line.

This builds a throw-away beets library of ``--items`` items (as
``bench_scale.py``: realistic fixed fields, files that do not exist), stores
one result of each default model (``msd`` and ``mtt``) per item with the
plugin's ``ResultSaver`` -- the *store* step of a scan, the baseline
measured in the same run -- and then times:

1. ``rederive``: :func:`rederive.rederive_items` over every item, as ``beet
   musicnn`` runs it after an upgrade: read the stored results, derive the
   fields (content, heads), save in batches; with the progress line on
   stderr;
2. ``derive only``: :func:`fields.derive_fields` on 5,000 stored results,
   this release's labels (the content detector and the heads) against the
   release before them (the tag rules alone): their own share of the cost.

The results are the real song-level outputs of the bundled clips
(``tests/data/music``, analysed once at the start), item after item, so
that every item takes the path of real music through the labels (random
numbers would be called sound effects and skip the heads).

    python bench/bench_rederive.py [--items 50000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beets.library import Library
from bench_ls import build_library
from bench_scale import replicate_items

from beetsplug.musicnn.engine.analysis import Analysis, analyze
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job, Outcome
from beetsplug.musicnn.labels import fields, heads
from beetsplug.musicnn.library.options import RunOptions
from beetsplug.musicnn.library.progress import Progress
from beetsplug.musicnn.library.rederive import rederive_items
from beetsplug.musicnn.library.saving import ResultSaver
from beetsplug.musicnn.library.store import ResultStore

MODELS = ("msd", "mtt")
DERIVE_SAMPLE = 5_000
CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "music"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    args = parser.parse_args(argv)
    total = args.items

    with tempfile.TemporaryDirectory(prefix="bench_rederive_") as tmp:
        folder = Path(tmp)
        db_path, music = folder / "library.db", folder / "music"
        build_library(db_path, music, min(total, 50_000), False)
        replicate_items(db_path, total)
        with contextlib.redirect_stdout(io.StringIO()):
            lib = Library(str(db_path), str(music))
        store = ResultStore.for_library(db_path)
        options = RunOptions(
            analysis=AnalysisSettings(models=MODELS),
            field_settings=fields.FieldSettings(models=MODELS),
        )
        clips = [analyze(path, MODELS) for path in sorted(CLIPS.glob("*.ogg"))]
        ids = [item.id for item in lib.items()]

        start = time.perf_counter()
        with ResultSaver(lib, store, options) as saver:
            for n, item_id in enumerate(ids):
                clip = clips[n % len(clips)]
                path = f"/nowhere/{item_id}"
                saver.add(Outcome(Job(item_id, path),
                                  Analysis(path, clip.duration, clip.results)))
        stored = time.perf_counter() - start

        start = time.perf_counter()
        with Progress(total, what="labels from stored results",
                      enabled=True) as progress:
            counts = rederive_items(lib, lib.items(), options, store,
                                    progress=progress)
        rederived = time.perf_counter() - start
        print(file=sys.stderr)
        assert counts.updated == total, counts

        results = [store.get(item_id) for item_id in ids[:DERIVE_SAMPLE]]
        timings = {}
        for name, learned in (("tag rules only", False),
                              ("content and heads", True)):
            start = time.perf_counter()
            for result in results:
                fields.derive_fields(
                    {m: r.scores for m, r in result.items()},
                    options.field_settings,
                    head_set=None if learned else heads.NO_HEADS,
                    embeddings={m: r.embedding for m, r in result.items()}
                    if learned else None,
                )
            timings[name] = (time.perf_counter() - start) / len(results)

    print(f"{'step':<40}{'items':>9}{'seconds':>10}{'items/s':>10}{'ratio':>8}")
    for name, seconds in (("store (a scan's saving; baseline)", stored),
                          ("rederive (the upgrade path)", rederived)):
        print(f"{name:<40}{total:>9,}{seconds:>10.1f}{total / seconds:>10,.0f}"
              f"{seconds / stored:>8.2f}")
    base = timings["tag rules only"]
    for name, seconds in timings.items():
        print(f"{'derive_fields, ' + name:<40}{len(results):>9,}"
              f"{seconds * len(results):>10.2f}{1 / seconds:>10,.0f}"
              f"{seconds / base:>8.2f}")
    minutes = rederived / 60
    verdict = "meets" if minutes <= 5 else "MISSES"
    print(f"\nrederive of {total:,} items: {minutes:.1f} min ({verdict} the "
          "5-minute target)")


if __name__ == "__main__":
    main()
