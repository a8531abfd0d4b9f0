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
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    from beetsplug.musicnn.sound import families
    from beetsplug.musicnn.sound.catalog import split_energy

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--manifest", type=Path, default=Path(__file__).with_name("labels_corpus.tsv")
    )
    parser.add_argument("--cache", type=Path, default=Path("/work/corpus/cache"))
    args = parser.parse_args()
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
    named = families.families(
        auto,
        everything + 1,
        corpus["genres"],
        corpus["moods"],
        [split_energy("")] * n,
        corpus["tags"],
    )
    together = cohesion(auto.labels, sources)
    print(
        "\nshare of each source family's tracks in its commonest family "
        "(automatic k): "
        + ", ".join(f"{source} {share:.2f}" for source, share in together.items())
    )
    print("\nfamilies (automatic k), with their source families:")
    for number, family in enumerate(named):
        members = sources[auto.labels == number]
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
