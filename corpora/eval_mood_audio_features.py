"""Out-of-fold evaluation of mood ridge heads on MusicNN logits and/or the
handcrafted features of corpora/mood_audio_features.py (issue 15's
experiment; the figures are in docs/labels.md).

    .venv/bin/python corpora/eval_mood_audio_features.py FEATURES.npz > results.txt

Same protocol as tools/fit_heads.py for moods: outer 5 grouped folds by
artist (GroupKFold), every choice (alpha, block weight) made again by an
inner 5-fold grouped CV on the training part, maximising the mean Spearman
over the seven moods. Writes results_<split>.json too.

    --split=fitheads   the outer split of fit_heads.main (folds over Emotify +
                       Debian, which its published .61 figures use)
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

MAIN = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(MAIN / "tools"))
import fit_heads as fh  # noqa: E402

from beetsplug.musicnn.labels.moods import LISTENER_MOODS  # noqa: E402

HERE = Path(__file__).resolve().parent
MOODS = list(LISTENER_MOODS)
ALPHA_WIDE = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

# Feature groups of mood_audio_features.py (by name prefix).
GROUPS = {
    "key_mode": ("kstft_", "kcqt_"),
    "tonnetz_chroma_change": ("tonnetz_", "chroma_change"),
    "rhythm": ("onset_", "tempo_", "beat_rate", "pulse_clarity", "tempogram_peak"),
    "dynamics": ("rms_",),
    "spectral": (
        "centroid_",
        "flatness_",
        "rolloff_",
        "bandwidth_",
        "contrast_",
        "zcr_",
        "flux_",
        "low_energy",
        "high_energy",
    ),
    "hpss": ("hp_ratio",),
    "roughness": ("roughness",),
    "mfcc": ("mfcc_",),
}


def group_of(name: str) -> str:
    for g, prefixes in GROUPS.items():
        if name.startswith(prefixes):
            return g
    raise KeyError(name)


# --- models -------------------------------------------------------------------
# A model: fit(x, y, choice) -> params; predict(params, x); a grid of choices.


def fit_blocks(x, y, choice):
    """Ridge (dual) on standardised columns, the columns of block 2
    (x[:, n1:]) multiplied by w: a separate, lighter penalty for block 2."""
    alpha, w, n1 = choice
    mean, scale = fh.standardiser(x)
    mult = np.ones(x.shape[1])
    mult[n1:] = w
    scale = scale / mult  # z = (x - mean) / scale * mult
    z = (x - mean) / scale
    y_mean = y.mean(axis=0)
    dual = np.linalg.solve(z @ z.T + alpha * np.eye(len(z)), y - y_mean)
    return dict(mean=mean, scale=scale, weights=z.T @ dual, bias=y_mean)


def predict(params, x):
    return fh.predict_linear(params, x)


def choose(grid, per_mood=False):
    """The grid point with the best inner-CV mean Spearman (or, per_mood, the
    best per mood: returns a list of 7 choices)."""

    def chooser(x, y, groups):
        scores = []
        for c in grid:
            pred = np.empty_like(y)
            for train, test in fh.folds(groups):
                pred[test] = predict(fit_blocks(x[train], y[train], c), x[test])
            scores.append([fh.spearman(y[:, j], pred[:, j]) for j in range(y.shape[1])])
        scores = np.array(scores)
        if per_mood:
            return [grid[i] for i in scores.argmax(axis=0)]
        return grid[int(scores.mean(axis=1).argmax())]

    return chooser


def fit_any(x, y, choice):
    if isinstance(choice, list):  # per mood
        return [fit_blocks(x, y[:, [j]], c) for j, c in enumerate(choice)]
    return fit_blocks(x, y, choice)


def predict_any(params, x):
    if isinstance(params, list):
        return np.hstack([predict(p, x) for p in params])
    return predict(params, x)


OUTER = None  # None: fit_heads' protocol on Emotify alone; else a list of folds


def oof(x, y, groups, grid, per_mood=False):
    if OUTER is None:
        return fh.out_of_fold(
            x, y, groups, choose(grid, per_mood), fit_any, predict_any, np.empty_like(y)
        )
    pred, chosen = np.empty_like(y), []
    for train, test in OUTER:
        c = choose(grid, per_mood)(x[train], y[train], groups[train])
        chosen.append(c)
        pred[test] = predict_any(fit_any(x[train], y[train], c), x[test])
    return pred, chosen


def scores(y, pred, families):
    per = {m: fh.spearman(y[:, j], pred[:, j]) for j, m in enumerate(MOODS)}
    within = {
        f: float(
            np.mean(
                [
                    fh.spearman(y[families == f, j], pred[families == f, j])
                    for j in range(len(MOODS))
                ]
            )
        )
        for f in sorted(set(families))
    }
    return dict(
        per_mood=per,
        mean=float(np.mean(list(per.values()))),
        within_genre=within,
        within_mean=float(np.mean(list(within.values()))),
    )


def summary(name: str, r: dict) -> str:
    """One line of results: each mood's Spearman, the mean, the within-genre mean."""
    moods = " ".join(f"{m} {r['per_mood'][m]:.3f}" for m in MOODS)
    return f"{name}: {moods} | mean {r['mean']:.3f} within {r['within_mean']:.3f}"


def main() -> int:
    global OUTER
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    split = "fitheads" if "--split=fitheads" in sys.argv else "emotify"
    path = Path(args[0]) if args else Path("mood_features.npz")
    data = np.load(path)
    names = [str(n) for n in data["names"]]
    hc_of = {str(f): row for f, row in zip(data["files"], data["X"], strict=True)}

    emotify, corpus = fh.load()
    if split == "fitheads":
        # The outer split fit_heads.main uses for its published figures: 5
        # grouped folds over Emotify + the Debian corpus, keeping the Emotify
        # rows of each (inner choice on the Emotify training rows, as
        # fit_head_set does).
        music = emotify + corpus
        mg = np.array(
            [
                ("emotify:" if t.path.startswith("emotify:") else "debian:") + t.package
                for t in music
            ]
        )
        n_e = len(emotify)
        OUTER = [(tr[tr < n_e], te[te < n_e]) for tr, te in fh.folds(mg)]
    logits = fh.features(emotify, ("msd", "mtt"))
    hc = np.array([hc_of[t.path.removeprefix("emotify:")] for t in emotify])
    y = np.array([[t.gems[m] for m in MOODS] for t in emotify])
    groups = np.array([t.package for t in emotify])
    families = np.array([t.family for t in emotify])
    assert np.isfinite(hc).all(), "non-finite features"

    gnames = np.array([group_of(n) for n in names])
    cols = lambda *gs: np.flatnonzero(np.isin(gnames, gs))  # noqa: E731
    no_mfcc = np.flatnonzero(gnames != "mfcc")
    # "music-theory" block: mode/harmony/tempo/dynamics, none of the timbre stats
    theory = cols(
        "key_mode", "tonnetz_chroma_change", "rhythm", "dynamics", "roughness", "hpss"
    )
    sad_small = np.array(
        [
            names.index(n)
            for n in (
                "kcqt_mode_diff",
                "kcqt_local_mode_mean",
                "kcqt_local_minor_share",
                "kstft_mode_diff",
                "tempo_log",
                "onset_rate",
                "rms_db_mean",
                "rms_dyn_range",
            )
        ]
    )

    def grid1():
        return [(a, 1.0, 10**9) for a in ALPHA_WIDE]

    def grid2(n1):
        return [(a, w, n1) for a, w in itertools.product(ALPHA_WIDE, WEIGHTS)]

    baseline_grid = [(a, 1.0, 10**9) for a in fh.ALPHA_GRID]
    n1 = logits.shape[1]
    variants = {
        "a  logits (fit_heads grid)": (logits, baseline_grid, False),
        "a' logits (wide alpha grid)": (logits, grid1(), False),
        "b  handcrafted, all 82": (hc, grid1(), False),
        "b' handcrafted, no MFCC (56)": (hc[:, no_mfcc], grid1(), False),
        "c  logits + hc all, w=1": (np.hstack([logits, hc]), grid1(), False),
        "c' logits + hc all, block weight w inner-CV": (
            np.hstack([logits, hc]),
            grid2(n1),
            False,
        ),
        "c'' logits + hc no MFCC, w inner-CV": (
            np.hstack([logits, hc[:, no_mfcc]]),
            grid2(n1),
            False,
        ),
        "d  logits + theory block (key/tonnetz/rhythm/dyn/rough/hpss), w inner-CV": (
            np.hstack([logits, hc[:, theory]]),
            grid2(n1),
            False,
        ),
        "d' logits + 8-feature mode/tempo/loudness block, w inner-CV": (
            np.hstack([logits, hc[:, sad_small]]),
            grid2(n1),
            False,
        ),
        "d'' 8-feature mode/tempo/loudness alone": (hc[:, sad_small], grid1(), False),
        "e  logits + hc all, w & alpha per mood": (
            np.hstack([logits, hc]),
            grid2(n1),
            True,
        ),
        # Added after reading the drop-one table of the first run (post hoc):
        "f  logits + key/mode block only (18), w inner-CV (post hoc)": (
            np.hstack([logits, hc[:, cols("key_mode")]]),
            grid2(n1),
            False,
        ),
    }
    results = {}
    for name, (x, grid, per_mood) in variants.items():
        pred, chosen = oof(x, y, groups, grid, per_mood)
        r = scores(y, pred, families)
        r["chosen"] = [
            [cc[:2] for cc in c] if isinstance(c, list) else c[:2] for c in chosen
        ]
        results[name] = r
        print(f"{summary(name, r)} | chosen {r['chosen']}", flush=True)

    # Drop-one-group on c' (logits + all handcrafted, w inner-CV).
    drop = {}
    for g in GROUPS:
        keep = np.flatnonzero(gnames != g)
        pred, chosen = oof(np.hstack([logits, hc[:, keep]]), y, groups, grid2(n1))
        r = scores(y, pred, families)
        drop[g] = r
        print(summary(f"drop {g}", r), flush=True)
    # Handcrafted alone, single-group (what each group carries on its own).
    alone = {}
    for g in GROUPS:
        pred, _ = oof(hc[:, cols(g)], y, groups, grid1())
        r = scores(y, pred, families)
        alone[g] = r
        print(summary(f"only {g} ({len(cols(g))})", r), flush=True)

    # Univariate Spearman of each handcrafted feature with each mood (all
    # tracks and mean within genre), for reading, not selection.
    uni = {}
    for i, n in enumerate(names):
        uni[n] = {
            m: (
                fh.spearman(hc[:, i], y[:, j]),
                float(
                    np.mean(
                        [
                            fh.spearman(hc[families == f, i], y[families == f, j])
                            for f in sorted(set(families))
                        ]
                    )
                ),
            )
            for j, m in enumerate(MOODS)
        }
    # Ridge coefficients (standardised units, times the block weight) of c''
    # fitted on all tracks with its most common inner choice.
    x = np.hstack([logits, hc[:, no_mfcc]])
    c = choose(grid2(n1))(x, y, groups)
    params = fit_blocks(x, y, c)
    coef = params["weights"] / 1.0  # on z-scores already multiplied by w
    mult = np.r_[np.ones(n1), np.full(len(no_mfcc), c[1])]
    eff = coef * mult[:, None]  # change in prediction per 1 SD of the feature
    hc_names = [names[i] for i in no_mfcc]
    coefs = {}
    for j, m in enumerate(MOODS):
        block = eff[n1:, j]
        top = np.argsort(-np.abs(block))[:8]
        coefs[m] = {
            "choice": c[:2],
            "logit_block_l2": float(np.linalg.norm(eff[:n1, j])),
            "hc_block_l2": float(np.linalg.norm(block)),
            "top_hc": [(hc_names[i], float(block[i])) for i in top],
        }
        print(
            f"coef {m}: |logits| {coefs[m]['logit_block_l2']:.4f} |hc| "
            f"{coefs[m]['hc_block_l2']:.4f} top: "
            + ", ".join(f"{n} {v:+.4f}" for n, v in coefs[m]["top_hc"][:6]),
            flush=True,
        )
    (path.parent / f"results_{split}.json").write_text(
        json.dumps(
            dict(
                split=split,
                variants=results,
                drop_group=drop,
                group_alone=alone,
                univariate=uni,
                coefficients=coefs,
            ),
            indent=1,
            default=float,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
