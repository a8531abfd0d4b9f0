"""Widen the genre corpus of issue 10: more tracks whose source states their family.

``corpora/labels_corpus.tsv`` (rules in ``corpora/labels_corpus_rules.py``) holds the
tracks of the first ~80 Debian packages. This script adds rows from

- the tracks of that inventory left out as "family unclear", where a statement
  the first rules did not use names the style (:data:`EXTRA_TITLE_RULES`);
- further free Debian packages (:data:`EXTRA_PACKAGES`, bookworm main),
  downloaded to ``/work/corpus/extra/debs`` and unpacked to
  ``/work/corpus/extra/audio/PKG``, whose files' own GENRE tags or titles name a
  style.

Families are decided blind, from the sources only (no listening, no model
output), and written to ``corpora/labels_corpus_extra.tsv`` with exactly the
columns of ``corpora/labels_corpus.tsv``. Manifest paths are relative to
``/work/corpus``, so ``corpora/cache_labels_corpus.py --manifest`` reads them.
See ``corpora/labels_corpus_extra.md`` for the rules and citations::

    python corpora/labels_corpus_extra_rules.py download   # -> extra/debs
    python corpora/labels_corpus_extra_rules.py extract    # -> extra/audio
    python corpora/labels_corpus_extra_rules.py render     # LMMS demos -> WAV
    python corpora/labels_corpus_extra_rules.py inventory  # tags, duration, hash
    python corpora/labels_corpus_extra_rules.py manifest   # -> the extra TSV
    python corpora/labels_corpus_extra_rules.py all

The first manifest's files and rules are read, never changed: its exclusions
(15 s, effect folders, stems), its genre-tag table and its duplicate hash
(first 20 s decoded, :func:`make_labels_corpus.head_hash`) are reused, so a track
already in it can never come back, and a package already in it keeps its
split.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import labels_corpus_rules as first_rules
from make_labels_corpus import (
    AUDIO_GLOBS,
    CORPUS,
    DOC_GLOBS,
    INVENTORY,
    INVENTORY_COLUMNS,
    MIN_SECONDS,
    file_tags,
    head_hash,
)

EXTRA = CORPUS / "extra"
EXTRA_DEBS = EXTRA / "debs"
EXTRA_AUDIO = EXTRA / "audio"
EXTRA_DERIVED = EXTRA / "derived"
EXTRA_INVENTORY = EXTRA / "inventory.tsv"
#: LMMS's demo projects (package lmms-common), as ``apt-get install lmms``
#: puts them; they are rendered by LMMS itself because the samples they play
#: are resolved against LMMS's own sample folder.
LMMS_PROJECTS = Path("/usr/share/lmms/projects")
FIRST_MANIFEST = Path(__file__).with_name("labels_corpus.tsv")
MANIFEST = Path(__file__).with_name("labels_corpus_extra.tsv")
#: Further bookworm-main packages that ship music, all examined (tags, docs).
#: Most state no style for any track; they are listed so that the search can
#: be repeated and its yield judged.
EXTRA_PACKAGES = (
    "abe-data",
    "adonthell-data",
    "alienblaster-data",
    "amoebax-data",
    "ardentryst",
    "armagetronad-common",
    "biniax2-data",
    "blobwars-data",
    "bloboats",
    "boswars-data",
    "briquolo-data",
    "bumprace-data",
    "ceferino-data",
    "chromium-bsu-data",
    "cuyo-data",
    "enigma-data",
    "fillets-ng-data",
    "freedroid-data",
    "freegish-data",
    "gl-117-data",
    "glob2-data",
    "gnujump-data",
    "granatier",
    "hex-a-hop-data",
    "holotz-castle-data",
    "jumpnbump-levels",
    "kapman",
    "kblocks",
    "kdiamond",
    "kgoldrunner",
    "ksirk",
    "lmms-common",
    "meritous-data",
    "mrrescue",
    "nikwi-data",
    "njam-data",
    "open-invaders-data",
    "orbital-eunuchs-sniper-data",
    "pangzero",
    "pathological",
    "penguin-command",
    "pinball-data",
    "seahorse-adventures",
    "starfighter-data",
    "stormbaancoureur-data",
    "toppler",
    "trackballs-data",
    "triplane",
    "tuxfootball",
    "tuxmath-data",
    "viruskiller",
    "wordwarvi-sound",
)
#: GENRE tags the first table lacks (lower-cased) -> family.
EXTRA_GENRE_TAG_FAMILY = {
    "blues": "jazz_blues",
    "instrumental rock": "rock",
}
#: Titles that name or allude to a style: (path glob, family, doubtful, reason).
#: Allusions (a place, an instrument-era, a dance form) are doubtful.
EXTRA_TITLE_RULES = (
    (
        "extra/audio/enigma-data/*/music/menu/enigma_rag.ogg",
        "jazz_blues",
        True,
        "file name 'enigma_rag' (a rag, i.e. ragtime); a title",
    ),
    (
        "extra/audio/trackballs-data/*/music/c64revival.ogg",
        "electronic",
        True,
        "title 'C64 Revival' (file tag; music/README: 'C64 Revival, by Paul "
        "Leach'): Commodore 64 chip music; a title",
    ),
    (
        "audio/hyperrogue-music/*/music/hr-savino-caribbean.ogg",
        "world",
        True,
        "title 'Caribbean' (file tag, Will Savino); a title",
    ),
    (
        "audio/performous/*/themes/default/menu.ogg",
        "pop_vocal",
        True,
        "Tryad 'The Final Rewind' (file tags); COMMENT 'produced by john "
        "holowach / vocals & lyrics by ...': a song with vocals and lyrics, "
        "its genre not stated",
    ),
    (
        "audio/freeciv-data/*/stdmusic/CullamBruce-Lockhart--Dawning_Fanfare.ogg",
        "classical",
        True,
        "title 'Dawning Fanfare' (file tag, Cullam Bruce-Lockhart): a fanfare "
        "is a brass/orchestral form; a title",
    ),
)
#: LMMS demo projects whose file name or project notes state a style:
#: (project path under LMMS_PROJECTS, family, doubtful, reason). Rendered to
#: ``extra/derived/lmms-common/<stem>.wav``; the other demos state none.
LMMS_RENDERS = (
    (
        "shorties/Crunk(Demo).mmp",
        "hiphop_rnb",
        False,
        "LMMS demo project file name 'Crunk(Demo)' (crunk, a hip-hop style)",
    ),
    (
        "demos/Alf42red-Mauiwowi.mmpz",
        "hiphop_rnb",
        True,
        "LMMS demo project notes by the composer: 'RnB ですか???' ('is it "
        "RnB???'); a question, not a statement",
    ),
    (
        "demos/CapDan/CapDan-ReggaeTry.mmpz",
        "world",
        True,
        "LMMS demo project file name 'CapDan-ReggaeTry' (a reggae attempt)",
    ),
    (
        "demos/CapDan/CapDan-ReggaetonTry.mmpz",
        "world",
        True,
        "LMMS demo project file name and notes 'Reggaetontry by CapDan' "
        "(reggaeton: a Latin style between reggae and hip-hop)",
    ),
    (
        "demos/Shovon-ProgressiveHousePluckDemo.mmpz",
        "electronic",
        False,
        "LMMS demo project file name 'Shovon-ProgressiveHousePluckDemo' "
        "(progressive house)",
    ),
    (
        "demos/Skiessi/Skiessi-C64.mmpz",
        "electronic",
        True,
        "LMMS demo project file name 'Skiessi-C64', played on LMMS's SID "
        "(Commodore 64 chip) instrument; a title",
    ),
)
LICENCES = {
    "lmms-common": (
        "per project (debian/copyright): CapDan-*, Crunk* Artistic-2; "
        "Alf42red-* CC-BY-SA-3; Skiessi/* CC-BY-SA-4; others GPL-2+ (Files: *)"
    ),
    "starfighter-data": "GPL-2+ (debian/copyright, Files: *)",
    "wordwarvi-sound": "CC-BY-SA-3.0 (debian/copyright, per file)",
    "trackballs-data": "Ethymonics Free Music Licence (debian/copyright, music/README)",
    "enigma-data": "GPL-2 (debian/copyright)",
    "hyperrogue-music": "CC-BY-SA-3.0 (debian/copyright, music/hr-savino-*)",
    "freeciv-data": "see debian/copyright",
    "performous": "GPL-2+ (debian/copyright, Files: *; Tryad in Authors.txt)",
}
COLUMNS = first_rules.MANIFEST_COLUMNS
SUFFIXES = {".ogg", ".mp3", ".flac", ".opus", ".wav"}


def download(packages: tuple[str, ...] = EXTRA_PACKAGES) -> None:
    """``apt-get download`` every package whose .deb is not in ``extra/debs`` yet."""
    EXTRA_DEBS.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(EXTRA_DEBS.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=EXTRA_DEBS, check=True)


def extract(packages: tuple[str, ...] = EXTRA_PACKAGES) -> None:
    """Unpack audio and documentation of each .deb into ``extra/audio/PKG``."""
    for package in packages:
        debs = sorted(EXTRA_DEBS.glob(f"{package}_*.deb"))
        target = EXTRA_AUDIO / package
        if not debs or (target / ".done").exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=subprocess.PIPE
        )
        # tar exits 2 when a pattern matches nothing (no docs of one kind).
        subprocess.run(
            [
                "tar",
                "-x",
                "-C",
                str(target),
                "--wildcards",
                *AUDIO_GLOBS,
                *DOC_GLOBS,
                "*.music",
                "*.json",
            ],
            stdin=tar.stdout,
            check=False,
            stderr=subprocess.DEVNULL,
        )
        tar.wait()
        (target / ".done").write_text(debs[-1].name + "\n")


def render() -> None:
    """Render each project of :data:`LMMS_RENDERS` to WAV with LMMS itself.

    Needs ``apt-get install lmms`` (which brings ``lmms-common``'s projects
    and samples); runs headless (Qt offscreen). Skips what exists.
    """
    import os

    target_dir = EXTRA_DERIVED / "lmms-common"
    target_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for project, *_ in LMMS_RENDERS:
        source = LMMS_PROJECTS / project
        target = target_dir / (source.name.split(".mmp")[0] + ".wav")
        if target.exists():
            continue
        command = ["lmms", "render", str(source), "-f", "wav", "-o", str(target)]
        if os.geteuid() == 0:  # LMMS refuses root unless told
            command.insert(1, "--allowroot")
        subprocess.run(command, check=True, env=env, capture_output=True)
        print(f"rendered {target}", flush=True)


def _lmms_rules() -> tuple:
    """:data:`LMMS_RENDERS` as title rules on the rendered files' paths."""
    return tuple(
        (
            "extra/derived/lmms-common/" + Path(project).name.split(".mmp")[0] + ".wav",
            family,
            doubtful,
            reason,
        )
        for project, family, doubtful, reason in LMMS_RENDERS
    )


def inventory() -> None:
    """Write ``extra/inventory.tsv`` like ``make_labels_corpus.inventory`` does."""
    done: dict[str, dict] = {}
    if EXTRA_INVENTORY.exists():
        with EXTRA_INVENTORY.open() as handle:
            done = {r["path"]: r for r in csv.DictReader(handle, delimiter="\t")}
    rows = []
    package_dirs = [
        p
        for root in (EXTRA_AUDIO, EXTRA_DERIVED)
        if root.is_dir()
        for p in sorted(root.iterdir())
        if p.is_dir()
    ]
    for package_dir in package_dirs:
        for path in sorted(package_dir.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in SUFFIXES:
                continue
            rel = str(path.relative_to(CORPUS))
            if rel in done:
                rows.append(done[rel])
                continue
            row = {"path": rel, "package": package_dir.name, "error": ""}
            row.update(file_tags(path))
            try:
                row["head_hash"], duration = head_hash(path)
                row["duration"] = f"{duration:.1f}"
            except Exception as error:  # one broken file never stops the run
                row["error"] = str(error).replace("\t", " ")[:200]
            rows.append(row)
    with EXTRA_INVENTORY.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, INVENTORY_COLUMNS, delimiter="\t", extrasaction="ignore"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (row.get(k) or "").replace("\n", " ") for k in INVENTORY_COLUMNS}
            )
    print(f"{len(rows)} files in {EXTRA_INVENTORY}")


def _read_tsv(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def classify(row: dict) -> tuple[str, bool, str] | None:
    """(family, doubtful, reason) from the extra rules, or None."""
    genre = (row.get("genre") or "").strip().lower()
    if genre in EXTRA_GENRE_TAG_FAMILY:
        return EXTRA_GENRE_TAG_FAMILY[genre], False, f"GENRE tag '{row['genre']}'"
    if genre in first_rules.GENRE_TAG_FAMILY:
        return first_rules.GENRE_TAG_FAMILY[genre], False, f"GENRE tag '{row['genre']}'"
    rule = first_rules._first(row["path"], EXTRA_TITLE_RULES + _lmms_rules())
    if rule:
        return rule[1], rule[2], rule[3]
    return None


def _excluded(row: dict, tagged: bool) -> str | None:
    """Why a row is left out by the first manifest's exclusions, or None."""
    path = row["path"]
    if row.get("error"):
        return "decode error"
    if not row["duration"] or float(row["duration"]) < MIN_SECONDS:
        return "shorter than 15 s"
    if any(first_rules._matches(path, g) for g in first_rules.STEM_GLOBS):
        return "stem"
    in_effects = any(first_rules._matches(path, g) for g in first_rules.EFFECT_GLOBS)
    # A file in an effects folder whose own GENRE tag names a style is a song
    # the game merely files there (wordwarvi keeps its music in sounds/).
    if in_effects and "/music/" not in path.lower() and not tagged:
        return "effect/ambience folder"
    return None


def build() -> list[dict]:
    """The extra manifest rows: classified, de-duplicated, capped and split."""
    first_manifest = _read_tsv(FIRST_MANIFEST)
    first_paths = {r["path"] for r in first_manifest}
    main_inventory = _read_tsv(INVENTORY)
    hash_of = {r["path"]: r["head_hash"] for r in main_inventory}
    seen_hash = {hash_of[p]: p for p in first_paths if hash_of.get(p)}
    candidates = [r for r in main_inventory if r["path"] not in first_paths]
    candidates += _read_tsv(EXTRA_INVENTORY)
    excluded = Counter()
    rows = []
    for row in sorted(candidates, key=lambda r: r["path"]):
        verdict = classify(row)
        genre = (row.get("genre") or "").strip().lower()
        known = {**first_rules.GENRE_TAG_FAMILY, **EXTRA_GENRE_TAG_FAMILY}
        tagged = genre in known
        why = _excluded(row, tagged)
        if why:
            excluded[why] += 1
            continue
        if verdict is None:
            excluded["family unclear"] += 1
            continue
        if row["head_hash"] in seen_hash:
            excluded["duplicate of " + seen_hash[row["head_hash"]]] += 1
            continue
        seen_hash[row["head_hash"]] = row["path"]
        family, doubtful, reason = verdict
        rows.append(
            {
                "path": row["path"],
                "package": row["package"],
                "licence": LICENCES.get(row["package"], "see debian/copyright"),
                "family": family,
                "doubtful": int(doubtful),
                "reason": reason,
                "duration": row["duration"],
            }
        )
    rows = _cap(rows, first_manifest, excluded)
    _split(rows, first_manifest)
    print("excluded:", dict(excluded))
    return rows


def _cap(rows: list[dict], first: list[dict], excluded: Counter) -> list[dict]:
    """No package above half of a family, counted over both manifests together."""
    family_total = Counter(r["family"] for r in first + rows)
    package_count = Counter((r["family"], r["package"]) for r in first + rows)
    kept = []
    for row in sorted(rows, key=lambda r: first_rules._stable_order(r["path"])):
        key = (row["family"], row["package"])
        others = family_total[row["family"]] - package_count[key]
        if others and package_count[key] > others:
            excluded["cap (package share of family)"] += 1
            package_count[key] -= 1
            family_total[row["family"]] -= 1
            continue
        kept.append(row)
    return kept


def _split(rows: list[dict], first: list[dict]) -> None:
    """Whole packages to dev or test; a package of the first manifest keeps its split.

    A new package goes, largest first, to the split whose per-family counts
    (both manifests together) it balances best; ties go to dev.
    """
    fixed = {r["package"]: r["split"] for r in first if r["package"] != "shared"}
    counts = {"dev": Counter(), "test": Counter()}
    for r in first:
        counts[r["split"]][r["family"]] += 1
    by_package: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        by_package[row["package"]][row["family"]] += 1
    choice = {}
    for package, fam in by_package.items():
        if package in fixed:
            choice[package] = fixed[package]
            counts[fixed[package]].update(fam)

    def imbalance(split: str, fam: Counter) -> float:
        other = "test" if split == "dev" else "dev"
        total = 0.0
        for family in fam:
            a = counts[split][family] + fam[family]
            b = counts[other][family]
            total += abs(a - b) / max(1, a + b)
        return total

    new = [(p, f) for p, f in by_package.items() if p not in choice]
    for package, fam in sorted(new, key=lambda kv: (-sum(kv[1].values()), kv[0])):
        split = min(("dev", "test"), key=lambda s: (imbalance(s, fam), s != "dev"))
        choice[package] = split
        counts[split].update(fam)
    for row in rows:
        row["split"] = choice[row["package"]]


def write(rows: list[dict]) -> None:
    """Write the extra manifest and print counts per family and split."""
    with MANIFEST.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, COLUMNS, delimiter="\t", extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in sorted(rows, key=lambda r: (r["family"], r["path"])):
            writer.writerow(row)
    table = Counter((r["family"], r["split"]) for r in rows)
    for family in first_rules.FAMILIES:
        dev, test = table[family, "dev"], table[family, "test"]
        print(f"{family:12s} dev {dev:3d}  test {test:3d}")
    print(f"{len(rows)} tracks -> {MANIFEST}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step",
        choices=("download", "extract", "render", "inventory", "manifest", "all"),
    )
    args = parser.parse_args(argv)
    if args.step in ("download", "all"):
        download()
    if args.step in ("extract", "all"):
        extract()
    if args.step in ("render", "all"):
        render()
    if args.step in ("inventory", "all"):
        inventory()
    if args.step in ("manifest", "all"):
        write(build())
    return 0


if __name__ == "__main__":
    sys.exit(main())
