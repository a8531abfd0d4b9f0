"""Today's labels against the learned ones, out of fold, on both corpora.

``tools/fit_heads.py --oof FILE`` derives every track's fields twice with
the plugin's own ``derive_fields``: with today's tag rules, and with heads
fitted on the *other* folds (grouped by artist on Emotify, by package on the
Debian corpus), so every learned label here is one for music the heads never
saw. This turns that file into the tables and confusion matrices of
``docs/labels.md``:

- genre family: Emotify by the record label's genre (``pop`` counted right
  as Pop or Rock: its files are tagged alternative rock), the Debian corpus
  by its source-stated family; Classical precision on each;
- the seven moods against the share of Emotify's listeners who felt each
  emotion (Spearman, overall and within each genre); how often
  ``musicnn_mood`` is set and how much each mood label raises its emotion's
  share; the moods given to the corpus' metal tracks.

    python tools/fit_heads.py --oof /tmp/oof.json
    python corpora/eval_heads.py /tmp/oof.json --png docs --out fragment.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_labels import genre_family
from fit_heads import LISTENER_MOODS, emotify_correct, lifts, load, spearman

from beetsplug.musicnn.labels import fields, genres

EMOTIFY_FAMILIES = ("classical", "electronic", "rock", "pop")
#: Today's nearest stored strength for each listener mood, by name (MSD's
#: and MTT's words), so the table shows what a user could query before.
TODAY_NEAREST = {
    "joyful": "musicnn_msd_happy",
    "calm": "musicnn_msd_chill",
    "sad": "musicnn_msd_sad",
    "powerful": "musicnn_mtt_loud",
    "tense": None,
    "tender": "musicnn_msd_mellow",
    "nostalgic": None,
}


def emotify_root(genre: str) -> str:
    """The lastgenre root of a genre, lowercase ("" for none): the columns of
    the Emotify confusion matrix."""
    return genres.family(genre).lower() if genre else ""


def genre_table(emotify, corpus, runs: dict[str, dict]) -> str:
    lines = ["| corpus, family | tracks | " + " | ".join(runs) + " |",
             "|---|---|" + "---|" * len(runs)]
    for family in EMOTIFY_FAMILIES:
        tracks = [t for t in emotify if t.family == family]
        cells = [
            f"{np.mean([emotify_correct(family, run[t.path]['musicnn_genre']) for t in tracks]):.2f}"  # noqa: E501
            for run in runs.values()
        ]
        lines.append(f"| Emotify {family} | {len(tracks)} | " + " | ".join(cells)
                     + " |")
    cells = []
    for run in runs.values():
        called = [t.family == "classical" for t in emotify
                  if run[t.path]["musicnn_genre"] == "Classical"]
        cells.append(f"{np.mean(called):.2f} ({sum(called)}/{len(called)})")
    lines.append("| Emotify: of those called Classical, classical | | "
                 + " | ".join(cells) + " |")
    for family in sorted({t.family for t in corpus}):
        tracks = [t for t in corpus if t.family == family]
        cells = []
        for run in runs.values():
            hits = [genre_family(run[t.path]["musicnn_genre"]) == family
                    for t in tracks]
            cells.append(f"{np.mean(hits):.2f} ({sum(hits)}/{len(hits)})")
        lines.append(f"| Debian {family} | {len(tracks)} | " + " | ".join(cells)
                     + " |")
    cells = []
    for run in runs.values():
        called = [t.family == "classical" for t in corpus
                  if genre_family(run[t.path]["musicnn_genre"]) == "classical"]
        cells.append(f"{np.mean(called):.2f} ({sum(called)}/{len(called)})")
    lines.append("| Debian: of those called classical, classical | | "
                 + " | ".join(cells) + " |")
    return "\n".join(lines)


def mood_table(emotify, runs: dict[str, dict]) -> str:
    shares = np.array([[t.gems[m] for m in LISTENER_MOODS] for t in emotify])
    families = np.array([t.family for t in emotify])
    new = runs["learned"]
    head = "| mood | today's nearest field | today | learned | " + " | ".join(
        f"learned within {f}" for f in EMOTIFY_FAMILIES) + " |"
    lines = [head, "|---|---|---|---|" + "---|" * len(EMOTIFY_FAMILIES)]
    overall, within_all = [], {f: [] for f in EMOTIFY_FAMILIES}
    for j, mood in enumerate(LISTENER_MOODS):
        field = fields.MOOD_STRENGTH_FIELDS[mood]
        values = np.array([new[t.path][field] for t in emotify])
        rho = spearman(shares[:, j], values)
        overall.append(rho)
        nearest = TODAY_NEAREST[mood]
        today = "—"
        if nearest and nearest in runs["today"][emotify[0].path]:
            old = np.array([runs["today"][t.path][nearest] for t in emotify])
            today = f"{spearman(shares[:, j], old):+.2f}"
        within = []
        for family in EMOTIFY_FAMILIES:
            chosen = families == family
            within.append(spearman(shares[chosen, j], values[chosen]))
            within_all[family].append(within[-1])
        lines.append(f"| {mood} | `{nearest or 'none'}` | {today} | {rho:+.2f} | "
                     + " | ".join(f"{w:+.2f}" for w in within) + " |")
    lines.append(f"| **mean** | | | **{np.mean(overall):+.2f}** | "
                 + " | ".join(f"{np.mean(v):+.2f}" for v in within_all.values())
                 + " |")
    return "\n".join(lines)


def mood_labels_table(emotify, corpus, runs: dict[str, dict]) -> str:
    shares = np.array([[t.gems[m] for m in LISTENER_MOODS] for t in emotify])
    lines = []
    for name, run in runs.items():
        labels = np.array([run[t.path]["musicnn_mood"] for t in emotify], dtype=object)
        set_e = np.mean(labels != "")
        set_d = np.mean([bool(run[t.path]["musicnn_mood"]) for t in corpus])
        lines.append(f"- **{name}**: `musicnn_mood` set on {set_e:.0%} of Emotify and "
                     f"{set_d:.0%} of the Debian corpus; labels "
                     + ", ".join(f"{k} {v}" for k, v in Counter(labels).most_common()
                                 if k))
        if name == "learned":
            lift = lifts(labels, shares)
            lines.append("  - the listeners' share of the label's emotion, against "
                         "its mean over Emotify: " + ", ".join(
                             f"{mood} {value:.2f}x ({n} tracks)"
                             for mood, (n, value) in lift.items()))
        metal = Counter(run[t.path]["musicnn_mood"] or "none" for t in corpus
                        if t.family == "metal")
        lines.append("  - moods of the corpus' metal tracks: " + ", ".join(
            f"{k} {v}" for k, v in metal.most_common()))
    return "\n".join(lines)


def confusion_png(tracks, run, true_of, predicted_of, title: str, target: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted({true_of(t) for t in tracks})
    columns = sorted({predicted_of(run[t.path]["musicnn_genre"]) for t in tracks})
    counts = np.zeros((len(rows), len(columns)), dtype=int)
    for t in tracks:
        counts[rows.index(true_of(t)),
               columns.index(predicted_of(run[t.path]["musicnn_genre"]))] += 1
    figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(columns), 1 + 0.5 * len(rows)))
    axes.imshow(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1),
                cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        if n:
            axes.text(j, i, str(n), ha="center", va="center", fontsize=8)
    axes.set_xticks(range(len(columns)), [c or "none" for c in columns],
                    rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("the plugin's genre family")
    axes.set_ylabel("the source's family")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(target, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("oof", type=Path)
    parser.add_argument("--variant", default="msd+mtt")
    parser.add_argument("--png", type=Path, help="folder for the confusion PNGs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    data = json.loads(args.oof.read_text())[args.variant]
    runs = {"today": data["today"], "learned": data["new"]}
    emotify, corpus = load()
    text = "\n\n".join([
        f"Models `{args.variant}`; every learned label out of fold.",
        genre_table(emotify, corpus, runs),
        mood_table(emotify, runs),
        mood_labels_table(emotify, corpus, runs),
    ])
    if args.png:
        for name, run in runs.items():
            confusion_png(emotify, run, lambda t: t.family, emotify_root,
                          f"Emotify, {name} ({args.variant})",
                          args.png / f"labels_heads_emotify_{name}.png")
            confusion_png(corpus, run, lambda t: t.family, genre_family,
                          f"Debian corpus, {name} ({args.variant})",
                          args.png / f"labels_heads_debian_{name}.png")
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
