"""What it costs to check the result store for damage when it is opened.

Builds a throw-away store of ``--rows`` rows (500,000 by default: one model
for 500,000 items, about 0.35 GB) with the store's own ``put_many``, then
times, on the same file in the same run, each way of finding out whether
the file is damaged against the baseline of opening it as every command does:

- ``open``: ``ResultStore(path)``, the baseline, which includes the checks
  it makes (the header, the schema, the last page of the table and of its
  index);
- ``open + a write``: the same and one small write transaction, which is
  what every open cost until it stopped rewriting ``user_version``;
- ``quick_check``: ``PRAGMA quick_check``, which reads every page;
- ``integrity_check``: ``PRAGMA integrity_check``, which also checks indexes.

Each is the median of ``--repeat`` runs, with the file in the page cache
(the second of two runs of a command): a cold cache only makes the checks
that read every page slower.

    python bench/bench_store_check.py [--rows 500000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from beetsplug.musicnn.engine.models import EMBEDDING_SIZE, get_model
from beetsplug.musicnn.labels.fields import analysis_version
from beetsplug.musicnn.library.store import ResultStore, StoredResult

#: Rows written per transaction while building.
CHUNK = 50_000


def synthetic_rows(total: int) -> Iterator[StoredResult]:
    """``total`` MSD results of the real shapes, random numbers."""
    rng = np.random.default_rng(0)
    n_tags = len(get_model("msd").tags)
    version = analysis_version(["msd"])
    for item_id in range(1, total + 1):
        yield StoredResult(
            item_id=item_id,
            model="msd",
            version=version,
            scores=rng.random(n_tags, dtype=np.float32),
            embedding=rng.standard_normal(EMBEDDING_SIZE).astype(np.float32),
            n_patches=60,
            duration=180.0,
            mtime=1_700_000_000.0 + item_id,
            analyzed_at=1_780_000_000.0,
        )


def build(path: Path, total: int) -> float:
    start = time.perf_counter()
    rows = synthetic_rows(total)
    with ResultStore(path) as store:
        while store.put_many(next(rows) for _ in range(min(CHUNK, total - len(store)))):
            pass
    return time.perf_counter() - start


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pragma(path: Path, name: str) -> Callable[[], object]:
    def run() -> object:
        with ResultStore(path) as store:
            answer = store._db.execute(f"PRAGMA {name}").fetchall()
        assert answer == [("ok",)], answer
        return answer

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "library.musicnn.sqlite"
        print(f"building {args.rows:,} rows: {build(path, args.rows):.1f} s, "
              f"{path.stat().st_size / 1e6:.0f} MB")
        # Merge the WAL into the file, as a finished run leaves it.
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        ResultStore(path).close()  # into the page cache

        def open_close() -> None:
            ResultStore(path).close()

        baseline = median_seconds(open_close, args.repeat)
        label = "open (baseline, with its checks)"
        print(f"{label:34} {baseline * 1000:9.1f} ms  1.0x")

        def open_and_write() -> None:
            with ResultStore(path) as store:
                store._db.execute("PRAGMA user_version=1")

        seconds = median_seconds(open_and_write, args.repeat)
        label = "open + a write (user_version)"
        print(f"{label:34} {seconds * 1000:9.1f} ms  {seconds / baseline:.0f}x")
        for name in ("quick_check", "integrity_check"):
            seconds = median_seconds(pragma(path, name), args.repeat)
            print(f"{'open + PRAGMA ' + name:34} {seconds * 1000:9.1f} ms  "
                  f"{seconds / baseline:.0f}x")


if __name__ == "__main__":
    main()
