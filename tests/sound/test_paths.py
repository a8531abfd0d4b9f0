"""The numeric core of sonic paths (:mod:`beetsplug.musicnn.paths`).

Geometry whose answer is known by construction: tracks on the great circle
from FROM to TO, tracks off it, behind FROM or beyond TO. The command on a
real analysed library is tested in ``test_sonic_path.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug.musicnn.sound import paths, similarity


def on_circle(degrees: float, off: float = 0.0, dim: int = 8) -> np.ndarray:
    """A unit vector at ``degrees`` on the circle from e0 (FROM) to e1 (TO),
    lifted ``off`` towards e2 (out of their plane)."""
    vector = np.zeros(dim)
    vector[0] = np.cos(np.radians(degrees))
    vector[1] = np.sin(np.radians(degrees))
    vector[2] = off
    return vector / np.linalg.norm(vector)


FROM, TO = on_circle(0), on_circle(90)


def test_locate_gives_progress_and_distance_from_the_plane():
    tracks = np.array(
        [on_circle(45), on_circle(30, off=1.0), on_circle(-20), on_circle(120)]
    )
    placement = paths.locate(tracks @ FROM, tracks @ TO, float(FROM @ TO))
    np.testing.assert_allclose(placement.progress, [0.5, 1 / 3, -2 / 9, 4 / 3])
    # Lifted by 1 against a unit in-plane part: 45 degrees off the plane.
    np.testing.assert_allclose(placement.off, [0, np.sin(np.pi / 4), 0, 0], atol=1e-7)
    assert placement.between.tolist() == [True, True, False, False]


def test_a_track_farther_from_an_end_than_the_ends_are_is_not_between():
    # Half way from FROM to TO (60 degrees apart) on their plane, but so far
    # out of it that it is less like each end than the ends are like each
    # other; and a track in the plane, half way: between.
    start, end = on_circle(0), on_circle(60)
    far, near = on_circle(30, off=2.0), on_circle(30)
    tracks = np.array([far, near])
    placement = paths.locate(tracks @ start, tracks @ end, float(start @ end))
    np.testing.assert_allclose(placement.progress, [0.5, 0.5])
    assert placement.between.tolist() == [False, True]


def test_ends_with_the_same_sound_have_nothing_between():
    tracks = np.array([on_circle(10), on_circle(0)])
    placement = paths.locate(tracks @ FROM, tracks @ FROM, 1.0)
    assert not placement.between.any()


def test_stones_rank_the_tracks_between_nearest_the_plane_first():
    tracks = np.array(
        [on_circle(40, off=0.3), on_circle(50), on_circle(-10), on_circle(60, 0.1)]
    )
    placement = paths.locate(tracks @ FROM, tracks @ TO, float(FROM @ TO))
    ranked = list(similarity.ranked(paths.stone_scores(placement)))
    assert ranked == [1, 3, 0]  # row 2 lies behind FROM: never a stone


def test_the_path_follows_the_circle_in_order():
    circle = [on_circle(d) for d in range(10, 90, 10)]  # 8 tracks, 10 apart
    distractors = [on_circle(d, off=0.8) for d in (25, 55)] + [on_circle(-15)]
    rng = np.random.default_rng(1)
    stones = np.array(circle + distractors)[rng.permutation(11)]
    vectors = np.vstack([FROM, TO, stones])
    path = paths.find_path(vectors, 10)
    assert path[0] == 0 and path[-1] == 1
    angles = np.degrees(np.arctan2(vectors[path, 1], vectors[path, 0]))
    np.testing.assert_allclose(angles, np.arange(0, 100, 10), atol=1e-6)


def test_fewer_tracks_pick_the_most_even_steps():
    circle = [on_circle(d) for d in range(10, 90, 10)]
    vectors = np.vstack([FROM, TO, circle])
    path = paths.find_path(vectors, 4)
    angles = np.degrees(np.arctan2(vectors[path, 1], vectors[path, 0]))
    # Three steps of 30 degrees: the largest step is as small as it can be.
    np.testing.assert_allclose(angles, [0, 30, 60, 90], atol=1e-6)


def test_a_detour_is_never_taken_even_if_its_steps_are_small():
    # Tracks behind FROM make small steps from it, but lead away from TO.
    behind = [on_circle(-d) for d in (5, 10, 15)]
    vectors = np.vstack([FROM, TO, behind, on_circle(45)])
    path = paths.find_path(vectors, 6)
    assert path == [0, 5, 1]  # the only track between; no step back


def test_no_step_is_longer_than_the_direct_jump():
    # Two tracks between FROM and TO (60 degrees apart), but lifted out of
    # their plane to opposite sides: the step from one to the other is
    # longer than the jump from FROM to TO, so a path of 4 cannot be made.
    start, end = on_circle(0), on_circle(60)
    up, down = on_circle(20, off=0.6), on_circle(40, off=-0.6)
    vectors = np.vstack([start, end, up, down])
    direct = np.linalg.norm(start - end)
    assert np.linalg.norm(up - down) > direct  # the premise
    assert min(up @ start, up @ end, down @ start, down @ end) > start @ end
    path = paths.find_path(vectors, 4)
    assert len(path) == 3  # the longest path that keeps the rule
    assert (paths.step_lengths(vectors[path]) <= direct).all()


def test_a_count_below_two_is_an_error():
    with pytest.raises(ValueError, match="at least 2 tracks, not 1"):
        paths.find_path(np.vstack([FROM, TO]), 1)


def test_pool_size_grows_with_the_path_within_bounds():
    assert paths.pool_size(2) == paths.MIN_POOL
    assert paths.pool_size(10_000) == paths.MAX_POOL
    small, large = paths.pool_size(20), paths.pool_size(40)
    assert paths.MIN_POOL <= small <= large <= paths.MAX_POOL
