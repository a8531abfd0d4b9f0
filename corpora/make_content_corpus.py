"""Build the content corpus: recorded speech, sound effects and checks, from Debian.

The content detector (``beetsplug/musicnn/labels/content.py``) tells music from
spoken word and from sound effects. Its training and test examples of speech
and effects come from Debian packages, labelled by where the file sits in its
package (a ``voices/`` folder, a ``sounds/`` folder) and by its name, never by
what a model hears; music comes from the label corpora (see
``corpora/content_corpus.md``).

Two steps, both idempotent:

``--manifest``
    Downloads (``apt-get download``) and extracts the packages into
    ``/work/content-corpus/x/<package>`` and writes
    ``corpora/content_corpus.tsv`` from the inclusion rules below: which files
    are speech, which are effects, which are set aside as checks, and how
    short voice lines are grouped into the files that are analysed. It reads
    file names, folders and durations only.
``--audio``
    Writes the audio of every manifest row under ``/work/content-corpus``:
    concatenated voice lines (16 kHz mono FLAC), espeak-ng speech; effects are
    analysed as the packages ship them (no copy).

Short voice lines (most are 0.3-2 s) are concatenated per voice, in file-name
order, with 0.4 s of silence between lines, into files of about 20 s: a
spoken-word item of a music library (an audiobook chapter, an interview, a
skit) is long, and the engine would repeat-pad a single short line into a
3-second loop, which is no one's library item. Sound effects are analysed one
file each, as a library of effects holds them. Audio never goes into the
repository::

    python corpora/make_content_corpus.py --manifest --audio
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/work/content-corpus")
DEBS = ROOT / "debs"
EXTRACTED = ROOT / "x"
AUDIO = ROOT / "audio"
#: Other folders whose ``.deb`` files are reused rather than downloaded again.
DEB_SOURCES = (DEBS, Path("/work/corpus/debs"))
MANIFEST = Path(__file__).with_name("content_corpus.tsv")
COLUMNS = ("path", "package", "licence", "class", "group", "reason", "members")

#: Seconds of one concatenated spoken-word file, of silence between lines, and
#: the least a file may hold (a shorter remainder joins the previous file).
TARGET_SECONDS = 20.0
GAP_SECONDS = 0.4
MIN_SECONDS = 8.0
#: Most files concatenated per speaker (Asterisk has ~500 prompts a speaker).
MAX_FILES_PER_GROUP = 12
#: Single short prompts per Asterisk speaker checked as shipped.
SHORT_CHECKS = 8
#: Most sound effects per package, chosen evenly over the sorted file list.
MAX_EFFECTS_PER_PACKAGE = 40

AUDIO_SUFFIXES = (".ogg", ".wav", ".flac", ".g722")

#: Names that may be music or sung, excluded from the effects: musical notes
#: (hedgewars' 1C..9D), themes, jingles, fanfares, chants, win/lose stings.
MUSICAL_NAME = re.compile(
    r"(music|theme|song|tune|jingle|fanfare|valkyrie|chant|sing|rap\b|victory"
    r"|win|lose|lost|gameover|game_over|intro|title|credits|menu|^\d[a-g]$"
    r"|^custom\d|yoohoo|whistle|kiss|laugh|voice|speech|hell_)",
    re.IGNORECASE,
)
#: Asterisk prompts that are tones or silence, not speech.
NOT_SPOKEN = re.compile(r"(beep|tone|silence|dtmf|ring|music|moh)", re.IGNORECASE)


@dataclass(frozen=True)
class Package:
    """One Debian package and its licence for the files used."""

    name: str
    licence: str


HEDGEWARS = Package("hedgewars-data", "GFDL-1.3 (Data/Sounds, debian/copyright)")
REDECLIPSE = Package("redeclipse-data", "see debian/copyright (per file, CC)")
ASTERISK = {
    "en": Package("asterisk-core-sounds-en-g722", "CC-BY-SA-3.0 (Allison Smith)"),
    "es": Package("asterisk-core-sounds-es-g722", "CC-BY-SA-3.0"),
    "fr": Package("asterisk-core-sounds-fr-g722", "CC-BY-SA-3.0 (June Wallack)"),
    "it": Package("asterisk-core-sounds-it-g722", "CC-BY-SA-3.0"),
    "ru": Package("asterisk-core-sounds-ru-g722", "CC-BY-3.0 (Maxim Topal)"),
}
EFFECT_SOURCES = {
    # package: (licence, folders below the package root holding effects)
    "hedgewars-data": (
        "GFDL-1.3 (Data/Sounds, debian/copyright)",
        ["usr/share/games/hedgewars/Data/Sounds"],
    ),
    "supertux-data": (
        "see debian/copyright (GPL-2+/CC-BY-SA)",
        ["usr/share/games/supertux2/sounds"],
    ),
    "redeclipse-data": (
        "see debian/copyright (per file, CC)",
        [
            "usr/share/games/redeclipse/data/sounds/sfx",
            "usr/share/games/redeclipse/data/sounds/ambience",
            "usr/share/games/redeclipse/data/sounds/weapons",
        ],
    ),
    "lugaru-data": ("see debian/copyright", ["usr/share/games/lugaru/Sounds"]),
    "widelands-data": (
        "GPL-2+ (debian/copyright)",
        ["usr/share/games/widelands/data/sound"],
    ),
    "naev-data": ("see debian/copyright", ["usr/share/naev/dat/snd/sounds"]),
    "warmux-data": (
        "GPL-2+ (debian/copyright)",
        [
            "usr/share/games/warmux/sound/default/weapons",
            "usr/share/games/warmux/sound/default/misc",
        ],
    ),
    "supertuxkart-data": (
        "see debian/copyright (per file, CC)",
        ["usr/share/games/supertuxkart/data/sfx"],
    ),
    # Added after the first fit: six of these (birds, ocean waves, frogs, a
    # jet, a cheering crowd, a factory loop) were in the calibration corpus as
    # music; by their folder (wav/misc) and names they are sound effects.
    "scorched3d-data": (
        "GPL-2+ (debian/copyright)",
        [
            "usr/share/games/scorched3d/data/globalmods/none/data/wav",
            "usr/share/games/scorched3d/data/globalmods/apoc/data/wav",
        ],
    ),
}
#: Effects kept whatever the sampling: the calibration corpus's effects.
ALWAYS_EFFECTS = re.compile(
    r"scorched3d/data/globalmods/\w+/data/wav/misc/"
    r"(birds1|oceanwaves|jet|frogs|cheeringloop|factoryloop1)\.wav$"
)
#: espeak-ng (synthesised speech, a second source beside the recordings):
#: language, voice variant, text. Original sentences, written for this corpus.
ESPEAK_TEXTS = {
    "en": (
        "Chapter one. The house stood at the end of a narrow road, where the "
        "fields met the river. Every morning the old man walked to the bridge, "
        "looked at the water for a while, and came back with bread and a "
        "newspaper. Nobody in the village knew where he had lived before, and "
        "he never said. In the spring, a letter arrived."
    ),
    "de": (
        "Erstes Kapitel. Das Haus stand am Ende einer schmalen Straße, dort wo "
        "die Felder an den Fluss grenzten. Jeden Morgen ging der alte Mann zur "
        "Brücke, schaute eine Weile auf das Wasser und kam mit Brot und einer "
        "Zeitung zurück. Niemand im Dorf wusste, wo er vorher gelebt hatte."
    ),
    "fr": (
        "Chapitre premier. La maison se trouvait au bout d'une route étroite, "
        "là où les champs rejoignaient la rivière. Chaque matin, le vieil homme "
        "marchait jusqu'au pont, regardait l'eau un moment, puis revenait avec "
        "du pain et un journal. Personne au village ne savait où il avait vécu."
    ),
    "es": (
        "Capítulo uno. La casa estaba al final de un camino estrecho, donde los "
        "campos se encontraban con el río. Cada mañana el anciano caminaba "
        "hasta el puente, miraba el agua un rato y volvía con pan y un "
        "periódico. Nadie en el pueblo sabía dónde había vivido antes."
    ),
    "it": (
        "Capitolo primo. La casa si trovava alla fine di una strada stretta, "
        "dove i campi incontravano il fiume. Ogni mattina il vecchio camminava "
        "fino al ponte, guardava l'acqua per un po' e tornava con il pane e un "
        "giornale. Nessuno nel villaggio sapeva dove avesse vissuto prima."
    ),
    "nl": (
        "Hoofdstuk een. Het huis stond aan het eind van een smalle weg, waar de "
        "velden de rivier raakten. Elke ochtend liep de oude man naar de brug, "
        "keek een tijdje naar het water en kwam terug met brood en een krant. "
        "Niemand in het dorp wist waar hij vroeger had gewoond."
    ),
}
#: Voice variants and speeds (words per minute): three readers per language.
ESPEAK_READERS = (("m1", 150), ("f2", 165), ("m3", 135))


def find_deb(package: str) -> Path:
    """The ``.deb`` of ``package``, downloaded into :data:`DEBS` if not found."""
    for folder in DEB_SOURCES:
        found = sorted(folder.glob(f"{package}_*.deb"))
        if found:
            return found[-1]
    DEBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", package], cwd=DEBS, check=True)
    found = sorted(DEBS.glob(f"{package}_*.deb"))
    if not found:
        raise FileNotFoundError(f"apt-get download {package} left no .deb in {DEBS}")
    return found[-1]


def extract(package: str) -> Path:
    """Extract ``package``'s audio and copyright into ``x/<package>`` (once)."""
    target = EXTRACTED / package
    done = target / ".extracted"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    deb = find_deb(package)
    tar = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
    )
    patterns = [f"*{suffix}" for suffix in AUDIO_SUFFIXES] + ["*/copyright"]
    subprocess.run(
        ["tar", "-x", "-C", str(target), "--wildcards", *patterns],
        stdin=tar.stdout,
        stderr=subprocess.DEVNULL,  # "Not found in archive" for unused patterns
        check=False,  # tar exits 2 when one pattern matches nothing
    )
    if tar.wait() != 0:
        raise RuntimeError(f"dpkg-deb failed on {deb}")
    done.touch()
    return target


def duration(path: Path) -> float:
    """Seconds of ``path`` from its header (soundfile), or by decoding it."""
    import soundfile

    try:
        return float(soundfile.info(path).duration)
    except Exception:
        from beetsplug.musicnn.engine import audio

        return len(audio.load_audio(path, sr=16000)) / 16000


def chunk(files: list[Path]) -> list[list[Path]]:
    """Consecutive runs of ``files`` of about :data:`TARGET_SECONDS` each.

    Empty files (a few Asterisk prompts are 0 bytes) are left out.
    """
    files = [path for path in files if path.stat().st_size > 0]
    chunks: list[list[Path]] = []
    current: list[Path] = []
    seconds = 0.0
    for path in files:
        current.append(path)
        seconds += duration(path) + GAP_SECONDS
        if seconds >= TARGET_SECONDS:
            chunks.append(current)
            current, seconds = [], 0.0
    if current:
        if seconds >= MIN_SECONDS or not chunks:
            chunks.append(current)
        else:
            chunks[-1].extend(current)
    return chunks


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def speech_rows() -> list[dict]:
    """Concatenated recorded voice lines, one group per voice."""
    rows = []

    def add(package: Package, group: str, files: list[Path], why: str) -> None:
        chunks = chunk(files)[:MAX_FILES_PER_GROUP]
        for number, members in enumerate(chunks, 1):
            out = AUDIO / "speech" / f"{group}_{number:02d}.flac"
            rows.append(
                {
                    "path": relative(out),
                    "package": package.name,
                    "licence": package.licence,
                    "class": "speech",
                    "group": group,
                    "reason": why,
                    "members": " ".join(relative(m) for m in members),
                }
            )

    root = extract(HEDGEWARS.name) / "usr/share/games/hedgewars/Data/Sounds/voices"
    for voice in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(voice.glob("*.ogg"))
        if voice.name == "Singer":
            continue  # sung lines: a check, not speech (see check_rows)
        add(
            HEDGEWARS,
            f"hedgewars-{voice.name}",
            files,
            f"hedgewars voice pack '{voice.name}' (Sounds/voices/): spoken lines",
        )
    sounds = extract(REDECLIPSE.name) / "usr/share/games/redeclipse/data/sounds"
    for folder, what in (("announcer", "announcer lines"), ("voice", "player taunts")):
        add(
            REDECLIPSE,
            f"redeclipse-{folder}",
            sorted((sounds / folder).glob("*.ogg")),
            f"redeclipse sounds/{folder}/: spoken {what}",
        )
    for language, package in ASTERISK.items():
        prompts = extract(package.name) / "usr/share/asterisk/sounds"
        speaker = sorted(p for p in prompts.iterdir() if p.is_dir())[0]
        files = sorted(
            p for p in speaker.glob("*.g722") if not NOT_SPOKEN.search(p.stem)
        )
        add(
            package,
            f"asterisk-{language}",
            files,
            f"Asterisk telephone prompts recorded by a speaker ({speaker.name}), "
            "top folder (sentences; not digits/letters; no beeps or tones)",
        )
    return rows


def espeak_rows() -> list[dict]:
    """espeak-ng speech: three readers for each of six languages."""
    rows = []
    for language in ESPEAK_TEXTS:
        for variant, speed in ESPEAK_READERS:
            out = AUDIO / "espeak" / f"espeak-{language}-{variant}.flac"
            rows.append(
                {
                    "path": relative(out),
                    "package": "espeak-ng",
                    "licence": "GPL-3+ (espeak-ng); text written for this corpus",
                    "class": "speech",
                    "group": f"espeak-{language}",
                    "reason": f"espeak-ng -v {language}+{variant} -s {speed}",
                    "members": "",
                }
            )
    return rows


def effect_rows() -> list[dict]:
    """Game sound effects, at most :data:`MAX_EFFECTS_PER_PACKAGE` a package."""
    rows = []
    for package, (licence, folders) in EFFECT_SOURCES.items():
        root = extract(package)
        files = []
        for folder in folders:
            for path in sorted((root / folder).rglob("*")):
                if (
                    path.suffix.lower() not in AUDIO_SUFFIXES
                    or not path.is_file()
                    or path.stat().st_size == 0
                ):
                    continue
                if MUSICAL_NAME.search(path.stem) or MUSICAL_NAME.search(
                    str(path.parent.relative_to(root / folder))
                ):
                    continue
                files.append(path)
        if len(files) > MAX_EFFECTS_PER_PACKAGE:
            kept = [path for path in files if ALWAYS_EFFECTS.search(str(path))]
            step = len(files) / (MAX_EFFECTS_PER_PACKAGE - len(kept))
            sampled = [
                files[int(i * step)] for i in range(MAX_EFFECTS_PER_PACKAGE - len(kept))
            ]
            chosen = set(sampled) | set(kept)
            files = [path for path in files if path in chosen]
        for path in files:
            folder = path.parent.relative_to(root)
            rows.append(
                {
                    "path": relative(path),
                    "package": package,
                    "licence": licence,
                    "class": "effects",
                    "group": package,
                    "reason": f"sound effect folder {folder}/, name not musical",
                    "members": "",
                }
            )
    return rows


def rows_of_group(group: str) -> list[list[str]]:
    """Member files of the speech rows of ``group`` (:func:`speech_rows`)."""
    return [row["members"].split() for row in speech_rows() if row["group"] == group]


def check_rows() -> list[dict]:
    """Files kept out of fitting, reported on their own: sung and rapped lines,
    single short prompts."""
    rows = []
    singer = (
        extract(HEDGEWARS.name) / "usr/share/games/hedgewars/Data/Sounds/voices/Singer"
    )
    for number, members in enumerate(chunk(sorted(singer.glob("*.ogg"))), 1):
        out = AUDIO / "check" / f"hedgewars-Singer_{number:02d}.flac"
        rows.append(
            {
                "path": relative(out),
                "package": HEDGEWARS.name,
                "licence": HEDGEWARS.licence,
                "class": "check-sung",
                "group": "hedgewars-Singer",
                "reason": "hedgewars voice pack 'Singer': lines sung a cappella",
                "members": " ".join(relative(m) for m in members),
            }
        )
    for language, package in ASTERISK.items():
        prompts = extract(package.name) / "usr/share/asterisk/sounds"
        speaker = sorted(p for p in prompts.iterdir() if p.is_dir())[0]
        files = [
            p
            for p in sorted(speaker.glob("*.g722"))
            if not NOT_SPOKEN.search(p.stem) and p.stat().st_size > 0
        ]
        used = {m for row in rows_of_group(f"asterisk-{language}") for m in row}
        unused = [p for p in files if relative(p) not in used]
        step = max(1, len(unused) // SHORT_CHECKS)
        for path in unused[::step][:SHORT_CHECKS]:
            rows.append(
                {
                    "path": relative(path),
                    "package": package.name,
                    "licence": package.licence,
                    "class": "check-short",
                    "group": f"asterisk-{language}",
                    "reason": "one short Asterisk prompt as shipped (not in the "
                    "concatenated files; the speaker is)",
                    "members": "",
                }
            )
    rap = extract("supertux-data") / "usr/share/games/supertux2/speech/tux_rap.ogg"
    rows.append(
        {
            "path": relative(rap),
            "package": "supertux-data",
            "licence": "see debian/copyright (GPL-2+/CC-BY-SA)",
            "class": "check-rap",
            "group": "supertux-speech",
            "reason": "supertux speech/tux_rap.ogg: a rapped line",
            "members": "",
        }
    )
    return rows


def write_manifest(path: Path = MANIFEST) -> list[dict]:
    rows = speech_rows() + espeak_rows() + effect_rows() + check_rows()
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def read_manifest(path: Path = MANIFEST) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def build_audio(row: dict) -> str:
    """Write the audio of one manifest row if it is made here; return a status."""
    import numpy as np
    import soundfile

    from beetsplug.musicnn.engine import audio

    out = ROOT / row["path"]
    if out.exists():
        return "exists"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.flac")
    if row["members"]:
        gap = np.zeros(int(GAP_SECONDS * 16000), dtype=np.float32)
        parts = []
        for member in row["members"].split():
            parts += [audio.load_audio(ROOT / member, sr=16000).astype(np.float32), gap]
        soundfile.write(tmp, np.concatenate(parts[:-1]), 16000, format="FLAC")
    elif row["package"] == "espeak-ng":
        language = row["group"].removeprefix("espeak-")
        _, voice, _, speed = row["reason"].split()[-4:]
        wav = out.with_suffix(".tmp.wav")
        text = ESPEAK_TEXTS[language]
        command = ["espeak-ng", "-v", voice, "-s", speed, "-w", str(wav), text]
        subprocess.run(command, check=True)
        signal = audio.load_audio(wav, sr=16000).astype(np.float32)
        wav.unlink()
        soundfile.write(tmp, signal, 16000, format="FLAC")
    else:
        return "shipped"
    tmp.replace(out)
    return "written"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", action="store_true", help="write the manifest")
    parser.add_argument("--audio", action="store_true", help="write the audio")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.manifest:
        rows = write_manifest()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["class"]] = counts.get(row["class"], 0) + 1
        print(f"{MANIFEST}: {len(rows)} rows {counts}")
    if args.audio:
        for row in read_manifest():
            status = build_audio(row)
            if status == "written":
                print(f"wrote {row['path']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
