"""How far fast mode's scores are from the faithful analysis, by patch budget.

For every audio file under the given folders this runs the faithful analysis
(every patch), then fast mode at each budget, and prints per budget:

- ``tracks``: files longer than the budget (the others are analysed in full
  by fast mode too, with identical results, and are left out of the figures);
- ``max diff``: the largest absolute difference of a song-level tag score
  between fast and faithful, over all tags and those tracks, per model;
- ``top-3``: the share of those tracks whose three best tags are the same set;
- ``top-3 ~``: the same, counting as equal tags whose faithful scores are
  within ``TIE`` of each other: many misses are near-ties (a third and a
  fourth tag 0.001 apart) that no budget short of every patch resolves.

Because fast mode analyses a subset of the faithful patches (to float
rounding), other ways of choosing that subset can be compared exactly from the
faithful per-patch scores: the second table does that for the number of
patches left out at each end of a track (intros, fade-outs).

``--speed`` then times decode + features + inference per track on files of
3.5 to 4.5 minutes, faithful against fast mode at ``--default-budget``, in
this process pinned to one core, alternating the two and keeping medians.

Usage::

    python bench/bench_fast_mode.py FOLDER... [--budgets 4,8,12,16,20,24,32,40,48]
        [--plot docs/fast_mode_agreement.png] [--cache scores.npz] [--speed]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

# One BLAS thread, as in the pool's workers: set before NumPy loads BLAS. Left
# to itself, OpenBLAS threads each small product of the log-mel of a short
# read and makes it ten times slower on a busy machine.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug.musicnn import analysis, audio, features, models, sampling  # noqa: E402
from beetsplug.musicnn.backends import load_backend  # noqa: E402

AUDIO_SUFFIXES = {".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus", ".aiff"}
MODELS = ("msd", "mtt")
TOP_K = 3
TIE = 0.01
REPO = Path(__file__).resolve().parents[1]


def audio_files(folders: list[Path]) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in folder.rglob("*")
        if path.suffix.lower() in AUDIO_SUFFIXES
    )


def faithful_patch_scores(path: Path) -> dict[str, np.ndarray]:
    """Per-patch scores of every model, shape (n_patches, n_tags) each."""
    batch = features.patches(features.log_mel_spectrogram(audio.load_audio(path)))
    return {key: load_backend("onnx", key).predict(batch).scores for key in MODELS}


def load_or_compute(files: list[Path], cache: Path | None) -> list[dict]:
    """Faithful per-patch scores of each file, kept in ``cache`` if given."""
    stored = dict(np.load(cache)) if cache and cache.is_file() else {}
    tracks = []
    for number, path in enumerate(files, 1):
        keys = {model: f"{path}::{model}" for model in MODELS}
        if not all(key in stored for key in keys.values()):
            print(f"[{number}/{len(files)}] faithful {path.name}", file=sys.stderr)
            scores = faithful_patch_scores(path)
            stored.update({keys[model]: scores[model] for model in MODELS})
            if cache:
                np.savez(cache, **stored)
        tracks.append({"path": path} | {m: stored[k] for m, k in keys.items()})
    return tracks


def top_set(scores: np.ndarray) -> frozenset[int]:
    return frozenset(np.argsort(-scores, kind="stable")[:TOP_K].tolist())


def same_up_to_ties(fast: np.ndarray, full: np.ndarray) -> bool:
    """Whether fast mode's top tags are top tags of ``full`` up to ``TIE``."""
    last_full = np.sort(full)[-TOP_K]
    return bool((full[list(top_set(fast))] >= last_full - TIE).all())


class Agreement(NamedTuple):
    """How close fast mode's song-level scores are to the faithful ones."""

    max_diff: float  #: largest difference of a tag's score, over all tracks
    mean_diff: float  #: mean over tracks of each track's largest difference
    same_top: float  #: share of tracks with the same top-3 set
    close_top: float  #: the same, counting near-ties (``TIE``) as equal


def agreement(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Agreement:
    """Agreement over (fast, full) pairs of song-level scores."""
    if not pairs:
        return Agreement(*[float("nan")] * 4)
    diffs = [float(np.abs(fast - full).max()) for fast, full in pairs]
    return Agreement(
        max_diff=max(diffs),
        mean_diff=float(np.mean(diffs)),
        same_top=float(np.mean([top_set(f) == top_set(g) for f, g in pairs])),
        close_top=float(np.mean([same_up_to_ties(f, g) for f, g in pairs])),
    )


def simulated(tracks, budget: int, edge: int) -> dict[str, tuple[float, float]]:
    """Agreement of fast mode choosing patches with ``edge`` from faithful scores."""
    result = {}
    for model in MODELS:
        pairs = []
        for track in tracks:
            per_patch = track[model]
            if budget >= len(per_patch):
                continue
            chosen = sampling.choose_patches(len(per_patch), budget, edge)
            pairs.append((per_patch[chosen].mean(0), per_patch.mean(0)))
        result[model] = agreement(pairs)
    return result


def measured(tracks, budget: int) -> tuple[int, dict, float]:
    """Agreement of the real fast mode (decoding only the sampled audio)."""
    pairs: dict[str, list] = {model: [] for model in MODELS}
    worst_vs_simulation = 0.0
    for track in tracks:
        if budget >= len(track[MODELS[0]]):
            continue
        fast = analysis.analyze(track["path"], MODELS, patch_budget=budget)
        for model in MODELS:
            full = track[model].mean(0)
            pairs[model].append((fast[model].scores, full))
            chosen = sampling.choose_patches(len(track[model]), budget)
            expected = track[model][chosen].mean(0)
            gap = float(np.abs(fast[model].scores - expected).max())
            worst_vs_simulation = max(worst_vs_simulation, gap)
    n = len(pairs[MODELS[0]])
    return n, {m: agreement(p) for m, p in pairs.items()}, worst_vs_simulation


def print_budget_table(rows) -> None:
    print("\nReal fast mode against the faithful analysis")
    print(
        "| budget | tracks | max diff MSD | max diff MTT | top-3 MSD | top-3 MTT "
        f"| top-3 ~{TIE:g} MSD | top-3 ~{TIE:g} MTT |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for budget, n, stats, _ in rows:
        msd, mtt = stats["msd"], stats["mtt"]
        print(
            f"| {budget} | {n} | {msd.max_diff:.3f} | {mtt.max_diff:.3f} "
            f"| {msd.same_top:.2f} | {mtt.same_top:.2f} "
            f"| {msd.close_top:.2f} | {mtt.close_top:.2f} |"
        )
    gap = max(row[3] for row in rows)
    print(f"(largest gap between real and simulated fast mode: {gap:.1e})")


def print_edge_table(tracks, budgets, edges) -> None:
    print("\nPatches left out at each end (simulated), worse of the two models:")
    print("mean of each track's max diff / max diff / top-3 agreement")
    print("| budget | " + " | ".join(f"edge {e}" for e in edges) + " |")
    print("|---:|" + "---:|" * len(edges))
    for budget in budgets:
        cells = []
        for edge in edges:
            stats = simulated(tracks, budget, edge).values()
            mean = max(a.mean_diff for a in stats)
            worst = max(a.max_diff for a in stats)
            same = min(a.same_top for a in stats)
            cells.append(f"{mean:.4f} / {worst:.3f} / {same:.2f}")
        print(f"| {budget} | " + " | ".join(cells) + " |")


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = [row[0] for row in rows]
    fig, (top, diff) = plt.subplots(2, 1, sharex=True, figsize=(6.4, 6.4))
    for model in MODELS:
        name = model.upper()
        line = top.plot(budgets, [r[2][model].same_top for r in rows], "o-", label=name)
        top.plot(
            budgets,
            [r[2][model].close_top for r in rows],
            "s--",
            color=line[0].get_color(),
            label=f"{name}, ties within {TIE:g} equal",
        )
        diff.plot(budgets, [r[2][model].max_diff for r in rows], "o-", label=name)
    top.axhline(0.9, color="grey", linestyle=":", label="target 0.9")
    diff.axhline(0.05, color="grey", linestyle=":", label="target 0.05")
    top.set_ylabel("share of tracks, same top-3 tags")
    diff.set_ylabel("max abs score difference")
    diff.set_xlabel("patches analysed per track (budget)")
    counts = sorted(row[1] for row in rows)
    top.set_title(
        f"Fast mode against the full analysis ({counts[0]}-{counts[-1]} tracks)"
    )
    for axes in (top, diff):
        axes.grid(alpha=0.3)
        axes.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot saved to {path}")


def time_speed(tracks, budget: int, repeat: int) -> None:
    """Seconds per track, faithful vs fast, on tracks of 3.5 to 4.5 minutes."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    chosen = [t for t in tracks if 210 <= len(t[MODELS[0]]) * 187 * 256 / 16000 <= 270]
    if not chosen:
        print("\nno track of 3.5 to 4.5 minutes to time")
        return
    analysis.analyze(chosen[0]["path"], MODELS)  # load models off the clock
    times: dict[str, list[float]] = {"faithful": [], "fast": []}
    stages: dict[str, dict[str, list[float]]] = {"faithful": {}, "fast": {}}
    for _ in range(repeat):
        for track in chosen:
            for mode, arg in (("faithful", None), ("fast", budget)):
                start = time.perf_counter()
                result = analysis.analyze(track["path"], MODELS, patch_budget=arg)
                times[mode].append(time.perf_counter() - start)
                for stage, seconds in result.timings.items():
                    stages[mode].setdefault(stage, []).append(seconds)
    print(
        f"\nSpeed on {len(chosen)} tracks of 3.5-4.5 min, both models, one core,"
        f" median of {repeat} runs each (seconds per track)"
    )
    print("| mode | total | decode | features | inference |")
    print("|---|---:|---:|---:|---:|")
    for mode in times:
        med = {stage: statistics.median(v) for stage, v in stages[mode].items()}
        print(
            f"| {mode} | {statistics.median(times[mode]):.2f} | {med['decode']:.3f}"
            f" | {med['features']:.3f} | {med['inference']:.2f} |"
        )
    gain = statistics.median(times["faithful"]) / statistics.median(times["fast"])
    print(f"fast mode (budget {budget}) is {gain:.1f}x faster per track")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--budgets", default="4,8,12,16,20,24,32,40,48")
    parser.add_argument("--edges", default="0,1,2,4,6")
    parser.add_argument(
        "--plot", type=Path, default=REPO / "docs" / "fast_mode_agreement.png"
    )
    parser.add_argument("--cache", type=Path, help="npz file of faithful scores")
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--simulate-only", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument(
        "--default-budget", type=int, default=models.DEFAULT_PATCH_BUDGET
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    edges = [int(e) for e in args.edges.split(",")]

    files = [
        path
        for path in audio_files(args.folders)
        if audio.probe(path).duration >= args.min_seconds
    ]
    tracks = load_or_compute(files, args.cache)
    minutes = sum(len(t[MODELS[0]]) for t in tracks) * 187 * 256 / 16000 / 60
    print(f"{len(tracks)} tracks, {minutes:.0f} minutes of patches")
    print_edge_table(tracks, budgets, edges)
    if not args.simulate_only:
        rows = [(budget, *measured(tracks, budget)) for budget in budgets]
        print_budget_table(rows)
        if args.plot:
            plot(rows, args.plot)
    if args.speed:
        time_speed(tracks, args.default_budget, args.repeat)


if __name__ == "__main__":
    main()
