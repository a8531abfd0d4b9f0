"""Measure the content detector: out-of-fold confusion, the shipped model, checks.

For each variant of the shipped ``beetsplug/musicnn/labels/content.json``
(``msd+mtt``, ``msd``, ``mtt``) this prints:

1. the out-of-fold confusion (music / speech / effects) of grouped
   cross-validation with the variant's own ``C`` and threshold
   (``tools/fit_content.py``'s folds), with MTT on every patch and on the
   default third of them, and speech recall per voice, effects recall per
   package, music flagged per source;
   and the same when the threshold too is set without the fold it judges;
2. the shipped model applied through the plugin's own code
   (:func:`beetsplug.musicnn.labels.content.content_of`) to every cached
   track's outputs rounded as the result store keeps them, fitted ones
   included (in-sample figures: an upper bound), and to the checks kept out
   of fitting: lines sung a cappella, a rapped line, the hip-hop tracks of
   the genre corpus;
3. music with a spoken intro: each music track's patches with the patches of
   a recorded speech file put in front (10 s, 20 s), averaged as the engine
   averages them: how many tracks turn non-music.

::

    python corpora/eval_content.py
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
sys.path.insert(0, str(HERE))

from content_data import DEFAULT_MTT_SHARE, Example, load_examples  # noqa: E402
from fit_content import OUT, SHARES, decisions, out_of_fold  # noqa: E402

from beetsplug.musicnn.labels.content import (  # noqa: E402
    CONTENTS,
    MUSIC,
    ContentModel,
    load_content_model,
)


def _ratio(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "0/0"


def print_confusion(labels: np.ndarray, predicted: np.ndarray) -> None:
    print(f"    {'true/said':12s}" + "".join(f"{c:>9s}" for c in CONTENTS))
    for true in CONTENTS:
        mask = labels == true
        if mask.any():
            counts = [int(np.sum(predicted[mask] == c)) for c in CONTENTS]
            print(f"    {true:12s}" + "".join(f"{n:9d}" for n in counts))


def print_breakdown(examples: list[Example], predicted: np.ndarray) -> None:
    by: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for example, said in zip(examples, predicted, strict=True):
        if example.label == MUSIC:
            name = example.source
            hit = said != MUSIC  # flagged
        else:
            name = example.group
            hit = said == example.label
        by[(example.label, name)][0] += int(hit)
        by[(example.label, name)][1] += 1
    for label in CONTENTS:
        what = "flagged" if label == MUSIC else "recalled"
        parts = [
            f"{name} {_ratio(*by[(lab, name)])}"
            for lab, name in sorted(by)
            if lab == label
        ]
        print(f"    {label} {what}: " + ", ".join(parts))


def alone(model: ContentModel, variant) -> ContentModel:
    """``model`` with only ``variant``: judge every track with that variant."""
    return ContentModel(model.classes, (variant,), model.provenance)


def apply_shipped(examples: list[Example], share: float) -> tuple[np.ndarray, dict]:
    """The shipped model's decisions through the plugin's code, per variant."""
    shipped = load_content_model(OUT)
    out = {}
    for variant in shipped.variants:
        model = alone(shipped, variant)
        said = []
        for example in examples:
            scores, embeddings = example.song_level(share, stored=True)
            keep = set(variant.models)
            said.append(
                model.decide(
                    {m: v for m, v in scores.items() if m in keep},
                    {m: v for m, v in embeddings.items() if m in keep},
                )
            )
        out["+".join(variant.models)] = said
    return out


def spoken_intro(examples: list[Example], seconds: float) -> dict[str, list[int]]:
    """Per variant: music tracks flagged once ``seconds`` of speech lead them."""
    shipped = load_content_model(OUT)
    speakers = [e for e in examples if e.group == "asterisk-en" and e.label == "speech"]
    speech = max(speakers, key=lambda e: len(e.scores["msd"]))
    n = round(seconds / 3)
    out = {}
    for variant in shipped.variants:
        model = alone(shipped, variant)
        flagged = total = 0
        for example in examples:
            if example.label != MUSIC or len(example.scores["msd"]) < 20:
                continue
            scores, embeddings = {}, {}
            for m in variant.models:
                reps = -(-n // len(speech.scores[m]))
                head_s = np.tile(speech.scores[m], (reps, 1))[:n]
                head_e = np.tile(speech.embeddings[m].astype(np.float64), (reps, 1))[:n]
                scores[m] = np.vstack([head_s, example.scores[m]]).mean(0)
                embeddings[m] = np.vstack(
                    [head_e, example.embeddings[m].astype(np.float64)]
                ).mean(0)
            flagged += model.decide(scores, embeddings).content != MUSIC
            total += 1
        out["+".join(variant.models)] = [flagged, total]
    return out


def main() -> int:
    examples, missing = load_examples()
    fitting = sorted((e for e in examples if e.label in CONTENTS), key=lambda e: e.key)
    checks = [e for e in examples if e.label not in CONTENTS]
    hiphop = [e for e in fitting if e.detail.startswith("hiphop_rnb")]
    counts = Counter((e.source, e.label) for e in fitting)
    print(f"{len(fitting)} tracks ({len(missing)} listed but not cached):")
    print("  " + ", ".join(f"{s}/{lab} {n}" for (s, lab), n in sorted(counts.items())))
    shipped = json.loads(OUT.read_text())
    labels = np.array([e.label for e in fitting])
    for variant in shipped["variants"]:
        models = tuple(variant["models"])
        name = "+".join(models)
        cv = variant["cross_validated"]
        print(
            f"\n== {name}: C={cv['C']}, margin {cv['margin']}, "
            f"threshold {variant['threshold']:.2f}"
        )
        for margin, held in cv["margins_tried"].items():
            print(
                f"  held-out thresholds, margin {margin}: music flagged "
                f"{_ratio(*held['music_flagged'])}, speech "
                f"{_ratio(*held['speech_recall'])}, effects "
                f"{_ratio(*held['effects_recall'])}"
            )
        oof = out_of_fold(fitting, models, cv["C"])
        for share in SHARES:
            predicted = decisions(*oof[share], variant["threshold"])
            print(f"  out-of-fold, MTT on {share:.0%} of the patches:")
            print_confusion(labels, predicted)
            if share == DEFAULT_MTT_SHARE or "mtt" not in models:
                print_breakdown(fitting, predicted)
        held = cv["threshold_held_out_too"]
        by_source = {
            s: f"{a}/{b}" for s, (a, b) in held["music_flagged_by_source"].items()
        }
        print(
            "  threshold also set without the judged fold: music flagged "
            f"{_ratio(*held['music_flagged'])} "
            f"{by_source}"
            f", speech {_ratio(*held['speech_recall'])}"
            f", effects {_ratio(*held['effects_recall'])}"
        )
    for share in (DEFAULT_MTT_SHARE,):
        print(f"\n== shipped model through content_of (MTT on {share:.0%}), in-sample")
        for name, said in apply_shipped(fitting, share).items():
            predicted = np.array([d.content for d in said])
            print(f"  {name}:")
            print_confusion(labels, predicted)
            least = max(
                d.margin for d, e in zip(said, fitting, strict=True) if e.label == MUSIC
            )
            print(f"    music: largest margin {least:.2f} (> 0 would flag)")
    order = " > ".join("+".join(v["models"]) for v in shipped["variants"])
    print(f"  (variants best first: {order}; a track analysed with both models")
    print("  is judged by the first one its models allow)")
    print("\n== checks (kept out of fitting), shipped model")
    listed = checks + hiphop
    for name, said in apply_shipped(listed, DEFAULT_MTT_SHARE).items():
        print(f"  {name}:")
        for label in sorted({e.label for e in listed}):
            pairs = [
                (e, d) for e, d in zip(listed, said, strict=True) if e.label == label
            ]
            counts = Counter(d.content for _, d in pairs)
            line = ", ".join(f"{c} {counts[c]}" for c in CONTENTS if counts[c])
            if len(pairs) <= 6:
                line += ": " + ", ".join(
                    f"{Path(e.detail).stem}={d.content}({d.margin:+.1f})"
                    for e, d in pairs
                )
            print(f"    {label} ({len(pairs)}): {line}")
    print("\n== music with a spoken intro (recorded English speech in front)")
    for seconds in (9.0, 21.0):
        flagged = spoken_intro(fitting, seconds)
        print(
            f"  {seconds:.0f} s: "
            + ", ".join(f"{name} flagged {_ratio(*ft)}" for name, ft in flagged.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
