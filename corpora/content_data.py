"""The examples of the content detector: cached analyses of speech, effects, music.

Each example is one track with its class (``music``, ``speech``, ``effects``,
or a ``check-*`` class kept out of fitting), its group for grouped
cross-validation (a voice, a package, an artist), its source corpus, and its
per-patch outputs of both models, read from the caches
``/work/content-corpus/cache`` (``corpora/cache_content_corpus.py``) and
``/work/corpus/cache`` (``corpora/cache_labels_corpus.py``). Music comes from:

- ``emotify``: Emotify's 240 excerpts (``/work/shared/emotify``), grouped by artist;
- ``labels``, ``labels-extra``: the genre corpus (``labels_corpus.tsv``,
  ``labels_corpus_extra.tsv``), grouped by package;
- ``calibration``: the calibration corpus (``calibration_corpus.tsv``), by source;
- ``shared``, ``bundled``: the clips in ``/work/shared/audio`` and
  ``tests/data/music``, one group each.

A track listed by two of them is kept once (the first). The calibration
corpus holds no effect folder (``labels_corpus_rules.EFFECT_GLOBS``: since
2026-12-03 also scorched3d's ``wav/`` and freecol's intro ``video/``, which
it held before as music). Tracks not cached yet
are counted as missing, not silently dropped: :func:`load_examples` returns
them.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from cache_content_corpus import (  # noqa: E402
    BUNDLED_MUSIC,
    EMOTIFY,
    MANIFEST,
    SHARED_AUDIO,
    cached,
    track_key,
)

from beetsplug.musicnn.engine.sampling import share_patches  # noqa: E402

MODELS = ("msd", "mtt")
#: MTT's share of the patches in the default analysis (``patch_share``).
DEFAULT_MTT_SHARE = 0.34
AUDIO_SUFFIXES = (".ogg", ".mp3", ".flac", ".wav", ".opus")


@dataclass
class Example:
    """One track: its labels and its per-patch outputs."""

    source: str
    key: str
    label: str
    group: str
    #: model -> (n_patches, 50) scores and (n_patches, 200) embeddings.
    scores: dict[str, np.ndarray]
    embeddings: dict[str, np.ndarray]
    detail: str = ""

    def song_level(
        self, mtt_share: float = 1.0, stored: bool = False
    ) -> tuple[dict, dict]:
        """Song-level scores and embeddings as the analysis gives them.

        ``mtt_share`` < 1 averages MTT over the patches the default analysis
        lets it hear (:func:`share_patches`), MSD over all of them.
        ``stored``: rounded as the result store gives them back (scores
        float32, embeddings float16).
        """
        scores, embeddings = {}, {}
        for model in MODELS:
            rows = slice(None)
            if model == "mtt" and mtt_share < 1.0:
                rows = share_patches(len(self.scores[model]), mtt_share)
            scores[model] = self.scores[model][rows].mean(axis=0)
            embeddings[model] = (
                self.embeddings[model][rows].astype(np.float64).mean(axis=0)
            )
            if stored:
                scores[model] = scores[model].astype(np.float32)
                embeddings[model] = embeddings[model].astype(np.float16)
        return scores, embeddings


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def candidates() -> list[tuple[str, str, str, str, str]]:
    """(source, cache source key, label, group, detail) of every track."""
    out = []
    for row in _rows(MANIFEST):
        out.append(
            (
                "content",
                f"content:{row['path']}",
                row["class"],
                row["group"],
                row["path"],
            )
        )
    manifest = EMOTIFY / "manifest.tsv"
    if manifest.exists():
        for row in _rows(manifest):
            out.append(
                (
                    "emotify",
                    f"emotify:{row['file']}",
                    "music",
                    f"emotify-{row['artist']}",
                    f"{row['family']}: {row['artist']} - {row['title']}",
                )
            )
    for name, source in (
        ("labels_corpus.tsv", "labels"),
        ("labels_corpus_extra.tsv", "labels-extra"),
    ):
        for row in _rows(HERE / name):
            out.append(
                (
                    source,
                    row["path"],
                    "music",
                    row["package"],
                    f"{row['family']}: {row['path']}",
                )
            )
    for row in _rows(HERE / "calibration_corpus.tsv"):
        out.append(
            (
                "calibration",
                f"calibration:{row['patch_cache']}|{row['path']}",
                "music",
                row["source"],
                f"{row['family']}: {row['path']}",
            )
        )
    for prefix, folder in (("shared", SHARED_AUDIO), ("bundled", BUNDLED_MUSIC)):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in AUDIO_SUFFIXES:
                    out.append(
                        (
                            prefix,
                            f"{prefix}:{path.name}",
                            "music",
                            f"{prefix}-{path.stem}",
                            path.name,
                        )
                    )
    return out


def _cache_file(key: str) -> Path | None:
    if key.startswith("calibration:"):
        patch_cache, path = key.removeprefix("calibration:").split("|", 1)
        if patch_cache and Path(patch_cache).is_file():
            return Path(patch_cache)
        return cached(f"calibration:{path}")  # cache_content_corpus --calibration
    return cached(key)


def load_examples() -> tuple[list[Example], list[tuple[str, str]]]:
    """Every cached example, and (source, key) of the tracks not cached yet."""
    examples, missing, seen = [], [], set()
    for source, key, label, group, detail in candidates():
        path = _cache_file(key)
        if path is None:
            missing.append((source, key))
            continue
        if path.name in seen:
            continue
        seen.add(path.name)
        with np.load(path) as data:
            scores = {m: data[f"{m}_scores"].astype(np.float64) for m in MODELS}
            embeddings = {m: data[f"{m}_embeddings"] for m in MODELS}
        examples.append(Example(source, key, label, group, scores, embeddings, detail))
    return examples, missing


__all__ = ["DEFAULT_MTT_SHARE", "Example", "load_examples", "track_key"]
