"""How smooth are the sonic paths of ``beet musicnn-path``, on real music?

For many (FROM, TO) pairs of a real library, each method makes a path of N
tracks, and every path is measured in the radio's space (unit vectors
centred on the library's mean; the distance of two tracks is the Euclidean
distance of their vectors, ``sqrt(2 - 2 cos)``):

- the **largest step** and the **mean step**, as shares of the direct jump
  from FROM to TO (1.0: a step as large as jumping straight to TO);
- **steps back**: the share of steps that make the track *less* similar to
  TO than the one before (a detour back);
- **full**: the share of pairs for which the method found all N tracks.

Methods (``--methods``):

- ``path``: :func:`beetsplug.musicnn.sound.paths.find_path` on the stepping
  stones of :func:`paths.stone_scores`, exactly what ``beet musicnn-path``
  does (what the report's page does too);
- ``random``: the same tracks as ``path``, FROM first and TO last, the
  others in a random order (the mean of 20 shuffles);
- ``line``: the straight-line baseline: for each of N-2 evenly spaced
  points on the segment between FROM's and TO's vectors, the nearest track
  not yet chosen;
- ``squares``: like ``path`` without the bottleneck stage (only the sum of
  squared steps is minimised);
- ``greedy``: from FROM, step to the stone, forwards and not yet played,
  that minimises the distance from the current track plus the distance to
  the next evenly spaced point (no look-ahead);
- ``all-stones``: like ``path`` with every track between FROM and TO as a
  stone (no pool limit), to see what the pool limit costs;
- ``page``: ``path`` on the vectors the report's page holds
  (:func:`beetsplug.musicnn.report.data.path_vectors`: 16-bit, on their
  principal axes, decoded as ``report.js`` decodes them), and ``page-55``
  the same keeping only the 55 leading axes, as the page does for 50,000
  tracks; their last column is the share of paths identical to ``path``'s.

Libraries (each where its data is present):

- ``emotify``: the 240 recordings of ``../shared/emotify`` (4 genres);
  their ``msd`` embeddings are computed with the plugin's own analysis
  (:func:`beetsplug.musicnn.engine.analysis.analyze`, every patch) and cached in
  ``--cache`` (``emotify_msd.npz``);
- ``--patch-cache DIR`` (repeatable): an analysis cache in the format of
  ``bench/cache_labels_corpus.py`` (per-patch embeddings, one ``.npz`` per
  track: the label corpus's, or the emotify recordings'), as two libraries:
  ``DIR`` (one track per file, its mean embedding) and ``DIR-30s`` (each
  file cut into excerpts of ``--excerpt-patches`` patches of 3 s, means of
  each excerpt: a larger library, to measure the pool limit).

Pairs are drawn at random (seeded) before any path is made, and are the
same for every method.

    python corpora/eval_paths.py [--emotify ../shared/emotify] [--cache DIR]
        [--patch-cache /work/corpus/cache] [--excerpt-patches 10]
        [--pairs 300] [--counts 10,20]
"""

from __future__ import annotations

import argparse
import base64
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beetsplug.musicnn.report import data as report_data  # noqa: E402
from beetsplug.musicnn.sound import paths, similarity  # noqa: E402

EMOTIFY = REPO.parent / "shared" / "emotify"
SHUFFLES = 20


# Libraries -------------------------------------------------------------------


def emotify_embeddings(folder: Path, cache: Path) -> np.ndarray | None:
    """Song-level ``msd`` embeddings of the emotify recordings (cached)."""
    if not folder.is_dir():
        return None
    stored = cache / "emotify_msd.npz"
    with open(folder / "manifest.tsv", newline="") as file:
        files = [row["file"] for row in csv.DictReader(file, delimiter="\t")]
    if stored.is_file():
        data = np.load(stored)
        if list(data["files"]) == files:
            return data["embeddings"]
    from beetsplug.musicnn.engine.analysis import analyze

    started = time.perf_counter()
    embeddings = []
    for number, name in enumerate(files, 1):
        embeddings.append(analyze(folder / name, models=("msd",))["msd"].embedding)
        print(f"\ranalysing emotify: {number}/{len(files)}", end="", file=sys.stderr)
    print(f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(stored, embeddings=np.array(embeddings, np.float32), files=files)
    return np.array(embeddings, np.float32)


def cached_patches(cache: Path) -> list[np.ndarray]:
    """Per-patch ``msd`` embeddings of each track of an analysis cache in
    the format of ``bench/cache_labels_corpus.py`` (one ``.npz`` per
    track), in file-name order."""
    return [
        np.load(stored)["msd_embeddings"].astype(np.float32)
        for stored in sorted(cache.glob("*.npz"))
    ]


def libraries(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Name -> raw embeddings (n, 200) of each library whose data is here."""
    found = {}
    emotify = emotify_embeddings(args.emotify, args.cache)
    if emotify is not None:
        found["emotify"] = emotify
    size = args.excerpt_patches
    for cache in args.patch_cache:
        patches = cached_patches(cache)
        if not patches:
            continue
        found[cache.name] = np.array([track.mean(axis=0) for track in patches])
        found[f"{cache.name}-{3 * size}s"] = np.array(
            [
                track[start : start + size].mean(axis=0)
                for track in patches
                for start in range(0, len(track) - size + 1, size)
            ]
        )
    return found


# Methods ---------------------------------------------------------------------


def stones(unit: np.ndarray, a: int, b: int, limit: int | None) -> np.ndarray:
    """Rows of the stepping stones between ``a`` and ``b``, best first."""
    placement = paths.locate(unit @ unit[a], unit @ unit[b], float(unit[a] @ unit[b]))
    scores = paths.stone_scores(placement)
    ranked = similarity.ranked(scores)
    rows = [row for _, row in zip(range(limit or len(unit)), ranked, strict=False)]
    return np.array(rows, dtype=np.int64)


def path_method(limit_of: Callable[[int], int | None]):
    def method(unit, a, b, count, rng):
        rows = np.concatenate([[a, b], stones(unit, a, b, limit_of(count))])
        return rows[paths.find_path(unit[rows], count)]

    return method


def squares_method(unit, a, b, count, rng):
    """``path`` without the bottleneck stage."""
    rows = np.concatenate([[a, b], stones(unit, a, b, paths.pool_size(count))])
    distance, forwards = paths.step_graph(unit[rows].astype(np.float64))
    allowed = forwards & (distance <= distance[0, 1])
    squares = np.where(allowed, distance**2, np.inf)
    m = len(rows)
    best_steps, tables, total = 0, [], np.full(m, np.inf)
    total[0] = 0.0
    for k in range(1, count):
        through = total[:, None] + squares
        tables.append(np.argmin(through, axis=0))
        total = through[tables[-1], np.arange(m)]
        if np.isfinite(total[1]):
            best_steps = k
    path = [1]
    for k in range(best_steps - 1, -1, -1):
        path.append(int(tables[k][path[-1]]))
    return rows[path[::-1]]


def greedy_method(unit, a, b, count, rng):
    rows = np.concatenate([[a, b], stones(unit, a, b, paths.pool_size(count))])
    data = unit[rows].astype(np.float64)
    distance, forwards = paths.step_graph(data)
    allowed = forwards & (distance <= distance[0, 1])
    path = [0]
    for k in range(1, count - 1):
        target = data[0] + k / (count - 1) * (data[1] - data[0])
        options = np.flatnonzero(allowed[path[-1]] & allowed[:, 1])
        options = options[options != 1]
        if not len(options):
            break
        cost = distance[path[-1], options] + np.linalg.norm(
            data[options] - target, axis=1
        )
        path.append(int(options[np.argmin(cost)]))
    return rows[[*path, 1]]


def page_method(dims: int | None):
    """``path`` on the page's vectors (keeping ``dims`` axes)."""
    decoded: list[np.ndarray] = []  # [the library's vectors, decoded]

    def method(unit, a, b, count, rng):
        if not decoded or decoded[0] is not unit:
            budget = (
                report_data.PATH_VECTOR_BYTES if dims is None else dims * 2 * len(unit)
            )
            packed = report_data.path_vectors(unit, budget)
            codes = np.frombuffer(base64.b64decode(packed["codes"]), "<i2")
            turned = codes.reshape(len(unit), -1) * np.asarray(packed["scale"])
            decoded[:] = [unit, turned / np.linalg.norm(turned, axis=1, keepdims=True)]
        page = decoded[1]
        rows = np.concatenate([[a, b], stones(page, a, b, paths.pool_size(count))])
        return rows[paths.find_path(page[rows], count)]

    return method


def line_method(unit, a, b, count, rng):
    used = {a, b}
    chosen = [a]
    for k in range(1, count - 1):
        point = unit[a] + k / (count - 1) * (unit[b] - unit[a])
        for row in np.argsort(-(unit @ point), kind="stable"):
            if int(row) not in used:
                used.add(int(row))
                chosen.append(int(row))
                break
    return np.array([*chosen, b])


METHODS: dict[str, Callable] = {
    "path": path_method(paths.pool_size),
    "line": line_method,
    "squares": squares_method,
    "greedy": greedy_method,
    "all-stones": path_method(lambda count: None),
    "page": page_method(None),
    "page-55": page_method(55),
}


# Measures --------------------------------------------------------------------


def measure(unit: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Steps of one path, against its direct jump."""
    direct = float(paths.step_lengths(unit[[rows[0], rows[-1]]])[0])
    steps = paths.step_lengths(unit[rows])
    to_target = unit[rows] @ unit[rows[-1]]
    return {
        "max": steps.max() / direct,
        "mean": steps.mean() / direct,
        "back": float(np.mean(np.diff(to_target) < 0)),
        "tracks": len(rows),
    }


def shuffled(unit: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> dict:
    """:func:`measure` of ``rows`` with the middle tracks shuffled (mean)."""
    results = []
    for _ in range(SHUFFLES):
        middle = rng.permutation(rows[1:-1])
        results.append(measure(unit, np.concatenate([[rows[0]], middle, [rows[-1]]])))
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def evaluate(raw: np.ndarray, pairs: int, count: int, methods: list[str], seed: int):
    """Per method: the measures of every pair, and the seconds spent."""
    unit = similarity.normalize(raw, mean=raw.mean(axis=0))
    rng = np.random.default_rng(seed)
    n = len(unit)
    chosen = set()
    while len(chosen) < min(pairs, n * (n - 1)):
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        chosen.add((a, b))
    results: dict[str, list[dict]] = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    shuffle_rng = np.random.default_rng(seed + 1)
    for a, b in sorted(chosen):
        for name in methods:
            if name == "random":
                continue
            started = time.perf_counter()
            rows = METHODS[name](unit, a, b, count, rng)
            seconds[name] += time.perf_counter() - started
            results[name].append(measure(unit, rows))
            results[name][-1]["rows"] = tuple(rows.tolist())
            if name == "path" and "random" in methods:
                results["random"].append(shuffled(unit, rows, shuffle_rng))
    return results, seconds, len(chosen)


def summary(rows: list[dict], count: int, reference: list[dict]) -> str:
    maxima = np.array([r["max"] for r in rows])
    means = np.array([r["mean"] for r in rows])
    back = np.mean([r["back"] for r in rows])
    full = np.mean([r["tracks"] == count for r in rows])
    over = np.mean(maxima > 1 + 1e-9)
    pairs = zip(rows, reference, strict=True)
    same = (
        f"{np.mean([r['rows'] == p['rows'] for r, p in pairs]):.2f}"
        if "rows" in rows[0]
        else "—"
    )
    return (
        f"| {np.median(maxima):.2f} | {np.percentile(maxima, 90):.2f} | {over:.2f} "
        f"| {np.median(means):.3f} | {back:.3f} | {full:.2f} | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/eval_paths"))
    parser.add_argument("--emotify", type=Path, default=EMOTIFY)
    parser.add_argument(
        "--patch-cache",
        type=Path,
        action="append",
        default=[],
        help="a per-patch analysis cache (bench/cache_labels_corpus.py format)",
    )
    parser.add_argument(
        "--excerpt-patches",
        type=int,
        default=10,
        help="patches (3 s each) per excerpt of the excerpt libraries",
    )
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--counts", default="10,20")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--methods",
        default="path,random,line,squares,greedy,all-stones,page,page-55",
        help="comma-separated; the first is the reference of 'same as path'",
    )
    parser.add_argument("--libraries", help="only these (comma-separated)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    found = libraries(args)
    if args.libraries:
        found = {k: v for k, v in found.items() if k in args.libraries.split(",")}
    if not found:
        sys.exit("no library: neither --emotify nor a --patch-cache is here")
    for name, raw in found.items():
        for count in (int(c) for c in args.counts.split(",")):
            results, seconds, n_pairs = evaluate(
                raw, args.pairs, count, methods, args.seed
            )
            print(
                f"\n{name}: {len(raw)} tracks, {n_pairs} pairs, N = {count}\n\n"
                "| method | largest step / direct (median) | (90th percentile) "
                "| share of paths with a step > direct | mean step / direct "
                "(median) | steps back | full length | same as path | ms per path |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            )
            for method in methods:
                ms = seconds.get(method, 0.0) / n_pairs * 1000
                line = summary(results[method], count, results[methods[0]])
                print(f"| {method} {line} {ms:.1f} |")


if __name__ == "__main__":
    main()
