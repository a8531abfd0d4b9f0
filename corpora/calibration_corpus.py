"""Write ``corpora/calibration_corpus.tsv``: the tracks the calibration is fitted on.

Calibration needs no labels, so it can use more music than the label corpus:

- **every track of the label corpus** (``labels_corpus.tsv`` and
  ``labels_corpus_extra.tsv``, dev and test), whose per-patch outputs are
  cached (``corpora/cache_labels_corpus.py``): no decoding;
- **a sample of the other music** of the same Debian packages and of the
  packages whose music states no genre (the inventory of
  ``corpora/make_labels_corpus.py``, filtered as the label corpus is: at least
  15 s, no stems, no effect folders, no duplicates): per package, unlabelled
  tracks in a stable (hashed) order until the package has
  :data:`PER_PACKAGE` tracks in all, so that no soundtrack dominates more
  than the label corpus already makes it;
- the clips of ``/work/shared/audio`` and ``tests/data/music`` (listed by
  ``tools/make_calibration.py`` as folders, not here).

Columns: ``source`` (package), ``family`` (the label corpus' family, empty
for unlabelled tracks), ``path`` (absolute), ``patch_cache`` (the cached
``.npz`` of a label-corpus track, else empty: ``make_calibration`` analyses
the file). Then::

    python corpora/calibration_corpus.py
    nice -n 10 python tools/make_calibration.py \\
        --tracks corpora/calibration_corpus.tsv \\
        --cache /work/corpus/calibration_scores.jsonl --max-seconds 90 --jobs 2 \\
        shared-audio=/work/shared/audio tests-data-music=tests/data/music
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import labels_corpus_rules as rules
from cache_labels_corpus import CACHE, read_manifest, track_key
from make_labels_corpus import resolve

HERE = Path(__file__).resolve().parent
OUT = HERE / "calibration_corpus.tsv"
MANIFESTS = (HERE / "labels_corpus.tsv", HERE / "labels_corpus_extra.tsv")
#: Tracks per package the unlabelled sample fills up to.
PER_PACKAGE = 8


def _stable(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def unlabelled_candidates(labelled: set[str]) -> list[dict]:
    """Inventory rows that pass the label corpus' filters, not in ``labelled``."""
    with rules.INVENTORY.open() as handle:
        inventory = list(csv.DictReader(handle, delimiter="\t"))
    seen, out = set(), []
    for row in sorted(inventory, key=lambda r: r["path"]):
        path = row["path"]
        if row.get("error") or not row["duration"]:
            continue
        if float(row["duration"]) < rules.MIN_SECONDS:
            continue
        if any(rules._matches(path, g) for g in rules.STEM_GLOBS):
            continue
        if (
            any(rules._matches(path, g) for g in rules.EFFECT_GLOBS)
            and not path.startswith(("shared:", "derived/"))
            and "/music/" not in path.lower()
        ):
            continue
        if row["head_hash"] in seen:
            continue
        seen.add(row["head_hash"])
        if path not in labelled and row["package"] != "shared":
            out.append(row)
    return out


def build() -> list[dict]:
    rows, per_package = [], defaultdict(int)
    for manifest in MANIFESTS:
        if not manifest.exists():
            continue
        for row in read_manifest(manifest):
            cached = CACHE / f"{track_key(row['path'])}.npz"
            rows.append({
                "source": row["package"],
                "family": row["family"],
                "path": str(resolve(row["path"])),
                "patch_cache": str(cached) if cached.exists() else "",
            })
            per_package[row["package"]] += 1
    labelled = {r["path"] for m in MANIFESTS if m.exists() for r in read_manifest(m)}
    by_package = defaultdict(list)
    for row in unlabelled_candidates(labelled):
        by_package[row["package"]].append(row)
    for package in sorted(by_package):
        room = PER_PACKAGE - per_package[package]
        for row in sorted(by_package[package], key=lambda r: _stable(r["path"]))[
            : max(0, room)
        ]:
            rows.append({
                "source": package,
                "family": "",
                "path": str(resolve(row["path"])),
                "patch_cache": "",
            })
    return rows


def main() -> int:
    rows = build()
    with OUT.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, ["source", "family", "path", "patch_cache"], delimiter="\t"
        )
        writer.writeheader()
        writer.writerows(rows)
    cached = sum(bool(r["patch_cache"]) for r in rows)
    print(f"wrote {OUT}: {len(rows)} tracks, {len({r['source'] for r in rows})} "
          f"sources, {cached} with cached patches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
