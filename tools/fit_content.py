"""Fit the content detector (music / speech / effects) and write ``content.json``.

Reads the cached analyses of the content corpus and of the music corpora
(``corpora/content_data.py``), and for each set of models (``msd`` + ``mtt``,
``msd``, ``mtt``) fits a multinomial logistic regression (scikit-learn,
``lbfgs``, balanced class weights) on standardised features: per model, the
song-level 200-d embedding and the logits of the 50 song-level scores, exactly
what the result store keeps. Then:

1. Cross-validation grouped by voice / package / artist (:data:`N_SPLITS`
   folds, :func:`folds`: no voice, package or artist is on both sides) gives
   every track an out-of-fold log-odds of non-music against music, both with
   MTT on every patch and with MTT on the default third of them.
2. The variant's ``threshold`` is the highest out-of-fold log-odds of any music
   track, plus a margin: no music of the corpora is flagged out-of-fold, with
   room to spare. The regularisation ``C`` is the one of :data:`C_GRID` that
   recalls the most speech and effects out-of-fold with the smallest margin;
   the margin is then the smallest of :data:`MARGINS` with which no music is
   flagged even when the threshold, too, is set without the fold it judges
   (:func:`held_out_threshold`): music of an unseen artist or package.
3. The final model is fitted on everything; its weights, the threshold and the
   cross-validated figures go into the JSON, the variants best first (most
   speech and effects caught out-of-fold): ``content.py`` judges a track with
   the first variant whose models it has.

Needs scikit-learn (the ``report`` extra, part of ``dev`` and ``bench``); the
plugin applies the result with NumPy only. Same caches, same JSON (no
randomness; the date is that of the newest cache file used; checked: a refit
gives a byte-identical file)::

    python tools/fit_content.py [--out beetsplug/musicnn/labels/content.json]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "corpora"))

from content_data import DEFAULT_MTT_SHARE, Example, load_examples  # noqa: E402

from beetsplug.musicnn.labels.content import (  # noqa: E402
    CONTENTS,
    EFFECTS,
    EMBEDDING,
    FORMAT_VERSION,
    MUSIC,
    SCORE_LOGITS,
    SPEECH,
    ContentModel,
    _logit,
)

OUT = REPO / "beetsplug" / "musicnn" / "labels" / "content.json"
VARIANTS = (("msd", "mtt"), ("msd",), ("mtt",))
N_SPLITS = 5
#: Log-odds kept between the most non-music-like music track out-of-fold and
#: the threshold: the first with which held-out thresholds flag no music.
MARGINS = (1.0, 2.0, 3.0, 4.0, 6.0)
MARGIN = MARGINS[0]
C_GRID = (0.01, 0.03, 0.1, 0.3)
#: MTT shares the out-of-fold figures are measured at (1: every patch).
SHARES = (1.0, DEFAULT_MTT_SHARE)
FIT_CLASSES = CONTENTS  # music, speech, effects


def blocks(models: tuple[str, ...]) -> list[dict]:
    """The feature blocks of a variant, in order."""
    return [{"model": m, "kind": EMBEDDING, "size": 200} for m in models] + [
        {"model": m, "kind": SCORE_LOGITS, "size": 50} for m in models
    ]


def features(
    examples: list[Example], models: tuple[str, ...], share: float
) -> np.ndarray:
    """The unstandardised feature matrix of ``examples`` for a variant."""
    rows = []
    for example in examples:
        scores, embeddings = example.song_level(share)
        parts = [embeddings[m] for m in models] + [_logit(scores[m]) for m in models]
        rows.append(np.concatenate(parts))
    return np.asarray(rows)


def fit(x: np.ndarray, y: np.ndarray, c: float) -> dict:
    """Standardise and fit; weights with rows in :data:`FIT_CLASSES` order."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-6)
    model.fit((x - mean) / scale, y)
    order = [list(model.classes_).index(name) for name in FIT_CLASSES]
    return {
        "mean": mean,
        "scale": scale,
        "coef": model.coef_[order],
        "intercept": model.intercept_[order],
    }


def log_odds(params: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of non-music vs music, and whether speech beats effects."""
    logits = ((x - params["mean"]) / params["scale"]) @ params["coef"].T + params[
        "intercept"
    ]
    music, speech, effects = (
        logits[:, FIT_CLASSES.index(n)] for n in (MUSIC, SPEECH, EFFECTS)
    )
    return np.logaddexp(speech, effects) - music, speech >= effects


def folds(groups: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Test indices of each fold: groups dealt round-robin by class, then size.

    Deterministic. Each class's groups are sorted by size (then name) and
    dealt in turn, so every fold has speech, effects and music of its own.
    """
    assignment: dict[str, int] = {}
    for label in sorted(set(labels)):
        sizes = Counter(groups[labels == label])
        ordered = sorted(sizes, key=lambda g: (-sizes[g], g))
        for i, group in enumerate(g for g in ordered if g not in assignment):
            assignment[group] = i % N_SPLITS
    fold_of = np.array([assignment[g] for g in groups])
    return [np.flatnonzero(fold_of == k) for k in range(N_SPLITS)]


def out_of_fold(
    examples: list[Example], models: tuple[str, ...], c: float
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Per MTT share: out-of-fold log-odds and speech-over-effects of ``examples``."""
    labels = np.array([e.label for e in examples])
    groups = np.array([e.group for e in examples])
    xs = {share: features(examples, models, share) for share in SHARES}
    out = {
        share: (np.zeros(len(examples)), np.zeros(len(examples), bool))
        for share in SHARES
    }
    for test in folds(groups, labels):
        train = np.setdiff1d(np.arange(len(examples)), test)
        params = fit(xs[1.0][train], labels[train], c)
        for share in SHARES:
            odds, speech = log_odds(params, xs[share][test])
            out[share][0][test] = odds
            out[share][1][test] = speech
    return out


def decisions(odds: np.ndarray, speech: np.ndarray, threshold: float) -> np.ndarray:
    flagged = odds > threshold
    return np.where(flagged, np.where(speech, SPEECH, EFFECTS), MUSIC)


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """``{true: {predicted: count}}`` over the three classes."""
    return {
        true: {p: int(np.sum((labels == true) & (predicted == p))) for p in CONTENTS}
        for true in CONTENTS
        if np.any(labels == true)
    }


def figures(labels: np.ndarray, predicted: np.ndarray, sources: np.ndarray) -> dict:
    """Music flagged, speech and effects recall (overall and per source)."""
    out = {"confusion": confusion(labels, predicted)}
    music = labels == MUSIC
    out["music_flagged"] = [int(np.sum(predicted[music] != MUSIC)), int(music.sum())]
    for name in (SPEECH, EFFECTS):
        mask = labels == name
        out[f"{name}_recall"] = [int(np.sum(predicted[mask] == name)), int(mask.sum())]
        out[f"{name}_not_music"] = [
            int(np.sum(predicted[mask] != MUSIC)),
            int(mask.sum()),
        ]
    out["music_flagged_by_source"] = {
        s: [
            int(np.sum(predicted[music & (sources == s)] != MUSIC)),
            int(np.sum(music & (sources == s))),
        ]
        for s in sorted(set(sources[music]))
    }
    return out


def held_out_threshold(
    oof: dict[float, tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    groups: np.ndarray,
    sources: np.ndarray,
    margin: float = MARGIN,
    share: float = DEFAULT_MTT_SHARE,
) -> dict:
    """Figures when the threshold, too, is set without the fold it judges.

    The shipped threshold is set on the out-of-fold log-odds of *all* music, so
    by construction it flags none of it; this says how it does on music whose
    group played no part in setting it: each fold is judged with the highest
    log-odds of the other folds' music plus ``margin``; MTT at ``share``.
    """
    music = labels == MUSIC
    predicted = np.empty(len(labels), dtype=object)
    for test in folds(groups, labels):
        others = np.setdiff1d(np.flatnonzero(music), test)
        threshold = max(float(oof[s][0][others].max()) for s in SHARES) + margin
        odds, speech = oof[share]
        predicted[test] = decisions(odds[test], speech[test], threshold)
    return figures(labels, predicted.astype(str), sources)


def fit_variant(examples: list[Example], models: tuple[str, ...]) -> tuple[dict, dict]:
    """Choose C and the threshold by grouped CV, fit on all; (JSON variant, report)."""
    labels = np.array([e.label for e in examples])
    sources = np.array([e.source for e in examples])
    music = labels == MUSIC
    best = None
    for c in C_GRID:
        oof = out_of_fold(examples, models, c)
        top = max(float(oof[share][0][music].max()) for share in SHARES)
        threshold = top + MARGIN
        predicted = decisions(*oof[DEFAULT_MTT_SHARE], threshold)
        caught = int(np.sum(predicted[~music] != MUSIC))
        print(
            f"  {'+'.join(models)} C={c}: threshold {threshold:.2f}, "
            f"non-music flagged {caught}/{int((~music).sum())}",
            flush=True,
        )
        if best is None or caught > best[0]:
            best = (caught, c, threshold, oof)
    _, c, threshold, oof = best
    groups = np.array([e.group for e in examples])
    trials = {}
    for margin in MARGINS:
        trials[margin] = [
            held_out_threshold(oof, labels, groups, sources, margin, share)
            for share in SHARES
        ]
        if all(t["music_flagged"][0] == 0 for t in trials[margin]):
            break
    threshold += margin - MARGIN
    report = {"C": c, "margin": margin, "threshold": round(threshold, 6)}
    report["threshold_held_out_too"] = trials[margin][SHARES.index(DEFAULT_MTT_SHARE)]
    report["margins_tried"] = {
        str(m): {
            k: t[SHARES.index(DEFAULT_MTT_SHARE)][k]
            for k in ("music_flagged", "speech_recall", "effects_recall")
        }
        for m, t in trials.items()
    }
    for share in SHARES:
        predicted = decisions(*oof[share], threshold)
        report[f"out_of_fold_mtt_share_{share}"] = figures(labels, predicted, sources)
        gap = float(threshold - oof[share][0][music].max())
        report[f"out_of_fold_mtt_share_{share}"]["music_least_margin"] = round(gap, 3)
    params = fit(features(examples, models, 1.0), labels, c)
    variant = {
        "models": list(models),
        "blocks": blocks(models),
        "mean": _round(params["mean"]),
        "scale": _round(params["scale"]),
        "coef": [_round(row) for row in params["coef"]],
        "intercept": _round(params["intercept"]),
        "threshold": round(threshold, 6),
        "cross_validated": report,
    }
    return variant, report


def _round(values: np.ndarray) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    examples, missing = load_examples()
    fitting = [e for e in examples if e.label in CONTENTS]
    counts = Counter((e.source, e.label) for e in fitting)
    print(f"{len(fitting)} examples ({len(missing)} tracks not cached):")
    for (source, label), n in sorted(counts.items()):
        print(f"  {source:13s} {label:8s} {n}")
    fitting.sort(key=lambda e: e.key)
    variants = []
    for models in VARIANTS:
        variant, _ = fit_variant(fitting, models)
        variants.append(variant)
    # Best first (content.py uses the first variant a track's models allow):
    # most non-music caught out-of-fold with the default MTT share.
    key = f"out_of_fold_mtt_share_{DEFAULT_MTT_SHARE}"
    variants.sort(
        key=lambda v: (
            -sum(
                v["cross_validated"][key][f"{name}_not_music"][0]
                for name in (SPEECH, EFFECTS)
            )
        )
    )
    digest = hashlib.sha1()
    for e in fitting:
        digest.update(e.key.encode())
        digest.update(e.label.encode())
    newest = max((Path(p).stat().st_mtime for p in _cache_paths(fitting)), default=0.0)
    data = {
        "format": FORMAT_VERSION,
        "classes": list(FIT_CLASSES),
        "variants": variants,
        "provenance": {
            "fitted_by": "tools/fit_content.py",
            "date": datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
            .date()
            .isoformat(),
            "corpora": {
                "speech, effects": "corpora/content_corpus.tsv "
                "(Debian packages, espeak-ng)",
                "music": "Emotify (240, /work/shared/emotify), "
                "corpora/labels_corpus.tsv, "
                "labels_corpus_extra.tsv, calibration_corpus.tsv, /work/shared/audio, "
                "tests/data/music",
            },
            "counts": {f"{s}/{lab}": n for (s, lab), n in sorted(counts.items())},
            "not_cached": len(missing),
            "examples_sha1": digest.hexdigest(),
            "features": "per model: song-level embedding (200), logit of song-level "
            "scores (50); standardised",
            "model": "multinomial logistic regression, balanced class weights",
            "cross_validation": f"{N_SPLITS} folds grouped by voice/package/artist",
            "rule": "non-music when log-odds(non-music vs music) > threshold, then "
            "speech or effects by the larger logit",
        },
    }
    ContentModel.from_dict(data, str(args.out))  # what we write must load
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    for variant in variants:
        cv = variant["cross_validated"][f"out_of_fold_mtt_share_{DEFAULT_MTT_SHARE}"]
        print(
            f"{'+'.join(variant['models'])}: music flagged {cv['music_flagged']}, "
            f"speech {cv['speech_recall']}, effects {cv['effects_recall']}"
        )
    print(f"wrote {args.out}")
    return 0


def _cache_paths(examples: list[Example]) -> list[str]:
    from content_data import _cache_file

    return [str(_cache_file(e.key)) for e in examples]


if __name__ == "__main__":
    raise SystemExit(main())
