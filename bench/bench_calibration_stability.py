"""How many analysed items a library needs before ``--calibrate`` is stable.

``beet musicnn --calibrate`` fits the per-tag calibration (mean and spread of
``logit(score)``) on a user's own library. Fitted on too few tracks, the
strengths it gives move with every album added. This benchmark measures how
far they move for a library of ``N`` tracks: it draws ``N`` tracks (with
replacement: a library is a sample from its owner's taste, not a part of
this corpus) from a corpus of real song-level scores, refits, and compares
the strength of every tag of every corpus track under that fit with its
strength under the fit on the whole corpus. It prints, for each ``N``, the
share of strengths that moved by less than ``--tolerance`` (median over the
repeats, and the worst 10 % of repeats), and the smallest ``N`` whose worst
10 % keeps ``--target`` of them within it: the minimum ``--calibrate``
enforces (``library_calibration.MIN_ITEMS``).

Scores come from JSON-lines caches in the format of
``tools/make_calibration.py --cache`` (one record per track with
``results.<model>.scores``), e.g.::

    python tools/make_calibration.py --cache /tmp/scores.jsonl --jobs 2 \\
        --max-seconds 30 --out /tmp/fit.json corpus=/path/to/music
    python bench/bench_calibration_stability.py /tmp/scores.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug.musicnn.labels.calibration import Calibration

SIZES = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800)


def read_scores(caches: list[Path], models: tuple[str, ...]) -> dict[str, np.ndarray]:
    """(n_tracks, n_tags) scores per model of every track that has all models."""
    rows: dict[str, list[np.ndarray]] = {model: [] for model in models}
    seen = set()
    for cache in caches:
        for line in cache.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            results = record.get("results", {})
            if record["path"] in seen or not all(m in results for m in models):
                continue
            seen.add(record["path"])
            for model in models:
                rows[model].append(np.asarray(results[model]["scores"], np.float64))
    return {model: np.stack(vectors) for model, vectors in rows.items()}


def strengths(fit: Calibration, scores: dict[str, np.ndarray]) -> np.ndarray:
    """Every strength of every track, all models side by side."""
    return np.concatenate(
        [fit.strength(model, values) for model, values in scores.items()], axis=1
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("caches", nargs="+", type=Path)
    parser.add_argument("--models", default="msd,mtt")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    scores = read_scores(args.caches, models)
    total = len(next(iter(scores.values())))
    print(f"{total} tracks with {'+'.join(models)} scores from "
          f"{', '.join(str(c) for c in args.caches)}")
    full = strengths(Calibration.fit({m: list(v) for m, v in scores.items()}), scores)
    rng = np.random.default_rng(args.seed)
    print(f"\n| N | strengths within {args.tolerance:g} (median) | worst 10 % of "
          f"{args.repeats} fits | 95th percentile of the move (median) |")
    print("|---|---|---|---|")
    recommended = None
    for size in SIZES:
        within, p95 = [], []
        for _ in range(args.repeats):
            picked = rng.integers(0, total, size)
            fit = Calibration.fit({m: list(v[picked]) for m, v in scores.items()})
            moved = np.abs(strengths(fit, scores) - full)
            within.append(float(np.mean(moved < args.tolerance)))
            p95.append(float(np.quantile(moved, 0.95)))
        worst = float(np.quantile(within, 0.1))
        print(f"| {size} | {np.median(within):.3f} | {worst:.3f} | "
              f"{np.median(p95):.3f} |")
        if recommended is None and worst >= args.target:
            recommended = size
    if recommended is None:
        print(f"\nno N up to {SIZES[-1]} keeps {args.target:.0%} of strengths "
              f"within {args.tolerance:g}")
    else:
        print(f"\nsmallest N whose worst 10 % of fits keep {args.target:.0%} of "
              f"strengths within {args.tolerance:g}: {recommended}")


if __name__ == "__main__":
    main()
