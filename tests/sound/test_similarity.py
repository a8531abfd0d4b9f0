"""The radio's numeric core: ranking, caps, flow, the index, and quality.

Ranking, caps and flow run on synthetic vectors (exact expectations); the
quality test runs the real model on real music.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from beetsplug.musicnn.library.store import ResultStore, StoredResult
from beetsplug.musicnn.sound import similarity
from beetsplug.musicnn.sound.similarity import Candidate, EmbeddingIndex

RNG_SEED = 5


def unit_rows(n: int, d: int = 200, seed: int = RNG_SEED) -> np.ndarray:
    return similarity.normalize(np.random.default_rng(seed).normal(size=(n, d)))


# Vectors and ranking -------------------------------------------------------------


def test_normalize_centres_scales_and_keeps_zero_rows_finite():
    vectors = np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]])
    out = similarity.normalize(vectors)
    assert np.allclose(out[0], [0.6, 0.8])
    assert np.allclose(np.linalg.norm(out[:2], axis=1), 1)
    assert np.array_equal(out[2], [0, 0])
    centred = similarity.normalize(vectors, mean=np.array([1.0, 1.0]))
    assert np.allclose(centred[0], [2 / np.sqrt(13), 3 / np.sqrt(13)])


def test_seed_profile_ranks_like_the_mean_similarity_to_the_seeds():
    rows = unit_rows(50)
    seeds = rows[:3]
    profile = similarity.seed_profile(seeds)
    mean_similarity = (rows @ seeds.T).mean(axis=1)
    assert np.array_equal(
        np.argsort(-similarity.scores(rows, profile)), np.argsort(-mean_similarity)
    )
    with pytest.raises(ValueError):
        similarity.seed_profile(np.empty((0, 200)))


def test_scores_of_a_float16_matrix_in_chunks_match_float32(monkeypatch):
    monkeypatch.setattr(similarity, "_CHUNK_ROWS", 7)  # several chunks
    rows = unit_rows(30)
    profile = rows[0]
    half = similarity.scores(rows.astype(np.float16), profile)
    assert np.allclose(half, rows @ profile, atol=2e-3)
    assert half.dtype == np.float32


@pytest.mark.parametrize("first", [1, 3, 256])
def test_ranked_is_a_full_descending_order_without_excluded_rows(first):
    values = np.random.default_rng(1).normal(size=100).astype(np.float32)
    values[[4, 50]] = -np.inf
    order = list(similarity.ranked(values, first=first))
    expected = [i for i in np.argsort(-values, kind="stable") if i not in (4, 50)]
    assert order == expected


def test_ranked_is_lazy_on_a_large_input():
    values = np.arange(1_000_000, dtype=np.float32)
    top = similarity.ranked(values, first=10)
    assert [next(top) for _ in range(3)] == [999_999, 999_998, 999_997]


# Caps --------------------------------------------------------------------------


def test_caps_per_artist_and_album_skip_to_the_next_best():
    candidates = [
        Candidate(1, "a", "a1"),
        Candidate(2, "a", "a1"),
        Candidate(3, "a", "a2"),
        Candidate(4, "b", "b1"),
        Candidate(5, "b", "b1"),
        Candidate(6, "c", "c1"),
    ]
    by_artist = similarity.capped(candidates, 4, max_per_artist=1)
    assert [c.item_id for c in by_artist] == [1, 4, 6]
    by_album = similarity.capped(candidates, 4, max_per_album=1)
    assert [c.item_id for c in by_album] == [1, 3, 4, 6]
    both = similarity.capped(candidates, 10, max_per_artist=2, max_per_album=1)
    assert [c.item_id for c in both] == [1, 3, 4, 6]
    assert [c.item_id for c in similarity.capped(candidates, 2)] == [1, 2]


def test_unknown_artists_are_not_one_artist():
    candidates = [Candidate(i, "", None) for i in range(5)]
    assert len(similarity.capped(candidates, 5, max_per_artist=1)) == 5


def test_caps_consume_a_lazy_stream_only_as_far_as_needed():
    consumed = []

    def stream():
        for i in range(1000):
            consumed.append(i)
            yield Candidate(i, f"artist{i % 3}", None)

    chosen = similarity.capped(stream(), 3, max_per_artist=1)
    assert [c.item_id for c in chosen] == [0, 1, 2]
    assert len(consumed) <= 4


# Flow --------------------------------------------------------------------------


def test_flow_steps_are_closer_than_random_picks():
    rows = unit_rows(40, d=8)  # low dimension: real structure to follow
    path = similarity.flow_order(rows, start=rows[7])
    assert sorted(path) == list(range(40))
    assert path[0] == 7
    step = [float(rows[a] @ rows[b]) for a, b in itertools.pairwise(path)]
    similarity_matrix = rows @ rows.T
    random_pair = similarity_matrix[~np.eye(40, dtype=bool)].mean()
    assert np.mean(step) > random_pair + 0.3
    assert similarity.flow_order(np.empty((0, 8))) == []


# The index ---------------------------------------------------------------------


def put(store: ResultStore, item_ids, embeddings) -> None:
    class Result:
        scores = np.zeros(3, np.float32)
        n_patches = 1

    records = []
    for item_id, embedding in zip(item_ids, embeddings, strict=True):
        result = Result()
        result.embedding = embedding
        records += StoredResult.from_analysis(
            item_id, {"msd": result}, version="v", duration=1.0, mtime=1.0
        )
    store.put_many(records)


def load(store: ResultStore) -> EmbeddingIndex:
    return EmbeddingIndex.load(
        store.path, "msd", store.generation(), lambda: store.iter_embeddings("msd")
    )


def test_index_is_built_centred_then_reused_until_the_store_changes(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(similarity, "_CHUNK_ROWS", 3)  # pages released per chunk
    raw = np.random.default_rng(2).normal(size=(20, 200)) + 5.0  # common part
    with ResultStore(tmp_path / "lib.musicnn.sqlite") as store:
        put(store, range(100, 120), raw)
        index = load(store)
        assert index.ids.tolist() == list(range(100, 120))
        assert index.vectors.dtype == np.float32
        # The store's float16 embeddings, centred and normalised.
        stored = raw.astype(np.float32).astype(np.float16).astype(np.float64)
        expected = similarity.normalize(stored, mean=stored.mean(axis=0))
        assert np.allclose(index.vectors, expected, atol=1e-5)
        profile = index.vectors[3]
        assert np.allclose(index.similarities(profile), expected @ profile, atol=1e-5)
        vectors_file = EmbeddingIndex.paths(store.path, "msd")[0]
        built = vectors_file.stat().st_mtime_ns

        assert load(store).ids.tolist() == index.ids.tolist()
        assert vectors_file.stat().st_mtime_ns == built  # not rebuilt

        store.delete([105])
        put(store, [7], raw[:1])
        assert load(store).ids.tolist() == [7, *range(100, 105), *range(106, 120)]
        assert index.rows_of([7, 999, 119]).tolist() == [19]  # the old index


def test_index_of_an_empty_store(tmp_path):
    with ResultStore(tmp_path / "lib.musicnn.sqlite") as store:
        index = load(store)
        assert len(index) == 0
        assert index.rows_of([1, 2]).tolist() == []


# Quality on real music -----------------------------------------------------------

#: Seconds per segment (one 3-second patch; the shortest bundled clip is 23 s)
#: and segments per clip.
SEGMENT_SECONDS = 5.75
SEGMENTS = 4
K = 3
#: Measured (docs/radio.md): precision@3 of 0.92 on the 4 bundled clips
#: (16 segments) and 0.78 with the 7 long shared clips too (44), against
#: chance 0.20 and 0.07. The bar, at least 0.5 and three times chance, keeps
#: a wide margin under both (the model and audio are fixed; only float
#: rounding varies by machine) while a broken embedding, normalisation or
#: ranking, which falls to chance, fails it.
MIN_PRECISION = 0.5


def clip_segments(folder) -> tuple[list[np.ndarray], list[str]]:
    from beetsplug.musicnn.engine.analysis import analyze_signal
    from beetsplug.musicnn.engine.audio import load_audio

    embeddings, labels = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix not in {".ogg", ".mp3"}:
            continue
        signal = load_audio(path)
        size = int(SEGMENT_SECONDS * 16000)
        if len(signal) < SEGMENTS * size:
            continue  # too short for separate segments (the trumpet loop)
        for start in range(0, SEGMENTS * size, size):
            result = analyze_signal(signal[start : start + size], ("msd",))["msd"]
            embeddings.append(result.embedding)
            labels.append(path.stem)
    return embeddings, labels


def precision_and_chance(embeddings, labels) -> tuple[float, float]:
    vectors = np.array(embeddings)
    unit = similarity.normalize(vectors, mean=vectors.mean(axis=0))
    precision = similarity.neighbour_precision(unit, labels, K).mean()
    return float(precision), (SEGMENTS - 1) / (len(labels) - 1)


@pytest.fixture(scope="module")
def bundled_segments(bundled_music):
    return clip_segments(bundled_music)


def test_neighbours_of_a_segment_come_from_its_own_recording(bundled_segments):
    precision, chance = precision_and_chance(*bundled_segments)
    assert len(bundled_segments[1]) == 4 * SEGMENTS
    assert precision >= max(MIN_PRECISION, 3 * chance), (precision, chance)


def test_neighbours_with_the_shared_clips_too(bundled_segments, shared_audio):
    embeddings, labels = clip_segments(shared_audio)
    precision, chance = precision_and_chance(
        bundled_segments[0] + embeddings, bundled_segments[1] + labels
    )
    assert len(set(labels)) >= 6
    assert precision >= max(MIN_PRECISION, 3 * chance), (precision, chance)


def test_nearest_neighbours_are_the_exact_cosine_neighbours_in_any_chunking():
    from beetsplug.musicnn.sound.similarity import nearest_neighbours

    rng = np.random.default_rng(5)
    for n in (57, 300):  # under one group of columns, and several plus a tail
        vectors = similarity.normalize(rng.normal(size=(n, 12)))
        vectors[7] = vectors[3]  # a tie: the lower row comes first
        expected = vectors @ vectors.T
        np.fill_diagonal(expected, -np.inf)
        order = np.argsort(-expected, axis=1, kind="stable")[:, :6]
        for chunk in (1, 8, 57, 1000):
            rows, values = nearest_neighbours(vectors, 6, chunk_rows=chunk)
            assert (rows == order).all()
            assert np.allclose(values, np.take_along_axis(expected, order, axis=1))
    rows, _ = nearest_neighbours(vectors[:3], 6)  # fewer others than asked
    assert rows.shape == (3, 2)
    assert nearest_neighbours(vectors[:1], 6)[0].shape == (1, 0)
