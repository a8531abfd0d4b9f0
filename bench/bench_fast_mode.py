"""How far fast mode's scores are from the faithful analysis, by patch budget.

For every audio file under the given folders this computes (and caches) the
faithful per-patch scores of both models and each patch's mean log-mel band
energies. Fast mode analyses a subset of the faithful patches (to float
rounding), so any rule choosing that subset, with weights, can be compared
exactly from those per-patch scores. Per rule and budget it prints:

- ``top-3``: the share of tracks whose three best tags are the same set as
  the faithful analysis's, per model (MSD/MTT);
- ``max diff``: the largest absolute difference of a song-level tag score
  between fast and faithful, over all tags, tracks and both models.

Only files with more patches than the largest budget count, so that every
rule and budget is judged on the same tracks. The rules:

- ``even``: the shipped rule, :func:`sampling.choose_patches`;
- ``jittered``: the same grid shifted by a random offset (mean over seeds);
- ``k-means``: patches clustered by their log-mel band means (8 principal
  components), one patch per cluster (its medoid) weighted by cluster size;
- ``time medoid``: the even grid's equal stretches, but in each the patch
  closest to the stretch's mean log-mel bands instead of its centre;
- ``two-stage``: half the budget on the even grid, the rest one at a time in
  the gap whose end patches' top tag scores differ most (times its length),
  each patch weighted by the stretch of track nearest to it.

Then: how much smaller the even grid's errors would have to be to meet the
agreement bar (``needed``); patches left out at each end of a track (intros,
fade-outs); and, unless ``--simulate-only``, the real fast mode (decoding
only the sampled audio) at ``--default-budget`` against its simulation.
These compare every model on every patch (``--rules-plot``; ``--no-rules``
skips them).

The default configuration lets MTT hear a share of the patches
(``patch_share``, ``--shares``): the full analysis a fast one estimates is
then MSD's mean over every patch and MTT's over its own share. Per split of
the manifest (``--manifest corpora/labels_corpus.tsv``: dev to choose, test
held out) it compares, on the tracks longer than ``--default-budget``
patches, the rule shipped until 2026-12 (MTT on a share of fast mode's
windows) with MTT on windows of its own full-analysis patches, for several
counts of them (``--share-windows``), and plots the agreement by budget
(``--plot``); unless ``--simulate-only``, the real fast mode with the shares.

``--speed`` then times decode + features + inference per track on files of
3.5 to 4.5 minutes, faithful against fast mode at each of ``--speed-budgets``,
both with the shares, in this process pinned to one core, alternating the
modes, keeping medians.

Usage::

    python bench/bench_fast_mode.py FOLDER... [--budgets 4,8,12,16,20,24,32,40,48]
        [--min-seconds 150] [--plot docs/fast_mode_agreement.png]
        [--cache scores.npz] [--speed [--speed-budgets 48,24,16]]
    python bench/bench_fast_mode.py --manifest corpora/labels_corpus.tsv \\
        --min-seconds 150 --cache scores.npz --no-rules [--speed]
"""

from __future__ import annotations

import argparse
import math
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
# The corpora's rules: where a manifest's paths are (make_labels_corpus).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpora"))

from beetsplug.musicnn.engine import analysis, audio, features, models, sampling  # noqa: E402
from beetsplug.musicnn.engine.backends import load_backend  # noqa: E402
from beetsplug.musicnn.library.settings import DEFAULT_CONFIG  # noqa: E402

AUDIO_SUFFIXES = {".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus", ".aiff"}
MODELS = ("msd", "mtt")
TOP_K = 3
TIE = 0.01
#: Seeds averaged over for the jittered grid.
JITTER_SEEDS = 10
#: Principal components of the log-mel band means that k-means clusters.
FEATURE_COMPONENTS = 8
REPO = Path(__file__).resolve().parents[1]


def audio_files(folders: list[Path]) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in folder.rglob("*")
        if path.suffix.lower() in AUDIO_SUFFIXES
    )


def manifest_files(manifest: Path, split: str | None) -> dict[Path, str]:
    """The files of a corpus manifest's rows (of ``split``, if given), in
    its order, with their split; which tracks count, and on which side of
    the split, is decided by the manifest, not here."""
    import csv

    from make_labels_corpus import resolve

    with manifest.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {
        resolve(row["path"]): row["split"]
        for row in rows
        if split in (None, row["split"])
    }


def faithful_patch_data(path: Path, with_scores: bool) -> dict[str, np.ndarray]:
    """Per-patch band means (n_patches, 96) and, if asked, every model's scores."""
    batch = features.patches(features.log_mel_spectrogram(audio.load_audio(path)))
    data = {"mel": batch.mean(axis=1)}
    if with_scores:
        data |= {key: load_backend("onnx", key).predict(batch).scores for key in MODELS}
    return data


def load_or_compute(files: list[Path], cache: Path | None) -> list[dict]:
    """Faithful per-patch data of each file, kept in ``cache`` if given."""
    stored = dict(np.load(cache)) if cache and cache.is_file() else {}
    tracks = []
    for number, path in enumerate(files, 1):
        keys = {name: f"{path}::{name}" for name in (*MODELS, "mel")}
        missing = [name for name, key in keys.items() if key not in stored]
        if missing:
            print(f"[{number}/{len(files)}] faithful {path.name}", file=sys.stderr)
            data = faithful_patch_data(path, with_scores=missing != ["mel"])
            stored.update({keys[name]: data[name] for name in missing})
            if cache:
                np.savez(cache, **stored)
        tracks.append({"path": path} | {m: stored[k] for m, k in keys.items()})
    return tracks


# Selection rules: (track, budget) -> (sorted patch indices, weights summing
# to 1). The song-level estimate is the weighted mean of those patches' scores.


def uniform(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return chosen, np.full(len(chosen), 1 / len(chosen))


def even_rule(track, budget: int, edge: int = 0):
    """The shipped rule: the centre of each of ``budget`` equal stretches."""
    return uniform(sampling.choose_patches(len(track["mel"]), budget, edge))


def jittered_rule(track, budget: int, seed: int = 0):
    """The even grid shifted by a random fraction of a stretch."""
    n = len(track["mel"])
    offset = np.random.default_rng([seed, n]).random()
    return uniform(np.floor((np.arange(budget) + offset) * n / budget).astype(int))


def band_components(track) -> np.ndarray:
    """The patches' log-mel band means on their first principal components."""
    centred = track["mel"] - track["mel"].mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :FEATURE_COMPONENTS] * s[:FEATURE_COMPONENTS]


def medoids(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the member nearest the group mean, weighted by group size."""
    chosen, sizes = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        spread = ((x[members] - x[members].mean(axis=0)) ** 2).sum(axis=1)
        chosen.append(members[spread.argmin()])
        sizes.append(len(members))
    order = np.argsort(chosen)
    return np.array(chosen)[order], np.array(sizes)[order] / len(x)


def kmeans(x: np.ndarray, k: int, seed: int = 0, restarts: int = 4) -> np.ndarray:
    """Labels of the best of ``restarts`` k-means++ runs (Lloyd's iterations)."""
    rng = np.random.default_rng(seed)
    best_labels, best_sse = None, np.inf
    for _ in range(restarts):
        centres = x[[rng.integers(len(x))]]
        for _ in range(k - 1):
            d = ((x[:, None] - centres[None]) ** 2).sum(-1).min(axis=1)
            pick = (
                rng.choice(len(x), p=d / d.sum()) if d.sum() else rng.integers(len(x))
            )
            centres = np.vstack([centres, x[pick]])
        for _ in range(100):
            labels = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)
            moved = np.array(
                [
                    x[labels == j].mean(0) if (labels == j).any() else centres[j]
                    for j in range(k)
                ]
            )
            if np.allclose(moved, centres):
                break
            centres = moved
        sse = ((x - centres[labels]) ** 2).sum()
        if sse < best_sse:
            best_labels, best_sse = labels, sse
    return best_labels


def kmeans_rule(track, budget: int):
    """Strata of patches that sound alike, one medoid each, by stratum size."""
    x = band_components(track)
    return medoids(x, kmeans(x, budget))


def time_medoid_rule(track, budget: int):
    """The even grid's stretches, each represented by its most typical patch."""
    x = band_components(track)
    stretches = np.arange(len(x)) * budget // len(x)
    return medoids(x, stretches)


def two_stage_rule(track, budget: int):
    """Half the budget on the even grid, the rest where the outputs change."""
    n = len(track["mel"])
    chosen = set(sampling.choose_patches(n, max(1, budget // 2)).tolist())
    while len(chosen) < budget:
        at = np.array(sorted(chosen))
        scores = np.hstack([track[model][at] for model in MODELS])
        # The tags near the top, where the top-3 set is decided.
        top = np.argsort(-scores.mean(axis=0))[: 4 * TOP_K]
        change = np.abs(np.diff(scores[:, top], axis=0)).sum(axis=1) * np.diff(at)
        change[np.diff(at) < 2] = -1  # no patch left between these two
        gap = change.argmax()
        chosen.add((at[gap] + at[gap + 1]) // 2)
    at = np.array(sorted(chosen))
    cells = np.diff(np.concatenate([[0], (at[1:] + at[:-1] + 1) / 2, [n]]))
    return at, cells / n


RULES = {
    "even": even_rule,
    "jittered": jittered_rule,
    "k-means": kmeans_rule,
    "time medoid": time_medoid_rule,
    "two-stage": two_stage_rule,
}


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
    diffs = [float(np.abs(fast - full).max()) for fast, full in pairs]
    return Agreement(
        max_diff=max(diffs),
        mean_diff=float(np.mean(diffs)),
        same_top=float(np.mean([top_set(f) == top_set(g) for f, g in pairs])),
        close_top=float(np.mean([same_up_to_ties(f, g) for f, g in pairs])),
    )


def simulated(tracks, rule, budget: int, **options) -> dict[str, Agreement]:
    """Per model, the agreement of ``rule`` computed from faithful scores."""
    choices = [rule(track, budget, **options) for track in tracks]
    return {
        model: agreement(
            [
                (weights @ track[model][chosen], track[model].mean(axis=0))
                for track, (chosen, weights) in zip(tracks, choices, strict=True)
            ]
        )
        for model in MODELS
    }


def rule_agreement(tracks, name: str, budget: int) -> dict[str, Agreement]:
    """Agreement of a rule; for the jittered grid, its mean over seeds."""
    if name != "jittered":
        return simulated(tracks, RULES[name], budget)
    runs = [
        simulated(tracks, jittered_rule, budget, seed=s) for s in range(JITTER_SEEDS)
    ]
    return {m: Agreement(*np.mean([run[m] for run in runs], axis=0)) for m in MODELS}


def print_rule_table(table, budgets) -> None:
    print(
        "\nSelection rules (simulated): top-3 MSD/MTT, max diff of both models"
        " (mean over tracks of each track's max diff)"
    )
    print("| budget | " + " | ".join(RULES) + " |")
    print("|---:|" + "---|" * len(RULES))
    for budget in budgets:
        cells = []
        for name in RULES:
            msd, mtt = table[name, budget]["msd"], table[name, budget]["mtt"]
            worst = max(msd.max_diff, mtt.max_diff)
            typical = max(msd.mean_diff, mtt.mean_diff)
            cells.append(
                f"{msd.same_top:.2f}/{mtt.same_top:.2f}, {worst:.3f} ({typical:.3f})"
            )
        print(f"| {budget} | " + " | ".join(cells) + " |")


def print_ties(tracks, table, budgets) -> None:
    print("\nNear-ties: faithful 3rd-best minus 4th-best tag score, share of tracks")
    for model in MODELS:
        gaps = np.array([np.diff(np.sort(t[model].mean(0))[-4:-2])[0] for t in tracks])
        shares = ", ".join(
            f"< {g:g}: {np.mean(gaps < g):.2f}" for g in (0.002, 0.005, 0.01)
        )
        print(f"{model.upper()}: {shares}")
    print(f"even grid, top-3 counting ties within {TIE:g} as equal, MSD/MTT:")
    close = {b: [table["even", b][m].close_top for m in MODELS] for b in budgets}
    print(", ".join(f"{b}: {msd:.2f}/{mtt:.2f}" for b, (msd, mtt) in close.items()))


def print_needed(tracks, budgets, scales=(1.0, 0.7, 0.5, 0.35, 0.25)) -> None:
    """Agreement if the even grid's errors were ``scale`` times as large."""
    print("\nEven grid with its errors scaled down (fast = full + s (grid - full)):")
    print("top-3 MSD/MTT")
    print("| budget | " + " | ".join(f"s = {s:g}" for s in scales) + " |")
    print("|---:|" + "---:|" * len(scales))
    for budget in budgets:
        cells = []
        for scale in scales:
            same = []
            for model in MODELS:
                hits = []
                for track in tracks:
                    chosen, weights = even_rule(track, budget)
                    full = track[model].mean(axis=0)
                    fast = full + scale * (weights @ track[model][chosen] - full)
                    hits.append(top_set(fast) == top_set(full))
                same.append(np.mean(hits))
            cells.append(f"{same[0]:.2f}/{same[1]:.2f}")
        print(f"| {budget} | " + " | ".join(cells) + " |")


# The default configuration: MSD on every patch, MTT on a share. The full
# analysis a fast one estimates is then MTT's mean over its own share of
# the patches, and fast mode must choose MTT's windows to estimate that.


def full_rows(n: int, share: float) -> np.ndarray:
    """The patches a model with ``share`` hears in a full analysis."""
    return sampling.model_patches(n, share)


def rows_in_the_budget(n: int, budget: int, share: float, windows: int) -> np.ndarray:
    """The rule shipped until 2026-12: the share of fast mode's own windows
    (``windows`` is ignored: it is ``ceil(budget * share)``)."""
    chosen = sampling.choose_patches(n, budget)
    return chosen if share >= 1 else chosen[sampling.share_patches(len(chosen), share)]


def rows_of_its_own(n: int, budget: int, share: float, windows: int) -> np.ndarray:
    """``windows`` of the model's own full-analysis patches, spread evenly
    (a model hearing every patch takes ``budget`` of them); with
    ``windows = models.fast_windows(budget, share)``, the shipped rule
    (``sampling.model_patches``)."""
    grid = full_rows(n, share)
    count = budget if share >= 1 else windows
    return grid[sampling.choose_patches(len(grid), count)]


SHARE_RULES = {"in the budget": rows_in_the_budget, "its own": rows_of_its_own}


def share_pairs(tracks, shares, budget: int, rule, windows: int) -> dict[str, list]:
    """Per model, (fast, full) song-level scores of each track, fast mode
    choosing its windows by ``rule`` and the full analysis with ``shares``."""
    pairs: dict[str, list] = {model: [] for model in MODELS}
    for track in tracks:
        n = len(track["mel"])
        for model in MODELS:
            share = shares.get(model, 1.0)
            fast = track[model][rule(n, budget, share, windows)].mean(axis=0)
            full = track[model][full_rows(n, share)].mean(axis=0)
            pairs[model].append((fast, full))
    return pairs


def both_agree(pairs: dict[str, list]) -> float:
    """Share of tracks whose top-3 tags agree for every model at once."""
    hits = [
        all(top_set(f) == top_set(g) for f, g in per_model)
        for per_model in zip(*pairs.values(), strict=True)
    ]
    return float(np.mean(hits))


def print_share_table(tracks, shares, budget: int, windows: list[int], label: str):
    """Fast mode at ``budget`` against the default's full analysis, for the
    rule shipped until now and for counts of windows of the shared models'
    own patches."""
    shared = ", ".join(f"{m} {s:g}" for m, s in shares.items())
    long = [t for t in tracks if len(t["mel"]) > budget]
    print(
        f"\n{label}: fast mode at {budget} against the full analysis with "
        f"patch shares ({shared}), {len(long)} tracks longer than {budget} patches"
    )
    print(
        "| rule | MTT windows | top-3 MSD | top-3 MTT | both | max diff MSD/MTT |"
        " inferences, 80-patch track (full: "
        f"{sum(len(full_rows(80, shares.get(m, 1.0))) for m in MODELS)}) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    share = shares.get("mtt", 1.0)
    rows = [("in the budget", max(1, math.ceil(budget * share)))]
    rows += [("its own", w) for w in windows]
    for name, count in rows:
        pairs = share_pairs(long, shares, budget, SHARE_RULES[name], count)
        got = {model: agreement(p) for model, p in pairs.items()}
        cost = sum(
            len(SHARE_RULES[name](80, budget, shares.get(m, 1.0), count))
            for m in MODELS
        )
        print(
            f"| {name} | {count} | {got['msd'].same_top:.2f} "
            f"| {got['mtt'].same_top:.2f} | {both_agree(pairs):.2f} "
            f"| {got['msd'].max_diff:.3f}/{got['mtt'].max_diff:.3f} | {cost} |"
        )
    return long


def plot_default(splits: dict[str, list], shares, budgets, path: Path) -> None:
    """Top-3 agreement of fast mode with the default's full analysis, by
    budget, for the rule shipped until now and the shipped one, per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(splits), sharey=True, figsize=(4.4 * len(splits), 5.4), squeeze=False
    )
    share = shares.get("mtt", 1.0)
    for ax, (split, tracks) in zip(axes[0], splits.items(), strict=True):
        for name, style in (("in the budget", "--"), ("its own", "-")):
            curves: dict[str, list[float]] = {"msd": [], "mtt": [], "both": []}
            counts = []
            for budget in budgets:
                long = [t for t in tracks if len(t["mel"]) > budget]
                counts.append(len(long))
                pairs = share_pairs(
                    long, shares, budget, SHARE_RULES[name],
                    models.fast_windows(budget, share),
                )
                for model in MODELS:
                    curves[model].append(agreement(pairs[model]).same_top)
                curves["both"].append(both_agree(pairs))
            label = (
                "MTT on a third of MSD's windows (until 2026-12)"
                if name == "in the budget"
                else "MTT on half as many of its own patches"
            )
            ax.plot(budgets, curves["mtt"], "o" + style, color="C1",
                    label=f"top-3 MTT ({label})")
            ax.plot(budgets, curves["both"], "s" + style, color="C2",
                    label=f"top-3 of both ({label})")
        ax.plot(budgets, curves["msd"], "^-", color="C0", label="top-3 MSD")
        ax.axhline(0.9, color="grey", linestyle=":", label="target 0.9")
        ax.set_title(f"{split} split ({counts[-1]}-{counts[0]} tracks)")
        ax.set_xlabel("fast_patches (MSD's windows per track)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of tracks with the full analysis' top-3 tags")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize="small")
    fig.suptitle("Fast mode against the full default analysis (MSD all, MTT 0.34)")
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot saved to {path}")


def measured_default(tracks, budget: int, shares) -> tuple[dict, float, float]:
    """The real fast mode with ``shares`` against the full default analysis:
    agreement per model, of both, and the largest gap to the simulation."""
    pairs: dict[str, list] = {model: [] for model in MODELS}
    gap = 0.0
    for track in tracks:
        n = len(track["mel"])
        fast = analysis.analyze(
            track["path"], MODELS, patch_budget=budget, patch_shares=shares
        )
        for model in MODELS:
            share = shares.get(model, 1.0)
            full = track[model][full_rows(n, share)].mean(axis=0)
            expected = track[model][sampling.model_patches(n, share, budget)].mean(0)
            gap = max(gap, float(np.abs(fast[model].scores - expected).max()))
            pairs[model].append((fast[model].scores, full))
    got = {model: agreement(p) for model, p in pairs.items()}
    return got, both_agree(pairs), gap


def measured(tracks, budget: int) -> tuple[dict[str, Agreement], float]:
    """Agreement of the real fast mode (decoding only the sampled audio), and
    its largest difference from the simulation."""
    pairs: dict[str, list] = {model: [] for model in MODELS}
    worst_vs_simulation = 0.0
    for track in tracks:
        fast = analysis.analyze(track["path"], MODELS, patch_budget=budget)
        chosen, weights = even_rule(track, budget)
        for model in MODELS:
            pairs[model].append((fast[model].scores, track[model].mean(0)))
            expected = weights @ track[model][chosen]
            gap = float(np.abs(fast[model].scores - expected).max())
            worst_vs_simulation = max(worst_vs_simulation, gap)
    return {m: agreement(p) for m, p in pairs.items()}, worst_vs_simulation


def print_edge_table(tracks, budgets, edges) -> None:
    print("\nPatches left out at each end (simulated), worse of the two models:")
    print("mean of each track's max diff / max diff / top-3 agreement")
    print("| budget | " + " | ".join(f"edge {e}" for e in edges) + " |")
    print("|---:|" + "---:|" * len(edges))
    for budget in budgets:
        cells = []
        for edge in edges:
            stats = simulated(tracks, even_rule, budget, edge=edge).values()
            mean = max(a.mean_diff for a in stats)
            worst = max(a.max_diff for a in stats)
            same = min(a.same_top for a in stats)
            cells.append(f"{mean:.4f} / {worst:.3f} / {same:.2f}")
        print(f"| {budget} | " + " | ".join(cells) + " |")


def plot(table, budgets, n_tracks: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (top, diff) = plt.subplots(2, 1, sharex=True, figsize=(6.4, 6.4))
    for name in RULES:
        style = {"linewidth": 2.5, "zorder": 3} if name == "even" else {"alpha": 0.8}
        worse = [min(a.same_top for a in table[name, b].values()) for b in budgets]
        top.plot(budgets, worse, "o-", label=name, **style)
        largest = [max(a.max_diff for a in table[name, b].values()) for b in budgets]
        diff.plot(budgets, largest, "o-", label=name, **style)
    # One binomial standard error around the even grid: the noise of a share
    # measured on this many tracks.
    even = np.array(
        [min(a.same_top for a in table["even", b].values()) for b in budgets]
    )
    error = np.sqrt(even * (1 - even) / n_tracks)
    top.fill_between(
        budgets,
        even - error,
        even + error,
        alpha=0.15,
        color="C0",
        label="even, ±1 standard error",
    )
    top.axhline(0.9, color="grey", linestyle=":", label="target 0.9")
    diff.axhline(0.05, color="grey", linestyle=":", label="target 0.05")
    top.set_ylabel("same top-3 tags, share of tracks\n(worse of MSD, MTT)")
    diff.set_ylabel("max abs score difference\n(both models)")
    diff.set_yscale("log")
    diff.set_yticks([0.03, 0.05, 0.1, 0.2, 0.5])
    diff.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    diff.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    diff.set_xlabel("patches analysed per track (budget)")
    top.set_title(f"Fast mode against the full analysis, {n_tracks} tracks")
    for axes in (top, diff):
        axes.grid(alpha=0.3)
    top.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot saved to {path}")


def time_speed(tracks, budgets: list[int], repeat: int, shares=None) -> None:
    """Seconds per track, faithful vs fast, on tracks of 3.5 to 4.5 minutes,
    both with the models' patch ``shares``."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    chosen = [t for t in tracks if 210 <= len(t["mel"]) * 187 * 256 / 16000 <= 270]
    if not chosen:
        print("\nno track of 3.5 to 4.5 minutes to time")
        return
    analysis.analyze(chosen[0]["path"], MODELS)  # load models off the clock
    shares = shares or {}
    modes = {"faithful": None} | {f"fast {budget}": budget for budget in budgets}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    stages: dict[str, dict[str, list[float]]] = {mode: {} for mode in modes}
    for _ in range(repeat):
        for track in chosen:
            for mode, budget in modes.items():
                start = time.perf_counter()
                result = analysis.analyze(
                    track["path"], MODELS, patch_budget=budget, patch_shares=shares
                )
                times[mode].append(time.perf_counter() - start)
                for stage, seconds in result.timings.items():
                    stages[mode].setdefault(stage, []).append(seconds)
    shared = ", ".join(f"{m} on {s:g} of the patches" for m, s in shares.items())
    print(
        f"\nSpeed on {len(chosen)} tracks of 3.5-4.5 min, both models"
        f"{' (' + shared + ')' if shared else ''}, one core,"
        f" median of {repeat} runs each (seconds per track)"
    )
    print("| mode | total | decode | features | inference | vs faithful |")
    print("|---|---:|---:|---:|---:|---:|")
    faithful = statistics.median(times["faithful"])
    for mode in modes:
        med = {stage: statistics.median(v) for stage, v in stages[mode].items()}
        total = statistics.median(times[mode])
        print(
            f"| {mode} | {total:.2f} | {med['decode']:.3f} | {med['features']:.3f}"
            f" | {med['inference']:.2f} | {faithful / total:.1f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument(
        "--manifest",
        type=Path,
        help="take the tracks of this corpus manifest (corpora/labels_corpus.tsv)"
        " instead of folders",
    )
    parser.add_argument(
        "--split", help="only the manifest's tracks of this split (dev, test)"
    )
    parser.add_argument("--budgets", default="4,8,12,16,20,24,32,40,48")
    parser.add_argument("--edges", default="0,1,2,4,6")
    parser.add_argument(
        "--rules-plot", type=Path, default=REPO / "docs" / "fast_mode_rules.png"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=REPO / "docs" / "fast_mode_agreement.png",
        help="agreement of fast mode with the full default analysis, by budget",
    )
    parser.add_argument(
        "--shares",
        default=",".join(
            f"{model}={share}" for model, share in DEFAULT_CONFIG["patch_share"].items()
        ),
        help="patch shares of the default configuration, as mtt=0.34",
    )
    parser.add_argument(
        "--share-windows",
        default="8,12,17,24,32",
        help="MTT windows of its own patches to compare at --default-budget",
    )
    parser.add_argument(
        "--default-budgets",
        default="16,24,32,40,48,56,64",
        help="budgets of the default configuration's plot",
    )
    parser.add_argument(
        "--no-rules", action="store_true", help="skip the study of selection rules"
    )
    parser.add_argument("--cache", type=Path, help="npz file of faithful scores")
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--simulate-only", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument(
        "--default-budget", type=int, default=models.DEFAULT_PATCH_BUDGET
    )
    parser.add_argument("--speed-budgets", help="default: --default-budget")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    edges = [int(e) for e in args.edges.split(",")]

    splits = (
        manifest_files(args.manifest, args.split)
        if args.manifest
        else dict.fromkeys(audio_files(args.folders), "all")
    )
    files = [
        path for path in splits if audio.probe(path).duration >= args.min_seconds
    ]
    tracks = load_or_compute(files, args.cache)
    shares = {
        model: float(share)
        for model, _, share in (item.partition("=") for item in args.shares.split(","))
        if model
    }
    if not args.no_rules:
        study_rules(tracks, budgets, edges, args)
    by_split: dict[str, list] = {}
    for track in tracks:
        by_split.setdefault(splits[track["path"]], []).append(track)
    windows = [int(w) for w in args.share_windows.split(",")]
    for split, chosen in by_split.items():
        print_share_table(chosen, shares, args.default_budget, windows, split)
    if args.plot:
        default_budgets = [int(b) for b in args.default_budgets.split(",")]
        plot_default(by_split, shares, default_budgets, args.plot)
    if not args.simulate_only:
        for split, chosen in by_split.items():
            long = [t for t in chosen if len(t["mel"]) > args.default_budget]
            got, both, gap = measured_default(long, args.default_budget, shares)
            print(
                f"\nReal fast mode at {args.default_budget} with shares, {split} "
                f"({len(long)} tracks): top-3 MSD {got['msd'].same_top:.2f}, MTT "
                f"{got['mtt'].same_top:.2f}, both {both:.2f}; max diff "
                f"{max(a.max_diff for a in got.values()):.3f}; largest gap to the "
                f"simulation {gap:.1e}"
            )
    if args.speed:
        speed_budgets = args.speed_budgets or str(args.default_budget)
        time_speed(
            tracks, [int(b) for b in speed_budgets.split(",")], args.repeat, shares
        )


def study_rules(tracks, budgets: list[int], edges: list[int], args) -> None:
    """Rules choosing the patches, every model on every patch (the study of
    2026-11, docs/performance.md)."""
    # Every rule and budget on the same tracks: those longer than any budget.
    judged = [t for t in tracks if len(t["mel"]) > max(budgets)]
    minutes = sum(len(t["mel"]) for t in judged) * 187 * 256 / 16000 / 60
    print(f"{len(judged)} tracks of {len(tracks)}, {minutes:.0f} minutes of patches")
    table = {
        (name, budget): rule_agreement(judged, name, budget)
        for name in RULES
        for budget in budgets
    }
    print_rule_table(table, budgets)
    print_ties(judged, table, budgets)
    print_needed(judged, budgets)
    print_edge_table(judged, budgets, edges)
    if args.rules_plot:
        plot(table, budgets, len(judged), args.rules_plot)
    if not args.simulate_only:
        real, gap = measured(judged, args.default_budget)
        print(
            f"\nReal fast mode at {args.default_budget}, no shares: top-3 MSD/MTT "
            f"{real['msd'].same_top:.2f}/{real['mtt'].same_top:.2f}, max diff "
            f"{max(a.max_diff for a in real.values()):.3f}; largest gap to the "
            f"simulation {gap:.1e}"
        )


if __name__ == "__main__":
    main()
