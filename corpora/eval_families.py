"""How good and how stable the families are, on the label corpus.

The corpus is the label evaluation's: ``corpora/labels_corpus.tsv`` (one row
per real track with its source ``family``, decided from the file's own tags
and names before any model output) and its analysis cache
(``corpora/cache_labels_corpus.py``: per-patch MSD and MTT scores and
embeddings of every track). Tracks marked ``doubtful`` are left out.

For each track this takes what ``beet musicnn`` would store: the song-level
scores (mean over patches) and MSD embedding (mean over patches), the labels
:func:`fields.derive_fields` makes of them (models msd+mtt), and the radio's
unit vectors; then :func:`families.cluster` and :func:`families.families`
exactly as ``beet musicnn-families`` runs them.

Measures:

- **purity** (share of tracks whose family's commonest source family is
  theirs) and **adjusted Rand index** against the source families, for the
  automatic number of families and for k = the number of source families;
  outliers count as a family of their own;
- **stability**: remove 10 % of the tracks (or add them: the 90 % library
  against the whole) and cluster again; the ARI between the two runs on the
  tracks they share, over 10 random draws (seeded).

    python corpora/eval_families.py [--manifest corpora/labels_corpus.tsv]
        [--cache /work/corpus/cache]

With ``--library FOLDER`` it measures instead what ``beet musicnn-families``
gives on a real beets library analysed by ``beet musicnn`` (built in FOLDER
from a folder of audio with a manifest of source genres, such as Emotify's,
on the first run):

- **name support**: for each family, the share of its tracks that carry each
  word of its name (an energy word in ``musicnn_energy``, the mood in
  ``musicnn_mood``, the genre in ``musicnn_genre`` or its parents, a tag in
  ``musicnn_tags``), and the tracks whose labels contradict a word (the
  other energy pole, another mood, a genre outside the named one);
  ``--before REPO`` measures the families of another checkout of the plugin
  (``beet musicnn-families`` run with it) the same way;
- **small libraries**: the adjusted Rand index against the source genres of
  the automatic families of random libraries of a few tracks (50 draws per
  size), beside families of the same sizes dealt at random.

    python corpora/eval_families.py --library /tmp/emotify-library
        [--audio ../shared/emotify | corpora/labels_corpus.tsv] [--before ../main]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "corpora"))

DRAWS = 10
SHARE = 0.10


def track_key(manifest_path: str) -> str:
    """The corpus cache's file name of a manifest path."""
    return hashlib.sha1(manifest_path.encode()).hexdigest()[:16]


def load(manifest: Path, cache: Path) -> dict:
    from beetsplug.musicnn.labels import fields
    from beetsplug.musicnn.sound import similarity
    from beetsplug.musicnn.sound.catalog import split_tags

    rows = list(csv.DictReader(manifest.open(), delimiter="\t"))
    settings = fields.FieldSettings(models=("msd", "mtt"))
    embeddings, sources, genres, moods, tags, missing = [], [], [], [], [], 0
    for row in rows:
        if row.get("doubtful", "0") not in ("", "0"):
            continue
        path = cache / f"{track_key(row['path'])}.npz"
        if not path.exists():
            missing += 1
            continue
        with np.load(path) as data:
            scores = {m: data[f"{m}_scores"].mean(axis=0) for m in ("msd", "mtt")}
            embeddings.append(np.asarray(data["msd_embeddings"], np.float32).mean(0))
        derived = fields.derive_fields(scores, settings)
        sources.append(row["family"])
        genres.append(derived[fields.GENRE_FIELD])
        moods.append(derived[fields.MOOD_FIELD])
        tags.append(split_tags(derived[fields.TAGS_FIELD]))
    matrix = np.stack(embeddings)
    return {
        "vectors": similarity.normalize(matrix, mean=matrix.mean(axis=0)),
        "sources": np.array(sources),
        "genres": genres,
        "moods": moods,
        "tags": tags,
        "missing": missing,
    }


def purity(labels: np.ndarray, sources: np.ndarray) -> float:
    hits = 0
    for family in set(labels.tolist()):
        members = sources[labels == family]
        hits += Counter(members.tolist()).most_common(1)[0][1]
    return hits / len(sources)


def cohesion(labels: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """For each source family, the share of its tracks in its commonest
    family (1.0: the source is not split)."""
    out = {}
    for source in sorted(set(sources.tolist())):
        members = labels[sources == source]
        out[source] = Counter(members.tolist()).most_common(1)[0][1] / len(members)
    return out


def run(corpus: dict, rows: np.ndarray, k: int | None):
    from beetsplug.musicnn.sound import families

    vectors = corpus["vectors"][rows]
    # the radio centres on the library's own mean: recompute for the subset
    from beetsplug.musicnn.sound.similarity import normalize

    vectors = normalize(vectors, mean=vectors.mean(axis=0))
    return families.cluster(vectors, rows.astype(np.int64) + 1, k)


# A real library -----------------------------------------------------------------


def beet(folder: Path, repo: Path, *args: str) -> str:
    """``beet`` on the library in ``folder`` with the plugin of ``repo``."""
    import os
    import subprocess

    env = {**os.environ, "BEETSDIR": str(folder), "PYTHONPATH": str(repo)}
    # another checkout runs in its own environment, where it is installed
    own = repo / ".venv" / "bin" / "python"
    python = str(own) if repo != REPO and own.exists() else sys.executable
    done = subprocess.run(
        [python, "-c", "import beets.ui; beets.ui.main()", *args],
        env=env,
        cwd=repo,  # `python -c` imports from the current folder first
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"beet {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def manifest_sources(audio: Path) -> dict[str, str]:
    """Absolute path -> source genre (``family``) of every file of a
    manifest: ``audio`` is a folder with a ``manifest.tsv`` whose ``file``
    column is relative to it (Emotify), or a manifest like
    ``corpora/labels_corpus.tsv`` whose ``path`` column names files of the
    Debian corpus, the shared clips or the repository."""
    from make_labels_corpus import resolve

    if audio.is_dir():
        rows = csv.DictReader((audio / "manifest.tsv").open(), delimiter="\t")
        return {str((audio / r["file"]).resolve()): r["family"] for r in rows}
    rows = csv.DictReader(audio.open(), delimiter="\t")
    return {str(resolve(r["path"]).resolve()): r["family"] for r in rows}


def build_library(folder: Path, audio: Path) -> None:
    """Import the manifest's files (left in place) into a new library in
    ``folder``, and analyse what is not analysed yet with ``beet musicnn``
    (one worker; a run that was stopped goes on)."""
    if not (folder / "library.db").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(
            f"directory: {folder / 'music'}\nlibrary: {folder / 'library.db'}\n"
            "plugins: musicnn\ncreate_backup_before_migrations: no\n"
            "import: {copy: no, write: no, quiet: yes, duplicate_action: keep}\n"
            "musicnn: {auto: no, workers: 1, nice: no}\n"
        )
        beet(folder, REPO, "import", "-A", "-s", *manifest_sources(audio))
    print(beet(folder, REPO, "musicnn").strip().splitlines()[-1])


def library_tracks(folder: Path, audio: Path) -> dict:
    """The analysed tracks of the library: ids, source genres (the
    manifest's ``family``), labels and raw MSD embeddings, by item id."""
    import os

    from beets.library import Library

    from beetsplug.musicnn.library.store import ResultStore
    from beetsplug.musicnn.sound.catalog import read_catalog, split_energy
    from beetsplug.musicnn.sound.families import TrackLabels

    source = manifest_sources(audio)
    lib = Library(str(folder / "library.db"), str(folder / "music"))
    with ResultStore.for_library(lib.path) as store:
        _, embeddings = store.iter_embeddings("msd")
        vectors = {i: np.frombuffer(b, "<f2").astype(np.float32) for i, b in embeddings}
    ids = np.array(sorted(vectors), dtype=np.int64)
    catalog = read_catalog(lib, ids)
    paths = {item.id: os.fsdecode(item.filepath) for item in lib.items()}
    lib._close()
    return {
        "ids": ids,
        "embeddings": np.stack([vectors[i] for i in ids.tolist()]),
        "sources": np.array([source.get(paths[i], "?") for i in ids.tolist()]),
        "labels": TrackLabels(
            catalog.genre,
            catalog.mood,
            [split_energy(v) for v in catalog.energy],
            catalog.tags,
        ),
    }


def words_of(name: str, labels) -> list:
    """The words of a family name, read back against the library's labels
    (for names made by another version: energy words, a mood, then a genre
    or, failing that, a tag; " · tag" and a trailing number as they come)."""
    import re

    from beetsplug.musicnn.labels import genres
    from beetsplug.musicnn.sound.families import Word

    name = re.sub(r"( \d+| \(\d+\))$", "", name)
    name = name.replace(" (mixed genres)", "").replace("Mixed Genres", "")
    name, _, extra = name.partition(" · ")
    tokens = name.split()
    words = []
    while tokens and tokens[0].lower() in ("loud", "quiet", "fast", "slow"):
        words.append(Word("energy", tokens.pop(0).lower()))
    moods = {m.casefold(): m for m in labels.moods if m}
    if tokens and tokens[0].casefold() in moods:
        words.append(Word("mood", moods[tokens.pop(0).casefold()]))
    rest = " ".join(tokens)
    known = {g.casefold() for v in labels.genres if v for g in genres.lineage(v)}
    if rest and rest.casefold() in known:
        words.append(Word("genre", rest))
    elif rest and rest.casefold() not in ("mixed", ""):
        words.append(Word("tag", rest.lower()))
    if extra:
        words.append(Word("tag", extra.lower()))
    return words


def name_report(listing: dict[str, list[int]], tracks: dict) -> dict:
    """Support and contradictions of each family's name (``listing``:
    family name -> item ids)."""
    from beetsplug.musicnn.sound.families import support

    labels = tracks["labels"]
    row_of = {int(i): r for r, i in enumerate(tracks["ids"].tolist())}
    weakest, contradicting, members, lines = [], 0, 0, []
    for name, item_ids in listing.items():
        rows = [row_of[i] for i in item_ids if i in row_of]
        words = words_of(name, labels)
        shares = [support(w, rows, labels) for w in words]
        against = [r for r in rows if any(w.contradicted_by(r, labels) for w in words)]
        contradicting += len(against)
        members += len(rows)
        weakest.append(min(shares, default=1.0))
        sources = Counter(tracks["sources"][rows].tolist()).most_common(3)
        lines.append(
            f"| {name} | {len(rows)} | "
            + ", ".join(
                f"{w.value} {s:.2f}" for w, s in zip(words, shares, strict=True)
            )
            + f" | {len(against)} | "
            + ", ".join(f"{s} {c}" for s, c in sources)
            + " |"
        )
    return {
        "lines": lines,
        "families": len(listing),
        "members": members,
        "contradicting": contradicting,
        "below": sum(s < 0.7 for s in weakest),
    }


def listing_of(output: str) -> dict[str, list[int]]:
    """``beet musicnn-families -f '$id'``'s output as name -> ids."""
    found: dict[str, list[int]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3 : line.rindex(" (")]
            found[current] = []
        elif current is not None and line.strip().isdigit():
            found[current].append(int(line))
    return found


def small_libraries(tracks: dict, sizes: list[int], draws: int = 50) -> list[str]:
    """Families of small random libraries, made as ``beet
    musicnn-families`` makes them (below :data:`families.MIN_TRACKS` too,
    as if it made them anyway): how many
    families survive their names, and the adjusted Rand index of the tracks'
    families (those in none as one group) with the source genres, beside
    the same labels dealt at random."""
    from sklearn.metrics import adjusted_rand_score

    from beetsplug.musicnn.sound import families
    from beetsplug.musicnn.sound.similarity import normalize

    rng = np.random.default_rng(0)
    n = len(tracks["ids"])
    labels = tracks["labels"]
    # As if there were no minimum: what the families of a small library
    # would be is what the minimum is chosen from.
    minimum, families.MIN_TRACKS = families.MIN_TRACKS, 1
    lines = [
        "| tracks | families (mean) | no family (share of draws) "
        "| ARI (mean ± s.e.) | ARI, dealt at random |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        scores, dealt, made, none = [], [], [], 0
        for _ in range(draws):
            rows = np.sort(rng.permutation(n)[:size])
            raw = tracks["embeddings"][rows]
            vectors = normalize(raw, mean=raw.mean(axis=0))
            partition = families.cluster(vectors, tracks["ids"][rows])
            pick = rows.tolist()
            partition, found = families.families(
                partition,
                tracks["ids"][rows],
                *(
                    [getattr(labels, name)[i] for i in pick]
                    for name in ("genres", "moods", "energies", "tags")
                ),
            )
            sources = tracks["sources"][rows]
            made.append(len(found))
            none += not found
            scores.append(adjusted_rand_score(sources, partition.labels))
            dealt.append(
                adjusted_rand_score(sources, rng.permutation(partition.labels))
            )
        error = np.std(scores) / np.sqrt(draws)
        lines.append(
            f"| {size} | {np.mean(made):.1f} | {none / draws:.2f} | "
            f"{np.mean(scores):.2f} ± {error:.2f} | {np.mean(dealt):.2f} |"
        )
    families.MIN_TRACKS = minimum
    return lines


def main_library(args) -> None:
    from sklearn.metrics import adjusted_rand_score

    folder = args.library.resolve()
    build_library(folder, args.audio)
    tracks = library_tracks(folder, args.audio)
    print(
        f"{len(tracks['ids'])} analysed tracks: "
        + ", ".join(f"{s} {c}" for s, c in sorted(Counter(tracks["sources"]).items()))
    )
    for what, repo in (("before", args.before), ("this checkout", REPO)):
        if repo is None:
            continue
        output = beet(folder, repo.resolve(), "musicnn-families", "-f", "$id")
        listing = listing_of(output)
        report = name_report(listing, tracks)
        print(f"\n{what} ({repo}):")
        print(*(line for line in output.splitlines() if line.startswith("musicnn:")))
        print(
            "| family | tracks | share carrying each word | contradicting | sources |"
        )
        print("|---|---:|---|---:|---|")
        print("\n".join(report["lines"]))
        row_of = {int(i): r for r, i in enumerate(tracks["ids"].tolist())}
        labels = np.full(len(tracks["ids"]), -1)
        for number, ids in enumerate(listing.values()):
            labels[[row_of[i] for i in ids]] = number
        in_family = labels >= 0
        ari = adjusted_rand_score(tracks["sources"][in_family], labels[in_family])
        print(
            f"{report['families']} families, {report['members']} tracks in them; "
            f"families with a word below 0.7: {report['below']}; tracks "
            f"contradicting their family's name: {report['contradicting']}; "
            f"ARI with the source genres (tracks in a family): "
            f"{ari:.2f}"
        )
    print("\nsmall libraries (50 random draws each):")
    print("\n".join(small_libraries(tracks, args.sizes)))


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    from beetsplug.musicnn.sound import families
    from beetsplug.musicnn.sound.catalog import split_energy

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--manifest", type=Path, default=Path(__file__).with_name("labels_corpus.tsv")
    )
    parser.add_argument("--cache", type=Path, default=Path("/work/corpus/cache"))
    parser.add_argument(
        "--library", type=Path, help="measure a real beets library in this folder"
    )
    parser.add_argument(
        "--audio",
        type=Path,
        default=REPO.parent / "shared" / "emotify",
        help="with --library: a folder of audio with a manifest.tsv (file, "
        "family), or a manifest like corpora/labels_corpus.tsv (path, family)",
    )
    parser.add_argument(
        "--before", type=Path, help="with --library: also measure this checkout"
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(v) for v in text.split(",")],
        default=[4, 6, 8, 10, 12, 16, 24, 48],
        help="with --library: sizes of the small libraries",
    )
    args = parser.parse_args()
    if args.library:
        main_library(args)
        return
    corpus = load(args.manifest, args.cache)
    sources = corpus["sources"]
    n = len(sources)
    everything = np.arange(n)
    source_count = len(set(sources.tolist()))
    print(
        f"{n} tracks in {source_count} source families "
        f"({corpus['missing']} not in the cache, doubtful ones left out): "
        + ", ".join(f"{s} {c}" for s, c in sorted(Counter(sources.tolist()).items()))
    )
    print("\n| k | families | outliers | purity | ARI |")
    print("|---|---:|---:|---:|---:|")
    for k in (None, source_count):
        partition = run(corpus, everything, k)
        labels = partition.labels
        print(
            f"| {'auto' if k is None else k} | {partition.k} | "
            f"{int((labels < 0).sum())} | {purity(labels, sources):.2f} | "
            f"{adjusted_rand_score(sources, labels):.2f} |"
        )
        if k is None:
            auto = partition
            print(
                "|   | silhouettes: "
                + ", ".join(f"{j}: {s:.3f}" for j, s in partition.silhouettes.items())
                + " | | | |"
            )
    # Baselines: one family for everything, and the automatic families'
    # sizes dealt out at random.
    one = np.zeros(n, dtype=np.int64)
    print(
        f"| baseline: one family | 1 | 0 | {purity(one, sources):.2f} | "
        f"{adjusted_rand_score(sources, one):.2f} |"
    )
    shuffles = np.random.default_rng(1)
    random_scores = []
    for _ in range(DRAWS):
        dealt = shuffles.permutation(auto.labels)
        random_scores.append(
            (purity(dealt, sources), adjusted_rand_score(sources, dealt))
        )
    mean_purity, mean_ari = np.mean(random_scores, axis=0)
    print(
        f"| baseline: random, same sizes | {auto.k} | | {mean_purity:.2f} | "
        f"{mean_ari:.2f} |"
    )
    named_partition, named = families.families(
        auto,
        everything + 1,
        corpus["genres"],
        corpus["moods"],
        [split_energy("")] * n,
        corpus["tags"],
    )
    together = cohesion(named_partition.labels, sources)
    print(
        "\nshare of each source family's tracks in its commonest family "
        "(automatic k): "
        + ", ".join(f"{source} {share:.2f}" for source, share in together.items())
    )
    print("\nfamilies (automatic k), with their source families:")
    for number, family in enumerate(named):
        members = sources[named_partition.labels == number]
        top = ", ".join(f"{s} {c}" for s, c in Counter(members.tolist()).most_common(3))
        print(f"- {family.name} ({len(family.item_ids)}): {top}")

    # Removing 10 % of the whole library and adding 10 % to a library of the
    # other 90 % compare the same two runs (ARI is symmetric): one figure.
    rng = np.random.default_rng(0)
    agreement, same_k = [], 0
    for _ in range(DRAWS):
        keep = np.sort(rng.permutation(n)[: n - round(SHARE * n)])
        smaller = run(corpus, keep, None)
        same_k += smaller.k == auto.k
        agreement.append(adjusted_rand_score(auto.labels[keep], smaller.labels))
    print(
        f"\nstability, the whole library against 90 % of it, {DRAWS} draws: "
        f"ARI on the common tracks {np.mean(agreement):.2f} "
        f"(min {np.min(agreement):.2f}, max {np.max(agreement):.2f}); "
        f"same number of families in {same_k} of {DRAWS}"
    )
    for k in (auto.k,):
        fixed = run(corpus, everything, k)
        scores = []
        for _ in range(DRAWS):
            keep = np.sort(rng.permutation(n)[: n - round(SHARE * n)])
            scores.append(
                adjusted_rand_score(fixed.labels[keep], run(corpus, keep, k).labels)
            )
        print(
            f"with k fixed at {k}: ARI {np.mean(scores):.2f} (min {np.min(scores):.2f})"
        )


if __name__ == "__main__":
    main()
