"""Do the plugin's labels say what the music is? Measured on the genre corpus.

For each *configuration* (models, per-model patch share, calibration) this
derives every corpus track's fields **with the plugin's own code**
(:func:`beetsplug.musicnn.labels.fields.derive_fields`, ``FieldSettings``) from the
cached per-patch outputs (``corpora/cache_labels_corpus.py``), maps
``musicnn_genre`` to a genre family through beets' lastgenre tree, and
reports, on dev, test and all (each with and without doubtful tracks):

- genre-family accuracy per family and overall, and the confusion matrix
  (text, and a PNG: ``docs/labels_confusion_<config>.png``);
- the distribution of ``musicnn_mood`` (and of any energy field) per family;
- for the energy tags of MTT (loud, quiet, soft, fast, slow): the Spearman
  rank correlation of their calibrated strength with integrated loudness
  (BS.1770, pyloudnorm), tempo and onset rate (librosa);
- for a configuration with a patch share below 1: its agreement with the
  full analysis of the same models (same family, same mood, strength
  differences).

A model with share ``s`` listens to ``sampling.choose_patches(n, max(1,
ceil(n * s)))`` of a track's ``n`` patches; the song-level score is the mean
of their outputs, as the plugin computes it.

    python corpora/eval_labels.py --config "today:msd" --config "both:msd+mtt" \\
        --config "mtt-third:msd+mtt:mtt=0.34" --out /tmp/labels.md

``--config NAME:MODELS[:MODEL=SHARE,...]``; ``--calibration FILE`` uses a
calibration JSON instead of the shipped one. ``--rev NAME=REV`` derives the
configuration ``NAME`` with the plugin's code *and shipped calibration* of
git revision ``REV`` instead (taken with ``git archive``, imported under
another package name), so that an earlier release's labels stay
reproducible after the rules change: ``--config today:msd --rev
today=04a811e`` is the default of the release before issue 10. The
markdown goes to ``--out`` (default: stdout), ready for ``docs/labels.md``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from labels_corpus_data import Track, load_corpus
from labels_corpus_rules import FAMILIES

from beetsplug.musicnn.engine.models import get_model
from beetsplug.musicnn.labels import fields as plugin_fields
from beetsplug.musicnn.labels.calibration import Calibration, default_calibration

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
NO_FAMILY = "(none)"
NO_LABEL = "(none)"
#: MTT's energy tags, whose strength should follow loudness and tempo.
ENERGY_TAGS = ("loud", "quiet", "soft", "fast", "slow")
#: The nodes of lastgenre's tree that decide a family, nearest ancestor first.
#: Metal and ambient are families of their own here although the tree puts
#: them under rock and electronic.
NODE_FAMILY = {
    "heavy metal": "metal",
    "ambient": "ambient",
    "classical": "classical",
    "rock": "rock",
    "electronic": "electronic",
    "jazz": "jazz_blues",
    "blues": "jazz_blues",
    "folk": "folk",
    "country": "folk",
    "singer-songwriter": "folk",
    "pop": "pop_vocal",
    "easy listening": "pop_vocal",
    "hip hop": "hiphop_rnb",
    "r&b": "hiphop_rnb",
    "african": "world",
    "asian": "world",
    "caribbean and latin american": "world",
    "reggae": "world",
    "world music": "world",
}
#: MusicNN genre labels that are not nodes of the tree (after lastgenre's
#: aliases), and the node that means the same.
LABEL_NODE = {
    "alternative": "alternative rock",
    "indie": "indie rock",
    "dance": "electronic",  # last.fm's "dance": dance music, electronic
    "metal": "heavy metal",
    "punk": "punk rock",
    "indian": "asian",  # MagnaTagATune's Indian (classical) music
    "new age": "ambient",
}


@lru_cache(maxsize=1)
def _lastgenre_tree() -> tuple[dict[str, str | None], list[tuple[str, str]]]:
    """(node -> parent, [(alias regex, replacement)]) from beets' lastgenre."""
    import importlib.util

    import yaml

    # Locate the data without importing the plugin (it needs pylast).
    spec = importlib.util.find_spec("beetsplug.lastgenre")
    folder = Path(next(iter(spec.submodule_search_locations)))
    parent: dict[str, str | None] = {}

    def walk(node, above):
        if isinstance(node, dict):
            for name, children in node.items():
                parent[str(name).lower()] = above
                walk(children, str(name).lower())
        elif isinstance(node, list):
            for child in node:
                walk(child, above)
        else:
            parent[str(node).lower()] = above

    walk(yaml.safe_load((folder / "genres-tree.yaml").read_text()), None)
    aliases = []
    for replacement, patterns in (
        yaml.safe_load((folder / "aliases.yaml").read_text()) or {}
    ).items():
        for pattern in patterns or ():
            aliases.append((pattern, replacement))
    return parent, aliases


def canonical_genre(label: str) -> str:
    """A genre label as a node of lastgenre's tree (lowercase), if it can be."""
    parent, aliases = _lastgenre_tree()
    name = label.strip().lower()
    if name in parent:
        return name
    for pattern, replacement in aliases:
        match = re.fullmatch(pattern, name)
        if match:
            name = match.expand(replacement)
            break
    return LABEL_NODE.get(name, name)


def genre_family(label: str) -> str:
    """The family of a genre label: the nearest ancestor in :data:`NODE_FAMILY`."""
    if not label:
        return NO_FAMILY
    parent, _ = _lastgenre_tree()
    node: str | None = canonical_genre(label)
    while node is not None:
        if node in NODE_FAMILY:
            return NODE_FAMILY[node]
        node = parent.get(node)
    return NO_FAMILY


@dataclass(frozen=True)
class Config:
    """What the plugin would be set to: models and a patch share per model."""

    name: str
    models: tuple[str, ...]
    shares: dict[str, float] = field(default_factory=dict)

    def share(self, model: str) -> float:
        return self.shares.get(model, 1.0)

    @property
    def is_reduced(self) -> bool:
        return any(self.share(m) < 1.0 for m in self.models)

    def full(self) -> Config:
        return Config(self.name + " (full)", self.models)

    @property
    def slug(self) -> str:
        return re.sub(r"[^0-9a-z]+", "_", self.name.lower()).strip("_")

    @classmethod
    def parse(cls, text: str) -> Config:
        """``NAME:MODELS[:MODEL=SHARE,...]``, e.g. ``third:msd+mtt:mtt=0.34``."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise argparse.ArgumentTypeError(
                f"--config {text!r}: expected NAME:MODELS[:MODEL=SHARE,...]"
            )
        models = tuple(get_model(m).key for m in parts[1].split("+"))
        shares = {}
        if len(parts) == 3 and parts[2]:
            for item in parts[2].split(","):
                model, _, value = item.partition("=")
                share = float(value)
                if not 0.0 < share <= 1.0:
                    raise argparse.ArgumentTypeError(f"share of {model}: {value}")
                shares[get_model(model).key] = share
        return cls(parts[0], models, shares)


@dataclass
class Derived:
    """What the plugin's code makes of one track under one configuration."""

    track: Track
    fields: dict[str, object]
    #: model -> calibrated strength of every tag, in model order
    strengths: dict[str, np.ndarray]

    @property
    def genre(self) -> str:
        return str(self.fields.get(plugin_fields.GENRE_FIELD) or "")

    @property
    def family(self) -> str:
        return genre_family(self.genre)

    @property
    def mood(self) -> str:
        return str(self.fields.get(plugin_fields.MOOD_FIELD) or "") or NO_LABEL


@cache
def plugin_at(rev: str):
    """The ``fields`` and ``calibration`` modules of the plugin at git ``rev``.

    ``beetsplug/musicnn`` of that revision is extracted into a temporary
    folder and imported as the package ``musicnn_at_<rev>`` (the plugin's
    own imports are relative), beside the current one.
    """
    folder = Path(tempfile.mkdtemp(prefix="eval-labels-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "beetsplug/musicnn"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    package = "musicnn_at_" + re.sub(r"\W", "_", rev)
    (folder / "beetsplug" / "musicnn").rename(folder / package)
    sys.path.insert(0, str(folder))
    # Since the package was split into stage folders, they are in labels/.
    if (folder / package / "labels").is_dir():
        package += ".labels"
    return (
        importlib.import_module(f"{package}.fields"),
        importlib.import_module(f"{package}.calibration"),
    )


def derive(
    tracks: list[Track],
    config: Config,
    calibration: Calibration,
    rev: str | None = None,
) -> list:
    """Every track's fields under ``config``, by the plugin's ``derive_fields``
    (of git revision ``rev`` with its own shipped calibration, if given)."""
    fields_module = plugin_fields
    if rev:
        fields_module, calibration_module = plugin_at(rev)
        calibration = calibration_module.default_calibration()
    settings = fields_module.FieldSettings(models=config.models)
    out = []
    for track in tracks:
        scores = {m: track.song_scores(m, config.share(m)) for m in config.models}
        derived = fields_module.derive_fields(scores, settings, calibration)
        strengths = {m: calibration.strength(m, s) for m, s in scores.items()}
        out.append(Derived(track, derived, strengths))
    return out


SUBSETS = (
    ("dev", lambda t: t.split == "dev"),
    ("test", lambda t: t.split == "test"),
    ("all", lambda t: True),
    ("dev, no doubtful", lambda t: t.split == "dev" and not t.doubtful),
    ("test, no doubtful", lambda t: t.split == "test" and not t.doubtful),
    ("all, no doubtful", lambda t: not t.doubtful),
)


def accuracy_table(rows: list[Derived]) -> tuple[str, dict[str, float]]:
    """Markdown table of family accuracy per family and subset; overall values."""
    present = [f for f in FAMILIES if any(r.track.family == f for r in rows)]
    header = "| family | " + " | ".join(name for name, _ in SUBSETS) + " |"
    lines = [header, "|---" * (len(SUBSETS) + 1) + "|"]
    overall = {}
    for family in [*present, "**overall**", "mean of families"]:
        cells = []
        for name, keep in SUBSETS:
            subset = [r for r in rows if keep(r.track)]
            if family == "**overall**":
                chosen = subset
            elif family == "mean of families":
                accs = [
                    np.mean([r.family == f for r in subset if r.track.family == f])
                    for f in present
                    if any(r.track.family == f for r in subset)
                ]
                cells.append(f"{np.mean(accs):.2f}" if accs else "")
                continue
            else:
                chosen = [r for r in subset if r.track.family == family]
            if not chosen:
                cells.append("")
                continue
            hits = sum(r.family == r.track.family for r in chosen)
            cells.append(f"{hits / len(chosen):.2f} ({hits}/{len(chosen)})")
            if family == "**overall**":
                overall[name] = hits / len(chosen)
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines), overall


def confusion(rows: list[Derived]) -> tuple[list[str], list[str], np.ndarray]:
    """(true families, predicted families, count matrix) over ``rows``."""
    truth = [f for f in FAMILIES if any(r.track.family == f for r in rows)]
    # Columns: every family that is true or predicted, then "no family".
    predicted = [f for f in FAMILIES if f in truth or any(r.family == f for r in rows)]
    if any(r.family == NO_FAMILY for r in rows):
        predicted.append(NO_FAMILY)
    matrix = np.zeros((len(truth), len(predicted)), dtype=int)
    for r in rows:
        matrix[truth.index(r.track.family), predicted.index(r.family)] += 1
    return truth, predicted, matrix


def confusion_markdown(rows: list[Derived]) -> str:
    truth, predicted, matrix = confusion(rows)
    lines = ["| true \\ predicted | " + " | ".join(predicted) + " |"]
    lines.append("|---" * (len(predicted) + 1) + "|")
    for i, family in enumerate(truth):
        cells = [str(v) if v else "." for v in matrix[i]]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def confusion_png(rows: list[Derived], title: str, target: Path) -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth, predicted, matrix = confusion(rows)
    share = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    figure, axes = plt.subplots(
        figsize=(1.0 + 0.8 * len(predicted), 1.2 + 0.55 * len(truth))
    )
    axes.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(truth)):
        for j in range(len(predicted)):
            if matrix[i, j]:
                colour = "white" if share[i, j] > 0.6 else "black"
                axes.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize=9,
                )
    axes.set_xticks(range(len(predicted)), predicted, rotation=40, ha="right")
    axes.set_yticks(
        range(len(truth)), [f"{f} ({matrix[i].sum()})" for i, f in enumerate(truth)]
    )
    axes.set_xlabel("family of musicnn_genre")
    axes.set_ylabel("family from the source")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    plt.close(figure)


def distribution_table(rows: list[Derived], value, what: str) -> str:
    """Per family, the counts of each value of ``value(derived)``."""
    values = Counter(value(r) for r in rows)
    order = [v for v, _ in values.most_common()]
    lines = [f"| family \\ {what} | " + " | ".join(order) + " |"]
    lines.append("|---" * (len(order) + 1) + "|")
    for family in FAMILIES:
        members = [r for r in rows if r.track.family == family]
        if not members:
            continue
        counts = Counter(value(r) for r in members)
        cells = [str(counts[v]) if counts[v] else "." for v in order]
        lines.append(f"| {family} ({len(members)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def energy_correlations(rows: list[Derived]) -> str | None:
    """Spearman rho of each MTT energy tag's strength with loudness and tempo."""
    from scipy.stats import spearmanr

    if not rows or "mtt" not in rows[0].strengths:
        return None
    tags = get_model("mtt").tags
    measures = {
        "integrated loudness (LUFS)": np.array([r.track.loudness_lufs for r in rows]),
        "tempo (BPM)": np.array([r.track.tempo_bpm for r in rows]),
        "onset rate (1/s)": np.array([r.track.onset_rate for r in rows]),
    }
    finite = np.all([np.isfinite(v) for v in measures.values()], axis=0)
    lines = ["| MTT tag | " + " | ".join(measures) + " |"]
    lines.append("|---" * (len(measures) + 1) + "|")
    for tag in ENERGY_TAGS:
        strength = np.array([r.strengths["mtt"][tags.index(tag)] for r in rows])
        cells = []
        for values in measures.values():
            rho, p = spearmanr(strength[finite], values[finite])
            cells.append(f"{rho:+.2f} (p={p:.1g})")
        lines.append(f"| {tag} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{int(finite.sum())} tracks with finite measures.")
    return "\n".join(lines)


def agreement(
    reduced: list[Derived], full: list[Derived], models: tuple[str, ...]
) -> str:
    """How far a reduced-share configuration is from the full analysis.

    Strength differences are over the tags of ``models``, the ones listening
    to fewer patches (the others are identical by construction).
    """
    same_family = np.mean(
        [a.family == b.family for a, b in zip(reduced, full, strict=True)]
    )
    same_genre = np.mean(
        [a.genre == b.genre for a, b in zip(reduced, full, strict=True)]
    )
    same_mood = np.mean([a.mood == b.mood for a, b in zip(reduced, full, strict=True)])
    diffs = np.concatenate(
        [
            np.abs(a.strengths[m] - b.strengths[m])
            for a, b in zip(reduced, full, strict=True)
            for m in models
        ]
    )
    return (
        f"Against the full analysis of the same models ({len(full)} tracks): "
        f"same genre family {same_family:.1%}, same `musicnn_genre` "
        f"{same_genre:.1%}, same `musicnn_mood` {same_mood:.1%}; calibrated "
        f"strength difference over the tags of {'+'.join(models)}: "
        f"median {np.median(diffs):.3f}, "
        f"95th percentile {np.percentile(diffs, 95):.3f}, max {diffs.max():.3f}."
    )


def estimated_cost(tracks: list[Track], config: Config) -> str | None:
    """Scan cost of ``config`` relative to ``msd`` alone, from the cache run's
    per-stage times: decode + features + sum of share x inference per model.

    Every patch is decoded and featurised whenever MSD listens to all of them;
    only inference shrinks with a share. An estimate on a shared machine; the
    measurement is ``bench/bench_library.py`` on the same files.
    """
    if not all(t.seconds for t in tracks):
        return None
    base = sum(
        t.seconds["decode"] + t.seconds["features"] + t.seconds["msd"] for t in tracks
    )
    cost = sum(
        t.seconds["decode"]
        + t.seconds["features"]
        + sum(config.share(m) * t.seconds[m] for m in config.models)
        for t in tracks
    )
    inference = sum(t.seconds["msd"] for t in tracks) / base
    return (
        f"Estimated scan cost against `models: [msd]` from the cache run's "
        f"per-stage times: **{cost / base:.2f}x** (inference is {inference:.0%} "
        f"of the msd-only time)."
    )


def report(
    tracks: list[Track],
    config: Config,
    calibration: Calibration,
    png: bool = True,
    rev: str | None = None,
) -> tuple[str, dict[str, float]]:
    """The markdown section of one configuration; its overall accuracies."""
    rows = derive(tracks, config, calibration, rev)
    shares = ", ".join(f"{m} {config.share(m):.2f}" for m in config.models)
    code = f"; code and calibration of {rev}" if rev else ""
    out = [
        f"### {config.name}: models {'+'.join(config.models)}, "
        f"patch share {shares}{code}"
    ]
    table, overall = accuracy_table(rows)
    out += ["", "Genre-family accuracy (hits/tracks):", "", table, ""]
    out += ["Confusion matrix, all tracks (doubtful included):", ""]
    out += [confusion_markdown(rows), ""]
    if png:
        target = DOCS / f"labels_confusion_{config.slug}.png"
        confusion_png(
            rows, f"{config.name}: {'+'.join(config.models)} ({shares})", target
        )
        out += [f"![confusion matrix]({target.name})", ""]
    out += ["`musicnn_genre` per family (all tracks):", ""]
    out += [distribution_table(rows, lambda r: r.genre or NO_LABEL, "genre"), ""]
    out += ["`musicnn_mood` per family (all tracks):", ""]
    out += [distribution_table(rows, lambda r: r.mood, "mood"), ""]
    energy_fields = sorted(
        {
            k
            for r in rows
            for k in r.fields
            if "energy" in k and isinstance(r.fields[k], str)
        }
    )
    for name in energy_fields:
        out += [f"`{name}` per family:", ""]
        out += [
            distribution_table(
                rows, lambda r, n=name: str(r.fields.get(n) or NO_LABEL), name
            ),
            "",
        ]
    metal = [r for r in rows if r.track.family == "metal"]
    if metal:
        moods = Counter(r.mood for r in metal)
        out += [
            f"Moods of the {len(metal)} metal tracks: "
            + ", ".join(f"{m} {n}" for m, n in moods.most_common()),
            "",
        ]
    energy = energy_correlations(rows)
    if energy:
        out += ["Energy tags against measurements (Spearman, all tracks):", ""]
        out += [energy, ""]
    if config.is_reduced:
        full = derive(tracks, config.full(), calibration, rev)
        reduced_models = tuple(m for m in config.models if config.share(m) < 1.0)
        out += [agreement(rows, full, reduced_models), ""]
    cost = estimated_cost(tracks, config)
    if cost:
        out += [cost, ""]
    return "\n".join(out), overall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        type=Config.parse,
        dest="configs",
        help="NAME:MODELS[:MODEL=SHARE,...]; repeatable",
    )
    parser.add_argument("--calibration", type=Path, help="a calibration JSON")
    parser.add_argument(
        "--rev",
        action="append",
        default=[],
        metavar="NAME=REV",
        help="derive configuration NAME with the code and calibration of git "
        "revision REV; repeatable",
    )
    parser.add_argument("--out", type=Path, help="write the markdown here")
    parser.add_argument("--no-png", action="store_true")
    args = parser.parse_args(argv)
    configs = args.configs or [Config.parse("today:msd"), Config.parse("both:msd+mtt")]
    revs = {}
    for spec in args.rev:
        name, _, rev = spec.partition("=")
        if not rev or name not in {c.name for c in configs}:
            parser.error(f"--rev {spec!r}: expected NAME=REV for a --config NAME")
        revs[name] = rev
    calibration = (
        Calibration.load(args.calibration)
        if args.calibration
        else default_calibration()
    )
    tracks = load_corpus()
    counts = Counter((t.split, t.doubtful) for t in tracks)
    sections = [
        f"{len(tracks)} tracks (dev {counts['dev', False] + counts['dev', True]}, "
        f"test {counts['test', False] + counts['test', True]}; "
        f"{counts['dev', True] + counts['test', True]} doubtful); calibration: "
        f"{args.calibration or 'shipped'}.",
        "",
    ]
    summary = [
        "| configuration | dev | test | all | all, no doubtful |",
        "|---|---|---|---|---|",
    ]
    for config in configs:
        text, overall = report(
            tracks, config, calibration, png=not args.no_png, rev=revs.get(config.name)
        )
        sections += [text, ""]
        summary.append(
            f"| {config.name} | "
            + " | ".join(
                f"{overall.get(k, float('nan')):.2f}"
                for k in ("dev", "test", "all", "all, no doubtful")
            )
            + " |"
        )
    markdown = "\n".join(
        ["Overall genre-family accuracy:", "", *summary, "", *sections]
    )
    if args.out:
        args.out.write_text(markdown + "\n")
    else:
        print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
