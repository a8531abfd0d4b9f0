"""What one ``beet musicnn-path`` costs on a large library, against the radio.

Requirement: a path in at most 2 s on a 50,000-item library.

The library and its result store are ``bench_similar.py``'s (raw SQL rows,
synthetic ``msd`` embeddings with one direction per artist). In a fresh
process, the embedding index is built first (not timed here:
``bench_similar.py`` measures it), then, for ``--runs`` random (FROM, TO)
pairs, each timed end to end in the same process:

- ``path``: :func:`sound.sonic_path.make_path` with ``-n 20`` (the queries for
  FROM and TO, two passes over the index, the stepping stones fetched from
  beets, the path);
- ``path, --where and caps``: the same with ``--where 'year:1970..2010'
  --max-per-artist 2 --max-per-album 1``;
- the baseline, ``musicnn-similar -n 20`` (:func:`sound.radio.make_radio`) seeded
  with FROM, measured in the same run, so the ratio holds whatever the
  machine's load.

With ``--page``, the report of the same library (``beet musicnn-report``,
with the PCA map to save time: the page is the same) is opened in headless
Chromium, and the page's path between random points (``sonicPath`` in
``report.js``, what picking a second track computes) is timed against
selecting a point (drawing its nearest tracks), measured in the same page;
the HTML's size, and the share of it that the path's vectors take, too.

    python bench/bench_path.py [--items 50000] [--runs 7] [--keep DIR] [--page]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import bench_similar  # noqa: E402


def child(folder: Path, runs: int, count: int) -> dict:
    """The measurements, in this (fresh) process."""
    from beets.library import Library

    from beetsplug.musicnn.library.store import ResultStore
    from beetsplug.musicnn.sound import radio, sonic_path

    lib = Library(str(folder / "library.db"), str(folder / "music"))
    store = ResultStore(folder / "library.musicnn.sqlite")
    radio.open_index(store, "msd")  # built once, as after a run
    n_items = len(store)
    rng = np.random.default_rng(5)
    times: dict[str, list[float]] = {"path": [], "path_where_caps": [], "similar": []}
    lengths = []
    for _ in range(runs):
        start, end = (int(i) for i in rng.choice(np.arange(1, n_items + 1), 2, False))
        requests = {
            "path": sonic_path.PathRequest([f"id:{start}"], [f"id:{end}"], count),
            "path_where_caps": sonic_path.PathRequest(
                [f"id:{start}"],
                [f"id:{end}"],
                count,
                where=["year:1970..2010"],
                max_per_artist=2,
                max_per_album=1,
            ),
        }
        for name, request in requests.items():
            started = time.perf_counter()
            found = sonic_path.make_path(lib, store, "msd", request)
            times[name].append(time.perf_counter() - started)
            lengths.append(len(found.items))
        started = time.perf_counter()
        radio.make_radio(
            lib, store, "msd", radio.RadioRequest(seeds=[f"id:{start}"], count=count)
        )
        times["similar"].append(time.perf_counter() - started)
    return {
        "median": {name: statistics.median(t) for name, t in times.items()},
        "worst": {name: max(t) for name, t in times.items()},
        "lengths": lengths,
    }


def page(folder: Path, runs: int, count: int) -> None:
    """Write the report of the library and time its paths in Chromium."""
    from beets.library import Library

    from beetsplug.musicnn.commands import report as report_command
    from beetsplug.musicnn.library.store import ResultStore

    sys.path.insert(0, str(BENCH.parent / "tests"))
    from browser import open_browser

    html = folder / "report-pca.html"
    lib = Library(str(folder / "library.db"), str(folder / "music"))
    with ResultStore(folder / "library.musicnn.sqlite") as store:
        summary = report_command.write_report(
            lib, store, "msd", [], str(html), projection="pca"
        )
    text = html.read_text()
    start = text.index('id="report-data">') + len('id="report-data">')
    data = json.loads(
        text[start : text.index("</script>", start)].replace("<\\/", "</")
    )
    codes = data["path"]["codes"]
    print(
        f"report: {summary['bytes'] / 2**20:.1f} MB, of which the path's vectors "
        f"{len(codes) / 2**20:.1f} MB ({data['path']['dims']} of "
        f"{data['path']['full_dims']} axes, 16 bits each)"
    )
    with open_browser() as driver:
        driver.get(html.as_uri())
        while not driver.execute_script(
            "return window.musicnnReport && window.musicnnReport.ready"
        ):
            time.sleep(0.1)
        driver.set_script_timeout(600)
        timings = driver.execute_async_script(
            """
            const r = window.musicnnReport, runs = arguments[0], count = arguments[1];
            const done = arguments[2];
            let seed = 7;
            const next = () => (seed = (seed * 48271) % 2147483647) % r.n;
            const first = performance.now();
            r.sonicPath(0, 1, count);  // decodes the vectors once
            const decode = performance.now() - first;
            const path = [], select = [], lengths = [];
            (async () => {
              for (let i = 0; i < runs; i++) {
                const a = next(), b = next();
                let t = performance.now();
                lengths.push(r.sonicPath(a, b, count).length);
                path.push(performance.now() - t);
                t = performance.now();
                await r.select(a);
                select.push(performance.now() - t);
              }
              done({decode, path, select, lengths});
            })();
            """,
            runs,
            count,
        )
    path, select = timings["path"], timings["select"]
    print(
        f"page, -n {count}, median of {runs} pairs (lengths "
        f"{min(timings['lengths'])}-{max(timings['lengths'])}): path "
        f"{statistics.median(path):.0f} ms (worst {max(path):.0f} ms; the "
        f"first also decodes the vectors: {timings['decode']:.0f} ms); baseline, "
        f"selecting a point: {statistics.median(select):.0f} ms; "
        f"{statistics.median(path) / statistics.median(select):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build here (reused if present)")
    parser.add_argument("--page", action="store_true", help="time the report's paths")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.folder, args.runs, args.count)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_path_"))
    try:
        if not (folder / "library.musicnn.sqlite").exists():
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            bench_similar.build(folder, args.items)
            print(
                f"built {args.items:,} items in {time.perf_counter() - started:.0f} s"
            )
        output = subprocess.run(
            [
                *(sys.executable, __file__, "--child", "--runs", str(args.runs)),
                *("--count", str(args.count), str(folder)),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(output.splitlines()[-1])
        median, worst = result["median"], result["worst"]
        baseline = median["similar"]
        print(
            f"{args.items:,} items, -n {args.count}, median of {args.runs} pairs "
            f"(path lengths {min(result['lengths'])}-{max(result['lengths'])}):"
        )
        for name, label in (
            ("path", "musicnn-path"),
            ("path_where_caps", "musicnn-path --where, caps"),
            ("similar", "baseline: musicnn-similar"),
        ):
            print(
                f"  {label}: {median[name]:.3f} s (worst {worst[name]:.3f} s), "
                f"{median[name] / baseline:.2f}x the baseline"
            )
        if args.page:
            page(folder, args.runs, args.count)
    finally:
        if not args.keep:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
