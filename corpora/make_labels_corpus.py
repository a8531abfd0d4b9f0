"""Rebuild the weakly-labelled genre corpus in ``/work/corpus`` from Debian.

The corpus behind ``corpora/labels_corpus.tsv`` (see ``corpora/labels_corpus.md``
for the inclusion rules and family definitions) is free-licensed music shipped
in Debian 12 "bookworm" main, plus the team's shared clips. The audio never
enters the repository; this script fetches and unpacks it again:

    python corpora/make_labels_corpus.py download   # apt-get download PKG... -> debs/
    python corpora/make_labels_corpus.py extract    # audio + docs -> audio/PKG/
    python corpora/make_labels_corpus.py derive     # Frets on Fire stems -> whole songs
    python corpora/make_labels_corpus.py inventory  # tags, duration, head hash
    python corpora/make_labels_corpus.py check      # every manifest path exists

``download`` needs ``apt-get`` and network access (about 5 GB); ``extract``
needs ``dpkg-deb`` and ``tar``. Each step skips what is already there.
``inventory`` writes, for every extracted audio file, its duration, its own
tags (genre, artist, title, licence, comment) and a hash of the first 20 s
of the decoded audio, which is how duplicates across packages are found.
The manifest is then written by ``corpora/labels_corpus_rules.py`` from the
inventory and the per-package rules there (no model output is involved).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path

CORPUS = Path("/work/corpus")
DEBS = CORPUS / "debs"
AUDIO = CORPUS / "audio"
DERIVED = CORPUS / "derived"
INVENTORY = CORPUS / "inventory.tsv"
SHARED_AUDIO = Path("/work/shared/audio")
#: Listener-annotated Magnatune excerpts (its README): genre and felt emotions.
EMOTIFY = Path("/work/shared/emotify")
AUDIO_GLOBS = ("*.ogg", "*.mp3", "*.flac", "*.opus", "*.wav")
#: The columns of ``inventory.tsv``, one row per extracted audio file.
INVENTORY_COLUMNS = (
    "path",
    "package",
    "duration",
    "head_hash",
    "genre",
    "artist",
    "title",
    "album",
    "license",
    "copyright",
    "comment",
    "error",
)
#: Documentation extracted beside the audio, to cite a package's stated style
#: and licence (copyright files, credits, READMEs).
DOC_GLOBS = (
    "*/copyright",
    "*README*",
    "*AUTHORS*",
    "*CREDITS*",
    "*credits*",
    "*LICENSE*",
    "*license*",
    "*.txt",
    "*.xml",
    "*.ini",
)
#: Debian packages that ship music, all in bookworm main (free licences).
PACKAGES = (
    "0ad-data",
    "7kaa-data",
    "asc-music",
    "atanks-data",
    "berusky2-data",
    "blockattack",
    "brainparty-data",
    "btanks-data",
    "caveexpress-data",
    "colobot-common-sounds",
    "cube2-data",
    "drascula-music",
    "dreamchess-data",
    "endless-sky-data",
    "extremetuxracer-data",
    "fb-music-high",
    "flare-game",
    "freeciv-data",
    "freecol",
    "freedink-data",
    "freedroidrpg-data",
    "freeorion-data",
    "fretsonfire-songs-muldjord",
    "fretsonfire-songs-sectoid",
    "frozen-bubble-data",
    "funnyboat",
    "gcompris-qt-data",
    "gunroar-data",
    "hedgewars-data",
    "hyperrogue-music",
    "kball-data",
    "lincity-ng-data",
    "lugaru-data",
    "manaplus-data",
    "megaglest-data",
    "mu-cade-data",
    "naev-data",
    "netpanzer-data",
    "neverball-data",
    "noiz2sa-data",
    "opencity-data",
    "openclonk-data",
    "parsec47-data",
    "performous",
    "pingus-data",
    "planetblupi-music-ogg",
    "pokerth-data",
    "powermanga-data",
    "pushover-data",
    "redeclipse-data",
    "ri-li-data",
    "rrootage-data",
    "scorched3d-data",
    "sdl-ball-data",
    "singularity-music",
    "solarwolf",
    "spacezero",
    "supertux-data",
    "supertuxkart-data",
    "tecnoballz-data",
    "teeworlds-data",
    "titanion-data",
    "torus-trooper-data",
    "triplea",
    "tumiki-fighters-data",
    "tuxtype-data",
    "ufoai-music",
    "unknown-horizons",
    "warmux-data",
    "warzone2100-music",
    "wesnoth-1.16-music",
    "widelands-data",
    "xblast-tnt-musics",
    "xmoto-data",
    "zaz-data",
)
#: Packages whose music is inside a game archive: package -> archive path.
ARCHIVES = {
    "0ad-data": "/usr/share/games/0ad/mods/public/public.zip",
    "ufoai-music": "/usr/share/games/ufoai/base/0music.pk3",
}
HEAD_SECONDS = 20.0
#: Shorter files are jingles, stingers or sound effects (inclusion rule 3).
MIN_SECONDS = 15.0


def download(packages: tuple[str, ...]) -> None:
    """``apt-get download`` every package whose .deb is not in ``debs/`` yet."""
    DEBS.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(DEBS.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=DEBS, check=True)


def extract(packages: tuple[str, ...]) -> None:
    """Unpack the audio and documentation files of each .deb into ``audio/PKG``."""
    for package in packages:
        debs = sorted(DEBS.glob(f"{package}_*.deb"))
        target = AUDIO / package
        if not debs or (target / ".done").exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=subprocess.PIPE
        )
        # tar exits 2 when a pattern matches nothing (no docs of one kind).
        subprocess.run(
            ["tar", "-x", "-C", str(target), "--wildcards", *AUDIO_GLOBS, *DOC_GLOBS],
            stdin=tar.stdout,
            check=False,
            stderr=subprocess.DEVNULL,
        )
        tar.wait()
        if package in ARCHIVES:
            _extract_from_archive(debs[-1], ARCHIVES[package], target)
        (target / ".done").write_text(debs[-1].name + "\n")
        print(f"extracted {package}", flush=True)


def _extract_from_archive(deb: Path, archive: str, target: Path) -> None:
    """Take the music out of a game archive (.zip/.pk3) the .deb ships.

    Only members whose path contains ``music`` and ends in an audio suffix
    are kept; the archive itself (up to 3 GB for 0ad) is deleted afterwards.
    """
    import zipfile

    tar = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
    )
    subprocess.run(
        ["tar", "-x", "-C", str(target), "." + archive], stdin=tar.stdout, check=True
    )
    tar.wait()
    archive_path = target / archive.lstrip("/")
    with zipfile.ZipFile(archive_path) as bundle:
        for member in bundle.namelist():
            lowered = member.lower()
            audio_member = lowered.endswith((".ogg", ".mp3", ".flac", ".opus"))
            if "music" in lowered and audio_member:
                bundle.extract(member, archive_path.parent / (archive_path.name + ".d"))
    archive_path.unlink()


def derive() -> None:
    """Mix each Frets on Fire song's stems back into the whole recording.

    The fretsonfire-songs-* packages split a song into ``song.ogg`` (the band
    without the lead guitar) and ``guitar.ogg``; the sum is the recording.
    Written as FLAC to ``derived/PKG/<song>.flac``, scaled down only if the
    sum would clip.
    """
    import numpy as np
    import soundfile

    for package in ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid"):
        out_dir = DERIVED / package
        out_dir.mkdir(parents=True, exist_ok=True)
        for song in sorted((AUDIO / package).rglob("song.ogg")):
            target = out_dir / (song.parent.name + ".flac")
            guitar = song.with_name("guitar.ogg")
            if target.exists() or not guitar.exists():
                continue
            band, rate = soundfile.read(song, dtype="float32", always_2d=True)
            lead, lead_rate = soundfile.read(guitar, dtype="float32", always_2d=True)
            assert rate == lead_rate, (song, rate, lead_rate)
            length = max(len(band), len(lead))
            mix = np.zeros((length, band.shape[1]), dtype=np.float32)
            mix[: len(band)] += band
            mix[: len(lead)] += lead[:, : band.shape[1]]
            peak = float(np.abs(mix).max())
            if peak > 1.0:
                mix /= peak
            soundfile.write(target, mix, rate, format="FLAC")
            print(f"mixed {target}", flush=True)


def file_tags(path: Path) -> dict[str, str]:
    """The file's own tags that bear on its family and licence (mutagen)."""
    import mutagen

    try:
        media = mutagen.File(path, easy=True)
    except Exception:  # a broken header: no tags, the decoder decides later
        return {}
    if media is None or media.tags is None:
        return {}
    wanted = ("genre", "artist", "title", "album", "license", "copyright", "comment")
    tags = {}
    for key, values in media.tags.items():
        if key.lower() in wanted:
            tags[key.lower()] = " / ".join(str(v) for v in values).replace("\t", " ")
    return tags


def head_hash(path: Path) -> tuple[str, float]:
    """(hash of the first 20 s of 16 kHz mono audio rounded to 8 bits, duration)."""
    import numpy as np

    from beetsplug.musicnn.engine import audio

    info = audio.probe(path)
    if info.duration < MIN_SECONDS:  # excluded anyway: no need to decode
        return "", float(info.duration)
    head = audio.load_audio(path, duration=HEAD_SECONDS)
    quantised = np.round(np.asarray(head, dtype=np.float32) * 127).astype(np.int8)
    return hashlib.sha1(quantised.tobytes()).hexdigest()[:16], float(info.duration)


def inventory() -> None:
    """Write ``inventory.tsv``: one row per extracted audio file."""
    done: dict[str, dict] = {}
    if INVENTORY.exists():
        with INVENTORY.open() as handle:
            done = {row["path"]: row for row in csv.DictReader(handle, delimiter="\t")}
    columns = INVENTORY_COLUMNS
    rows = []
    for package, path, rel in _audio_files():
        if rel in done:
            rows.append(done[rel])
            continue
        row = {"path": rel, "package": package, "error": ""}
        row.update(file_tags(path))
        try:
            row["head_hash"], duration = head_hash(path)
            row["duration"] = f"{duration:.1f}"
        except Exception as error:
            row["error"] = str(error).replace("\t", " ")[:200]
        rows.append(row)
    with INVENTORY.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (row.get(k) or "").replace("\n", " ") for k in columns})
    print(f"{len(rows)} files in {INVENTORY}")


def _audio_files():
    """(package, path, manifest path) of every audio file the corpus can use."""
    suffixes = {".ogg", ".mp3", ".flac", ".opus", ".wav"}
    for root in (AUDIO, DERIVED):
        if not root.is_dir():
            continue
        for package_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(package_dir.rglob("*")):
                if path.is_file() and path.suffix.lower() in suffixes:
                    yield package_dir.name, path, str(path.relative_to(CORPUS))
    if SHARED_AUDIO.is_dir():
        for path in sorted(SHARED_AUDIO.iterdir()):
            if path.is_file() and path.suffix.lower() in suffixes:
                yield "shared", path, "shared:" + path.name


def check(manifest: Path) -> int:
    """Report manifest paths that do not exist; return how many."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "audio"
    missing = 0
    with manifest.open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            path = resolve(row["path"], shared)
            if not path.is_file():
                print(f"missing: {row['path']}")
                missing += 1
    return missing


def resolve(manifest_path: str, shared: Path | None = None) -> Path:
    """The file a manifest path names (``shared:``, ``emotify:``, ``repo:`` or
    under /work/corpus)."""
    repo = Path(__file__).resolve().parents[1]
    if manifest_path.startswith("emotify:"):
        return EMOTIFY / manifest_path.removeprefix("emotify:")
    if shared is None:
        shared = Path("/work/shared/audio")
    if manifest_path.startswith("shared:"):
        return shared / manifest_path.removeprefix("shared:")
    if manifest_path.startswith("repo:"):
        return repo / manifest_path.removeprefix("repo:")
    return CORPUS / manifest_path


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=("download", "extract", "derive", "inventory", "check", "all")
    )
    parser.add_argument(
        "--manifest", type=Path, default=Path(__file__).with_name("labels_corpus.tsv")
    )
    args = parser.parse_args(argv)
    if args.step in ("download", "all"):
        download(PACKAGES)
    if args.step in ("extract", "all"):
        extract(PACKAGES)
    if args.step in ("derive", "all"):
        derive()
    if args.step in ("inventory", "all"):
        inventory()
    if args.step in ("check", "all"):
        return 1 if check(args.manifest) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
