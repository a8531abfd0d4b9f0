"""Selecting and storing on a very large library: time linear, memory flat.

Builds a throw-away beets library of ``--items`` items (500,000 by default,
albums of 10, realistic fixed fields; the files do not exist) and runs, in
this process, the two library-side steps of ``beet musicnn`` around the
analysis itself:

1. ``select``: page through every item and decide what needs an analysis
   (here: all of them), against the naive ``list(lib.items())`` baseline
   measured in the same run;
2. ``store``: save one result per item with the plugin's ``ResultSaver``
   (item fields, the library transaction every 50 results, the result store),
   from synthetic analyses: random scores and embeddings of the real shapes,
   since the store step does not depend on what the numbers are;
3. ``select`` again once those are up to date (``--stored``, all of them
   with ``--stored 500000``): what the daily cron run does.

For each step it prints items per second, the rate over the first and the
last tenth of the items (equal rates = linear time) and the growth of the
peak RSS over the process before the step (sampled every 50 ms).

    python bench/bench_scale.py [--items 500000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psutil
from beets.library import Library
from bench_ls import build_library

from beetsplug.musicnn.engine.analysis import Analysis, ModelResult
from beetsplug.musicnn.engine.models import EMBEDDING_SIZE, get_model
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job, Outcome
from beetsplug.musicnn.labels import fields
from beetsplug.musicnn.library.options import RunOptions
from beetsplug.musicnn.library.saving import ResultSaver
from beetsplug.musicnn.library.selection import Selection
from beetsplug.musicnn.library.selection import select as select_items
from beetsplug.musicnn.library.store import ResultStore

MODELS = ("msd",)
#: Items built through beets; the rest are copies of their rows (fast).
BUILT_ITEMS = 50_000


def replicate_items(db_path: Path, total: int) -> float:
    """Copy the rows of the items table until it holds ``total`` items
    (ids 1..total); returns the seconds it took. beets adds items at a few
    hundred per second, so a 500,000-item library is mostly copies."""
    start = time.perf_counter()
    with sqlite3.connect(db_path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(items)")]
        copied = ", ".join(column for column in columns if column != "id")
        while db.execute("SELECT COUNT(*) FROM items").fetchone()[0] < total:
            db.execute(f"INSERT INTO items ({copied}) SELECT {copied} FROM items")
        db.execute("DELETE FROM items WHERE id > ?", (total,))
    return time.perf_counter() - start


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[dict[str, float]]:
    """Sample this process's RSS every 50 ms; yields a dict that gets
    ``mb``, the peak growth over the RSS at entry, in MiB."""
    process = psutil.Process()
    gc.collect()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result: dict[str, float] = {}
    try:
        yield result
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        result["mb"] = (peak[0] - start) / 2**20


def timed_steps(steps: Iterator[object], total: int) -> tuple[float, float, float]:
    """Consume ``steps`` (one per item); seconds in all, items/s over the
    first and the last tenth."""
    tenth = max(1, total // 10)
    marks = {}
    start = time.perf_counter()
    for n, _ in enumerate(steps, 1):
        if n in (tenth, total - tenth):
            marks[n] = time.perf_counter()
    end = time.perf_counter()
    first = tenth / (marks.get(tenth, end) - start)
    last = tenth / (end - marks.get(total - tenth, start))
    return end - start, first, last


def report(name: str, total: int, seconds: float, first: float, last: float,
           growth_mb: float) -> None:  # fmt: skip
    print(
        f"{name:<34}{total / seconds:>10,.0f}{first:>12,.0f}{last:>12,.0f}"
        f"{seconds:>9.1f}{growth_mb:>12.1f}"
    )


def synthetic_outcome(item_id: int, path: str, rng: np.random.Generator) -> Outcome:
    results = {
        model: ModelResult(
            model=model,
            scores=rng.random(len(get_model(model).tags), dtype=np.float32),
            embedding=rng.standard_normal(EMBEDDING_SIZE, dtype=np.float32),
            n_patches=80,
        )
        for model in MODELS
    }
    return Outcome(Job(item_id, path), Analysis(path, 240.0, results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument(
        "--stored",
        type=int,
        default=50_000,
        help="results saved in the store step (its rate is constant; saving "
        "500,000 takes about 20 minutes)",
    )
    args = parser.parse_args(argv)
    total, stored = args.items, min(args.stored, args.items)

    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        folder = Path(tmp)
        db_path, music = folder / "library.db", folder / "music"
        seconds = build_library(db_path, music, min(total, BUILT_ITEMS), False)
        seconds += replicate_items(db_path, total)
        print(f"built a library of {total:,} items in {seconds:.0f} s\n")
        with contextlib.redirect_stdout(io.StringIO()):
            lib = Library(str(db_path), str(music))
        store = ResultStore.for_library(db_path)
        options = RunOptions(
            analysis=AnalysisSettings(models=MODELS),
            field_settings=fields.FieldSettings(),
        )
        print(
            f"{'step':<34}{'items/s':>10}{'first 10%':>12}{'last 10%':>12}"
            f"{'wall s':>9}{'RSS +MiB':>12}"
        )

        with peak_rss_growth() as growth:
            items: list = []
            steps = (items.append(item) for item in lib.items())
            seconds, first, last = timed_steps(steps, total)
        report("baseline: list(lib.items())", total, seconds, first, last,
               growth["mb"])  # fmt: skip
        del items

        def select(on_selected: Callable) -> Selection:
            return select_items(lib, [], options, store, on_selected=on_selected)

        selection = measure_select(select, "select (all need analysis)", total)
        assert len(selection) == total

        rng = np.random.default_rng(0)
        with peak_rss_growth() as growth:
            saver = ResultSaver(lib, store, options)
            with saver:
                outcomes = (
                    saver.add(synthetic_outcome(item_id, f"/nowhere/{item_id}", rng))
                    for item_id in selection.ids[:stored]
                )
                seconds, first, last = timed_steps(outcomes, stored)
        report("store (ResultSaver)", stored, seconds, first, last, growth["mb"])

        selection = measure_select(select, f"select ({stored:,} up to date)", total)
        assert selection.skipped == stored and len(selection) == total - stored
        size = (folder / "library.musicnn.sqlite").stat().st_size
        print(f"\nresult store: {size / 2**20:,.0f} MiB, {size / stored:,.0f} B/item")


def measure_select(select: Callable, name: str, total: int) -> Selection:
    """Time ``select`` item by item (through its ``on_selected`` hook and the
    count of skipped items) and print the line."""
    with peak_rss_growth() as growth:
        start = time.perf_counter()
        marks: list[float] = []
        tenth = max(1, total // 10)
        seen = [0]

        def tick(*_: object) -> None:
            seen[0] += 1
            if seen[0] in (tenth, total - tenth):
                marks.append(time.perf_counter())

        selection = select(tick)
        end = time.perf_counter()
    if len(marks) == 2 and not selection.skipped:
        first, last = tenth / (marks[0] - start), tenth / (end - marks[1])
    else:  # skipped items are not seen one by one: only the whole rate is known
        first = last = total / (end - start)
    report(name, total, end - start, first, last, growth["mb"])
    return selection


if __name__ == "__main__":
    main()
