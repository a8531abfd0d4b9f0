"""The inclusion rules of the genre corpus, as code: inventory -> manifest.

Written, and the manifest committed, before any model ran on the corpus (see
``corpora/labels_corpus.md``). A track's family comes only from its source:

1. its own GENRE tag, through :data:`GENRE_TAG_FAMILY`;
2. else its title or file name where that names the style
   (:data:`TITLE_RULES`);
3. else a statement about the whole source (:data:`SOURCE_RULES`), each with
   where it is stated.

Tags that name no style ("Soundtrack", "Game", "VGM", "Other") decide
nothing. Files shorter than 15 s, sound effects and ambience loops (paths
under ``sound``/``sfx``/``ambient`` folders of games), isolated stems and
duplicates (same decoded first 20 s) are left out; so are tracks whose family
is unclear, which is most game music.

    python corpora/labels_corpus_rules.py   # writes corpora/labels_corpus.tsv
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_labels_corpus import CORPUS, INVENTORY, MIN_SECONDS

#: The columns of the manifests (``labels_corpus.tsv``, ``labels_corpus_extra.tsv``).
MANIFEST_COLUMNS = (
    "path",
    "package",
    "licence",
    "family",
    "split",
    "doubtful",
    "duration",
    "reason",
)

MANIFEST = Path(__file__).with_name("labels_corpus.tsv")
FAMILIES = (
    "classical",
    "rock",
    "metal",
    "electronic",
    "jazz_blues",
    "folk",
    "pop_vocal",
    "ambient",
    "hiphop_rnb",
    "world",
)
#: A file's own GENRE tag (lower-cased) -> family. Tags absent here decide nothing.
GENRE_TAG_FAMILY = {
    "romantic classical": "classical",
    "classical": "classical",
    "classique": "classical",
    "orchestral": "classical",
    "death metal": "metal",
    "thrash metal": "metal",
    "trash metal": "metal",  # a misspelling of thrash metal (widelands-data)
    "electronic": "electronic",
    "house": "electronic",
    "dnb": "electronic",
    "chiptune": "electronic",
    "rock": "rock",
    "reggae": "world",
    "ambient": "ambient",
    "ambiance": "ambient",  # French tag in warmux-data
    "folk": "folk",
}
#: Sources whose tags are known to be doubtful (NOTES.md, measured by ear
#: descriptions before this corpus): (path glob, reason).
DOUBTFUL_TAGS = (
    (
        "audio/widelands-data/*/ingame_1[567].ogg",
        "NOTES.md: these three 'Trash Metal' tracks are described by listeners "
        "as guitar/piano/slow; tag kept, flagged",
    ),
)
#: Title or file name that names the style: (path glob, family, doubtful, reason).
TITLE_RULES = (
    (
        "audio/colobot-common-sounds/*/music013.ogg",
        "jazz_blues",
        False,
        "title 'Jazz Buzzing EasterEgg' (file tag)",
    ),
    (
        "audio/supertux-data/*/airship_remix.ogg",
        "classical",
        False,
        "title 'Airship Song Orchestral Mix' (file tag)",
    ),
    (
        "audio/widelands-data/*/ingame_18.ogg",
        "classical",
        False,
        "title 'orchestralsample' (file tag)",
    ),
    (
        "audio/naev-data/*/pirates_orchestra.ogg",
        "classical",
        False,
        "file name 'pirates_orchestra'",
    ),
    (
        "audio/hedgewars-data/*/Music/Rock.ogg",
        "rock",
        False,
        "file name 'Rock' (Hedgewars 'Rock' theme; tests/data/music/ATTRIBUTION.md)",
    ),
    (
        "audio/naev-data/*/combat3.ogg",
        "rock",
        True,
        'title "Eridani\'s Rock 0.2" (file tag); a title, not a genre statement',
    ),
    (
        "audio/hedgewars-data/*/Music/oriental.ogg",
        "world",
        True,
        "file name 'oriental'; a title, not a genre statement",
    ),
    (
        "audio/supertuxkart-data/*/music/celtic.ogg",
        "folk",
        True,
        "file name 'celtic' (Celtic folk style); a title",
    ),
    (
        "audio/supertuxkart-data/*/music/celtic_fast.ogg",
        "folk",
        True,
        "file name 'celtic_fast' (Celtic folk style); a title",
    ),
    (
        "audio/naev-data/*/music/ambient[1234].ogg",
        "ambient",
        False,
        "file name 'ambientN'",
    ),
    (
        "audio/naev-data/*/music/ambient2_5.ogg",
        "ambient",
        False,
        "title 'Ambient 2.5' (file tag)",
    ),
    (
        "audio/naev-data/*/music/ambiphonic.ogg",
        "ambient",
        True,
        "title 'Ambiphonic' (file tag, Jamendo); a title",
    ),
    (
        "audio/freedroidrpg-data/*/music/Ambience.ogg",
        "ambient",
        False,
        "file name 'Ambience'",
    ),
    (
        "audio/freedroidrpg-data/*/music/AmbientBattle.ogg",
        "ambient",
        True,
        "file name 'AmbientBattle' (battle music called ambient)",
    ),
    (
        "audio/supertux-data/*/chipdisko.ogg",
        "electronic",
        True,
        'title "Mortimer\'s Chipdisko" (chip disco); a title',
    ),
    (
        "audio/redeclipse-data/*/theme_chip.ogg",
        "electronic",
        False,
        "GENRE tag 'Chiptune'",
    ),
    (
        "audio/0ad-data/*/0_8Bit_Bonus_Track.ogg",
        "electronic",
        True,
        "file name '8Bit Bonus Track' (chiptune); a title",
    ),
    (
        "audio/freedink-data/*/Sound/106.ogg",
        "classical",
        False,
        "title 'Violinkonzert e-moll, op. 64', Fulda Symphonic Orchestra (file tags)",
    ),
    (
        "audio/lincity-ng-data/*/02 - Robert van Herk - City Blues.ogg",
        "jazz_blues",
        True,
        "title 'City blues' (file tag); a title",
    ),
    (
        "audio/pushover-data/*/themes/electro.ogg",
        "electronic",
        True,
        "file name 'electro'; a title",
    ),
    (
        "audio/naev-data/*/music/void_sensor.ogg",
        "ambient",
        True,
        "album 'Ambient Pills' (file tag, Jamendo)",
    ),
    (
        "derived/fretsonfire-songs-sectoid/Metal madness.flac",
        "metal",
        False,
        "title 'Metal madness' (song.ini), composed and performed by Sectoid",
    ),
)
#: Statements about a whole source: (path glob, family, doubtful, reason).
SOURCE_RULES = (
    (
        "audio/0ad-data/*/audio/music/*.ogg",
        "classical",
        False,
        "composer Omri Lahav on the 0 A.D. score: 'I chose to fully orchestrate "
        "them', civilisations told apart by added folk instruments "
        "(play0ad.com/music-blog-1)",
    ),
    (
        "audio/wesnoth-1.16-music/*/music/*.ogg",
        "classical",
        True,
        "untagged, but the other 35 tracks of the same album and composers are "
        "tagged 'Romantic Classical'",
    ),
    (
        "derived/fretsonfire-songs-muldjord/*.flac",
        "metal",
        False,
        "every file of the package is tagged GENRE 'Death Metal' (Muldjord); "
        "song.ogg + guitar.ogg mixed back into the full recording",
    ),
    (
        "shared:brahms_hungarian_dance_5.ogg",
        "classical",
        False,
        "shared/audio/README.md: Brahms, string orchestra",
    ),
    (
        "shared:macleod_sugar_plum_fairy.ogg",
        "classical",
        False,
        "shared/audio/README.md: Tchaikovsky, orchestral",
    ),
    (
        "shared:hobbs_lets_go_fishin.ogg",
        "folk",
        True,
        "shared/audio/README.md: 'folk/pop song, female vocal, guitar'",
    ),
    (
        "shared:admiralbob_choice_drum_bass.ogg",
        "electronic",
        True,
        "shared/audio/README.md: drum and bass stems only (ccMixter)",
    ),
    (
        "shared:joram_moments_of_clarity.mp3",
        "electronic",
        False,
        "shared/audio/README.md: electronic; musicnn README lists techno, electronic",
    ),
    (
        "shared:macleod_vibe_ace.ogg",
        "jazz_blues",
        True,
        "shared/audio/README.md: 'jazzy electronic'",
    ),
)
#: Where game packages keep effects and ambience loops, never music.
EFFECT_GLOBS = (
    "*/sound/*",
    "*/sounds/*",
    "*/sfx/*",
    "*/soundfx/*",
    "*/Sounds/*",
    "*/ambient/*",
    "*/ambience/*",
    "*/titles/*",
    "*/speech/*",
    # scorched3d-data keeps every effect under data/wav/ (birds, ocean
    # waves, explosions); freecol its intro video's soundtrack under video/
    "*/wav/*",
    "*/video/*",
)
#: Stems: Frets on Fire splits a song into song.ogg (band without lead
#: guitar) and guitar.ogg; only the re-mixed whole (derived/) is used.
STEM_GLOBS = ("audio/fretsonfire-songs-*/*.ogg",)
#: The largest share one package may have of a family's tracks (cap rule).
CAP_SHARE_OF_FAMILY = 0.5
LICENCES = {
    "0ad-data": "CC-BY-SA-3.0 (debian/copyright)",
    "wesnoth-1.16-music": "GPL-2.0-or-later",
    "widelands-data": "GPL-2.0-or-later (some tracks CC-BY-SA, per tags)",
    "fretsonfire-songs-muldjord": "CC-BY-SA-3.0 (debian/copyright)",
    "fretsonfire-songs-sectoid": "CC-BY-SA (debian/copyright)",
    "openclonk-data": "CC-BY-3.0 / ISC (debian/copyright)",
    "naev-data": "GPL-3 / CC-BY(-SA) per track (debian/copyright)",
    "freedroidrpg-data": "GPL-2.0-or-later",
    "flare-game": "CC-BY-SA-3.0",
    "supertux-data": "GPL / CC-BY-SA per track (debian/copyright)",
    "supertuxkart-data": "GPL / CC-BY-SA per track (debian/copyright)",
    "hedgewars-data": "GPL-2.0",
    "colobot-common-sounds": "GPL-3.0-or-later",
    "warmux-data": "GPL-2.0-or-later",
    "redeclipse-data": "CC-BY-SA (debian/copyright)",
    "megaglest-data": "CC-BY-SA-3.0",
    "shared": "see /work/shared/audio/README.md",
}


def _matches(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern)


def _first(path: str, rules):
    for rule in rules:
        if _matches(path, rule[0]):
            return rule
    return None


def classify(row: dict) -> tuple[str, bool, str] | None:
    """(family, doubtful, reason) for one inventory row, or None (excluded)."""
    path = row["path"]
    genre = (row.get("genre") or "").strip().lower()
    if genre in GENRE_TAG_FAMILY:
        doubtful = _first(path, DOUBTFUL_TAGS)
        reason = f"GENRE tag '{row['genre']}'"
        if doubtful:
            reason += "; " + doubtful[1]
        return GENRE_TAG_FAMILY[genre], bool(doubtful), reason
    for rules in (TITLE_RULES, SOURCE_RULES):
        rule = _first(path, rules)
        if rule:
            return rule[1], rule[2], rule[3]
    return None


def _stable_order(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def _split(rows: list[dict]) -> None:
    """Put each package (shared clips: each artist) wholly in dev or test.

    Largest packages first; each goes to the split whose per-family counts it
    balances best (ties: dev). Decided before any model output exists.
    """
    by_package: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        by_package[row["group"]][row["family"]] += 1
    counts = {"dev": Counter(), "test": Counter()}
    choice = {}

    def imbalance(split: str, fam: Counter) -> float:
        other = "test" if split == "dev" else "dev"
        total = 0.0
        for family in set(counts["dev"]) | set(counts["test"]) | set(fam):
            a = counts[split][family] + fam[family]
            b = counts[other][family]
            total += abs(a - b) / max(1, a + b)
        return total

    ordered = sorted(by_package.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    for package, fam in ordered:
        split = min(("dev", "test"), key=lambda s: (imbalance(s, fam), s != "dev"))
        choice[package] = split
        counts[split].update(fam)
    for row in rows:
        row["split"] = choice[row["group"]]


def _cap(rows: list[dict]) -> list[dict]:
    """Keep at most CAP_SHARE_OF_FAMILY of a family from one package."""
    kept = []
    by_family: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_family[row["family"]].append(row)
    for _family, members in by_family.items():
        per_package = Counter(r["package"] for r in members)
        others_total = {p: len(members) - n for p, n in per_package.items()}
        for package, n in per_package.items():
            mine = sorted(
                (r for r in members if r["package"] == package),
                key=lambda r: _stable_order(r["path"]),
            )
            limit = n
            if others_total[package] and n > others_total[package]:
                # share n / (n + others) <= CAP  <=>  n <= CAP/(1-CAP) * others
                limit = int(
                    CAP_SHARE_OF_FAMILY
                    / (1 - CAP_SHARE_OF_FAMILY)
                    * others_total[package]
                )
                limit = max(limit, 1)
            for index, row in enumerate(mine):
                if index < limit:
                    kept.append(row)
                else:
                    row["capped"] = True
    return kept


def build() -> list[dict]:
    with INVENTORY.open() as handle:
        inventory = list(csv.DictReader(handle, delimiter="\t"))
    rows, seen_hash = [], {}
    excluded = Counter()
    for row in sorted(inventory, key=lambda r: r["path"]):
        path = row["path"]
        if row.get("error"):
            excluded["decode error"] += 1
            continue
        if not row["duration"] or float(row["duration"]) < MIN_SECONDS:
            excluded["shorter than 15 s"] += 1
            continue
        if any(_matches(path, g) for g in STEM_GLOBS):
            excluded["stem"] += 1
            continue
        if (
            any(_matches(path, g) for g in EFFECT_GLOBS)
            and not path.startswith(("shared:", "derived/"))
            and "/music/" not in path.lower()
        ):
            excluded["effect/ambience folder"] += 1
            continue
        verdict = classify(row)
        if verdict is None:
            excluded["family unclear"] += 1
            continue
        if row["head_hash"] in seen_hash:
            excluded["duplicate of " + seen_hash[row["head_hash"]].split("/")[1]] += 1
            continue
        seen_hash[row["head_hash"]] = path
        family, doubtful, reason = verdict
        package = row["package"]
        group = package
        if package == "shared":
            group = "shared:" + path.split(":", 1)[1].split("_", 1)[0]
        rows.append(
            {
                "path": path,
                "package": package,
                "group": group,
                "licence": LICENCES.get(package, "see debian/copyright"),
                "family": family,
                "doubtful": int(doubtful),
                "reason": reason,
                "duration": row["duration"],
            }
        )
    capped_before = len(rows)
    rows = _cap(rows)
    excluded["cap (package share of family)"] = capped_before - len(rows)
    _split(rows)
    print("excluded:", dict(excluded))
    return rows


def write(rows: list[dict]) -> None:
    columns = MANIFEST_COLUMNS
    with MANIFEST.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, columns, delimiter="\t", extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in sorted(rows, key=lambda r: (r["family"], r["path"])):
            writer.writerow(row)
    table = Counter((r["family"], r["split"]) for r in rows)
    for family in FAMILIES:
        dev, test = table[family, "dev"], table[family, "test"]
        print(f"{family:12s} dev {dev:3d}  test {test:3d}")
    print(f"{len(rows)} tracks -> {MANIFEST}")


if __name__ == "__main__":
    write(build())
    _ = CORPUS
