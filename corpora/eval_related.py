"""From what similarity a neighbour is related: the report's cut-off.

The report lists a track's nearest tracks by the radio's similarity (cosine
of the embeddings centred on the library's mean, so that two tracks picked
at random average 0). Some of a track's ten nearest can be far: below what
similarity does a neighbour stop being more alike than chance?

Measured on a real beets library analysed by ``beet musicnn`` (built on the
first run by ``eval_families.py``'s ``build_library`` from a folder of audio
with a ``manifest.tsv`` of source genres, such as Emotify's): for every
pair of tracks, by band of similarity, the share of pairs of one source
genre, against the share among all pairs (chance); and how low the ten
nearest of each track (what the report lists) go. The source
genre is the record label's, never the model's. Emotify's "pop" files are
tagged alternative rock by their own tags, so the table is given with pop
and rock merged too.

    python corpora/eval_related.py --library /tmp/emotify-library
        [--audio ../shared/emotify]
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from eval_families import REPO, build_library, library_tracks  # noqa: E402

#: Edges of the similarity bands.
EDGES = (-1.0, -0.1, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0)
NEIGHBOURS = 10


def bands(sources: np.ndarray, vectors: np.ndarray) -> list[str]:
    """The table's rows: per band of similarity, the pairs of tracks in it
    and the share of them with one source; then where the ten nearest of
    each track lie."""
    from beetsplug.musicnn.sound.similarity import nearest_neighbours

    n = len(sources)
    upper = np.triu_indices(n, 1)
    similarity = (vectors @ vectors.T)[upper]
    same = (sources[:, None] == sources[None, :])[upper]
    chance = same.mean()
    lines = [
        f"chance (two tracks picked at random have one source): {chance:.2f}",
        "| similarity | pairs | same source | x chance |",
        "|---|---:|---:|---:|",
    ]
    for low, high in pairwise(EDGES):
        inside = (similarity >= low) & (similarity < high)
        if inside.any():
            share = same[inside].mean()
            lines.append(
                f"| {low:+.2f} to {high:+.2f} | {int(inside.sum())} | "
                f"{share:.2f} | {share / chance:.1f} |"
            )
    _, nearest = nearest_neighbours(vectors, NEIGHBOURS)
    lines.append(
        f"all pairs: mean {similarity.mean():+.3f}, median "
        f"{np.median(similarity):+.3f}; the {NEIGHBOURS} nearest of each track: "
        f"lowest {nearest.min():+.2f}, below 0: {(nearest < 0).mean():.3f}"
    )
    return lines


def main() -> None:
    from beetsplug.musicnn.sound.similarity import normalize

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument(
        "--audio", type=Path, default=REPO.parent / "shared" / "emotify"
    )
    args = parser.parse_args()
    folder = args.library.resolve()
    build_library(folder, args.audio)
    tracks = library_tracks(folder, args.audio)
    raw = tracks["embeddings"]
    vectors = normalize(raw, mean=raw.mean(axis=0))  # as the radio's index
    sources = tracks["sources"]
    print(f"{len(sources)} analysed tracks\n")
    print("\n".join(bands(sources, vectors)))
    merged = np.where(sources == "pop", "rock", sources)
    print("\npop and rock as one source:")
    print("\n".join(bands(merged, vectors)))


if __name__ == "__main__":
    main()
